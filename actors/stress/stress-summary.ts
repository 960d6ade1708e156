// What `netbranch stress` prints: a few human lines ending with the verdict, or one JSON line.
import type { StressResult } from './stress.js';

/** A count or rate, rounded, with thousands separators. */
export function formatCount(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

/** The human summary: a few lines ending with the verdict. */
export function formatStress(r: StressResult): string {
  const n = formatCount;
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
