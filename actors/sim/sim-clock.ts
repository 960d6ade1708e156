// The simulated clock of `netbranch sim`: milliseconds since the run began, moved by the run loop, and
// the wall-clock epoch they are counted from for what records real dates (git commits, pcap stamps).
export class SimClock {
  /** Simulated ms since the start. */
  now = 0;
  /** The simulated start, 2026-01-01T00:00Z, in ms since the Unix epoch. */
  readonly epoch = Date.UTC(2026, 0, 1);

  /** The simulated time as a wall-clock date, in ms since the Unix epoch. */
  wallMs(): number {
    return this.epoch + this.now;
  }
}
