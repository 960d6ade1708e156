// A cumulative histogram as Prometheus keeps one (fixed upper bounds, a sum and a count), so a scrape reads it as it
// stands: recording is an index search and two increments, and nothing is kept per sample.
import type { Histogram } from '../../api/protocol.js';

/** Upper bounds (ms) for merge durations: a delta merges in tens of µs, a stalled one in tens of ms. */
export const MERGE_BUCKETS_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250];

export class BucketHistogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly bounds: readonly number[] = MERGE_BUCKETS_MS) {
    this.counts = new Array(bounds.length).fill(0);
  }

  record(v: number): void {
    this.sum += v;
    this.count++;
    const i = this.bounds.findIndex((b) => v <= b);
    if (i >= 0) this.counts[i]++;
  }

  /** Cumulative counts per bound, as the text format wants them (`+Inf` is `count`). */
  snapshot(): Histogram {
    let acc = 0;
    return { buckets: this.bounds.map((b, i) => [b, (acc += this.counts[i])]), sum: this.sum, count: this.count };
  }
}

/** The value below which a fraction `q` of samples fall, interpolated within its bucket (as PromQL's histogram_quantile). */
export function quantile(h: Histogram, q: number): number | undefined {
  if (h.count === 0) return undefined;
  const rank = q * h.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of h.buckets) {
    if (c >= rank) return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, c - prevCount));
    prevLe = le;
    prevCount = c;
  }
  return prevLe; // in the +Inf bucket: the highest finite bound is all that is known
}
