// Packs in and out, by git's own C: the pack a push sends, made by pack-objects: the objects reachable from our head and not from
// the server's heads we hold, as a thin pack (a changed table shard goes as a delta against the version the
// server has). isomorphic-git's push packs every new commit's whole tree, so each push sent the whole table
// with no deltas; git does this walk and the deltas in C (docs/ha.md: the git binary is a --peer requirement).
import { spawn } from 'node:child_process';

/** Git's exit and its last words, when pack-objects fails. */
export class PackError extends Error {}

/** Runs `git pack-objects` on `gitdir` for `head` minus `haves`; resolves with the pack's bytes. */
export function packForPush(gitdir: string, head: string, haves: readonly string[]): Promise<Buffer> {
  return runGit(gitdir, ['pack-objects', '--revs', '--thin', '--stdout', '--delta-base-offset', '-q'], `${head}\n${haves.map((h) => `^${h}\n`).join('')}`);
}

/**
 * Stores a fetched pack's objects as loose objects (git's unpack-objects: deltas resolved once, in C), so
 * reading a peer's trees is one inflate each. Objects already here are skipped.
 */
export async function unpackObjects(gitdir: string, pack: Uint8Array): Promise<void> {
  await runGit(gitdir, ['unpack-objects', '-q'], pack);
}

/** `git --git-dir gitdir …args` with `input` on stdin; resolves with its stdout. */
function runGit(gitdir: string, args: string[], input: string | Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // No auto-gc: our own sweeps decide what is garbage in this repository (git-prune.ts).
    const child = spawn('git', ['--git-dir', gitdir, '-c', 'gc.auto=0', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8'); });
    child.on('error', (e) => reject(new PackError(`git ${args[0]}: ${e.message} (is git installed? Debian package git)`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new PackError(`git ${args[0]} exited ${code}: ${err.trim().split('\n').pop() ?? ''}`))));
    child.stdin.on('error', () => { /* the exit says why */ });
    child.stdin.end(input);
  });
}
