// Fault injection for the git backend: rounds of a GitStore in a child process
// (test/support/git-fault-child.ts) that flushes, merges edits pushed with plain git (on the latest
// `edits`, and real merges of an older `main` with `edits`), cuts its history (3 commits kept), and
// is stopped by SIGTERM or kill -9 at random moments (mid-flush too), then restarted. After every
// round: `git fsck --full --strict` is clean; every commit pushed to `edits` is reachable, or was
// merged and then cut off with the history (git agrees: main ends at a commit listed in `shallow`);
// the restart loads the state last flushed; a start after a clean stop sweeps nothing; the
// operator's clone pulls both branches; `rejected` lists the newest rejections. The schedule is
// seeded: a fixed seed by default, so every `npm test` runs the same schedule; NB_FAULT_SEED=<n>
// replays another, NB_FAULT_SEED=random draws one (where a kill lands within a flush still depends
// on the machine). The child prunes with no grace (pruneGraceMs 0): no push lands during a flush
// here, and a clean stop must leave nothing behind (test/git-sweep.test.ts covers the grace).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { listRejected } from '../store/git/index.js';
import { prng } from '../actors/sim/prng.js';
import { assertFsck, git, GIT_ENV, gitStatus } from './support/git-cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The schedule `npm test` runs. */
const DEFAULT_SEED = 20260111;
const SEED = faultSeed(process.env.NB_FAULT_SEED);
const ROUNDS = 30;
const HISTORY = 3;

const tmp = mkdtempSync(join(tmpdir(), `nb-git-fault-${process.pid}-`));
const children = new Set<ChildProcess>();
after(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill('SIGKILL');
    await Promise.race([new Promise((r) => c.once('exit', r)), deadline(5_000)]); // it may still be writing into tmp
  }
  if (process.env.NB_FAULT_KEEP) process.stderr.write(`kept ${tmp}\n`);
  else rmSync(tmp, { recursive: true, force: true });
});

function faultSeed(env: string | undefined): number {
  if (env === undefined || env === '') return DEFAULT_SEED;
  if (env === 'random') return Math.floor(Math.random() * 2 ** 32);
  if (/^\d+$/.test(env)) return Number(env) >>> 0;
  throw new Error(`NB_FAULT_SEED must be a number or 'random', got '${env}'`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deadline = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms).unref());

type Ev = { ev: string } & Record<string, unknown>;

/** What the child reported: the state known written, and the states a flush in flight may have written. */
interface Model {
  committed: unknown;
  pending: unknown[];
  /** The state at SIGTERM: what the final flush writes. */
  closing?: unknown;
  /** Edit commit → the merge commit on main that recorded it (from acks). */
  mergedBy: Map<string, string>;
  /** Each acked merge that rejected files, oldest first. */
  rejected: { edit: string; paths: string[] }[];
}

/** One child process: its events as they come, and a wait for one. */
class Child {
  readonly proc: ChildProcess;
  readonly events: Ev[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private wake: (() => void) | null = null;
  stderr = '';

  constructor(dir: string, mode: string, model: Model) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', 'test/support/git-fault-child.ts', dir, String(HISTORY), mode, '0'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this.proc);
    this.proc.stdin!.on('error', () => {}); // writing to a child just killed
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as Ev;
      this.events.push(e);
      follow(model, e);
      this.wake?.();
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => { children.delete(this.proc); resolve({ code, signal }); }));
  }

  send(c: object): void {
    this.proc.stdin!.write(`${JSON.stringify(c)}\n`);
  }

  async waitFor(what: string, pred: (e: Ev) => boolean, ms = 30_000): Promise<Ev> {
    const until = Date.now() + ms;
    for (let seen = 0; Date.now() < until;) {
      for (; seen < this.events.length; seen++) {
        const e = this.events[seen];
        if (e.ev === 'error') assert.fail(`child error: ${String(e.msg)}`);
        if (pred(e)) return e;
      }
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) break;
      await Promise.race([new Promise<void>((r) => { this.wake = r; }), sleep(200)]);
    }
    assert.fail(`child: no ${what} (exit ${this.proc.exitCode ?? this.proc.signalCode}); stderr: ${this.stderr.slice(-1500)}`);
  }
}

function follow(m: Model, e: Ev): void {
  if (e.ev === 'flushing' || e.ev === 'closing') m.pending.push(e.state);
  if (e.ev === 'closing') m.closing = e.state;
  if (e.ev === 'ack' && 'state' in e) {
    m.committed = e.state;
    m.pending = m.closing === undefined ? [] : [m.closing];
  }
  if (e.ev === 'closed') {
    m.committed = m.closing;
    m.pending = [];
  }
  if (e.ev === 'ack' && typeof e.edit === 'string') {
    m.mergedBy.set(e.edit, e.head as string);
    if ((e.rejected as string[]).length) m.rejected.push({ edit: e.edit, paths: e.rejected as string[] });
  }
}

/** The operator: a clone of the repository, edits pushed to `edits`, both branches pulled. */
class Operator {
  readonly dir = join(tmp, 'operator');
  /** Every commit pushed to `edits`. */
  readonly pushed = new Set<string>();
  /** Each pushed tip, and the pushed commits in its history (merging the tip merges those). */
  readonly contains = new Map<string, Set<string>>();
  readonly counts = { ff: 0, merge: 0, rejectedFiles: 0, refusedPushes: 0, pullsAfterCut: 0 };
  private n = 0;

  constructor(readonly server: string, readonly rand: () => number) {}

  ready(): boolean {
    if (existsSync(this.dir)) return true;
    if (gitStatus(this.server, 'rev-parse', '-q', '--verify', 'main').status !== 0) return false;
    git(tmp, 'clone', '-q', this.server, this.dir);
    return true;
  }

  /** Follows a history that was cut past what the clone had (docs/git-store.md: bounded history). */
  private fetch(): void {
    git(this.dir, 'fetch', '-q', '--update-shallow', 'origin');
  }

  private hasRemote(branch: string): boolean {
    return gitStatus(this.dir, 'rev-parse', '-q', '--verify', `refs/remotes/origin/${branch}`).status === 0;
  }

  /** An edit on the latest `edits` (a fast-forward of it), or a real merge: an older main plus a file, merged with `edits`. */
  edit(): void {
    this.fetch();
    if (this.rand() < 0.4 && this.hasRemote('edits') && this.mergeEdit()) return;
    git(this.dir, 'checkout', '-q', '-B', 'edits', this.hasRemote('edits') ? 'origin/edits' : 'origin/main');
    this.writeFiles();
    if (!this.push()) assert.fail('a push on the latest edits was refused');
    this.counts.ff++;
  }

  private mergeEdit(): boolean {
    if (gitStatus(this.dir, 'checkout', '-q', '-B', 'work', 'origin/main~1').status !== 0) return false;
    this.writeFiles();
    if (gitStatus(this.dir, 'merge', '-q', '--no-edit', 'origin/edits').status !== 0) {
      gitStatus(this.dir, 'merge', '--abort');
      return false;
    }
    if (!this.push()) {
      this.counts.refusedPushes++;
      this.fetch();
      return false;
    }
    this.counts.merge++;
    return true;
  }

  private writeFiles(): void {
    const tag = ++this.n;
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      writeFileSync(join(this.dir, path), text);
    };
    for (let i = 0, n = 1 + Math.floor(this.rand() * 3); i < n; i++) write(`def/e${tag}_${i}`, `${Math.floor(this.rand() * 1000)}\n`);
    if (this.rand() < 0.3) write(`def/k${Math.floor(this.rand() * 30)}`, `${Math.floor(this.rand() * 1000)}\n`);
    const mine = git(this.dir, 'ls-files', 'def/').split('\n').filter((f) => /^def\/e/.test(f));
    if (mine.length && this.rand() < 0.3) git(this.dir, 'rm', '-q', mine[Math.floor(this.rand() * mine.length)]);
    if (this.rand() < 0.25) {
      write(`def/bad${tag}`, 'not json\n');
      this.counts.rejectedFiles++;
    }
    git(this.dir, 'add', '-A');
    git(this.dir, 'commit', '-q', '-m', `edit ${tag}`);
  }

  private push(): boolean {
    const fresh = git(this.dir, 'rev-list', 'HEAD', '--not', '--remotes=origin').split('\n').filter(Boolean);
    if (gitStatus(this.dir, 'push', '-q', 'origin', 'HEAD:edits').status !== 0) return false;
    for (const c of fresh) this.pushed.add(c);
    const tip = git(this.dir, 'rev-parse', 'HEAD').trim();
    this.contains.set(tip, new Set(git(this.dir, 'rev-list', tip).split('\n').filter((c) => this.pushed.has(c))));
    return true;
  }

  /** The commits on a path from `c` up to `tip`, `tip` included (the clone keeps what the operator made). */
  between(c: string, tip: string): string[] {
    return gitStatus(this.dir, 'rev-list', '--ancestry-path', `${c}..${tip}`).out.split('\n').filter((x) => /^[0-9a-f]{40}$/.test(x));
  }

  /** `git pull` of main and edits. Refused only when the server cut its history past the clone's tip; then the documented recovery. */
  pullBoth(onServer: Set<string>): void {
    if (!this.ready()) return;
    for (const branch of ['main', 'edits']) {
      if (gitStatus(this.server, 'rev-parse', '-q', '--verify', branch).status !== 0) continue;
      if (gitStatus(this.dir, 'rev-parse', '-q', '--verify', `refs/heads/${branch}`).status !== 0) {
        this.fetch();
        git(this.dir, 'checkout', '-q', '-B', branch, `origin/${branch}`);
        continue;
      }
      git(this.dir, 'checkout', '-q', branch);
      const mine = git(this.dir, 'rev-parse', 'HEAD').trim();
      const r = gitStatus(this.dir, 'pull', '-q', '--ff-only', 'origin', branch);
      if (r.status !== 0 || /rejected/.test(r.out)) {
        assert.ok(!onServer.has(mine), `git pull origin ${branch} failed although the server still has the clone's ${mine}:\n${r.out}`);
        this.counts.pullsAfterCut++;
        this.fetch();
        git(this.dir, 'checkout', '-q', '-B', branch, `origin/${branch}`);
      }
      assert.equal(git(this.dir, 'rev-parse', 'HEAD').trim(), git(this.server, 'rev-parse', branch).trim(), `the clone's ${branch} after the pull`);
    }
  }
}

interface Repo {
  dir: string;
  model: Model;
  op: Operator;
  rand: () => number;
  t: number;
  step: number;
}

/** One step of the schedule: returns the id of its last command (edits are pushed before it is sent). */
function sendStep(r: Repo, child: Child): number {
  const x = r.rand();
  const id = ++r.step;
  r.t += 1000;
  if (x < 0.35 && r.op.ready()) {
    r.op.edit();
    child.send({ id, op: 'poll', t: r.t });
  } else if (x < 0.9) {
    child.send({ id: -id, op: 'work', seed: Math.floor(r.rand() * 2 ** 31), n: 1 + Math.floor(r.rand() * 40), t: r.t });
    child.send({ id, op: 'flush', t: r.t });
  } else {
    child.send({ id, op: r.rand() < 0.5 ? 'flush' : 'poll', t: r.t });
  }
  return id;
}

/**
 * Starts the child and checks what it loaded: main's head, and the state last flushed (or one a flush
 * in flight when it was killed may have written); after a clean stop, no log line at all (nothing
 * swept, no lock taken over); after a kill -9, the dead process's lock taken over.
 */
async function start(r: Repo, n: number, last: { stop: string; pid: number } | null): Promise<Child> {
  const allowed = [r.model.committed, ...r.model.pending];
  r.model.pending = [];
  r.model.closing = undefined;
  const child = new Child(r.dir, r.rand() < 0.5 ? 'worker' : 'inline', r.model);
  const loaded = await child.waitFor('loaded line', (e) => e.ev === 'loaded');
  const head = gitStatus(r.dir, 'rev-parse', '-q', '--verify', 'main');
  assert.equal(loaded.head, head.status === 0 ? head.out.trim() : null, `round ${n}: loaded main's head`);
  if (last) assert.ok(allowed.some((s) => isDeepStrictEqual(s, loaded.state)), `round ${n}: the restart loaded ${JSON.stringify(loaded.state)}, not the state last flushed (${allowed.map((s) => JSON.stringify(s)).join(' or ')})`);
  r.model.committed = loaded.state;
  const logs = child.events.filter((e) => e.ev === 'log').map((e) => String(e.msg));
  if (last?.stop === 'SIGTERM') assert.deepEqual(logs, [], `round ${n}: a start after a clean stop logs nothing (no sweep, no lock taken over)`);
  if (last?.stop === 'SIGKILL') assert.ok(logs.includes(`git: took over the lock of pid ${last.pid}, which is no longer running`), `round ${n}: the killed process's lock is taken over: ${logs.join('; ')}`);
  return child;
}

/** Stops the child with `signal`; a SIGTERM must end in a clean close that leaves nothing behind. */
async function stop(r: Repo, n: number, child: Child, signal: 'SIGTERM' | 'SIGKILL'): Promise<{ stop: string; pid: number }> {
  child.proc.kill(signal);
  const done = await Promise.race([child.exited, deadline(20_000)]);
  if (!done) child.proc.kill('SIGKILL');
  assert.ok(done, `round ${n}: the child stopped within 20 s of ${signal}`);
  if (signal === 'SIGTERM') {
    assert.equal(done.code, 0, `round ${n}: exit status after SIGTERM; stderr: ${child.stderr.slice(-1500)}`);
    assert.ok(child.events.some((e) => e.ev === 'closed'), `round ${n}: closed cleanly`);
    for (const f of ['netbranch.lock', 'netbranch-flush']) assert.ok(!existsSync(join(r.dir, f)), `round ${n}: ${f} left after a clean stop`);
    assert.deepEqual(readdirSync(join(r.dir, 'objects')).filter((f) => f.startsWith('tmp_obj_')), [], `round ${n}: temporary objects left after a clean stop`);
  }
  return { stop: signal, pid: child.proc.pid! };
}

/** A round: a start, a few steps, a stop at a random point (between steps, or a few ms into one). */
async function round(r: Repo, n: number, last: { stop: string; pid: number } | null): Promise<{ stop: string; pid: number }> {
  const child = await start(r, n, last);
  const steps = 1 + Math.floor(r.rand() * 5);
  const killAt = Math.floor(r.rand() * (steps + 1));
  const signal = r.rand() < 0.5 ? 'SIGTERM' as const : 'SIGKILL' as const;
  for (let s = 0; s < steps; s++) {
    const id = sendStep(r, child);
    if (s === killAt) {
      await sleep(Math.floor(r.rand() * 25));
      break;
    }
    await child.waitFor(`ack ${id}`, (e) => e.ev === 'ack' && e.id === id);
  }
  return stop(r, n, child, signal);
}

/** The commits linked to the branches through every parent that is still there, `shallow` ignored. */
function linkedCommits(dir: string, branches: string[]): Set<string> {
  const seen = new Set<string>();
  let level = git(dir, 'rev-parse', ...branches).split('\n').filter(Boolean);
  for (let depth = 0; level.length && depth < 10_000; depth++) {
    const r = spawnSync('git', ['-C', dir, 'cat-file', '--batch'], { input: `${level.join('\n')}\n`, encoding: 'utf8', env: GIT_ENV, maxBuffer: 64 << 20 });
    for (const m of r.stdout.matchAll(/^([0-9a-f]{40}) commit \d+$/gm)) seen.add(m[1]);
    level = [...new Set([...r.stdout.matchAll(/^parent ([0-9a-f]{40})$/gm)].map((m) => m[1]))].filter((p) => !seen.has(p));
  }
  return seen;
}

/** After a round, with nothing running: what git holds must be whole, and every pushed edit accounted for. */
async function verify(r: Repo, n: number): Promise<void> {
  assertFsck(r.dir, `after round ${n}`);
  const branches = ['main', 'edits', 'rejected'].filter((b) => gitStatus(r.dir, 'rev-parse', '-q', '--verify', b).status === 0);
  if (!branches.includes('main')) return; // stopped before its first commit
  const onServer = new Set(git(r.dir, 'rev-list', ...branches).split('\n').filter(Boolean));
  for (const line of git(r.dir, 'rev-list', '--parents', 'main').split('\n')) {
    const [c, , ...merged] = line.split(' ');
    for (const e of merged) if (!r.model.mergedBy.has(e)) r.model.mergedBy.set(e, c);
  }
  const shallow = new Set(existsSync(join(r.dir, 'shallow')) ? readFileSync(join(r.dir, 'shallow'), 'utf8').split('\n').filter(Boolean) : []);
  const root = git(r.dir, 'rev-list', '--first-parent', 'main').trim().split('\n').pop()!;
  const behindShallow = linkedCommits(r.dir, branches);
  for (const c of r.op.pushed) {
    if (onServer.has(c)) continue;
    // Cut off with the history: behind a commit listed as shallow (still linked to a branch, but git
    // stops there), or merged (in some pushed tip) by a merge commit gone from main.
    assert.ok(shallow.has(root), `round ${n}: ${c} was cut off, but main's history does not end at a shallow commit (${root})`);
    if (behindShallow.has(c)) continue;
    const tips = [...r.op.contains].filter(([, has]) => has.has(c)).map(([tip]) => tip);
    const merges = tips.map((tip) => r.model.mergedBy.get(tip)).filter((m) => m !== undefined);
    assert.ok(merges.length, `round ${n}: pushed commit ${c} is neither reachable nor was it ever merged`);
    const cut = merges.some((m) => !onServer.has(m) || shallow.has(m)) || tips.some((tip) => r.op.between(c, tip).some((x) => shallow.has(x)));
    assert.ok(cut, `round ${n}: pushed commit ${c} is gone although its merges (${merges.join(', ')}) are on main and no shallow commit hides it`);
  }
  await verifyRejected(r, n);
  r.op.pullBoth(onServer);
}

/**
 * `rejected` holds the newest HISTORY merges that rejected something: the newest acked one is
 * listed in full, unless HISTORY newer ones (merged by a flush a kill cut short before its ack) pushed it out.
 */
async function verifyRejected(r: Repo, n: number): Promise<void> {
  const list = await listRejected(r.dir);
  const commits = new Set(list.map((e) => e.commit));
  assert.ok(commits.size <= HISTORY, `round ${n}: \`rejected\` lists ${commits.size} merges, more than the ${HISTORY} it keeps`);
  const newest = r.model.rejected.at(-1);
  if (!newest) return;
  const listed = new Set(list.map((e) => `${e.edit} ${e.path}`));
  const acked = new Set(r.model.rejected.map((x) => x.edit));
  const unacked = new Set(list.filter((e) => !acked.has(e.edit)).map((e) => e.commit));
  if (unacked.size >= HISTORY) return;
  for (const path of newest.paths) assert.ok(listed.has(`${newest.edit} ${path}`), `round ${n}: rejected ${path} of ${newest.edit} is not listed on the rejected branch`);
}

test(`fault injection: ${ROUNDS} rounds of flushes, pushed edits, history cut-offs, SIGTERM and kill -9, restarts (seed ${SEED})`, { timeout: 300_000 }, async (t) => {
  t.diagnostic(`seed ${SEED}: rerun this schedule with NB_FAULT_SEED=${SEED}`);
  const rand = prng(SEED);
  const dir = join(tmp, 'repo');
  const r: Repo = { dir, model: { committed: null, pending: [], mergedBy: new Map(), rejected: [] }, op: new Operator(dir, rand), rand, t: Date.UTC(2026, 0, 1), step: 0 };
  let last: { stop: string; pid: number } | null = null;
  const stops = { SIGTERM: 0, SIGKILL: 0, midFlush: 0 };
  for (let n = 1; n <= ROUNDS; n++) {
    try {
      last = await round(r, n, last);
    } catch (err) {
      (err as Error).message = `seed ${SEED}: ${(err as Error).message}`;
      throw err;
    }
    stops[last.stop as 'SIGTERM' | 'SIGKILL']++;
    if (r.model.pending.length) stops.midFlush++;
    await verify(r, n);
  }
  // One more start: it loads the last state; stopped cleanly, it leaves nothing behind.
  await stop(r, ROUNDS + 1, await start(r, ROUNDS + 1, last), 'SIGTERM');
  assertFsck(dir, 'at the end', { dangling: false });
  const cutOff = [...r.op.pushed].filter((c) => gitStatus(dir, 'cat-file', '-e', `${c}^{commit}`).status !== 0).length;
  t.diagnostic(`stops: ${stops.SIGTERM} SIGTERM, ${stops.SIGKILL} kill -9, ${stops.midFlush} with a flush in flight; edits: ${r.op.counts.ff} on the latest edits, ${r.op.counts.merge} merges of an older main, ${r.op.counts.refusedPushes} refused pushes, ${r.op.counts.rejectedFiles} malformed files; ${r.op.pushed.size} commits pushed, ${cutOff} since cut off with the history; ${r.model.mergedBy.size} merges; ${r.op.counts.pullsAfterCut} pulls that found the history cut past the clone`);
  assert.ok(r.op.pushed.size > 0 && r.model.mergedBy.size > 0, 'the schedule pushed and merged edits');
});
