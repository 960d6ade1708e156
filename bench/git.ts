// The git backend (store/git/git-store.ts): what a flush costs, what loading a repository costs, whether
// persistence stays off the data path (per-packet NAT latency with a GitStore flushing the primary vs
// without, in one run, rounds interleaved), and how large the repository grows under a steady flow
// churn on a simulated clock.
//   npm run bench -- git            (or: node --import tsx --expose-gc bench/git.ts)
// Knobs: NB_GIT_PARTS=flush,dataplane,size (default all), NB_GIT_FILL (30,000), NB_GIT_FLUSHES (12),
// NB_GIT_DP_FILL (5,000), NB_GIT_DP_PACKETS (100,000), NB_GIT_DP_PPS (50,000), NB_GIT_DP_ROUNDS (6), NB_GIT_DP_BURN (1),
// NB_GIT_SIM_SECONDS (40; see repoSize), NB_GIT_HISTORY_SMALL (60).
import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Store, type BranchTable } from '../store/index.js';
import { GitStore, renderEntry, type FlushResult } from '../store/git/index.js';
import { parseIpv4 } from '../wire/index.js';
import { natKey, natTable, type NatEntry } from '../actors/router/nat-table.js';
import { routerTables } from '../actors/router/router-schema.js';
import { type BenchReport, median, percentile, runAlone } from './report.js';
import { FramePool, Rig, flowRange, phase, stats, observeGc, forceGc, type PhaseHook, type Stats } from './nat.js';
import { outboundFrame } from './nat-flows.js';

const PARTS = new Set((process.env.NB_GIT_PARTS ?? 'flush,dataplane,size').split(','));
const FILL = Number(process.env.NB_GIT_FILL ?? 30_000);
const FLUSHES = Number(process.env.NB_GIT_FLUSHES ?? 12);
const WARM_FLUSHES = 2;
const DP_FILL = Number(process.env.NB_GIT_DP_FILL ?? 5_000);
const DP_PACKETS = Number(process.env.NB_GIT_DP_PACKETS ?? 100_000); // a round: 2 s at 50 kpps
const DP_PPS = Number(process.env.NB_GIT_DP_PPS ?? 50_000);
const DP_ROUNDS = Number(process.env.NB_GIT_DP_ROUNDS ?? 6);
const DP_NEW_EVERY = 50; // 1 packet in 50 opens a new flow: 1,000 new flows/s at 50 kpps
const DP_HOT = 1_000; // the other packets go to 1,000 existing flows (their counters change every merge)
const DP_BURN = process.env.NB_GIT_DP_BURN !== '0'; // a diagnostic fourth side, see startBurner
const DP_COLD = 32; // packets after each yield counted apart (cache and branch state the yield's work left)
const DP_HOOK_EVERY = 512; // packets between yields to the event loop (pacing, GitStore work)
const SIM_SECONDS = Number(process.env.NB_GIT_SIM_SECONDS ?? 40); // simulated seconds the default-history repository runs
const SIM_FLOWS_PER_S = 1_000;
const SIM_TIMEOUT_S = 30; // UDP timeout: a flow is deleted once it is 30 s old
const SIM_TARGET_S = 600; // the 10 minutes the size figures are about
const HISTORY_LONG = 600;
const HISTORY_SMALL = Number(process.env.NB_GIT_HISTORY_SMALL ?? 60);
const T0 = 1_700_000_000_000;

const CLIENT0 = parseIpv4('10.201.0.2');
const REMOTE = parseIpv4('10.202.0.2');
const CLIENTS = 200;

/** Flow j: UDP from client j % 200 (10.201.0.2 …), its source ports counting up from 1024, to 10.202.0.2:53. */
function flow(j: number, now: number): [string, NatEntry] {
  const insideIp = CLIENT0 + (j % CLIENTS);
  const port = 1024 + (Math.floor(j / CLIENTS) % 64_000);
  return [natKey('udp', insideIp, port, REMOTE, 53), {
    proto: 'udp', insideIp, insidePort: port, remoteIp: REMOTE, remotePort: 53, outPort: port, state: 'udp-new',
    created: now, lastSeen: now, pktsOut: 1, pktsIn: 0, bytesOut: 60, bytesIn: 0,
  }];
}

/** An entry's file text, as a flush renders it. */
const renderNat = (v: NatEntry | undefined) => renderEntry(natTable as never, v);

/**
 * Repositories to delete once the suite is done. Deleting is slow here (an unlink costs ~0.3 ms on this
 * disk; the size part leaves ~200,000 files), so it runs after the measurements, in the background,
 * never under one.
 */
const leftovers: string[] = [];
const removeLater = (dir: string) => { leftovers.push(dir); };

function removeLeftovers(): void {
  if (leftovers.length === 0) return;
  const dirs = leftovers.splice(0);
  try {
    const child = spawn('rm', ['-rf', ...dirs], { detached: true, stdio: 'ignore' });
    child.on('error', () => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
    child.unref();
    process.stdout.write(`  (removing the ${dirs.length} temporary repositories in the background: rm -rf ${dirs.length > 2 ? `${dirs[0]} …` : dirs.join(' ')})\n`);
  } catch {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const tempDir = (tag: string) => mkdtempSync(join(tmpdir(), `nb-bench-git-${tag}-`));
const yieldOnce = () => new Promise((r) => setImmediate(r));
const mb = (b: number) => (b / 1e6).toFixed(1);

// ---------------------------------------------------------------------------------------- flush & load

/** The per-object steps of a flush and of a load, timed apart on a fresh worker thread (as the git worker runs them). */
async function objectSteps(dir: string, blob: Buffer, n: number): Promise<Record<'writeAsync' | 'writeSync' | 'sha1' | 'deflateBlob' | 'deflateTree' | 'readAsync' | 'readSync', number>> {
  const tree = Buffer.alloc(150 * 62);
  for (let i = 0; i < tree.length; i++) tree[i] = i % 62 < 40 ? 0x61 + (i % 7) : Math.imul(i, 2654435761) >>> 24;
  const code = `
    const { parentPort, workerData: { dir, blob, tree, n } } = require('node:worker_threads');
    const fs = require('node:fs'), fsp = require('node:fs/promises'), zlib = require('node:zlib'), crypto = require('node:crypto'), { join } = require('node:path');
    const B = Buffer.from(blob), T = Buffer.from(tree), Z = zlib.deflateSync(B, { level: 1 });
    const us = (t0) => ((performance.now() - t0) * 1000) / n;
    const each = (f) => { for (let i = 0; i < 300; i++) f(i); const t0 = performance.now(); for (let i = 0; i < n; i++) f(i); return us(t0); };
    (async () => {
      let t = performance.now();
      for (let i = 0; i < n; i++) { await fsp.writeFile(join(dir, 'tmp_a' + i), Z, { mode: 0o444 }); await fsp.rename(join(dir, 'tmp_a' + i), join(dir, 'a' + i)); }
      const writeAsync = us(t);
      t = performance.now();
      for (let i = 0; i < n; i++) { fs.writeFileSync(join(dir, 'tmp_s' + i), Z, { mode: 0o444 }); fs.renameSync(join(dir, 'tmp_s' + i), join(dir, 's' + i)); }
      const writeSync = us(t);
      t = performance.now();
      for (let i = 0; i < n; i++) zlib.inflateSync(await fsp.readFile(join(dir, 'a' + i)));
      const readAsync = us(t);
      t = performance.now();
      for (let i = 0; i < n; i++) zlib.inflateSync(fs.readFileSync(join(dir, 's' + i)));
      const readSync = us(t);
      const sha1 = each(() => crypto.createHash('sha1').update(B).digest('hex'));
      const deflateBlob = each(() => zlib.deflateSync(B, { level: 1 }));
      const deflateTree = each(() => zlib.deflateSync(T, { level: 1 }));
      parentPort.postMessage({ writeAsync, writeSync, sha1, deflateBlob, deflateTree, readAsync, readSync });
    })();`;
  const w = new Worker(code, { eval: true, workerData: { dir, blob: new Uint8Array(blob), tree: new Uint8Array(tree), n } });
  try {
    return await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  } finally {
    await w.terminate();
  }
}


type NatView = BranchTable<string, NatEntry>;

/** The flush benchmark's table: FILL flows, then per step (a simulated second) 250 new flows, 500 flows' counters updated, the 250 oldest deleted. */
class FlowChurn {
  oldest = 0;
  next = FILL;
  private seed = 12345;
  constructor(readonly nat: NatView, public now: number) {
    for (let j = 0; j < FILL; j++) nat.set(...flow(j, now));
  }

  private rnd(n: number): number {
    this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0;
    return this.seed % n;
  }

  /** One step; returns the flows it updated. */
  step(): Set<number> {
    const nat = this.nat;
    const now = (this.now += 1000);
    const updated = new Set<number>();
    while (updated.size < 500) updated.add(this.oldest + 250 + this.rnd(this.next - this.oldest - 250));
    for (const j of updated) {
      const [k] = flow(j, now);
      const v = nat.get(k)!;
      nat.set(k, { ...v, lastSeen: now, pktsOut: v.pktsOut + 3, pktsIn: v.pktsIn + 2, bytesOut: v.bytesOut + 180, bytesIn: v.bytesIn + 900, state: 'udp-replied' });
    }
    for (let i = 0; i < 250; i++) nat.delete(flow(this.oldest++, now)[0]);
    for (let i = 0; i < 250; i++) nat.set(...flow(this.next++, now));
    return updated;
  }

  /** The main thread's share of a flush, measured apart: rendering the files of the last step's 750 updated and new entries, µs each. */
  renderUs(updated: Set<number>): number {
    const { nat, now, next } = this;
    const r0 = performance.now();
    for (const j of updated) renderNat(nat.get(flow(j, now)[0]));
    for (let j = next - 250; j < next; j++) renderNat(nat.get(flow(j, now)[0]));
    return ((performance.now() - r0) * 1000) / 750;
  }
}

/** The first flush of the filled table, reported. */
async function initialFlush(report: BenchReport, gs: GitStore, now: number): Promise<void> {
  const w = performance.now();
  const first = (await gs.flush(now))!;
  const firstWall = performance.now() - w;
  report.add(`git.flush_ms_initial_${FILL / 1000}k`, first.ms, 'ms', undefined,
    `persisting ${FILL.toLocaleString('en')} NAT entries once (worker): ${first.objects.toLocaleString('en')} objects, ${mb(first.bytes)} MB; wall ${firstWall.toFixed(0)} ms`);
}

interface ChurnFlushes { ms: number[]; wall: number[]; objects: number[]; bytes: number[]; renderUs: number[]; changes: number }

/** WARM_FLUSHES + FLUSHES churn steps, each committed and flushed; the warm-up ones are not kept. */
async function churnFlushes(store: Store, gs: GitStore, churn: FlowChurn): Promise<ChurnFlushes> {
  const c: ChurnFlushes = { ms: [], wall: [], objects: [], bytes: [], renderUs: [], changes: 0 };
  for (let f = 0; f < WARM_FLUSHES + FLUSHES; f++) {
    const updated = churn.step();
    store.main.commit({ author: 'bench', message: `churn ${f}` });
    c.changes = gs.pendingChanges();
    const w = performance.now();
    const r = (await gs.flush(churn.now))!;
    const wl = performance.now() - w;
    const ru = churn.renderUs(updated);
    if (f < WARM_FLUSHES) continue;
    c.ms.push(r.ms);
    c.wall.push(wl);
    c.objects.push(r.objects);
    c.bytes.push(r.bytes);
    c.renderUs.push(ru);
  }
  return c;
}

function reportFlushes(report: BenchReport, c: ChurnFlushes): void {
  const { ms, wall, objects, bytes, renderUs, changes } = c;
  const perObjectUs = (median(ms) * 1000) / median(objects);
  report.add('git.flush_ms_per_1k_changes', median(ms), 'ms', undefined,
    `FlushResult.ms (GitRepo.flush on the worker: blobs, trees above them, commit, ref) for ${changes.toLocaleString('en')} changed entries (250 new, 500 updated, 250 deleted) in a table of ${FILL.toLocaleString('en')}; median of ${FLUSHES} (after ${WARM_FLUSHES} warm-up), p90 ${percentile(ms, 90).toFixed(0)} ms; ${median(objects)} objects (${(perObjectUs).toFixed(0)} µs each), ${(median(bytes) / 1000).toFixed(0)} kB deflated`);
  report.add('git.flush_wall_ms_per_1k_changes', median(wall), 'ms', undefined,
    `await GitStore.flush() on the main thread: snapshot, render in 512-entry slices, comlink to the worker, the worker's flush, back; median, p90 ${percentile(wall, 90).toFixed(0)} ms`);
  report.add('git.flush_objects_per_1k_changes', median(objects), 'objects', undefined, `loose objects written per flush (blobs + rewritten trees + commit); ${(median(bytes) / 1000).toFixed(0)} kB`);
  report.add('git.flush_us_per_object', perObjectUs, 'µs', undefined, 'worker flush time ÷ objects written: each object is hashed, deflated, written to a temporary file and renamed (sequential awaits)');
  report.add('git.render_us_per_entry', median(renderUs), 'µs', undefined, 'renderEntry (indented JSON) of one NAT entry on the main thread: the main thread\'s share of a flush per changed entry');
}

/** Load: a fresh primary opening that repository (worker mode, as the router does). */
async function measureLoad(report: BenchReport, dir: string, expected: number): Promise<void> {
  const again = new Store(routerTables);
  const w = performance.now();
  const g2 = await GitStore.open(dir, again.main, {});
  const loadMs = performance.now() - w;
  const loaded = again.main.table(natTable).size;
  const rs = await g2.repoStats();
  await g2.close();
  if (loaded !== expected) throw new Error(`load: ${loaded} NAT entries, expected ${expected}`);
  report.add(`git.load_ms_${FILL / 1000}k`, loadMs, 'ms', undefined,
    `GitStore.open of that repository into a fresh primary (worker mode): ${loaded.toLocaleString('en')} entries, ${rs.commitsKept} commits, ${rs.looseObjects.toLocaleString('en')} loose objects (read tree + every blob, sweep, history tracking), one sample, page cache warm`);
}

/** Where the worker's time goes: the same per-object steps, apart, on a worker thread of their own. */
async function reportObjectSteps(report: BenchReport, blob: Buffer): Promise<void> {
  const diag = tempDir('diag');
  try {
    const d = await objectSteps(diag, blob, 2000);
    report.add('git.diag.loose_write_us', d.writeAsync, 'µs', undefined,
      `one loose object's file work as LooseObjects does it: fs/promises writeFile + rename of a ${blob.length}-byte file, awaited one at a time, on a worker thread; the same with writeFileSync + renameSync ${d.writeSync.toFixed(0)} µs; sha1 ${d.sha1.toFixed(1)} µs; deflateSync level 1 ${d.deflateBlob.toFixed(1)} µs (that blob), ${d.deflateTree.toFixed(1)} µs (a 150-entry tree)`);
    report.add('git.diag.loose_read_us', d.readAsync, 'µs', undefined,
      `what loading does per entry: fs/promises readFile + inflateSync of one loose object, awaited one at a time, on a worker thread; readFileSync + inflateSync ${d.readSync.toFixed(0)} µs`);
  } finally {
    removeLater(diag);
  }
}

/** A primary with FILL NAT flows persisted once, then FLUSHES flushes of 1,000 changed entries each; then a load. */
async function flushAndLoad(report: BenchReport): Promise<void> {
  const dir = tempDir('flush');
  try {
    const store = new Store(routerTables);
    const gs = await GitStore.open(dir, store.main, { flushIntervalMs: 1000 });
    const churn = new FlowChurn(store.main.table(natTable), T0);
    store.main.commit({ author: 'bench', message: 'fill' });
    await initialFlush(report, gs, churn.now);
    reportFlushes(report, await churnFlushes(store, gs, churn));
    await gs.close(churn.now);
    await measureLoad(report, dir, churn.nat.size);
    await reportObjectSteps(report, Buffer.from(renderNat(churn.nat.get(flow(churn.next - 1, churn.now)[0]))));
  } finally {
    removeLater(dir);
  }
}

// ---------------------------------------------------------------------------------------- data plane

interface DpRound {
  st: Stats;
  /** p99 over the packets that opened a flow, and over those of existing flows (µs). */
  newP99: number;
  oldP99: number;
  /** p99 over the packets not among the first DP_COLD after a yield (when this thread may have run other work). */
  warmP99: number;
  /** Flushes the packet loop's ticks started, and those that finished, during the measured packets. */
  started: number;
  flushes: number;
  flushedObjects: number;
  flushMs: number[];
  pps: number;
  wallMs: number;
  /** The process's CPU time (all threads, user + system) over the round ÷ its wall time: cores busy. */
  cores: number;
}

/**
 * One side of the comparison, kept for the whole run: a primary (with a GitStore on it for 'git',
 * flushing every second on the real clock, ticked from the packet loop) and a Router on a replica of
 * it, filled with DP_FILL flows (persisted before any round). Each round sends its packets paced at
 * DP_PPS with a yield every DP_HOOK_EVERY packets, each timed; after a git round the flush in flight is
 * let finish, so the other side's rounds run without git work.
 */
class DpSide {
  readonly store = new Store(routerTables);
  gs: GitStore | null = null;
  rig!: Rig;
  private started = 0;
  private lastFlushes = 0;
  private rounds = 0;
  /** `burn`: a memory side with a thread writing loose-object-like files throughout its rounds (no GitStore). */
  constructor(readonly backend: 'memory' | 'git', readonly pool: FramePool, readonly burn = false) {}

  async open(): Promise<this> {
    if (this.backend === 'git') {
      const dir = tempDir('dp');
      removeLater(dir);
      this.gs = await GitStore.open(dir, this.store.main, { flushIntervalMs: 1000 });
    }
    this.rig = new Rig('store', T0, this.store);
    await phase(this.rig, this.pool, flowRange(0, DP_FILL), DP_FILL, T0, false);
    this.rig.mergeCycle(T0 + 500, false);
    if (this.gs) await this.gs.flush(Date.now());
    return this;
  }

  async round(order: Int32Array): Promise<DpRound> {
    const n = order.length;
    const gs = this.gs;
    const f0 = gs ? { ...gs.stats } : null;
    const started0 = this.started;
    const flushMs: number[] = [];
    let start = 0;
    const hook: PhaseHook = {
      every: DP_HOOK_EVERY,
      run: async (i) => {
        if (gs) {
          if (gs.stats.flushes !== this.lastFlushes) { this.lastFlushes = gs.stats.flushes; flushMs.push(gs.stats.lastFlushMs); }
          const pending = gs.pendingChanges();
          gs.tick(Date.now());
          if (pending > 0 && gs.pendingChanges() === 0) this.started++; // a flush takes the dirty set synchronously
        }
        const wait = start + ((i + 1) * 1000) / DP_PPS - performance.now();
        if (wait >= 1) await sleep(wait);
        else await yieldOnce();
      },
    };
    const created0 = this.rig.router.nat.counters.created;
    forceGc();
    const burner = this.burn ? startBurner() : null;
    const cpu0 = process.cpuUsage();
    start = performance.now();
    const ph = await phase(this.rig, this.pool, order, n, T0 + 1000 + 1000 * this.rounds++, false, hook);
    await burner?.stop();
    const wallMs = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    const finished = gs && f0 ? gs.stats.flushes - f0.flushes : 0;
    const flushedObjects = gs && f0 ? gs.stats.objectsWritten - f0.objectsWritten : 0;
    // The flush still running finishes before the next round (of either side) starts.
    if (gs) {
      while (gs.stats.flushes + gs.stats.flushErrors < this.started) await sleep(5);
      if (gs.stats.flushes !== this.lastFlushes) { this.lastFlushes = gs.stats.flushes; flushMs.push(gs.stats.lastFlushMs); }
    }
    const newFlows = Math.ceil(n / DP_NEW_EVERY);
    if (this.rig.router.nat.counters.created - created0 !== newFlows) throw new Error(`${this.backend}: ${this.rig.router.nat.counters.created - created0} flows created, expected ${newFlows}`);
    const p99Of = (pick: (i: number) => boolean) => { const xs: number[] = []; for (let i = 0; i < n; i++) if (pick(i)) xs.push(ph.lat[i] / 1000); return percentile(xs, 99); };
    return {
      st: stats(ph), newP99: p99Of((i) => i % DP_NEW_EVERY === 0), oldP99: p99Of((i) => i % DP_NEW_EVERY !== 0), warmP99: p99Of((i) => i % DP_HOOK_EVERY >= DP_COLD),
      started: this.started - started0, flushes: finished, flushedObjects, flushMs, pps: n / (wallMs / 1000), wallMs,
      cores: (cpu.user + cpu.system) / 1000 / wallMs,
    };
  }

  async close(): Promise<void> {
    await this.gs?.close();
  }
}

/**
 * The diagnostic side's load (NB_GIT_DP_BURN=0 leaves it out): a thread doing what the git worker
 * does per object (sha1, deflate, writeFile + rename, awaited one at a time), nonstop, with no
 * GitStore and nothing rendered on this thread: if this side's p99 moves as the git side's does, the
 * cost is the file work's share of the machine's CPUs, not anything on the data path.
 */
function startBurner(): { stop(): Promise<void> } {
  const dir = tempDir('burn');
  removeLater(dir);
  const code = `
    const { parentPort, workerData: { dir } } = require('node:worker_threads');
    const fsp = require('node:fs/promises'), zlib = require('node:zlib'), crypto = require('node:crypto'), { join } = require('node:path');
    let stop = false;
    parentPort.on('message', () => { stop = true; });
    (async () => {
      const body = Buffer.alloc(284, 97);
      for (let i = 0; !stop; i++) {
        body.writeUInt32LE(i, 0);
        crypto.createHash('sha1').update(body).digest('hex');
        const z = zlib.deflateSync(body, { level: 1 });
        await fsp.writeFile(join(dir, 'tmp' + i), z, { mode: 0o444 });
        await fsp.rename(join(dir, 'tmp' + i), join(dir, 'o' + (i % 20000)));
      }
      parentPort.postMessage('stopped');
    })();`;
  const w = new Worker(code, { eval: true, workerData: { dir } });
  return {
    async stop() {
      const done = new Promise((r) => w.once('message', r));
      w.postMessage('stop');
      await done;
      await w.terminate();
    },
  };
}

/** Round k's packets: a new flow (the next unused one) every DP_NEW_EVERY packets, else one of DP_HOT existing flows spread over the table. */
function packetOrders(perRound: number): (k: number) => Int32Array {
  let s = 99;
  return (k) => {
    const order = new Int32Array(DP_PACKETS);
    for (let i = 0, j = 0; i < DP_PACKETS; i++) {
      if (i % DP_NEW_EVERY === 0) order[i] = DP_FILL + k * perRound + j++;
      else {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        order[i] = Math.floor(((s % DP_HOT) * DP_FILL) / DP_HOT);
      }
    }
    return order;
  };
}

// The sides: git; memory; a second memory one, the A/A control (how far apart two identical sides
// come out shows how much of a git/memory difference the machine's noise alone makes); and the burn
// side (a memory side plus a thread doing the git worker's file work: see startBurner).
type Side = 'git' | 'memory' | 'control' | 'burn';
const SIDES: Side[] = DP_BURN ? ['git', 'memory', 'control', 'burn'] : ['git', 'memory', 'control'];

/** A warm-up round (JIT), discarded; then DP_ROUNDS of the sides in turn, in rotated orders, the same packets for each. */
async function dataplaneRounds(): Promise<Record<Side, DpRound[]>> {
  const perRound = Math.ceil(DP_PACKETS / DP_NEW_EVERY);
  const pool = new FramePool(DP_FILL + (DP_ROUNDS + 1) * perRound, outboundFrame);
  const orderOf = packetOrders(perRound);
  const sides = {
    git: await new DpSide('git', pool).open(),
    memory: await new DpSide('memory', pool).open(),
    control: await new DpSide('memory', pool).open(),
    burn: DP_BURN ? await new DpSide('memory', pool, true).open() : null,
  } as Record<Side, DpSide>;
  const res: Record<Side, DpRound[]> = { git: [], memory: [], control: [], burn: [] };
  // Round r: the sides in a rotated order (and reversed every other time), so none is always first or after the same one.
  const perms: Side[][] = SIDES.map((_, r) => SIDES.map((__, i) => SIDES[(i + r) % SIDES.length])).flatMap((o) => [o, [...o].reverse()]);
  try {
    const warm = orderOf(0);
    for (const b of SIDES) await sides[b].round(warm);
    for (let r = 0; r < DP_ROUNDS; r++) {
      const order = orderOf(r + 1);
      for (const b of perms[r % perms.length]) res[b].push(await sides[b].round(order));
    }
  } finally {
    for (const b of SIDES) await sides[b].close();
  }
  return res;
}

/** The rounds' medians per side, and their ratios to the memory side. */
class DpFigures {
  constructor(readonly res: Record<Side, DpRound[]>) {}
  med(b: Side, k: keyof Stats): number { return median(this.res[b].map((x) => x.st[k])); }
  ratio(k: keyof Stats, b: Side = 'git'): number { return this.med(b, k) / this.med('memory', k); }
  medOf(b: Side, f: (x: DpRound) => number): number { return median(this.res[b].map(f)); }
  /** medOf side ÷ medOf memory. */
  ratioOf(b: Side, f: (x: DpRound) => number): number { return this.medOf(b, f) / this.medOf('memory', f); }
  rounds(b: Side): string { return this.res[b].map((x) => x.st.p99.toFixed(1)).join(', '); }
  cores(b: Side): number { return this.medOf(b, (x) => x.cores); }
}

const newP99 = (x: DpRound) => x.newP99;
const oldP99 = (x: DpRound) => x.oldP99;
const warmP99 = (x: DpRound) => x.warmP99;

/** git.dataplane_ratio (the goal), the burn side's and the A/A control's. */
function reportDataplaneRatio(report: BenchReport, d: DpFigures): void {
  const res = d.res;
  const pps = median(SIDES.flatMap((b) => res[b].map((x) => x.pps)));
  const r = d.ratio('p99');
  const aa = d.ratio('p99', 'control');
  const pairRatios = res.git.map((x, i) => x.st.p99 / res.memory[i].st.p99);
  report.add('git.dataplane_ratio', r, '×memory', '<= 1.05',
    `per-packet NAT latency p99 with a GitStore (worker, flushIntervalMs 1000, ticked from the packet loop) on the primary ÷ without (memory), same run; Router on a replica merged every 4,096 packets (bench/nat.ts's loop); ${DP_PACKETS.toLocaleString('en')} packets a round paced at ${DP_PPS / 1000} kpps (measured ${(pps / 1000).toFixed(1)}), 1 in ${DP_NEW_EVERY} opening a flow (${(DP_PPS / DP_NEW_EVERY).toLocaleString('en')}/s), the rest on ${DP_HOT} of ${DP_FILL.toLocaleString('en')} flows; median of ${DP_ROUNDS} rounds a side, the sides' order rotated, each side's primary kept across its rounds, a git round's last flush let finish before the next round; p99 ${d.med('git', 'p99').toFixed(2)} vs ${d.med('memory', 'p99').toFixed(2)} µs (rounds: git ${d.rounds('git')}; memory ${d.rounds('memory')}; control ${d.rounds('control')}); A/A control ×${aa.toFixed(3)}; per-pair ratios' median ×${median(pairRatios).toFixed(3)}; new-flow packets ×${d.ratioOf('git', newP99).toFixed(3)}, existing-flow packets ×${d.ratioOf('git', oldP99).toFixed(3)}, packets no GC overlapped ×${d.ratio('p99NoGc').toFixed(3)}, packets not among the first ${DP_COLD} after a yield ×${d.ratioOf('git', warmP99).toFixed(3)}${DP_BURN ? ` (burn side ×${d.ratioOf('burn', warmP99).toFixed(3)})` : ''}; CPU busy ${d.cores('git').toFixed(2)} vs ${d.cores('memory').toFixed(2)} cores${r > 1.05 ? '; MISSED' : ''}${Math.abs(aa - 1) > 0.05 ? `; INCONCLUSIVE: the A/A control came out ×${aa.toFixed(3)}, so this run's noise is larger than the 5% the goal allows` : ''}`);
  if (DP_BURN) {
    report.add('git.dataplane_burn_ratio', d.ratio('p99', 'burn'), '×memory', undefined,
      `diagnostic: a memory side with a thread writing loose-object-like files nonstop during its rounds (no GitStore) ÷ memory: p99 ${d.med('burn', 'p99').toFixed(2)} µs (rounds ${d.rounds('burn')}); new-flow ×${d.ratioOf('burn', newP99).toFixed(3)}, existing-flow ×${d.ratioOf('burn', oldP99).toFixed(3)}, p50 ×${d.ratio('p50', 'burn').toFixed(3)}; CPU busy ${d.cores('burn').toFixed(2)} cores`);
  }
  report.add('git.dataplane_aa_ratio', aa, '×memory', undefined,
    `the A/A control: a second memory side, measured in the same rotation, ÷ the memory side: the noise floor of git.dataplane_ratio in this run (ideal 1.0)`);
}

/** The data plane's detail figures: p99s, new- and existing-flow ratios, GC, CPU, the flushes a round saw. */
function reportDataplaneDetail(report: BenchReport, d: DpFigures): void {
  const git = d.res.git;
  const started = git.map((x) => x.started);
  const finished = git.map((x) => x.flushes);
  const flushMs = git.flatMap((x) => x.flushMs);
  const objsPerFlush = git.reduce((a, x) => a + x.flushedObjects, 0) / Math.max(1, finished.reduce((a, b) => a + b, 0));
  const roundS = median(git.map((x) => x.wallMs)) / 1000;
  report.add('git.dataplane_p99_us', d.med('git', 'p99'), 'µs', undefined, `memory ${d.med('memory', 'p99').toFixed(2)} µs, control ${d.med('control', 'p99').toFixed(2)} µs; p50 ${d.med('git', 'p50').toFixed(2)} vs ${d.med('memory', 'p50').toFixed(2)} µs`);
  report.add('git.dataplane_new_flow_p99_ratio', d.ratioOf('git', newP99), '×memory', undefined, `p99 of the packets that opened a flow: ${d.medOf('git', newP99).toFixed(2)} vs ${d.medOf('memory', newP99).toFixed(2)} µs (control ${d.medOf('control', newP99).toFixed(2)})`);
  report.add('git.dataplane_existing_flow_p99_ratio', d.ratioOf('git', oldP99), '×memory', undefined, `p99 of the packets of existing flows: ${d.medOf('git', oldP99).toFixed(2)} vs ${d.medOf('memory', oldP99).toFixed(2)} µs (control ${d.medOf('control', oldP99).toFixed(2)})`);
  report.add('git.dataplane_nogc_ratio', d.ratio('p99NoGc'), '×memory', undefined, 'p99 ratio over packets no garbage collection overlapped (in-process the GitStore\'s rendering shares the packet loop\'s heap; in the router it is another thread\'s)');
  report.add('git.dataplane_p50_ratio', d.ratio('p50'), '×memory');
  report.add('git.dataplane_gc_pct', d.med('git', 'gcPct'), '%', undefined, `GC time ÷ round time with git; memory ${d.med('memory', 'gcPct').toFixed(2)}%`);
  report.add('git.dataplane_cpu_cores', d.cores('git'), 'cores', undefined,
    `the process's CPU time over a git round ÷ its wall time (packet loop, GitStore rendering, the git worker, libuv's threads for its file writes); memory ${d.cores('memory').toFixed(2)}; the machine has 2 vCPUs, shared`);
  report.add('git.dataplane_flushes', median(started), 'flushes', '>= 2',
    `flushes the packet loop's ticks started during one measured round of ~${roundS.toFixed(1)} s (median; per round ${started.join(', ')}; finished within the round ${finished.join(', ')}); ~${objsPerFlush.toFixed(0)} objects a flush, worker flush time median ${median(flushMs).toFixed(0)} ms, max ${Math.max(0, ...flushMs).toFixed(0)} ms${median(flushMs) > 1000 ? ': longer than the interval, so the worker flushed back to back' : ''}`);
}

async function dataplane(report: BenchReport): Promise<void> {
  observeGc();
  const d = new DpFigures(await dataplaneRounds());
  reportDataplaneRatio(report, d);
  reportDataplaneDetail(report, d);
}

// ---------------------------------------------------------------------------------------- repository size

interface DiskUse { files: number; bytes: number; kb: number; loose: number }

/** Sum of the repository's file sizes and allocated blocks (what `du -sk` counts for the files), and its loose objects. */
function diskUse(dir: string): DiskUse {
  const u: DiskUse = { files: 0, bytes: 0, kb: 0, loose: 0 };
  const walk = (d: string, inObjects: boolean) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, inObjects || e.name === 'objects');
      else {
        const st = lstatSync(p);
        u.files++;
        u.bytes += st.size;
        u.kb += st.blocks / 2;
        if (inObjects && /^[0-9a-f]{38}$/.test(e.name)) u.loose++;
      }
    }
  };
  walk(dir, false);
  return u;
}

function duSk(dir: string): number | null {
  try {
    return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split(/\s/)[0]);
  } catch {
    return null;
  }
}

/** The commits a repository keeps after `flushes` flushes of one commit each, by GitRepo's trimming rule. */
function chainAfter(flushes: number, keep: number): { chain: number; trims: number; lastTrim: number } {
  let chain = 0;
  let trims = 0;
  let lastTrim = 0;
  for (let f = 1; f <= flushes; f++) {
    chain++;
    if (chain > keep + Math.max(1, keep >> 2)) { chain = keep; trims++; lastTrim = f; }
  }
  return { chain, trims, lastTrim };
}

interface Sample extends DiskUse { t: number; chain: number }

class SimRepo {
  readonly store = new Store(routerTables);
  readonly samples: Sample[] = [];
  readonly flushMs: number[] = [];
  readonly flushBytes: { t: number; bytes: number }[] = [];
  readonly trimFlushMs: number[] = [];
  readonly trimPruned: number[] = [];
  chain = 0;
  trims = 0;
  lastTrim = 0;
  du: number | null = null;
  gs!: GitStore;
  constructor(readonly keep: number, readonly dir: string) {}
  async open(): Promise<this> {
    // Simulated seconds pass faster than real ones: no prune grace, or each trim would keep a real minute's garbage a live router never has.
    this.gs = await GitStore.open(this.dir, this.store.main, { historyCommits: this.keep, pruneGraceMs: 0 });
    return this;
  }
  /** Whether the next flush will cut history off (so the repository is at its largest right now). */
  get trimsNext(): boolean {
    return this.chain + 1 > this.keep + Math.max(1, this.keep >> 2);
  }
  record(t: number, r: FlushResult | null): void {
    if (!r?.oid) return;
    this.chain++;
    if (r.squashed) {
      this.chain -= r.squashed;
      this.trims++;
      this.lastTrim = t;
      this.trimFlushMs.push(r.ms);
      this.trimPruned.push(r.pruned);
    } else {
      this.flushMs.push(r.ms);
      this.flushBytes.push({ t, bytes: r.bytes });
    }
  }
  sample(t: number): Sample {
    const s = { t, chain: this.chain, ...diskUse(this.dir) };
    this.samples.push(s);
    return s;
  }
  get last(): Sample {
    return this.samples[this.samples.length - 1];
  }
  async close(): Promise<void> {
    await this.gs.close().catch(() => null);
    removeLater(this.dir);
  }
}

const end0 = (r: SimRepo) => r.last?.t ?? 0;

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2; }
  return num / den;
}

/**
 * 1,000 new flows a simulated second, deleted once 30 s old, a flush each simulated second with the
 * commit time = simulated now. 600 such flushes take ~6 min of real time here (a flush of ~2,000
 * changes is ~0.6 s), so the run is cut short, honestly:
 * - default history (600): nothing is cut before 750 commits, so the repository grows linearly for
 *   12.5 min; it runs SIM_SECONDS (past the 30 s the table takes to fill), and its 10-min size is the
 *   measured size plus the measured growth rate times the rest;
 * - small history: in lockstep with the first (same changes, both flushing at once), then alone until
 *   it is in steady state (a trim has cut past the 30 s timeout, so every trim deletes a full cycle's
 *   objects) and at the same place of its trimming cycle as it would be at 600 s: its size there is
 *   measured, not extrapolated, and the samples before and after each trim show it is bounded.
 */
async function repoSize(report: BenchReport): Promise<void> {
  const tOpen = performance.now();
  const big = await new SimRepo(HISTORY_LONG, tempDir('h600')).open();
  const small = await new SimRepo(HISTORY_SMALL, tempDir(`h${HISTORY_SMALL}`)).open();
  if (process.env.NB_GIT_DEBUG) process.stdout.write(`  (opened in ${((performance.now() - tOpen) / 1000).toFixed(1)} s)\n`);
  try {
    const sim = new SizeRun(big, small);
    const realS = await sim.run();
    process.stdout.write(`  (simulated ${sim.sec} s in ${realS.toFixed(0)} s: ${end0(big)} s with historyCommits ${HISTORY_LONG} alongside, in ${sim.bigReal.toFixed(0)} s)\n`);
    const live = small.store.main.table(natTable).size;
    if (live !== SIM_FLOWS_PER_S * SIM_TIMEOUT_S) throw new Error(`${live} live flows, expected ${SIM_FLOWS_PER_S * SIM_TIMEOUT_S}`);
    const growth = new Growth(big);
    reportDefaultHistory(report, big, growth, live, sim.bigReal);
    const trim = new TrimCost(growth, small);
    report.add('git.trim_stall_s_h600', trim.stallS(HISTORY_LONG), 's', undefined, `historyCommits ${HISTORY_LONG} (estimated, not reached in this run): ${trim.note(HISTORY_LONG)}`);
    reportSmallHistory(report, small, sim.tenMin ?? small.last, realS, trim);
  } finally {
    const tc = performance.now();
    for (const r of [big, small]) await r.close();
    if (process.env.NB_GIT_DEBUG) process.stdout.write(`  (closed in ${((performance.now() - tc) / 1000).toFixed(1)} s)\n`);
  }
}

const FIT_FROM = SIM_TIMEOUT_S + 5; // the default-history repository's growth is fitted from here (the table is full)

/** A trim has cut past the UDP timeout, so every trim deletes a full cycle's objects. */
const inSteadyState = (r: SimRepo) => r.trims > 0 && r.lastTrim >= r.keep + SIM_TIMEOUT_S;

/** The two repositories' run, one simulated second at a time, each dropping out once it has what it is measured for. */
class SizeRun {
  private readonly bigSeconds = Math.min(SIM_SECONDS, SIM_TARGET_S);
  private readonly target = chainAfter(SIM_TARGET_S, HISTORY_SMALL);
  private active: SimRepo[];
  private next = 0;
  private oldest = 0;
  private t0 = 0;
  sec = 0;
  /** Real seconds the default-history repository ran. */
  bigReal = 0;
  /** The small-history repository where 10 min would be in its trimming cycle. */
  tenMin: Sample | null = null;

  constructor(private readonly big: SimRepo, small: SimRepo) {
    this.active = [big, small];
  }

  /** Real seconds the whole run took. */
  async run(): Promise<number> {
    this.t0 = performance.now();
    while (this.active.length) await this.second();
    return (performance.now() - this.t0) / 1000;
  }

  private async second(): Promise<void> {
    const sec = ++this.sec;
    const now = T0 + sec * 1000;
    this.churn(sec, now);
    const active = this.active;
    const results = await Promise.all(active.map((r) => r.gs.flush(now)));
    results.forEach((x, i) => active[i].record(sec, x));
    for (const r of [...active]) {
      if (r === this.big) this.afterBigFlush(r, sec);
      else this.afterSmallFlush(r, sec);
    }
  }

  /** SIM_FLOWS_PER_S new flows in every active repository, those 30 s old deleted, committed at simulated `now`. */
  private churn(sec: number, now: number): void {
    const next = this.next;
    for (const r of this.active) {
      const t = r.store.main.table(natTable);
      for (let j = next; j < next + SIM_FLOWS_PER_S; j++) t.set(...flow(j, now));
    }
    this.next += SIM_FLOWS_PER_S;
    // Flow j was created at second ⌊j / 1000⌋ + 1; at 30 s old it is deleted.
    let o = this.oldest;
    while (o < this.next && Math.floor(o / SIM_FLOWS_PER_S) + 1 <= sec - SIM_TIMEOUT_S) o++;
    for (const r of this.active) {
      const t = r.store.main.table(natTable);
      for (let j = this.oldest; j < o; j++) t.delete(flow(j, now)[0]);
      r.store.main.commit({ author: 'sim', message: `second ${sec}`, time: now });
      if (r.trimsNext) r.sample(sec - 1); // the peak: just before history is cut
    }
    this.oldest = o;
  }

  private afterBigFlush(r: SimRepo, sec: number): void {
    const last = sec === SIM_TARGET_S;
    if (sec >= FIT_FROM && (sec - FIT_FROM) % 5 === 0) r.sample(sec);
    if (sec >= this.bigSeconds || last) {
      if (r.last?.t !== sec) r.sample(sec);
      r.du = duSk(r.dir);
      this.bigReal = (performance.now() - this.t0) / 1000;
      this.active = this.active.filter((x) => x !== r);
    }
  }

  private afterSmallFlush(r: SimRepo, sec: number): void {
    const last = sec === SIM_TARGET_S;
    if (this.tenMin === null && ((inSteadyState(r) && r.chain === this.target.chain && sec >= this.bigSeconds) || last)) {
      this.tenMin = r.sample(sec);
      r.du = duSk(r.dir);
    }
    // Then on to the top of that cycle (the next flush would trim): the largest it gets.
    const done = (this.tenMin !== null && r.trimsNext) || last;
    if ((done || r.lastTrim === sec) && r.last?.t !== sec) r.sample(sec); // after a trim: the trough
    if (done) this.active = this.active.filter((x) => x !== r);
  }
}

type GrowthKey = 'bytes' | 'kb' | 'loose';

/** Default history: linear growth once the table is full, fitted over the samples and extended to any simulated second. */
class Growth {
  readonly fit: Sample[];
  readonly end: Sample;
  constructor(big: SimRepo) {
    this.fit = big.samples.filter((x) => x.t >= FIT_FROM);
    this.end = big.last;
  }
  perS(k: GrowthKey): number { return slope(this.fit.map((x) => x.t), this.fit.map((x) => x[k])); }
  at(k: GrowthKey, t: number): number { return this.end[k] + this.perS(k) * (t - this.end.t); }
}

function reportDefaultHistory(report: BenchReport, big: SimRepo, g: Growth, live: number, bigReal: number): void {
  const { fit, end } = g;
  const perS = (k: GrowthKey) => g.perS(k);
  const at = (k: GrowthKey, t: number) => g.at(k, t);
  const written = big.flushBytes.filter((x) => x.t > FIT_FROM);
  const writtenPerS = written.reduce((a, x) => a + x.bytes, 0) / Math.max(1, written.length);
  const peakT = HISTORY_LONG + Math.max(1, HISTORY_LONG >> 2);
  const extrapolated = end.t < SIM_TARGET_S;
  const perSimS = bigReal / end.t;
  const how = extrapolated
    ? `EXTRAPOLATED: ran ${end.t} simulated s (${bigReal.toFixed(0)} s real, flushing alongside the small-history repository; all 600 would take ~${((perSimS * 600) / 60).toFixed(0)} min), measured ${mb(end.bytes)} MB at ${end.t} s + ${mb(perS('bytes') * 60)} MB per simulated min (fit over ${fit[0]?.t}…${end.t} s; flushes wrote ${mb(writtenPerS * 60)} MB/min) × the remaining ${SIM_TARGET_S - end.t} s`
    : `measured over ${end.t} simulated s`;
  report.add('git.repo_bytes_10min_1k_flows_s', at('bytes', SIM_TARGET_S), 'bytes', undefined,
    `historyCommits ${HISTORY_LONG}: sum of file sizes in the repository after 10 simulated min of ${SIM_FLOWS_PER_S.toLocaleString('en')} new UDP flows/s (deleted at 30 s old: ${live.toLocaleString('en')} live), one flush (~${SIM_FLOWS_PER_S * 2} changes) each simulated s; ${how}; ≈ ${mb(at('bytes', SIM_TARGET_S))} MB; worker flush median ${median(big.flushMs).toFixed(0)} ms`);
  report.add('git.repo_du_kb_10min_1k_flows_s', at('kb', SIM_TARGET_S), 'KiB', undefined,
    `the same, allocated blocks (what du -sk counts; ${extrapolated ? 'extrapolated likewise' : 'measured'}): ≈ ${mb(at('kb', SIM_TARGET_S) * 1024)} MB, ${(at('kb', SIM_TARGET_S) / at('bytes', SIM_TARGET_S) * 1024).toFixed(1)}× the file sizes: most objects are a few hundred bytes and take a whole 4 KiB block; du -sk at ${end.t} s: ${big.du ?? 'n/a'} KiB (walk: ${end.kb} KiB)`);
  report.add('git.repo_loose_objects_10min_1k_flows_s', at('loose', SIM_TARGET_S), 'objects', undefined,
    `loose objects then (${extrapolated ? 'extrapolated' : 'measured'}; ${perS('loose').toFixed(0)} more each simulated s); ${end.loose.toLocaleString('en')} at ${end.t} s`);
  report.add('git.repo_growth_bytes_per_min', perS('bytes') * 60, 'bytes', undefined,
    `historyCommits ${HISTORY_LONG}: growth per simulated minute once the table is full (measured): ≈ ${mb(perS('bytes') * 60)} MB of files, ${mb(perS('kb') * 60 * 1024)} MB of blocks, ${Math.round(perS('loose') * 60).toLocaleString('en')} loose objects`);
  report.add('git.repo_bytes_max_h600', at('bytes', peakT), 'bytes', undefined,
    `historyCommits ${HISTORY_LONG}: the bound: largest at ${peakT} commits (${(peakT / 60) | 0} min ${peakT % 60} s of this load), just before the first trim cuts it back to ${HISTORY_LONG} commits (extrapolated: ≈ ${mb(at('bytes', peakT))} MB of files, ${mb(at('kb', peakT) * 1024)} MB of blocks, ${Math.round(at('loose', peakT)).toLocaleString('en')} loose objects); largest seen in this run: ${mb(Math.max(...big.samples.map((x) => x.bytes)))} MB at ${end.t} s (it only grows before then)`);
}

/**
 * What a steady-state trim costs: it deletes a whole cycle's objects (every flush's trees die at the
 * next flush, its blobs 30 s later), one unlink at a time, at the rate this run's last trim showed.
 */
class TrimCost {
  private readonly unlinkMs: number;
  constructor(private readonly growth: Growth, small: SimRepo) {
    this.unlinkMs = small.trimPruned.length ? small.trimFlushMs[small.trimFlushMs.length - 1] / Math.max(1, small.trimPruned[small.trimPruned.length - 1]) : NaN;
  }
  /** Objects a steady-state trim deletes with `keep` commits of history. */
  private objects(keep: number): number { return (Math.max(1, keep >> 2) + 1) * this.growth.perS('loose'); }
  stallS(keep: number): number { return this.objects(keep) * this.unlinkMs / 1000; }
  note(keep: number): string {
    const objs = this.objects(keep);
    return `a steady-state trim (every ${Math.max(1, keep >> 2) + 1} flushes) deletes ~${Math.round(objs).toLocaleString('en')} objects: ~${((objs * this.unlinkMs) / 1000).toFixed(0)} s at ${this.unlinkMs.toFixed(2)} ms an object (this run's last trim), a stall of persistence (no flush runs meanwhile)`;
  }
}

/** Small history: measured in steady state, where 10 min would be in its trimming cycle (`endS`). */
function reportSmallHistory(report: BenchReport, small: SimRepo, endS: Sample, realS: number, trim: TrimCost): void {
  const h = `historyCommits ${HISTORY_SMALL}`;
  const inSteady = small.samples.filter((x) => x.t >= HISTORY_SMALL + SIM_TIMEOUT_S);
  const lo = inSteady.reduce((a, x) => (x.bytes < a.bytes ? x : a), endS);
  const hi = inSteady.reduce((a, x) => (x.bytes > a.bytes ? x : a), endS);
  const allMax = small.samples.reduce((a, x) => (x.bytes > a.bytes ? x : a), endS);
  report.add(`git.repo_bytes_10min_1k_flows_s_h${HISTORY_SMALL}`, endS.bytes, 'bytes', undefined,
    `${h}: the same load; measured at ${endS.t} simulated s, in steady state and holding ${endS.chain} commits as it would at 600 s (it trims every ${Math.max(1, HISTORY_SMALL >> 2) + 1} flushes; ${small.trims} trims so far): ≈ ${mb(endS.bytes)} MB; ${realS.toFixed(0)} s real for both runs; trimming flushes took ${small.trimFlushMs.map((x, i) => `${(x / 1000).toFixed(1)} s (${small.trimPruned[i].toLocaleString('en')} objects deleted)`).join(', ')} (one unlink at a time; no other flush runs meanwhile), other flushes median ${median(small.flushMs).toFixed(0)} ms`);
  report.add(`git.repo_du_kb_10min_1k_flows_s_h${HISTORY_SMALL}`, endS.kb, 'KiB', undefined, `${h}: allocated blocks then (${mb(endS.kb * 1024)} MB; du -sk of the directory: ${small.du ?? 'n/a'} KiB)`);
  report.add(`git.repo_loose_objects_10min_1k_flows_s_h${HISTORY_SMALL}`, endS.loose, 'objects');
  report.add(`git.repo_bytes_max_h${HISTORY_SMALL}`, allMax.bytes, 'bytes', undefined,
    `${h}: largest seen during the run ≈ ${mb(allMax.bytes)} MB at ${allMax.t} s (${allMax.chain} commits, ${mb(allMax.kb * 1024)} MB of blocks; sampled just before and after each trim); bounded: in steady state it cycles between ${mb(lo.bytes)} MB (after a trim) and ${mb(hi.bytes)} MB (before one); samples ${small.samples.map((x) => `${x.t}s ${mb(x.bytes)}`).join(', ')}; ${trim.note(HISTORY_SMALL)}`);
}

// ---------------------------------------------------------------------------------------- suite

export async function run(report: BenchReport): Promise<void> {
  const time = async (name: string, f: () => Promise<void>) => {
    if (!PARTS.has(name)) return;
    const t = performance.now();
    await f();
    process.stdout.write(`  (${name}: ${((performance.now() - t) / 1000).toFixed(0)} s)\n`);
  };
  try {
    await time('flush', () => flushAndLoad(report));
    await time('dataplane', () => dataplane(report));
    await time('size', () => repoSize(report));
  } finally {
    removeLeftovers();
  }
}

await runAlone(import.meta.url, run, true);
