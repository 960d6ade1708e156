// One writer per repository: `netbranch.lock` in the git directory names the process that owns it
// (pid and start time, so a reused pid is not mistaken for the owner). Created by a hard link from a
// file already complete (exclusive, and never seen half-written); a lock whose process is gone is
// taken over by renaming it aside, which only one of several starters can do to that file (see
// takeOver); released at close, and at process exit for whatever was not closed.
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'netbranch.lock';

export class StoreLockedError extends Error {
  constructor(readonly gitdir: string, readonly pid: number) {
    super(`${gitdir} is in use by pid ${pid}${pid === process.pid ? ' (this process)' : ''}: one process writes a repository at a time (lock: ${join(gitdir, LOCK_FILE)})`);
  }
}

export interface LockTaken {
  path: string;
  /** The pid of a process that had died holding the lock, which was taken over; null if there was none. */
  tookOverFrom: number | null;
}

/** A process's start time in clock ticks since boot (Linux), or '-' where /proc cannot tell. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '-';
  } catch {
    return '-';
  }
}

const ME = `${process.pid} ${startTime(process.pid)}\n`;

function alive(pid: number, start: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: no such process
  }
  return start === '-' || startTime(pid) === '-' || startTime(pid) === start;
}

function holder(text: string): { pid: number; start: string } {
  const [pid, start] = text.trim().split(' ');
  return /^\d+$/.test(pid ?? '') ? { pid: Number(pid), start: start ?? '-' } : { pid: 0, start: '-' };
}

const held = new Set<string>();
let exitHook = false;

/** Removes the locks this process still holds when it exits, however it exits (short of a kill). */
export function releaseAtExit(path: string): void {
  held.add(path);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => { for (const p of held) releaseLock(p); });
}

const uniqueName = (path: string) => `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;

/** Takes the repository's lock, or throws StoreLockedError naming the live holder. */
export function takeLock(gitdir: string): LockTaken {
  const path = join(gitdir, LOCK_FILE);
  const tmp = uniqueName(path);
  writeFileSync(tmp, ME);
  try {
    let tookOverFrom: number | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path);
        releaseAtExit(path);
        return { path, tookOverFrom };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = readLockText(path);
      if (text === null) continue; // released meanwhile: try again
      const h = holder(text);
      if (h.pid > 0 && alive(h.pid, h.start)) throw new StoreLockedError(gitdir, h.pid);
      takeOver(gitdir, path, text);
      tookOverFrom = h.pid;
    }
    throw new Error(`cannot take the lock ${path}: it keeps changing hands`);
  } finally {
    try { unlinkSync(tmp); } catch { /* already gone */ }
  }
}

/**
 * Removes a dead holder's lock whose text was `stale`. Deleting by name would race: two starters
 * read the same dead holder, one deletes it and links its own, the other then deletes that fresh
 * lock. A rename moves one file, once: whoever finds `stale` in what it moved took the dead lock
 * away; one that finds anything else moved a live lock, puts it back, and is refused.
 */
function takeOver(gitdir: string, path: string, stale: string): void {
  const aside = uniqueName(path);
  try {
    renameSync(path, aside);
  } catch {
    return; // gone meanwhile: the link decides
  }
  const moved = readLockText(aside);
  if (moved === stale) {
    unlinkSync(aside);
    return;
  }
  try {
    linkSync(aside, path); // back, unless a third starter linked its own in those two system calls
  } catch {
    // then the lock file is that starter's: named below
  } finally {
    unlinkSync(aside);
  }
  throw new StoreLockedError(gitdir, holder(readLockText(path) ?? moved ?? '').pid);
}

/** Removes the lock if this process holds it (never another's). */
export function releaseLock(path: string): void {
  held.delete(path);
  if (readLockText(path) === ME) {
    try { unlinkSync(path); } catch { /* gone already */ }
  }
}

function readLockText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
