// `netbranch stress`: branches on real worker threads (one piscina task each) make random concurrent
// edits to shared ARP and counter keys and push them into one primary at random moments; afterwards
// an oracle that shares no code with the store's merge machinery replays the accepted deltas in
// order over plain Maps and checks the primary, every counter sum and every branch's final view.
import { Piscina } from 'piscina';
import { OP_KINDS, type OpKind } from './stress-edits.js';
import type { StressJob, StressTaskReport } from './stress-messages.js';
import { checkStress, type StressCheck, type StressEvidence } from './stress-oracle.js';
import { StressPrimary } from './stress-primary.js';
import { stressTables } from './stress-schema.js';

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

type StressSettings = typeof DEFAULTS & StressOptions;

const DEFAULTS = { branches: 8, ops: 100_000, seed: 1, mergeProbability: 0.01, keys: 64, timeoutMs: 300_000 };

/** How the branches ended: all reported, or the timeout or a failed branch stopped the run. */
type Ending = { verdict: 'agree'; reports: StressTaskReport[] } | { verdict: 'timeout' | 'error'; error: string };

/** The worker entry piscina loads: the compiled task as is, or the tsx bootstrap under tsx. */
function taskFile(): string {
  const ext = import.meta.url.endsWith('.ts') ? '.mjs' : '.js';
  return new URL(`./stress-task${ext}`, import.meta.url).href;
}

export async function runStress(options: StressOptions = {}): Promise<StressResult> {
  const o: StressSettings = { ...DEFAULTS, ...stripUndefined(options) };
  const clock = () => performance.now();
  const tStart = clock();
  const primary = new StressPrimary(o, clock);
  const pool = new Piscina({ filename: taskFile(), minThreads: o.branches, maxThreads: o.branches, concurrentTasksPerWorker: 1, idleTimeout: 1000 });
  const abort = new AbortController();
  const jobs: Promise<StressTaskReport>[] = [];
  for (let b = 0; b < o.branches; b++) {
    const job = branchJob(o, b, primary);
    jobs.push(pool.run(job, { transferList: [job.port], signal: abort.signal }) as Promise<StressTaskReport>);
  }
  const ticker = o.onProgress ? startProgress(o.onProgress, o.ops, primary, () => clock() - tStart) : null;
  let ending: Ending;
  try {
    ending = await awaitBranches(jobs, o, primary, abort);
  } finally {
    if (ticker) clearInterval(ticker);
  }
  if (ending.verdict !== 'agree') abort.abort();
  primary.close();
  await pool.destroy();
  const tEnd = clock();
  const reports = ending.verdict === 'agree' ? ending.reports : null;
  const evidence = primary.evidence(reports);
  const tCheck = clock();
  const check: StressCheck = reports
    ? checkStress(stressTables, evidence)
    : { ok: false, divergences: [], modelConflicts: 0, abaMerges: 0, abaExample: null };
  const times = { tStart, tGo: primary.goAt, tEnd, checkMs: clock() - tCheck };
  const result = stressResult(o, primary, reports, check, ending.verdict === 'agree' && !check.ok ? 'diverged' : ending.verdict, times);
  if (ending.verdict !== 'agree') result.error = ending.error;
  if (o.keepEvidence) result.evidence = evidence;
  return result;
}

/** Branch `b`'s task: its share of the edits, the primary's snapshot and its port. */
function branchJob(o: StressSettings, b: number, primary: StressPrimary): StressJob {
  const replica = `branch-${b}`;
  const port = primary.connect(b, replica);
  return {
    branch: b,
    replica,
    seed: o.seed,
    ops: Math.floor(o.ops / o.branches) + (b < o.ops % o.branches ? 1 : 0),
    keys: o.keys,
    counters: counterKeys(o.keys),
    mergeProbability: o.mergeProbability,
    snapshot: primary.snapshot(replica),
    port,
    progressEvery: 1000,
  };
}

function counterKeys(keys: number): number {
  return Math.max(1, Math.floor(keys / 4));
}

/** Calls `onProgress` about once a second until the interval is cleared. */
function startProgress(onProgress: (p: StressProgress) => void, totalOps: number, primary: StressPrimary, elapsedMs: () => number): NodeJS.Timeout {
  return setInterval(() => {
    onProgress({ started: !Number.isNaN(primary.goAt), ops: primary.edits, totalOps, merges: primary.store.stats.merges, elapsedMs: elapsedMs() });
  }, 1000);
}

/** Every branch's report, or why the run stopped first. */
async function awaitBranches(jobs: Promise<StressTaskReport>[], o: StressSettings, primary: StressPrimary, abort: AbortController): Promise<Ending> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), o.timeoutMs); });
  // One failed branch would leave the others waiting at the final barrier: stop them all.
  const all = Promise.all(jobs.map((j) => j.catch((err: unknown) => { abort.abort(); throw err; })));
  try {
    const r = await Promise.race([all, timedOut]);
    if (r !== 'timeout') return { verdict: 'agree', reports: r };
    return { verdict: 'timeout', error: `stopped after the ${+(o.timeoutMs / 1000).toFixed(3)} s timeout (${primary.edits} of ${o.ops} edits made)` };
  } catch (err) {
    return { verdict: 'error', error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    all.catch(() => {}); // aborted tasks reject; nobody waits for them any more
  }
}

/** The figures of a run, from the primary's stats, the branches' reports and the oracle's check. */
function stressResult(
  o: StressSettings, primary: StressPrimary, reports: StressTaskReport[] | null, check: StressCheck, verdict: StressVerdict,
  t: { tStart: number; tGo: number; tEnd: number; checkMs: number },
): StressResult {
  const { stats } = primary.store;
  const runMs = Number.isNaN(t.tGo) ? t.tEnd - t.tStart : t.tEnd - t.tGo;
  const sum = (f: (r: StressTaskReport) => number) => (reports ?? []).reduce((a, r) => a + f(r), 0);
  const opsDone = reports ? sum((r) => r.ops) : primary.edits;
  return {
    verdict,
    ok: verdict === 'agree',
    branches: o.branches,
    ops: opsDone,
    seed: o.seed,
    mergeProbability: o.mergeProbability,
    keys: o.keys,
    counters: counterKeys(o.keys),
    runMs,
    startupMs: Number.isNaN(t.tGo) ? NaN : t.tGo - t.tStart,
    checkMs: t.checkMs,
    opsPerSec: opsDone / (runMs / 1000),
    mergesPerSec: stats.merges / (runMs / 1000),
    merges: stats.merges,
    fastForwards: stats.fastForwards,
    pushes: sum((r) => r.pushes),
    pulls: sum((r) => r.pulls),
    rejected: stats.rejectedDeltas,
    resyncs: primary.resyncs,
    evictions: primary.host.evictions,
    conflicts: stats.conflicts,
    modelConflicts: check.modelConflicts,
    abaMerges: check.abaMerges,
    commits: primary.store.main.headSeq,
    opCounts: Object.fromEntries(OP_KINDS.map((k) => [k, sum((r) => r.opCounts[k])])) as Record<OpKind, number>,
    divergences: check.divergences,
  };
}

function stripUndefined<T extends object>(x: T): Partial<T> {
  return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as Partial<T>;
}
