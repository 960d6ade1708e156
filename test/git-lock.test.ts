// One writer per git store directory (issue 11, item 2): the lock file names its holder, a second
// opener (in this process or another, the CLI included) is refused with one line naming the holder's
// pid (exit 2), a lock left by a dead process is taken over with a log line, and the lock goes at
// close and at process exit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../store/index.js';
import { GitStore, LOCK_FILE, StoreLockedError } from '../store/git/index.js';
import { openGit } from '../cli/git.js';
import { UsageError } from '../cli/usage.js';
import { plain } from './support/tables.js';
import { git } from './support/git-cli.js';
import type { Logger } from '../store/index.js';

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

function warnings(): Logger & { lines: string[] } {
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

test('a read-only open beside the writer takes no lock, and refuses to flush, merge edits or start, with one clear line', async () => {
  const dir = newDir('read-only');
  const writer = await GitStore.open(dir, primary(), { thread: false });
  writer.branch.table(plain).set('k1', 1);
  writer.branch.commit({ author: 'worker' });
  await writer.flush(1000);
  const lock = readFileSync(join(dir, LOCK_FILE), 'utf8');
  const work = newDir('read-only-work');
  git(tmp, 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
  writeFileSync(join(work, 'def', 'k2'), '2\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'an edit only the writer may merge');
  git(work, 'push', '-q', 'origin', 'edits');
  const edit = git(dir, 'rev-parse', 'edits').trim();
  for (const thread of [false, true]) {
    const reader = await GitStore.open(dir, primary(), { thread, readOnly: true });
    assert.equal(reader.head, writer.head, 'it reads what the writer committed');
    assert.deepEqual([...reader.branch.table(plain).entries()], [['k1', 1]]);
    const refused = (what: string) => (err: Error) => err.message === `git:${dir} was opened read-only: it cannot ${what}`;
    await assert.rejects(reader.flush(2000), refused('flush'));
    await assert.rejects(reader.pollEdits(2000), refused('merge edits'));
    assert.throws(() => reader.start(), refused('start flushing and merging edits'));
    assert.throws(() => reader.tick(2000), refused('flush or merge edits'));
    await reader.close(2000); // closing writes nothing either
    assert.equal(git(dir, 'rev-parse', 'edits').trim(), edit, 'the edit is left for the writer');
    assert.equal(git(dir, 'rev-parse', 'main').trim(), writer.head);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), lock, 'the writer\'s lock is untouched');
  }
  assert.equal((await writer.pollEdits(3000))?.applied, 1, 'the writer merges it');
  await writer.close(4000);
});

/** test/support/git-lock-child.ts: a starter that takes DIR/r<i>'s lock at agreed instants. */
function racer(dir: string, rounds: number, stepMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/git-lock-child.ts', dir, String(rounds), String(stepMs)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => { children.delete(child); r(code); }));
  const said: Record<string, unknown>[] = [];
  let wake = () => {};
  createInterface({ input: child.stdout! }).on('line', (l) => { said.push(JSON.parse(l)); wake(); });
  /** Resolves once `n` lines came (bounded: the child's exit, or 60 s). */
  const lines = async (n: number) => {
    const until = Date.now() + 60_000;
    while (said.length < n && child.exitCode === null && Date.now() < until) await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
    assert.ok(said.length >= n, `racer ${child.pid}: ${said.length} of ${n} lines (exit ${child.exitCode})`);
    return said;
  };
  return { child, exited, lines };
}

test('two starters taking over the same dead process\'s lock at the same instant: exactly one wins, every round', async () => {
  const dir = newDir('race');
  const rounds = 40;
  const dead = deadPid();
  for (let r = 0; r < rounds; r++) {
    mkdirSync(join(dir, `r${r}`), { recursive: true });
    writeFileSync(join(dir, `r${r}`, LOCK_FILE), `${dead} 12345\n`);
  }
  const a = racer(dir, rounds, 25);
  const b = racer(dir, rounds, 25);
  await Promise.all([a.lines(1), b.lines(1)]); // both ready
  const start = Date.now() + 300;
  for (const x of [a, b]) x.child.stdin!.write(`${start}\n`);
  const [saidA, saidB] = await Promise.all([a.lines(rounds + 1), b.lines(rounds + 1)]);
  for (let r = 0; r < rounds; r++) {
    const [x, y] = [saidA[r + 1], saidB[r + 1]];
    assert.deepEqual([x.round, y.round], [r, r]);
    assert.equal(x.error ?? y.error, undefined, `round ${r}: ${String(x.error ?? y.error)}`);
    assert.equal(Number(x.won) + Number(y.won), 1, `round ${r}: exactly one starter holds the lock (${JSON.stringify([x, y])})`);
    const winner = x.won ? a.child.pid : b.child.pid;
    assert.equal((x.won ? y : x).holder, winner, `round ${r}: the loser names the winner`);
    assert.match(readFileSync(join(dir, `r${r}`, LOCK_FILE), 'utf8'), new RegExp(`^${winner} `), `round ${r}: the lock file names the winner`);
    assert.deepEqual(readdirSync(join(dir, `r${r}`)), [LOCK_FILE], `round ${r}: nothing left aside`);
  }
  for (const x of [a, b]) x.child.stdin!.end();
  assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
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
