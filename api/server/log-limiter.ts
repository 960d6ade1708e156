// The lookup server's log, at most a number of lines a second: a hostile client must not flood the
// router's log with refusals. Time is an argument (the server reads the clock where a socket event arrives).

/** Where the lookup server's lines go (the router's pino logger, the sim's stderr). */
export type ApiLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

export class LogLimiter {
  private windowStart = 0;
  private inWindow = 0;

  constructor(private readonly sink: ApiLog, private readonly perSecond = 50) {}

  /** Logs the line unless this second's lines are spent; false when it was dropped (the caller counts it). */
  log(now: number, level: 'info' | 'warn' | 'error', msg: string, fields: object = {}): boolean {
    if (now - this.windowStart >= 1_000) {
      if (this.inWindow > this.perSecond) this.sink('warn', `lookup: ${this.inWindow - this.perSecond} log lines dropped in the last second`);
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (++this.inWindow > this.perSecond) return false;
    this.sink(level, msg, fields);
    return true;
  }
}
