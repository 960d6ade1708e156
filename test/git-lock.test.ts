// One writer per git store directory (issue 11, item 2): the lock file names its holder, a second
// opener (in this process or another, the CLI included) is refused with one line naming the holder's
// pid (exit 2), a lock left by a dead process is taken over with a log line, and the lock goes at
// close and at process exit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GitStore, LOCK_FILE, Store, StoreLockedError, type GitStoreLogger } from '../store/index.js';
import { openGit } from '../cli/git.js';
import { UsageError } from '../cli/usage.js';
import { plain } from './support/tables.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), `nb-git-lock-${process.pid}-`));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});
let dirs = 0;
const newDir = (tag: string) => join(tmp, `${tag}-${++dirs}`);
const primary = () => new Store([plain]).main;

function warnings(): GitStoreLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info() {}, warn: (_o, msg) => { lines.push(msg); }, error: (_o, msg) => { lines.push(msg); } };
}

/** A pid no process has: one that just exited (and was reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

/** test/support/git-fault-child.ts on `dir`, once it has opened the store (and holds the lock). */
async function holder(dir: string): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/git-fault-child.ts', dir, '60', 'worker'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => { children.delete(child); r(code); }));
  const lines = createInterface({ input: child.stdout! });
  const loaded = new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => { if (JSON.parse(l).ev === 'loaded') resolve(); });
    void exited.then((code) => reject(new Error(`the holder exited (${code}) before opening ${dir}`)));
  });
  await loaded;
  return { child, exited };
}

/** `netbranch sim` with a repository per node under `parent`. */
function sim(parent: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'sim', '--store', `git:${parent}`, '--nodes', '2', '--seconds', '1', '--speed', 'max'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a second open of a repository is refused, naming the holder\'s pid; close releases the lock', async () => {
  const dir = newDir('same');
  const first = await GitStore.open(dir, primary(), { thread: false });
  assert.match(readFileSync(join(dir, LOCK_FILE), 'utf8'), new RegExp(`^${process.pid} \\d+\\n$`), 'the lock holds the pid and its start time');
  for (const thread of [false, true]) {
    await assert.rejects(GitStore.open(dir, primary(), { thread }), (err: Error) => {
      assert.ok(err instanceof StoreLockedError || err.message.includes('in use'), err.message);
      assert.ok(err.message.includes(`in use by pid ${process.pid} (this process)`), err.message);
      return true;
    });
  }
  // The router's path (cli/git.ts): a UsageError, so one line and exit status 2.
  await assert.rejects(openGit(dir, primary(), {}), (err: Error) => {
    assert.ok(err instanceof UsageError);
    assert.match(err.message, new RegExp(`^--store git:${dir}: .* in use by pid ${process.pid}`));
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  await first.close();
  assert.ok(!existsSync(join(dir, LOCK_FILE)), 'close removes the lock');
  const second = await GitStore.open(dir, primary(), { thread: true });
  assert.ok(existsSync(join(dir, LOCK_FILE)));
  await second.close();
  assert.ok(!existsSync(join(dir, LOCK_FILE)), 'close removes the lock (worker thread too)');
});

test('a lock left by a process that is gone (or by an earlier process with this pid) is taken over with a log line', async () => {
  const dir = newDir('stale');
  await (await GitStore.open(dir, primary(), { thread: false })).close();
  const dead = deadPid();
  for (const [text, pid] of [[`${dead} 12345\n`, dead], [`${process.pid} 1\n`, process.pid], ['not a pid\n', 0]] as const) {
    writeFileSync(join(dir, LOCK_FILE), text);
    const log = warnings();
    const gs = await GitStore.open(dir, primary(), { thread: false, logger: log });
    assert.deepEqual(log.lines, [`git: took over the lock of pid ${pid}, which is no longer running`], `a lock holding '${text.trim()}'`);
    assert.match(readFileSync(join(dir, LOCK_FILE), 'utf8'), new RegExp(`^${process.pid} `));
    await gs.close();
  }
});

test('another process: `netbranch sim` on a held directory exits 2 with one line naming the holder; after a kill -9 it takes the lock over', async () => {
  const parent = newDir('cli');
  const repo = join(parent, 'node0');
  const h = await holder(repo);
  const refused = sim(parent);
  assert.equal(refused.status, 2, refused.stderr);
  const lines = refused.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${refused.stderr}`);
  assert.match(lines[0], new RegExp(`in use by pid ${h.child.pid}\\b`));
  assert.equal(h.child.exitCode, null, 'the holder runs on');
  h.child.kill('SIGKILL');
  await h.exited;
  assert.ok(existsSync(join(repo, LOCK_FILE)), 'a kill -9 leaves the lock');
  const after = sim(parent);
  assert.equal(after.status, 0, after.stderr);
  assert.match(after.stderr, new RegExp(`took over the lock of pid ${h.child.pid}, which is no longer running`));
  assert.ok(!existsSync(join(repo, LOCK_FILE)), 'the sim released it at its end');
});

test('the lock goes when its process exits without closing, and with a clean SIGTERM stop', async () => {
  const dir = newDir('exit');
  const a = await holder(dir);
  a.child.stdin!.write(`${JSON.stringify({ id: 1, op: 'exit', t: 0 })}\n`);
  assert.equal(await a.exited, 0);
  assert.ok(!existsSync(join(dir, LOCK_FILE)), 'process exit removes the lock');
  const b = await holder(dir);
  b.child.kill('SIGTERM');
  assert.equal(await b.exited, 0);
  assert.ok(!existsSync(join(dir, LOCK_FILE)), 'a clean stop removes the lock');
});
