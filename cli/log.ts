// The commands' JSON logs (pino) on stderr, written so that no reader can stall the process: pino's
// own destination (sonic-boom) retries a write to a closed pipe forever in its exit-time flushSync,
// which hung `router … 2>&1 | head` past every SIGTERM. Here a line goes out at once; one the pipe
// cannot take yet waits in a bounded queue retried by a timer; a closed pipe drops the rest.
// JSON for machines (journald, a pipe); pretty (pino-pretty) when a person is reading a terminal.
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { wordFlag } from './usage.js';

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

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;

export interface LogOptions {
  level: (typeof LOG_LEVELS)[number];
  format: (typeof LOG_FORMATS)[number];
}

/** --log-level and --log-format, for every long-running command (router, host, sim). */
export function addLogOptions(cmd: Command): Command {
  return cmd
    .option('--log-level <level>', `least severe log line written: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--log-format <format>', 'json (one object a line), or pretty (for people); default: pretty when stderr is a terminal, json otherwise');
}

/** The two flags checked (a bad one is one line, exit 2); the format follows stderr when not given. */
export function logOptions(opts: Record<string, unknown>, stderrIsTerminal = isatty(2)): LogOptions {
  const level = wordFlag('--log-level', String(opts.logLevel ?? 'info'), LOG_LEVELS);
  const format = wordFlag('--log-format', opts.logFormat === undefined ? (stderrIsTerminal ? 'pretty' : 'json') : String(opts.logFormat), LOG_FORMATS);
  return { level, format };
}

/** A pino logger for command `cmd` writing through the process's StderrSink, as JSON lines or pretty ones (coloured on a terminal, unless NO_COLOR). */
export function stderrLogger(cmd: string, o: LogOptions = { level: 'info', format: 'json' }): Logger {
  return pino({ base: { cmd }, level: o.level }, o.format === 'pretty' ? prettyTo(stderrSink, isatty(2) && !process.env.NO_COLOR) : stderrSink);
}

/**
 * pino's JSON lines turned pretty on their way into `sink` (pino-pretty's prettyFactory, in this thread: its
 * transport would put a worker and sonic-boom between us and stderr, the stall StderrSink exists to avoid).
 * pino-pretty is loaded only here, so JSON logging never pays for it.
 */
function prettyTo(sink: StderrSink, colorize: boolean): { write(line: string): void } {
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const options: PrettyOptions = { colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'cmd', messageFormat: '{cmd}: {msg}' };
  const pretty = prettyFactory(options);
  return { write: (line: string) => sink.write(pretty(line)) };
}
