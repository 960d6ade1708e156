// ARP retries need a clock only while a resolution is pending: the timer runs then, and stops once
// none is left, so an idle actor has no timer waking it ten times a second.
export class ArpRetryTimer {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    /** Is a resolution waiting for an answer? */
    private readonly pending: () => boolean,
    /** Retries and failures due at `now`. */
    private readonly poll: (now: number) => void,
    private readonly everyMs = 100,
  ) {}

  get running(): boolean {
    return this.timer !== null;
  }

  /** After frames were handled (they may have started a resolution): runs the timer if one is pending. */
  arm(): void {
    if (this.timer !== null || !this.pending()) return;
    this.timer = setInterval(() => {
      this.poll(Date.now());
      if (!this.pending()) this.stop();
    }, this.everyMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
