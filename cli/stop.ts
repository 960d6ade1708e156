// How a long-running command learns it should stop: SIGTERM or SIGINT, an actor given up while it
// runs, or, for a command whose job is its output (sim, demo, watch), a reader that closed stdout.
// Shutdown is bounded: a process that is still stopping after STOP_DEADLINE_MS says so in one line
// and exits, so nothing ever needs SIGKILL.
import { EventEmitter } from 'node:events';
import type { ActorHandle, ActorStartupError } from '../actors/runtime/supervisor.js';
import { stderrSink } from './log.js';

/** The whole shutdown (final merge, git flush, closes) must fit in this; the bound is 5 s. */
export const STOP_DEADLINE_MS = 4_500;

/** Exit status when the deadline cut a shutdown short: the final flush may not have landed. */
export const EXIT_STOP_OVERRUN = 1;

const stdio = new EventEmitter();
let stdoutClosed = false;

function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  if (stdoutClosed) return;
  stdoutClosed = true;
  stdio.emit('stdout-closed');
}

function onStderrError(): void { /* nowhere left to report it */ }

/**
 * A closed stdout (`| head`) is not an error: later output is dropped, and commands that asked are told.
 * Idempotent: main() runs many times in one process (the in-process tests), its handlers are added once.
 */
export function guardStdio(): void {
  if (!process.stdout.listeners('error').includes(onStdoutError)) process.stdout.on('error', onStdoutError);
  if (!process.stderr.listeners('error').includes(onStderrError)) process.stderr.on('error', onStderrError);
}

/** One line on stderr, through the process's StderrSink (never blocks; a closed pipe loses it). */
export function noteLine(line: string): void {
  stderrSink.write(line.endsWith('\n') ? line : line + '\n');
}

export interface StopOptions {
  /** Also stop when stdout's reader goes away (commands whose job is their output); servers keep serving. */
  onStdoutClosed?: boolean;
  deadlineMs?: number;
  /** Told of a repeated signal while stopping (default: one line on stderr). */
  onRepeat?: (reason: string) => void;
}

/** A handler of any event (signals, stdout-closed, a supervisor's `failed`), kept so dispose() can remove it. */
type Handler = (...args: any[]) => void;

export class StopRequest {
  private readonly controller = new AbortController();
  private readonly handlers: [EventEmitter | NodeJS.Process, string, Handler][] = [];
  /** Set when an actor given up while the command ran asked for the stop: the command then fails (exit 1) with it. */
  failure: ActorStartupError | null = null;
  /** Resolves with what asked for the stop: 'SIGTERM', 'SIGINT', 'stdout closed' or 'actor NAME given up'. */
  readonly requested: Promise<string>;

  constructor(private readonly opts: StopOptions = {}) {
    this.requested = new Promise((resolve) => this.controller.signal.addEventListener('abort', () => resolve(this.reason!), { once: true }));
    // process.on, not once: a second signal must find a handler, or its default action kills mid-flush.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) this.listen(process, sig, () => this.request(sig));
    if (opts.onStdoutClosed) {
      if (stdoutClosed) this.request('stdout closed');
      else this.listen(stdio, 'stdout-closed', () => this.request('stdout closed'));
    }
  }

  /** Aborted on the first request (e.g. for runSim's loop). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get reason(): string | null {
    return this.controller.signal.aborted ? String(this.controller.signal.reason) : null;
  }

  /** Waits for `start` (actors becoming ready) or a stop, whichever comes first: null, or the error `start` failed with. */
  until(start: Promise<unknown>): Promise<Error | null> {
    return Promise.race([start.then(() => null, (err: Error) => err), this.requested.then(() => null)]);
  }

  /**
   * From now on an actor that `supervisor` gives up (it crashed, then cannot start again) stops the command
   * through its normal path, like a signal, and is kept in `failure`. Call it once the actors are ready:
   * before that, ready() rejecting is the start-up failure (exit 2).
   */
  stopOnGivenUp(supervisor: EventEmitter): void {
    this.listen(supervisor, 'failed', (h: ActorHandle, err: ActorStartupError) => {
      if (this.controller.signal.aborted) return; // already stopping: the supervisor is winding down anyway
      this.failure = err;
      this.request(`actor ${h.name} given up`);
    });
  }

  request(reason: string): void {
    if (this.controller.signal.aborted) {
      (this.opts.onRepeat ?? ((r) => noteLine(`netbranch: ${r} again: already stopping (final merge and flush); exiting within ${Math.ceil((this.opts.deadlineMs ?? STOP_DEADLINE_MS) / 1000)} s`)))(reason);
      return;
    }
    this.controller.abort(reason);
    const deadlineMs = this.opts.deadlineMs ?? STOP_DEADLINE_MS;
    setTimeout(() => {
      noteLine(`netbranch: still stopping ${deadlineMs} ms after ${reason}; exiting now (the final flush may not have finished)`);
      process.exit(EXIT_STOP_OVERRUN);
    }, deadlineMs).unref();
  }

  /** The command is done with stopping: its handlers go (a later signal gets the default action). */
  dispose(): void {
    for (const [target, name, fn] of this.handlers.splice(0)) target.off(name, fn);
  }

  private listen(target: EventEmitter | NodeJS.Process, name: string, fn: Handler): void {
    target.on(name, fn);
    this.handlers.push([target, name, fn]);
  }
}

/** Traps SIGTERM/SIGINT (and a closed stdout, when asked) for the rest of a command's run. */
export function trapStop(opts: StopOptions = {}): StopRequest {
  return new StopRequest(opts);
}
