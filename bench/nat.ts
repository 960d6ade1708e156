// The original experiment, re-run (in-process, no kernel I/O): per-packet latency of NAT lookup and NAT
// insertion through the real Router, with the NAT table on a store branch (a Replica of a primary, as a
// packet actor holds it, merged every MERGE_EVERY packets) vs on plain Maps (MapTable, the hashtable
// baseline); then NAT fast-path throughput, in-process per core and through RouterActors over rings.
//   npm run bench -- nat            (or: node --import tsx --expose-gc bench/nat.ts)
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { DeltaCodec, MergeCycle, ReplicaHost, Replica, Store, type TableView } from '../store/index.js';
import { arpTable, type ArpEntry } from '../actors/iface/arp-table.js';
import { natTable, type NatEntry } from '../actors/router/nat-table.js';
import { MapTable } from '../actors/router/map-table.js';
import { Router } from '../actors/router/router.js';
import { routerTables } from '../actors/router/router-schema.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { type BenchReport, maxOf, median, percentile, runAlone } from './report.js';
import { INSIDE, OUTSIDE, SERVER, SERVER_MAC, CLIENTS, FRAME_LEN, clientIp, clientMac, outboundFrame, replyFrame } from './nat-flows.js';
import { ClosedLoop, closeRings, rings } from './closed-loop.js';

const FILL = Number(process.env.NB_NAT_FILL ?? 100_000); // flows in the table before the timed phases
const N = Number(process.env.NB_NAT_PACKETS ?? 100_000); // timed insertions, and timed lookups
const ROUNDS = Number(process.env.NB_NAT_ROUNDS ?? 3);
const MERGE_EVERY = 4096; // packets between merge cycles (= the actor's maxPendingEdits push bound)
const BATCH = 32; // packets per frame batch: an actor runs one slice of merge work between batches

export type Mode = 'store' | 'hashtable';

/** The simulated clock's start, ms. */
const NOW0 = 1_700_000_000_000;

/** Flows from … from + n - 1, in order. */
export const flowRange = (from: number, n: number) => Int32Array.from({ length: n }, (_, i) => from + i);

/** All pre-built frames in one pool (no per-frame ArrayBuffer): flow i's outbound frame at i * FRAME_LEN. */
export class FramePool {
  readonly pool: Uint8Array;
  constructor(readonly count: number, build: (i: number) => Uint8Array) {
    this.pool = new Uint8Array(count * FRAME_LEN);
    for (let i = 0; i < count; i++) {
      const f = build(i);
      if (f.length !== FRAME_LEN) throw new Error(`frame ${i} is ${f.length} bytes, expected ${FRAME_LEN}`);
      this.pool.set(f, i * FRAME_LEN);
    }
  }
  /** Copies frame i into `buf` (forwarding rewrites in place). */
  copy(i: number, buf: Uint8Array): void {
    const p = this.pool;
    let o = i * FRAME_LEN;
    for (let k = 0; k < FRAME_LEN; k++) buf[k] = p[o++];
  }
}

/**
 * One packet actor's view: a Router over a replica (with its merge cycle) or over Maps. A 'store' rig
 * can be given its primary (e.g. one a GitStore persists); by default it makes a fresh one.
 */
export class Rig {
  readonly router: Router;
  forwarded = 0;
  merges = 0;
  /** Host-side merge (ReplicaHost.acceptBytes, another thread in the real router) per cycle, µs. */
  readonly hostMergeUs: number[] = [];
  /** Actor-side merge work (flush, encode; apply the answer: all its slices) per cycle, µs. */
  readonly actorMergeUs: number[] = [];
  /** The longest slice charged to one packet since the last reset, ns. */
  maxSliceNs = 0;
  private readonly host?: ReplicaHost;
  private readonly replica?: Replica;
  private readonly codec?: DeltaCodec;
  /** The actor's merge cycle, sliced as actors/runtime/actor-runtime.ts runs it. */
  private readonly cycle?: MergeCycle;
  private now = 0;
  private cycleNs = 0;
  private record = false;
  readonly store?: Store;

  constructor(readonly mode: Mode, now: number, primary?: Store) {
    let tables: { arp: TableView<number, ArpEntry>; nat: TableView<string, NatEntry> };
    if (mode === 'store') {
      this.store = primary ?? new Store(routerTables);
      this.host = new ReplicaHost(this.store.main);
      this.replica = new Replica(this.store.schema, this.host.attach('packet-0'));
      this.codec = new DeltaCodec(this.store.schema);
      const hrUs = () => Number(process.hrtime.bigint()) / 1000;
      this.cycle = new MergeCycle(this.replica, this.codec, {
        // The router worker's hook: the NAT engine writes up to `limit` dirty flows (flush(now, limit): remaining).
        flush: (limit) => (this.router.nat.flush as (now: number, limit?: number) => number | void)(this.now, limit),
        send: (bytes) => this.accept(bytes),
        clock: hrUs,
      });
      tables = { arp: this.replica.table(arpTable), nat: this.replica.table(natTable) };
    } else {
      tables = { arp: new MapTable(), nat: new MapTable() };
    }
    const count = () => { this.forwarded++; };
    this.router = new Router({ inside: INSIDE, outside: OUTSIDE, nat: { maxEntries: 1 << 22 } }, tables, count, count);
    for (let c = 0; c < CLIENTS; c++) this.router.insideArp.cache.setStatic(clientIp(c), clientMac(clientIp(c)));
    this.router.outsideArp.cache.setStatic(SERVER, SERVER_MAC);
    this.mergeCycle(now, false);
  }

  /** The primary's side, in this thread (the main thread in the real router): timed apart, not charged to packets. */
  private accept(bytes: Uint8Array): void {
    const t1 = process.hrtime.bigint();
    const answer = this.host!.acceptBytes(bytes);
    const t2 = process.hrtime.bigint();
    const rd = this.codec!.reader(answer);
    if (rd.header.type !== 'head') throw new Error(`merge refused: ${JSON.stringify(rd.header).slice(0, 200)}`);
    this.cycle!.answer(rd);
    const host = Number(t2 - t1);
    this.cycleNs -= host; // the slice that sent the push is charged without the host's share
    if (this.record) this.hostMergeUs.push(host / 1000);
  }

  /** Every MERGE_EVERY packets: a merge cycle starts (the actor's maxPendingEdits bound); its slices follow, one per batch of packets. */
  beginCycle(now: number, record = true): void {
    this.now = now;
    if (this.mode === 'hashtable') return;
    if (this.cycle!.begin()) { this.cycleNs = 0; this.record = record; }
  }

  /**
   * One slice of the cycle in progress (a flush, for the hashtable), before a packet: returns the ns
   * charged to that packet (the host's accept excluded).
   */
  slice(now: number, flushHashtable = false): number {
    this.now = now;
    const t0 = process.hrtime.bigint();
    if (this.mode === 'hashtable') {
      if (!flushHashtable) return 0;
      this.router.flush(now);
      const t = Number(process.hrtime.bigint() - t0);
      this.actorMergeUs.push(t / 1000);
      if (t > this.maxSliceNs) this.maxSliceNs = t;
      return t;
    }
    const c = this.cycle!;
    if (c.free) return 0;
    const before = this.cycleNs;
    c.slice();
    this.cycleNs += Number(process.hrtime.bigint() - t0);
    const charged = this.cycleNs - before;
    if (charged > this.maxSliceNs) this.maxSliceNs = charged;
    if (c.free && this.record) {
      this.merges++;
      this.actorMergeUs.push(this.cycleNs / 1000);
    }
    return charged;
  }

  /** A whole merge cycle at once (untimed set-up, and the throughput loop): returns the actor's ns. */
  mergeCycle(now: number, record = true): number {
    if (this.mode === 'hashtable') return record ? this.slice(now, true) : (this.router.flush(now), 0);
    const c = this.cycle!;
    while (!c.free) this.slice(now); // a cycle the latency loop left unfinished
    this.beginCycle(now, record);
    let ns = 0;
    while (!c.free) ns += this.slice(now);
    return ns;
  }

  get natEntries(): number {
    return this.mode === 'store' ? this.store!.main.table(natTable).size : (this.router.nat.table as MapTable<string, NatEntry>).size;
  }
}

interface GcEntry { start: number; duration: number }
const gcs: GcEntry[] = [];
let gcObserver: PerformanceObserver | null = null;

export function observeGc(): void {
  if (gcObserver) return;
  gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration });
  });
  gcObserver.observe({ entryTypes: ['gc'] });
}

const tick = () => new Promise((r) => setImmediate(r));
export const forceGc = () => (globalThis as { gc?: () => void }).gc?.();

export interface Phase { lat: Float64Array; start: Float64Array; wallMs: number; p0: number; gcMs: number; gcCount: number; gcMaxMs: number; hitByGc: Uint8Array; maxSliceNs: number }

/**
 * Run between packets, after every `every`-th one, and not timed: lets a benchmark yield to the event
 * loop (a GitStore's flushes on the primary) or pace the loop. This suite itself runs without one.
 */
export interface PhaseHook {
  every: number;
  run(i: number, now: number): Promise<void>;
}

/**
 * Sends frames `order[0..n)` of `pool` through `rig` one at a time, each timed with hrtime.bigint
 * (a merge cycle every MERGE_EVERY packets, in slices between batches of BATCH packets: each slice is charged to the packet it precedes).
 */
export async function phase(rig: Rig, pool: FramePool, order: Int32Array, n: number, now0: number, inbound: boolean, hook?: PhaseHook): Promise<Phase> {
  const buf = new Uint8Array(FRAME_LEN);
  const one = [buf];
  const lat = new Float64Array(n);
  const start = new Float64Array(n);
  const r = rig.router;
  const h0 = process.hrtime.bigint();
  const p0 = performance.now();
  const gcFrom = gcs.length;
  rig.maxSliceNs = 0;
  for (let i = 0; i < n; i++) {
    pool.copy(order[i], buf);
    const now = now0 + Math.floor(i / 1000); // ms: ~1 µs a packet
    const t0 = process.hrtime.bigint();
    const due = i % MERGE_EVERY === MERGE_EVERY - 1;
    if (due) rig.beginCycle(now);
    const extra = due || i % BATCH === 0 ? rig.slice(now, due) : 0;
    const t1 = process.hrtime.bigint();
    if (inbound) r.receiveOutside(one, now);
    else r.receiveInside(one, now);
    const t2 = process.hrtime.bigint();
    lat[i] = extra + Number(t2 - t1);
    start[i] = Number(t0 - h0);
    if (hook !== undefined && (i + 1) % hook.every === 0) await hook.run(i, now);
  }
  const wallMs = performance.now() - p0;
  await tick();
  await tick();
  // Which packets a garbage collection landed in (GC entries are on performance.now()'s clock).
  const hitByGc = new Uint8Array(n);
  let gcMs = 0;
  let gcMax = 0;
  let gcCount = 0;
  const mine = gcs.slice(gcFrom).filter((g) => g.start >= p0 && g.start <= p0 + wallMs);
  for (const g of mine) {
    gcMs += g.duration;
    gcCount++;
    gcMax = Math.max(gcMax, g.duration);
  }
  if (mine.length) {
    for (let i = 0; i < n; i++) {
      const s = p0 + start[i] / 1e6;
      const e = s + lat[i] / 1e6 + 0.002; // + the timer reads around it
      for (const g of mine) if (g.start < e && g.start + g.duration > s) { hitByGc[i] = 1; break; }
    }
  }
  return { lat, start, wallMs, p0, gcMs, gcCount, gcMaxMs: gcMax, hitByGc, maxSliceNs: rig.maxSliceNs };
}

export interface Stats { p50: number; p99: number; max: number; maxNoGc: number; p99NoGc: number; gcPct: number; gcMaxMs: number; gcCount: number; gcHits: number; meanUs: number; mergeMaxUs: number }

/** Over both timed phases of a round (insert + lookup): the tail, and GC's share of the time. */
export interface RoundStats { p999: number; max: number; gcPct: number; mergeMaxUs: number }

export function roundStats(a: Phase, b: Phase): RoundStats {
  const all = new Float64Array(a.lat.length + b.lat.length);
  all.set(a.lat);
  all.set(b.lat, a.lat.length);
  all.sort();
  const us = (ns: number) => ns / 1000;
  return {
    p999: us(all[Math.min(all.length - 1, Math.floor(all.length * 0.999))]),
    max: us(all[all.length - 1]),
    gcPct: ((a.gcMs + b.gcMs) / (a.wallMs + b.wallMs)) * 100,
    mergeMaxUs: us(Math.max(a.maxSliceNs, b.maxSliceNs)),
  };
}

export function stats(p: Phase): Stats {
  const us = Array.from(p.lat, (x) => x / 1000);
  const noGc = us.filter((_, i) => p.hitByGc[i] === 0);
  let hits = 0;
  for (const h of p.hitByGc) hits += h;
  return {
    p50: percentile(us, 50), p99: percentile(us, 99), max: maxOf(us),
    maxNoGc: noGc.length ? maxOf(noGc) : NaN, p99NoGc: percentile(noGc, 99),
    gcPct: (p.gcMs / p.wallMs) * 100, gcMaxMs: p.gcMaxMs, gcCount: p.gcCount, gcHits: hits,
    meanUs: us.reduce((a, b) => a + b, 0) / us.length, mergeMaxUs: p.maxSliceNs / 1000,
  };
}

export function shuffled(n: number, count: number, seed: number): Int32Array {
  const out = new Int32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % n;
  }
  return out;
}

/** Fills a fresh rig with FILL flows (untimed), then times N insertions of new flows and N lookups. */
async function oneRound(mode: Mode, pool: FramePool, insertOrder: Int32Array, lookupOrder: Int32Array, fill: number, n: number): Promise<{ insert: Stats; lookup: Stats; both: RoundStats; rig: Rig }> {
  const now0 = NOW0;
  const rig = new Rig(mode, now0);
  const seq = flowRange(0, fill);
  await phase(rig, pool, seq, fill, now0, false);
  rig.mergeCycle(now0 + 1000, false);
  forceGc();
  const ins = await phase(rig, pool, insertOrder.subarray(0, n), n, now0 + 1000, false);
  if (rig.router.nat.counters.created !== fill + n) throw new Error(`${mode}: ${rig.router.nat.counters.created} flows created, expected ${fill + n}`);
  rig.mergeCycle(now0 + 2000, false);
  forceGc();
  const look = await phase(rig, pool, lookupOrder.subarray(0, n), n, now0 + 2000, false);
  if (rig.router.nat.counters.created !== fill + n) throw new Error(`${mode}: a lookup created a flow`);
  if (rig.forwarded !== fill + 2 * n) throw new Error(`${mode}: forwarded ${rig.forwarded}, expected ${fill + 2 * n}`);
  return { insert: stats(ins), lookup: stats(look), both: roundStats(ins, look), rig };
}

function timerOverheadNs(): number {
  const xs: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    xs.push(Number(b - a));
  }
  return median(xs);
}

// ---------------------------------------------------------------------------------------- throughput

/** In-process: existing flows, both directions, batches of 64 (32 out + 32 back), merge cycle every 100 ms. */
export async function inprocessMpps(mode: Mode, pool: FramePool, replies: FramePool, flows: number, seconds: number): Promise<number> {
  const now0 = NOW0;
  const rig = new Rig(mode, now0);
  const warm = flowRange(0, flows);
  await phase(rig, pool, warm, flows, now0, false);
  await phase(rig, replies, warm, flows, now0, true);
  rig.mergeCycle(now0, false);
  const B = 32;
  // Slots in one buffer, as frames in a ring are: the wire views then never re-wrap a new ArrayBuffer.
  const slab = new Uint8Array(2 * B * FRAME_LEN);
  const outBufs = Array.from({ length: B }, (_, j) => slab.subarray(j * FRAME_LEN, (j + 1) * FRAME_LEN));
  const inBufs = Array.from({ length: B }, (_, j) => slab.subarray((B + j) * FRAME_LEN, (B + j + 1) * FRAME_LEN));
  const before = rig.forwarded;
  let k = 0;
  let frames = 0;
  const t0 = performance.now();
  let nextMerge = t0 + 100;
  const end = t0 + seconds * 1000;
  let t = t0;
  while (t < end) {
    for (let rep = 0; rep < 64; rep++) {
      for (let j = 0; j < B; j++) {
        const f = (k + j) % flows;
        pool.copy(f, outBufs[j]);
        replies.copy(f, inBufs[j]);
      }
      k = (k + B) % flows;
      const now = now0 + Math.floor(t - t0);
      rig.router.receiveInside(outBufs, now);
      rig.router.receiveOutside(inBufs, now);
      frames += 2 * B;
    }
    t = performance.now();
    if (t >= nextMerge) { rig.mergeCycle(now0 + Math.floor(t - t0)); nextMerge = t + 100; }
  }
  const el = (performance.now() - t0) / 1000;
  if (rig.forwarded - before !== frames) throw new Error(`${mode}: forwarded ${rig.forwarded - before} of ${frames}`);
  return frames / el / 1e6;
}

/** Through RouterActors (dispatchers on this thread, packet actors in workers, rings both ways), closed loop. */
export async function actorsMpps(workers: number, store: 'memory' | 'hashtable', seconds: number, rounds: number): Promise<{ mpps: number; merges: number; refills: number }> {
  const r = rings('nat-bench');
  const actors = new RouterActors(r.routerIn, r.routerOut, { inside: INSIDE, outside: OUTSIDE, packetActors: workers, mergeIntervalMs: 100, store, maxFlows: 1 << 20 });
  await actors.ready();
  const load = new ClosedLoop(r.peerIn, r.peerOut);
  await load.round(0.7); // ARP, flow creation, JIT
  const rates: number[] = [];
  for (let i = 0; i < rounds; i++) rates.push(await load.round(seconds));
  const merges = actors.store.stats.merges;
  if (process.env.NB_NAT_DEBUG) {
    process.stdout.write(JSON.stringify({ workers, store, refills: load.refills, rates, inD: actors.insideDispatcher?.counters, outD: actors.outsideDispatcher?.counters,
      peerIn: r.peerIn.counters, peerOut: r.peerOut.counters, actors: (await actors.supervisor.stats()).map((x) => x.counters) }) + '\n');
  }
  await actors.stop();
  closeRings(r);
  return { mpps: median(rates) / 1e6, merges, refills: load.refills };
}

// ---------------------------------------------------------------------------------------- suite

/** Per mode, what the latency rounds gave. */
interface ModeResults { insert: Stats[]; lookup: Stats[]; both: RoundStats[]; hostMerge: number[]; actorMerge: number[]; merges: number; entries: number }

/** ROUNDS latency rounds per mode, modes alternated, after a small discarded warm-up of both. */
async function latencyRounds(pool: FramePool, insertOrder: Int32Array, lookupOrder: Int32Array): Promise<Record<Mode, ModeResults>> {
  // Warm-up (JIT) for both modes, small, discarded.
  const wf = Math.floor(FILL / 5);
  const wn = Math.floor(N / 5);
  const warmInsert = flowRange(wf, wn);
  for (const m of ['store', 'hashtable'] as Mode[]) await oneRound(m, pool, warmInsert, shuffled(wf + wn, wn, 7), wf, wn);
  forceGc();

  const res: Record<Mode, ModeResults> = {
    store: { insert: [], lookup: [], both: [], hostMerge: [], actorMerge: [], merges: 0, entries: 0 },
    hashtable: { insert: [], lookup: [], both: [], hostMerge: [], actorMerge: [], merges: 0, entries: 0 },
  };
  for (let r = 0; r < ROUNDS; r++) {
    const order: Mode[] = r % 2 === 0 ? ['store', 'hashtable'] : ['hashtable', 'store'];
    for (const m of order) {
      const o = await oneRound(m, pool, insertOrder, lookupOrder, FILL, N);
      res[m].insert.push(o.insert);
      res[m].lookup.push(o.lookup);
      res[m].both.push(o.both);
      res[m].hostMerge.push(...o.rig.hostMergeUs);
      res[m].actorMerge.push(...o.rig.actorMergeUs);
      res[m].merges += o.rig.merges;
      res[m].entries = m === 'store' ? (o.rig.mergeCycle(NOW0 + 3000, false), o.rig.natEntries) : o.rig.natEntries;
      forceGc();
    }
  }
  return res;
}

const medOf = (xs: Stats[], k: keyof Stats) => median(xs.map((x) => x[k]));

function reportLatency(report: BenchReport, res: Record<Mode, ModeResults>, overheadNs: number): void {
  const total = FILL + N;
  const note = `median of ${ROUNDS} rounds (modes alternated), each ${N.toLocaleString('en')} packets into a table of ${FILL.toLocaleString('en')}→${total.toLocaleString('en')} flows; per-packet hrtime.bigint (timer pair ${overheadNs} ns, not subtracted)`;
  for (const m of ['store', 'hashtable'] as Mode[]) {
    for (const op of ['insert', 'lookup'] as const) {
      const xs = res[m][op];
      report.add(`nat.${m}.${op}_p50_us`, medOf(xs, 'p50'), 'µs', undefined, m === 'store' && op === 'insert' ? note : undefined);
      report.add(`nat.${m}.${op}_p99_us`, medOf(xs, 'p99'), 'µs');
      report.add(`nat.${m}.${op}_max_us`, medOf(xs, 'max'), 'µs', undefined, `worst of all rounds ${Math.max(...xs.map((x) => x.max)).toFixed(0)} µs`);
      report.add(`nat.${m}.${op}_max_nogc_us`, medOf(xs, 'maxNoGc'), 'µs', undefined, 'max over packets no garbage collection overlapped');
      report.add(`nat.${m}.${op}_mean_us`, medOf(xs, 'meanUs'), 'µs');
      report.add(`nat.${m}.${op}_gc_pct`, medOf(xs, 'gcPct'), '%', undefined, `GC time ÷ phase time; ${medOf(xs, 'gcCount')} GCs, longest ${medOf(xs, 'gcMaxMs').toFixed(2)} ms, ${medOf(xs, 'gcHits')} packets hit`);
    }
    const both = res[m].both;
    const spread = (k: keyof RoundStats) => `median of ${ROUNDS} rounds; rounds ${both.map((b) => b[k].toFixed(k === 'gcPct' ? 1 : 0)).join(', ')}`;
    const store = m === 'store';
    report.add(`nat.${m}.max_us`, median(both.map((b) => b.max)), 'µs', store ? '<= 1000' : undefined, `max over the insert + lookup packets of a round; ${spread('max')}`);
    report.add(`nat.${m}.p999_us`, median(both.map((b) => b.p999)), 'µs', undefined, `p99.9 over the insert + lookup packets of a round; ${spread('p999')}`);
    report.add(`nat.${m}.gc_pct`, median(both.map((b) => b.gcPct)), '%', store ? '<= 3' : undefined, `GC time ÷ time of both timed phases; ${spread('gcPct')}`);
  }
}

function reportRatiosAndMerges(report: BenchReport, res: Record<Mode, ModeResults>, overheadNs: number): void {
  const ratio = (op: 'insert' | 'lookup', k: keyof Stats) => medOf(res.store[op], k) / medOf(res.hashtable[op], k);
  report.add('nat.insert_p99_ratio', ratio('insert', 'p99'), '×hashtable', '<= 1.5');
  report.add('nat.insert_max_ratio', ratio('insert', 'max'), '×hashtable', '<= 1.5', 'max is noisy; see nat.*.insert_max_nogc_us');
  report.add('nat.lookup_p99_ratio', ratio('lookup', 'p99'), '×hashtable', '<= 1.2');
  report.add('nat.lookup_max_ratio', ratio('lookup', 'max'), '×hashtable');
  report.add('nat.insert_p50_ratio', ratio('insert', 'p50'), '×hashtable');
  report.add('nat.lookup_p50_ratio', ratio('lookup', 'p50'), '×hashtable');
  report.add('nat.store.merge_actor_us', median(res.store.actorMerge), 'µs', undefined,
    `actor side of a merge cycle every ${MERGE_EVERY} packets (flush, encode; apply the answer), all its slices: median; p99 ${percentile(res.store.actorMerge, 99).toFixed(0)} µs; sliced over the packets behind it`);
  const slices = res.store.both.map((b) => b.mergeMaxUs);
  report.add('nat.store.merge_actor_max_us', Math.max(...slices), 'µs', '<= 200',
    `the longest slice of merge work charged to one packet, worst of ${ROUNDS} rounds (per round: ${slices.map((x) => x.toFixed(0)).join(', ')}); a slice runs steps until 100 µs are spent`);
  report.add('nat.store.merge_host_us', median(res.store.hostMerge), 'µs', undefined,
    `ReplicaHost.acceptBytes of that delta into the primary (the main thread's share, not in packet latency): median; p99 ${percentile(res.store.hostMerge, 99).toFixed(0)} µs`);
  report.add('nat.hashtable.flush_us', median(res.hashtable.actorMerge), 'µs', undefined, `router.flush every ${MERGE_EVERY} packets, included in the packet behind it`);
  report.add('nat.store.merges', res.store.merges, 'merges');
  report.add('nat.store.primary_entries', res.store.entries, 'flows', undefined, 'NAT entries in the primary after a round (every insertion merged)');
  report.add('nat.timer_overhead_ns', overheadNs, 'ns', undefined, 'two back-to-back process.hrtime.bigint() reads');
}

/** forward.*_inprocess: 3 × 1 s a mode, modes alternated. */
async function reportInprocess(report: BenchReport, pool: FramePool, replies: FramePool): Promise<void> {
  const tp: Record<Mode, number[]> = { store: [], hashtable: [] };
  for (let r = 0; r < 3; r++) for (const m of (r % 2 ? ['hashtable', 'store'] : ['store', 'hashtable']) as Mode[]) tp[m].push(await inprocessMpps(m, pool, replies, 4096, 1));
  report.add('forward.mpps_1w_inprocess', median(tp.store), 'Mpps', '>= 1',
    'one Router on a store replica in this thread, 4,096 existing UDP flows, both directions, batches of 32+32, frames copied into reused buffers (copy included), merge cycle every 100 ms; median of 3 × 1 s');
  report.add('forward.hashtable.mpps_1w_inprocess', median(tp.hashtable), 'Mpps', undefined, 'the same on MapTable');
}

/** The same through RouterActors with the dispatchers on this thread (the --dispatcher layout); bench/forward.ts has forward.mpps_{1,2}w. */
async function reportActors(report: BenchReport): Promise<void> {
  for (const w of [1, 2]) {
    try {
      const a = await actorsMpps(w, 'memory', 1.5, 3);
      report.add(`forward.dispatcher.mpps_${w}w`, a.mpps, 'Mpps', undefined,
        `RouterActors, ${w} packet actor${w > 1 ? 's' : ''} (store mode, merging every 100 ms; ${a.merges} merges) behind the main thread's dispatchers over SAB rings, the load on the main thread too; closed loop, 1,024 frames in flight; frames forwarded per s; median of 3 × 1.5 s`);
    } catch (err) {
      report.add(`forward.dispatcher.mpps_${w}w`, null, 'Mpps', undefined, `failed: ${(err as Error).message}`);
    }
  }
}

export async function run(report: BenchReport): Promise<void> {
  observeGc();
  const total = FILL + N;
  const tb = performance.now();
  const pool = new FramePool(total, outboundFrame);
  const replies = new FramePool(8192, replyFrame);
  process.stdout.write(`  (built ${total} frames in ${((performance.now() - tb) / 1000).toFixed(1)} s)\n`);
  const insertOrder = flowRange(FILL, N); // new flows, in order
  const lookupOrder = shuffled(total, N, 12345); // random existing flows (after the insert phase all `total` exist)
  const overhead = timerOverheadNs();
  const res = await latencyRounds(pool, insertOrder, lookupOrder);
  reportLatency(report, res, overhead);
  reportRatiosAndMerges(report, res, overhead);
  await reportInprocess(report, pool, replies);
  await reportActors(report);
}

await runAlone(import.meta.url, run, true);
