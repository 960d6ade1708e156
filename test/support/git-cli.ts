// The real git CLI for the git-backend tests: no user or system configuration, a fixed identity for
// the commits tests make, and `git fsck` judged the same way everywhere.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';

export const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Edith Editor',
  GIT_AUTHOR_EMAIL: 'edith@example.net',
  GIT_COMMITTER_NAME: 'Edith Editor',
  GIT_COMMITTER_EMAIL: 'edith@example.net',
  GIT_TERMINAL_PROMPT: '0',
};

/** Runs git; throws (with its stderr) unless it exits 0. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8', env: GIT_ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, maxBuffer: 64 << 20 });
}

export function gitStatus(cwd: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('git', ['-C', cwd, ...args], { encoding: 'utf8', env: GIT_ENV, timeout: 30_000, maxBuffer: 64 << 20 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** git, asynchronously (so twenty repositories are checked side by side). */
export function gitAsync(cwd: string, ...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile('git', ['-C', cwd, ...args], { encoding: 'utf8', env: GIT_ENV, timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** The problems `git fsck` output names (object ids blanked first: a hex id may well spell 'bad'). */
export const fsckProblems = (out: string) => out.replace(/\b[0-9a-f]{40}\b/g, '<oid>').match(/error|warning|missing|broken|bad|corrupt|invalid/i);

/**
 * `git fsck --full --strict` exits 0 and names no problem; with `dangling: false`, it lists no
 * unreachable object either; with `quiet`, `git fsck --no-dangling` prints nothing at all too.
 */
export function assertFsck(dir: string, what: string, opts: { dangling?: boolean; quiet?: boolean } = {}): void {
  const r = gitStatus(dir, 'fsck', '--full', '--strict');
  assert.equal(r.status, 0, `git fsck ${what} (${dir}):\n${r.out}`);
  assert.equal(fsckProblems(r.out), null, `git fsck ${what} (${dir}):\n${r.out}`);
  if (opts.dangling === false) assert.doesNotMatch(r.out, /dangling|unreachable/, `git fsck ${what} (${dir}) found unreachable objects:\n${r.out}`);
  if (opts.quiet) {
    const quiet = gitStatus(dir, 'fsck', '--full', '--strict', '--no-dangling');
    assert.equal(quiet.status, 0, quiet.out);
    assert.equal(quiet.out.trim(), '', `git fsck --no-dangling ${what} (${dir}) printed something`);
  }
}
