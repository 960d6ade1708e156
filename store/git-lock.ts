// One writer per repository: `netbranch.lock` in the git directory names the process that owns it
// (pid and start time, so a reused pid is not mistaken for the owner). Created by a hard link from a
// file already complete (exclusive, and never seen half-written); a lock whose process is gone is
// taken over; released at close, and at process exit for whatever was not closed.
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
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

function holder(path: string): { pid: number; start: string } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
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

/** Takes the repository's lock, or throws StoreLockedError naming the live holder. */
export function takeLock(gitdir: string): LockTaken {
  const path = join(gitdir, LOCK_FILE);
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
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
      const h = holder(path);
      if (h === null) continue; // released meanwhile: try again
      if (h.pid > 0 && alive(h.pid, h.start)) throw new StoreLockedError(gitdir, h.pid);
      tookOverFrom = h.pid;
      try { unlinkSync(path); } catch { /* another starter took it over first: the link decides */ }
    }
    throw new Error(`cannot take the lock ${path}: it keeps changing hands`);
  } finally {
    try { unlinkSync(tmp); } catch { /* already gone */ }
  }
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
