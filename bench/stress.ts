// `netbranch stress` as a benchmark: 8 branches on worker threads, 100k edits in total, merging into
// one primary at random moments; the median of a few runs (thread start excluded). Every run must
// also agree with the oracle: a figure from a diverged run is not reported.
import { runStress, type StressResult } from '../actors/stress/stress.js';
import { type BenchReport, median } from './report.js';

const RUNS = 3;
const BRANCHES = 8;
const OPS = 100_000;

export async function run(report: BenchReport): Promise<void> {
  const results: StressResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await runStress({ branches: BRANCHES, ops: OPS, seed: 1 + i, timeoutMs: 60_000 });
    if (!r.ok) {
      const why = r.error ?? r.divergences[0] ?? r.verdict;
      report.add('stress.ops_per_s', null, 'edits/s', undefined, `run ${i + 1} ${r.verdict}: ${why}`);
      report.add('stress.merges_per_s', null, 'merges/s', undefined, `run ${i + 1} ${r.verdict}: ${why}`);
      return;
    }
    results.push(r);
  }
  const note = `${BRANCHES} branches (piscina threads), ${OPS / 1000}k edits, merge probability ${results[0].mergeProbability}; median of ${RUNS}, thread start excluded`;
  report.add('stress.ops_per_s', median(results.map((r) => r.opsPerSec)), 'edits/s', undefined, note);
  report.add('stress.merges_per_s', median(results.map((r) => r.mergesPerSec)), 'merges/s', undefined,
    `deltas merged into the primary per second; ${median(results.map((r) => r.merges))} merges per run`);
  report.add('stress.thread_start_ms', median(results.map((r) => r.startupMs)), 'ms', undefined, `${BRANCHES} worker threads loading the store`);
}
