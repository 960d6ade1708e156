// How long a crashed actor waits before its next incarnation: the first delay, doubled per crash in a
// row up to a cap, and the first delay again once an incarnation stayed up `stableMs`. Time is an
// argument, so the rule runs on a simulated clock in a test.
export interface BackoffOptions {
  /** First restart delay; doubles per crash in a row, up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** An actor up this long has its backoff reset. */
  stableMs: number;
}

export class RestartBackoff {
  private startedAt = 0;
  private delay = 0;

  constructor(private readonly opts: BackoffOptions) {}

  /** An incarnation started at `now`. */
  started(now: number): void {
    this.startedAt = now;
  }

  /** The last incarnation ended at `now`: how long (ms) to wait before starting the next. */
  next(now: number): number {
    const { backoffMs, maxBackoffMs, stableMs } = this.opts;
    this.delay = now - this.startedAt >= stableMs || this.delay === 0 ? backoffMs : Math.min(maxBackoffMs, this.delay * 2);
    return this.delay;
  }
}
