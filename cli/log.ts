// The commands' JSON logs (pino) on stderr, written so that no reader can stall the process: pino's
// own destination (sonic-boom) retries a write to a closed pipe forever in its exit-time flushSync,
// which hung `router … 2>&1 | head` past every SIGTERM. Here a line goes out at once; one the pipe
// cannot take yet waits in a bounded queue retried by a timer; a closed pipe drops the rest.
import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';

/** Bytes of log lines kept while stderr is full; past this, lines are dropped and counted. */
const MAX_QUEUED_BYTES = 1 << 20;
const RETRY_MS = 20;

export class StderrSink {
  /** Lines dropped: stderr was closed, or full past MAX_QUEUED_BYTES. */
  dropped = 0;
  closed = false;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly fd = 2) {}

  write(line: string): void {
    if (this.closed) { this.dropped++; return; }
    const bytes = Buffer.from(line);
    if (this.queuedBytes + bytes.length > MAX_QUEUED_BYTES) { this.dropped++; return; }
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.drain();
  }

  /** Writes what the fd takes now; never waits (EAGAIN leaves the rest queued for the timer). */
  private drain(): void {
    while (this.queue.length && !this.closed) {
      const head = this.queue[0];
      let n: number;
      try {
        n = writeSync(this.fd, head);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return this.retryLater();
        this.close(); // EPIPE and the like: nobody will read these
        return;
      }
      this.queuedBytes -= n;
      if (n < head.length) this.queue[0] = head.subarray(n);
      else this.queue.shift();
    }
    if (!this.queue.length && this.dropped > 0 && !this.closed) {
      const note = `{"level":40,"time":${Date.now()},"msg":"${this.dropped} log lines dropped: stderr was not being read"}\n`;
      this.dropped = 0;
      this.write(note);
    }
  }

  private retryLater(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; this.drain(); }, RETRY_MS);
    this.timer.unref(); // queued log lines never keep the process alive
  }

  private close(): void {
    this.closed = true;
    this.dropped += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
  }
}

/** The process's one writer to stderr (fd 2): every logger and note goes through it, so lines never interleave mid-line. */
export const stderrSink = new StderrSink();

/** A pino logger for command `cmd` writing through the process's StderrSink. */
export function stderrLogger(cmd: string): Logger {
  return pino({ base: { cmd } }, stderrSink);
}
