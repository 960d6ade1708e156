// `netbranch stress`: branches on real worker threads (one piscina task each) make random concurrent
// edits to shared ARP and counter keys and push them into one primary at random moments; afterwards
// an oracle that shares no code with the store's merge machinery replays the accepted deltas in
// order over plain Maps and checks the primary, every counter sum and every branch's final view.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Conflict, DeltaCodec, ReplicaHost, Store, type DeltaMessage, type Table } from '../../store/index.js';
import {
  OP_KINDS, stressTables,
  type OpKind, type StressControl, type StressJob, type StressTaskReport, type StressView,
} from './stress-task.js';

export interface StressOptions {
  /** Branches, one worker thread each (default 8). */
  branches?: number;
  /** Edits in total, split evenly over the branches (default 100,000). */
  ops?: number;
  seed?: number;
  /** Chance per edit that the branch pushes a delta right then (default 0.01). */
  mergeProbability?: number;
  /** Distinct ARP addresses (default 64); counters get max(1, keys / 4) keys. */
  keys?: number;
  /** Give up after this many ms (default 300,000): the verdict is then 'timeout'. */
  timeoutMs?: number;
  /** The primary's ReplicaHost maxLag (default 100,000 commits) and the store's retention (default
   *  1,024 commits): small values make lagging branches lose their base and resync from a snapshot. */
  maxLag?: number;
  retention?: number;
  /** Called about once a second with the edits made so far. */
  onProgress?: (p: StressProgress) => void;
  /** Keep the delta log, the primary's state and the branch reports in the result (for tests). */
  keepEvidence?: boolean;
}

export interface StressProgress {
  /** False while the threads are still starting (before 'go'). */
  started: boolean;
  ops: number;
  totalOps: number;
  merges: number;
  elapsedMs: number;
}

export type StressVerdict = 'agree' | 'diverged' | 'timeout' | 'error';

export interface StressResult {
  verdict: StressVerdict;
  ok: boolean;
  branches: number;
  ops: number;
  seed: number;
  mergeProbability: number;
  keys: number;
  counters: number;
  /** From 'go' (all threads loaded) until every branch's final view came back. */
  runMs: number;
  /** Thread start and module load before 'go'. */
  startupMs: number;
  /** The oracle's replay and comparisons. */
  checkMs: number;
  opsPerSec: number;
  /** Non-empty deltas merged into the primary (fast-forwards included), per second of runMs. */
  mergesPerSec: number;
  merges: number;
  fastForwards: number;
  pushes: number;
  pulls: number;
  rejected: number;
  resyncs: number;
  evictions: number;
  /** Conflicts the store settled (store.stats.conflicts) and those the oracle's replay settled. */
  conflicts: number;
  modelConflicts: number;
  /**
   * Keys a delta changed whose primary value had changed since the delta's base and then changed
   * back (A→B→A), where the merge does not give the delta's value: a value-equality oracle
   * ("ours equals old → theirs") would call each of these a divergence. See docs/actors.md.
   */
  abaMerges: number;
  commits: number;
  opCounts: Record<OpKind, number>;
  /** The first differences found (empty when the verdict is 'agree'). */
  divergences: string[];
  error?: string;
  evidence?: StressEvidence;
}

/** One delta the primary accepted, in acceptance order, with the head it produced. */
export interface LoggedDelta {
  delta: DeltaMessage;
  /** The primary's head commit right after accepting it. */
  head: number;
}

/** Everything the oracle needs; plain data, so a test can corrupt any part of it. */
export interface StressEvidence {
  log: LoggedDelta[];
  /** The primary's final committed entries, per table name. */
  primary: Record<string, [string | number, unknown][]>;
  /** The primary's final head commit. */
  head: number;
  /** store.stats.conflicts. */
  conflicts: number;
  branches: { replica: string; increments: Record<string, number>; view: StressView }[];
}

export interface StressCheck {
  ok: boolean;
  divergences: string[];
  modelConflicts: number;
  abaMerges: number;
  /** The first such merge, described. */
  abaExample: string | null;
}

const DEFAULTS = { branches: 8, ops: 100_000, seed: 1, mergeProbability: 0.01, keys: 64, timeoutMs: 300_000 };
const MAX_SHOWN = 10;

/** The worker entry piscina loads: the compiled task as is, or the tsx bootstrap under tsx. */
function taskFile(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.mjs' : '.js';
  return new URL(`./stress-task${ext}`, import.meta.url).href;
}

export async function runStress(options: StressOptions = {}): Promise<StressResult> {
  const o = { ...DEFAULTS, ...stripUndefined(options) };
  const branches = o.branches;
  const counters = Math.max(1, Math.floor(o.keys / 4));
  const store = new Store(stressTables, { clock: () => 0, ...(o.retention === undefined ? {} : { retention: o.retention }) });
  const host = new ReplicaHost(store.main, o.maxLag === undefined ? {} : { maxLag: o.maxLag });
  const codec = new DeltaCodec(store.schema);
  const rawLog: { bytes: Uint8Array; head: number }[] = [];
  const pool = new Piscina({ filename: taskFile(), minThreads: branches, maxThreads: branches, concurrentTasksPerWorker: 1, idleTimeout: 1000 });
  const abort = new AbortController();
  const ports: MessagePort[] = [];
  const progress = new Array<number>(branches).fill(0);
  let ready = 0;
  let drained = 0;
  const tStart = performance.now();
  let tGo = NaN;
  let resyncs = 0;

  const jobs: Promise<StressTaskReport>[] = [];
  for (let b = 0; b < branches; b++) {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    const replica = `branch-${b}`;
    const ops = Math.floor(o.ops / branches) + (b < o.ops % branches ? 1 : 0);
    port1.on('message', (m: Uint8Array | StressControl) => {
      if (m instanceof Uint8Array) {
        const rejectedBefore = store.stats.rejectedDeltas;
        const answer = host.acceptBytes(m);
        if (store.stats.rejectedDeltas === rejectedBefore) rawLog.push({ bytes: m, head: store.main.headSeq });
        port1.postMessage(answer);
        return;
      }
      switch (m.type) {
        case 'ready':
          if (++ready === branches) {
            tGo = performance.now();
            for (const p of ports) p.postMessage({ type: 'go' } satisfies StressControl);
          }
          break;
        case 'progress':
          progress[b] = m.ops;
          break;
        case 'resync':
          resyncs++;
          port1.postMessage(codec.encode(host.attach(replica)));
          break;
        case 'drained':
          if (++drained === branches) for (const p of ports) p.postMessage({ type: 'final-pull' } satisfies StressControl);
          break;
        default:
          break;
      }
    });
    const job: StressJob = {
      branch: b,
      replica,
      seed: o.seed,
      ops,
      keys: o.keys,
      counters,
      mergeProbability: o.mergeProbability,
      snapshot: codec.encode(host.attach(replica)),
      port: port2,
      progressEvery: 1000,
    };
    jobs.push(pool.run(job, { transferList: [port2], signal: abort.signal }) as Promise<StressTaskReport>);
  }

  const ticker = o.onProgress
    ? setInterval(() => {
      o.onProgress!({ started: !Number.isNaN(tGo), ops: progress.reduce((a, x) => a + x, 0), totalOps: o.ops, merges: store.stats.merges, elapsedMs: performance.now() - tStart });
    }, 1000)
    : null;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), o.timeoutMs); });
  // One failed branch would leave the others waiting at the final barrier: stop them all.
  const all = Promise.all(jobs.map((j) => j.catch((err: unknown) => { abort.abort(); throw err; })));

  let reports: StressTaskReport[] | null = null;
  let verdict: StressVerdict = 'agree';
  let error: string | undefined;
  try {
    const r = await Promise.race([all, timedOut]);
    if (r === 'timeout') {
      verdict = 'timeout';
      error = `stopped after the ${+(o.timeoutMs / 1000).toFixed(3)} s timeout (${progress.reduce((a, x) => a + x, 0)} of ${o.ops} edits made)`;
    } else {
      reports = r;
    }
  } catch (err) {
    verdict = 'error';
    error = err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
    if (ticker) clearInterval(ticker);
    if (verdict !== 'agree') abort.abort();
    all.catch(() => {}); // aborted tasks reject; nobody waits for them any more
    for (const p of ports) p.close();
    await pool.destroy();
  }
  const tEnd = performance.now();
  const runMs = Number.isNaN(tGo) ? tEnd - tStart : tEnd - tGo;

  const evidence: StressEvidence = {
    log: rawLog.map(({ bytes, head }) => ({ delta: codec.decode(bytes) as DeltaMessage, head })),
    primary: Object.fromEntries(store.main.tables.map((t) => [t.name, [...t.committedEntries()]])),
    head: store.main.headSeq,
    conflicts: store.stats.conflicts,
    branches: (reports ?? []).map((r) => ({ replica: r.replica, increments: r.increments, view: r.view })),
  };
  const tCheck = performance.now();
  const check: StressCheck = reports
    ? checkStress(stressTables, evidence)
    : { ok: false, divergences: [], modelConflicts: 0, abaMerges: 0, abaExample: null };
  const checkMs = performance.now() - tCheck;
  if (verdict === 'agree' && !check.ok) verdict = 'diverged';

  const sum = (f: (r: StressTaskReport) => number) => (reports ?? []).reduce((a, r) => a + f(r), 0);
  const opCounts = Object.fromEntries(OP_KINDS.map((k) => [k, sum((r) => r.opCounts[k])])) as Record<OpKind, number>;
  const opsDone = reports ? sum((r) => r.ops) : progress.reduce((a, x) => a + x, 0);
  const result: StressResult = {
    verdict,
    ok: verdict === 'agree',
    branches,
    ops: opsDone,
    seed: o.seed,
    mergeProbability: o.mergeProbability,
    keys: o.keys,
    counters,
    runMs,
    startupMs: Number.isNaN(tGo) ? NaN : tGo - tStart,
    checkMs,
    opsPerSec: opsDone / (runMs / 1000),
    mergesPerSec: store.stats.merges / (runMs / 1000),
    merges: store.stats.merges,
    fastForwards: store.stats.fastForwards,
    pushes: sum((r) => r.pushes),
    pulls: sum((r) => r.pulls),
    rejected: store.stats.rejectedDeltas,
    resyncs,
    evictions: host.evictions,
    conflicts: store.stats.conflicts,
    modelConflicts: check.modelConflicts,
    abaMerges: check.abaMerges,
    commits: store.main.headSeq,
    opCounts,
    divergences: check.divergences,
  };
  if (error !== undefined) result.error = error;
  if (o.keepEvidence) result.evidence = evidence;
  return result;
}

function stripUndefined<T extends object>(x: T): Partial<T> {
  return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------
// The oracle. A sequential reference model in plain Maps: it replays the accepted deltas in
// acceptance order and keeps its own copy of the state after every commit a later delta is based
// on. Per key of a delta: if the model's key has not changed since the delta's base commit, the
// delta's value is taken; otherwise the table's own merge function decides (old = the model's
// copy at the base), a Conflict settled by its resolution or the table's resolver. It calls no
// Branch, BranchTable, ReplicaHost or store equality: only the table definitions.

type State = Map<string, Map<string | number, unknown>>;

/** Structural equality of plain data (what arrives from msgpack): the oracle's own. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameValue(x, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function show(x: unknown): string {
  return x === undefined ? '(absent)' : JSON.stringify(x);
}

function copyState(s: State): State {
  return new Map([...s].map(([t, m]) => [t, new Map(m)]));
}

/** Replays the log through the reference model and compares it with the primary and the branches. */
export function checkStress(tables: readonly Table<any, any>[], ev: StressEvidence): StressCheck {
  const out: string[] = [];
  const diverge = (line: string) => { if (out.length < MAX_SHOWN) out.push(line); else if (out.length === MAX_SHOWN) out.push('…'); };
  const defs = new Map(tables.map((t) => [t.name, t]));
  const state: State = new Map(tables.map((t) => [t.name, new Map()]));
  const lastChange = new Map<string, Map<string | number, number>>(tables.map((t) => [t.name, new Map()]));
  // Copies are kept only for commits a later delta is based on, and dropped after their last use.
  const lastUse = new Map<number, number>();
  ev.log.forEach((e, i) => lastUse.set(e.delta.base, i));
  const copies = new Map<number, State>();
  let seq = 0;
  if (lastUse.has(0)) copies.set(0, copyState(state));
  let conflicts = 0;
  let aba = 0;
  let abaExample: string | null = null;

  for (let i = 0; i < ev.log.length; i++) {
    const { delta, head } = ev.log[i];
    const entries: [string, string | number, unknown][] = [];
    for (const tc of delta.tables) {
      for (const [k, v] of tc.set) entries.push([tc.table, k, v]);
      for (const k of tc.del) entries.push([tc.table, k, undefined]);
    }
    const base = copies.get(delta.base);
    if (entries.length === 0) {
      if (head !== seq) diverge(`delta #${i} (${delta.replica}, a pull): primary head is ${head}, the model's ${seq}`);
      if (lastUse.get(delta.base) === i) copies.delete(delta.base);
      continue;
    }
    if (base === undefined) {
      diverge(`delta #${i} (${delta.replica}) is based on commit ${delta.base}, which the model never reached (its head: ${seq})`);
      break;
    }
    seq++;
    for (const [name, key, theirs] of entries) {
      const def = defs.get(name);
      const cur = state.get(name);
      if (!def || !cur) { diverge(`delta #${i}: unknown table '${name}'`); continue; }
      const old = base.get(name)!.get(key);
      const ours = cur.get(key);
      const changedSinceBase = (lastChange.get(name)!.get(key) ?? 0) > delta.base;
      let result: unknown;
      if (!changedSinceBase) {
        if (!sameValue(ours, old)) diverge(`model: ${name}/${String(key)} unchanged since #${delta.base} yet differs from its value there`);
        result = theirs;
      } else {
        const r = def.merge(() => old, ours, theirs);
        if (r instanceof Conflict) {
          conflicts++;
          result = r.resolution ? r.resolution[0] : def.resolve(old, ours, theirs);
        } else {
          result = r;
        }
        if (sameValue(ours, old) && !sameValue(result, theirs)) {
          aba++;
          abaExample ??= `commit #${seq}: ${delta.replica} sets ${name}/${String(key)} to ${show(theirs)} on base #${delta.base}, where it was ${show(old)}; `
            + `the primary changed it since (last at #${lastChange.get(name)!.get(key)}) and back to ${show(ours)}; the merge gives ${show(result)}`;
        }
      }
      if (sameValue(ours, result)) continue;
      if (result === undefined) cur.delete(key);
      else cur.set(key, result);
      lastChange.get(name)!.set(key, seq);
    }
    if (head !== seq) diverge(`delta #${i} (${delta.replica}): primary head is ${head} after it, the model's ${seq}`);
    if (lastUse.get(delta.base) === i) copies.delete(delta.base);
    if (lastUse.has(seq)) copies.set(seq, copyState(state));
  }
  if (ev.head !== seq) diverge(`final head: primary #${ev.head}, model #${seq}`);
  if (ev.conflicts !== conflicts) diverge(`conflicts: the store settled ${ev.conflicts}, the model ${conflicts}`);

  // (1) The primary equals the model.
  for (const t of tables) {
    const model = state.get(t.name)!;
    const primary = new Map(ev.primary[t.name] ?? []);
    for (const k of sortedKeys(new Set([...model.keys(), ...primary.keys()]))) {
      const a = primary.get(k);
      const b = model.get(k);
      if (!sameValue(a, b)) diverge(`primary vs model: ${t.name}/${String(k)}: primary ${show(a)}, model ${show(b)}`);
    }
  }
  // (2) Every counter is the sum of every branch's increments.
  const expected = new Map<string, number>();
  for (const b of ev.branches) for (const [k, n] of Object.entries(b.increments)) expected.set(k, (expected.get(k) ?? 0) + n);
  const counters = new Map(ev.primary.counters ?? []);
  for (const k of sortedKeys(new Set([...expected.keys(), ...(counters.keys() as Iterable<string>)]))) {
    const got = counters.get(k);
    const want = expected.get(k as string);
    if (got !== want) diverge(`counter ${String(k)}: primary ${show(got)}, sum of increments ${show(want)}`);
  }
  // (3) Every branch's final view is the primary.
  for (const b of ev.branches) {
    for (const [name, entries] of Object.entries(b.view) as [string, [string | number, unknown][]][]) {
      const view = new Map(entries);
      const primary = new Map(ev.primary[name] ?? []);
      for (const k of sortedKeys(new Set([...view.keys(), ...primary.keys()]))) {
        const a = primary.get(k);
        const v = view.get(k);
        if (!sameValue(a, v)) diverge(`${b.replica}'s final view: ${name}/${String(k)}: branch ${show(v)}, primary ${show(a)}`);
      }
    }
  }
  return { ok: out.length === 0, divergences: out, modelConflicts: conflicts, abaMerges: aba, abaExample };
}

function sortedKeys(ks: Set<string | number>): (string | number)[] {
  return [...ks].sort((a, b) => (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1));
}

// ---------------------------------------------------------------------------------------------

/** The human summary: a few lines ending with the verdict. */
export function formatStress(r: StressResult): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const started = Number.isNaN(r.startupMs) ? 'the threads had not all started' : `+${(r.startupMs / 1000).toFixed(2)} s thread start`;
  const lines = [
    `stress: ${r.branches} branches, ${n(r.ops)} edits (seed ${r.seed}, merge probability ${r.mergeProbability}, ${r.keys} addresses + ${r.counters} counters)`,
    `  ${n(r.opsPerSec)} edits/s, ${n(r.merges)} merges (${n(r.fastForwards)} fast-forward), ${n(r.mergesPerSec)} merges/s, in ${(r.runMs / 1000).toFixed(2)} s (${started})`,
  ];
  if (r.verdict === 'agree' || r.verdict === 'diverged') {
    lines.push(`  ${n(r.pushes)} pushes, ${n(r.pulls)} pulls, ${r.conflicts} conflicts, ${r.rejected} rejected deltas, ${r.resyncs} resyncs, ${r.abaMerges} A→B→A merges`);
  }
  for (const d of r.divergences) lines.push(`  ${d}`);
  if (r.error) lines.push(`  ${r.error}`);
  const verdict = {
    agree: 'agree: the primary matches the oracle, every counter sums every increment, every branch sees the primary',
    diverged: 'DIVERGED from the oracle',
    timeout: 'TIMEOUT: stopped before the end, nothing checked',
    error: 'ERROR: a branch failed',
  }[r.verdict];
  lines.push(`verdict: ${verdict}`);
  return lines.join('\n');
}

/** The --json line: the result without the evidence. */
export function stressJson(r: StressResult): string {
  const { evidence: _evidence, ...rest } = r;
  return JSON.stringify(rest);
}
