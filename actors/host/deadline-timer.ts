// The stack's own timers on a worker (TCP retransmission, persist, TIME-WAIT; fragment reassembly
// timeouts) need a clock only at the next deadline: one timeout set for it, moved earlier when a sooner
// one appears, none while nothing is due.
export class DeadlineTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private at = Infinity;

  constructor(
    /** When the stack next has timer work (Infinity: none). */
    private readonly nextDeadline: () => number,
    /** The timers due at `now`. */
    private readonly poll: (now: number) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  get armed(): boolean {
    return this.timer !== null;
  }

  /** After frames or sends (they may have set a deadline): a timeout for the earliest one. */
  arm(now: number): void {
    const d = this.nextDeadline();
    if (!Number.isFinite(d)) return;
    if (this.timer !== null && this.at <= d) return; // one at or before it is set: it re-arms when it fires
    this.stop();
    this.at = d;
    this.timer = setTimeout(() => this.fire(), Math.max(0, d - now));
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.at = Infinity;
  }

  private fire(): void {
    this.timer = null;
    this.at = Infinity;
    const now = this.clock();
    this.poll(now);
    this.arm(now);
  }
}
