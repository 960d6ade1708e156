// The main thread's side of the actors: starts each in its worker thread from a fresh replica of the
// primary, merges the deltas they send, and restarts a crashed actor with backoff while the others
// keep working. Restarts are counted and logged. An actor that fails at start-up (its thread ends
// before it says it is ready) is tried once more; failing at start-up the same way again (or
// MAX_STARTUP_FAILURES times in a row) it is given up with its reason: a busy port will not free
// itself by retrying, and restarting it forever only hides the reason. An actor given up after an
// earlier incarnation was ready (it crashed, then could not start again) is `failed` too: the router
// and host stop on it (cli/stop.ts, StopRequest.stopOnGivenUp).
import { EventEmitter } from 'node:events';
import { MessageChannel, type Worker } from 'node:worker_threads';
import type { Remote } from 'comlink';
import { startThread, type Logger, type ReplicaHost } from '../../store/index.js';
import { releaseControl, wrapControl } from './control.js';
import { RestartBackoff, type BackoffOptions } from './restart-backoff.js';
import type {
  ActorControl, ActorInitBase, ActorInitPart, ActorKind, ActorStats, FromActor, HistoryAnswer, PrimaryAnswer, PrimaryQuery, ToActor, VrrpHeard,
} from './messages.js';
import type { StackReport, SyncResult } from '../../api/protocol.js';
import { commitsOf, diffOf } from '../../api/server/commit-view.js';
import { MergeRecord } from './merge-record.js';

export interface ActorSpec<K extends ActorKind = ActorKind> {
  name: string;
  kind: K;
  /** The actor's worker module (e.g. new URL('../host/packet-worker.ts', import.meta.url)). */
  module: URL;
  /** This kind's own init, for each (re)start: a packet actor gets a fresh ring link here. */
  prepare: (handle: ActorHandle) => ActorInitPart<K>;
  /** The actor's thread is gone (crash or stop): stop sending it work. */
  onDown?: (handle: ActorHandle) => void;
  mergeIntervalMs?: number;
  maxPendingEdits?: number;
}

export interface SupervisorOptions extends Partial<BackoffOptions> {
  mergeIntervalMs?: number;
  maxPendingEdits?: number;
  logger?: Logger;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/** Start-up failures in a row, whatever their reasons, after which an actor is given up. */
export const MAX_STARTUP_FAILURES = 3;

/**
 * An actor that could not start and will not be restarted; `reason` is what its thread said.
 * `afterCrash`: an earlier incarnation was ready, so this is a failure at run time, not at start-up.
 */
export class ActorStartupError extends Error {
  override readonly name = 'ActorStartupError';
  constructor(readonly actor: string, readonly kind: ActorKind, readonly reason: string, readonly afterCrash = false) {
    super(`actor ${actor} ${afterCrash ? 'crashed and cannot start again' : 'cannot start'}: ${reason}`);
  }
}

export class ActorHandle {
  worker: Worker | null = null;
  control: Remote<ActorControl> | null = null;
  incarnation = 0;
  replicaId = '';
  restarts = 0;
  up = false;
  /** Set when the actor was given up at start-up: it is not restarted again. */
  failure: ActorStartupError | null = null;
  /** What the current incarnation's thread threw, if it did. */
  lastError: string | null = null;
  /** Whether the current incarnation ever said it was ready. */
  wasReady = false;
  /** Whether any incarnation ever did. */
  everReady = false;
  private startupFailures = 0;
  private lastStartupReason: string | null = null;
  private readyWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(readonly spec: ActorSpec, readonly backoff: RestartBackoff) {}

  get name(): string {
    return this.spec.name;
  }

  /** Resolves when the current incarnation is serving; rejects with an ActorStartupError when it was given up. */
  ready(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.up ? Promise.resolve() : new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** @internal */ markUp(): void {
    this.up = true;
    this.wasReady = true;
    this.everReady = true;
    this.startupFailures = 0;
    this.lastStartupReason = null;
    for (const w of this.readyWaiters.splice(0)) w.resolve();
  }

  /** @internal An incarnation ended before it was ready: true when the actor is now given up. */
  startupFailed(reason: string): boolean {
    const same = reason === this.lastStartupReason;
    this.startupFailures++;
    this.lastStartupReason = reason;
    if (!same && this.startupFailures < MAX_STARTUP_FAILURES) return false;
    this.failure = new ActorStartupError(this.name, this.spec.kind, reason, this.everReady);
    for (const w of this.readyWaiters.splice(0)) w.reject(this.failure);
    return true;
  }
}

export class Supervisor extends EventEmitter {
  readonly actors: ActorHandle[] = [];
  private stopping = false;
  private readonly opts: Required<Omit<SupervisorOptions, 'logger'>>;
  private readonly log: Logger;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Crashes seen and restarts made, over all actors. */
  readonly counters = { crashes: 0, restarts: 0, deltas: 0, rejected: 0, startupFailures: 0, givenUp: 0 };
  /** How long each delta's merge into the primary took, and the conflicts the merges settled. */
  readonly merges: MergeRecord;
  /** Gathers the stack's report for a lookup actor's `stats` (set by the stack that owns this supervisor). */
  reporter: ((now: number) => Promise<StackReport>) | null = null;
  /** Syncs with the peer routers now (a router with --peer): the API's `sync` op. */
  syncer: ((now: number) => Promise<SyncResult>) | null = null;
  /** VRRP advertisements the router's packet actors heard (set by a router with failover: actors/router/failover.ts). */
  onVrrp: ((adv: VrrpHeard, now: number) => void) | null = null;
  /** FailoverSends not yet answered: whom they went to, and what to tell the caller. */
  private readonly sends = new Map<number, { worker: Worker; done: (sent: boolean) => void }>();
  private sendId = 0;

  constructor(readonly host: ReplicaHost, opts: SupervisorOptions = {}) {
    super();
    this.merges = new MergeRecord(host.branch);
    this.log = opts.logger ?? silent;
    this.opts = {
      mergeIntervalMs: opts.mergeIntervalMs ?? 100,
      maxPendingEdits: opts.maxPendingEdits ?? 4096,
      backoffMs: opts.backoffMs ?? 100,
      maxBackoffMs: opts.maxBackoffMs ?? 5_000,
      stableMs: opts.stableMs ?? 10_000,
    };
  }

  spawn<K extends ActorKind>(spec: ActorSpec<K>): ActorHandle {
    const h = new ActorHandle(spec, new RestartBackoff(this.opts));
    this.actors.push(h);
    this.start(h, Date.now());
    return h;
  }

  /** Resolves when every actor is serving; rejects with the first ActorStartupError. */
  async ready(): Promise<void> {
    await Promise.all(this.actors.map((a) => a.ready()));
  }

  private start(h: ActorHandle, now: number): void {
    h.incarnation++;
    h.replicaId = `${h.name}#${h.incarnation}`;
    h.backoff.started(now);
    h.wasReady = false;
    h.lastError = null;
    const { port1, port2 } = new MessageChannel();
    const base: ActorInitBase = {
      name: h.name,
      replicaId: h.replicaId,
      incarnation: h.incarnation,
      mergeIntervalMs: h.spec.mergeIntervalMs ?? this.opts.mergeIntervalMs,
      maxPendingEdits: h.spec.maxPendingEdits ?? this.opts.maxPendingEdits,
      control: port2,
      headCell: this.host.headCell,
    };
    // The kind's own part was type-checked against its kind at spawn (ActorSpec<K>); the worker narrows it back (actorInit).
    const init = { kind: h.spec.kind, ...base, ...h.spec.prepare(h) };
    const w = startThread(h.spec.module, { workerData: init, transferList: [port2] });
    h.worker = w;
    h.control = wrapControl<ActorControl>(port1);
    const worker = w;
    w.on('message', (m: FromActor) => this.onMessage(h, worker, m));
    w.on('error', (err) => {
      if (h.worker === w) h.lastError = err.message;
      this.log.error({ actor: h.name, err: err.message }, 'actor thread failed');
    });
    w.on('exit', (code) => this.onExit(h, worker, code, Date.now()));
    this.send(w, this.host.codec.encode(this.host.attach(h.replicaId)));
  }

  private onMessage(h: ActorHandle, w: Worker, m: FromActor): void {
    if (h.worker !== w) return; // a message from an incarnation already replaced
    switch (m.type) {
      case 'delta': {
        this.counters.deltas++;
        const t0 = performance.now();
        const answer = this.host.acceptBytes(m.bytes);
        this.merges.merged(performance.now() - t0);
        this.send(w, answer);
        this.emit('merged', h);
        break;
      }
      case 'resync':
        this.host.detach(h.replicaId);
        this.send(w, this.host.codec.encode(this.host.attach(h.replicaId)));
        break;
      case 'ready':
        h.markUp();
        this.log.info({ actor: h.name, incarnation: h.incarnation }, 'actor up');
        this.emit('up', h);
        break;
      case 'log':
        this.log[m.level]({ actor: h.name }, m.msg);
        break;
      case 'history': {
        // Answered from the primary's log, here on the main thread (the actor has a replica, no log).
        const answer: HistoryAnswer = { type: 'history', id: m.id, complete: false, entries: [] };
        try {
          const h2 = this.host.branch.history(m.table, m.key, m.limit);
          answer.complete = h2.complete;
          answer.entries = h2.commits.map(({ commit: c, value }) => ({ seq: c.seq, time: c.time, author: c.author, message: c.message, value }));
        } catch (err) {
          answer.error = (err as Error).message;
        }
        w.postMessage(answer);
        break;
      }
      case 'query':
        void this.answer(w, m);
        break;
      case 'vrrp-heard':
        this.onVrrp?.(m, Date.now());
        break;
      case 'failover-sent':
        this.sends.get(m.id)?.done(m.sent);
        break;
      default:
        break;
    }
  }

  /** A lookup actor's question about the primary or the stack, answered here where they live. */
  private async answer(w: Worker, m: PrimaryQuery): Promise<void> {
    const answer: PrimaryAnswer = { type: 'query', id: m.id };
    try {
      const q = m.query;
      if (q.op === 'commits') answer.result = commitsOf(this.host.branch, q.limit);
      else if (q.op === 'diff') answer.result = diffOf(this.host.branch, q.from, q.to, q.limit);
      else if (q.op === 'sync') {
        if (this.syncer) answer.result = await this.syncer(Date.now());
        else answer.error = 'this router has no peers to sync with (start it with --peer)';
      } else if (this.reporter) answer.result = await this.reporter(Date.now());
      else answer.error = 'this stack gathers no report';
    } catch (err) {
      answer.error = (err as Error).message;
    }
    w.postMessage(answer);
  }

  /**
   * Has router packet actor `h` send `adverts` on its inside link and, with `announce`, a gratuitous ARP for each of
   * its addresses. Resolves true once it says they went out; false when it is down, cannot, or is silent for `timeoutMs`.
   */
  failoverSend(h: ActorHandle, adverts: Uint8Array[], announce: boolean, timeoutMs = 1_000): Promise<boolean> {
    const w = h.worker;
    if (w === null || !h.up || this.stopping) return Promise.resolve(false);
    const id = ++this.sendId;
    return new Promise((resolve) => {
      const t = setTimeout(() => done(false), timeoutMs);
      t.unref();
      const done = (sent: boolean): void => {
        clearTimeout(t);
        this.sends.delete(id);
        resolve(sent);
      };
      this.sends.set(id, { worker: w, done });
      const m: ToActor = { type: 'failover-send', id, adverts, announce };
      w.postMessage(m);
    });
  }

  private send(w: Worker, bytes: Uint8Array): void {
    const m: ToActor = { type: 'replica', bytes };
    w.postMessage(m);
  }

  private onExit(h: ActorHandle, w: Worker, code: number, now: number): void {
    if (h.worker !== w) return;
    h.up = false;
    h.worker = null;
    if (h.control) releaseControl(h.control as Remote<unknown>);
    h.control = null;
    this.host.detach(h.replicaId); // its unmerged edits are gone; what it merged stays
    for (const s of [...this.sends.values()]) if (s.worker === w) s.done(false);
    h.spec.onDown?.(h);
    this.emit('down', h, code);
    if (this.stopping) return;
    if (!h.wasReady && this.givenUp(h, code)) return;
    if (h.wasReady) this.counters.crashes++;
    const delay = h.backoff.next(now);
    this.log.warn({ actor: h.name, incarnation: h.incarnation, code, restartInMs: delay, ...(h.wasReady ? {} : { reason: h.lastError }) },
      h.wasReady ? 'actor crashed; restarting from a fresh replica' : 'actor failed at start-up; restarting it');
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stopping) return;
      h.restarts++;
      this.counters.restarts++;
      this.start(h, Date.now());
    }, delay);
    this.timers.add(t);
  }

  /** An incarnation ended before it was ready: counts it, and gives the actor up when it keeps failing so. */
  private givenUp(h: ActorHandle, code: number): boolean {
    this.counters.startupFailures++;
    const reason = h.lastError ?? `its thread exited with code ${code} before it was ready`;
    if (!h.startupFailed(reason)) return false;
    this.counters.givenUp++;
    this.log.error({ actor: h.name, incarnation: h.incarnation, reason, afterCrash: h.everReady }, 'actor keeps failing at start-up; not restarting it');
    this.emit('failed', h, h.failure);
    return true;
  }

  async stats(): Promise<ActorStats[]> {
    return Promise.all(this.actors.filter((a) => a.up && a.control).map((a) => a.control!.stats()));
  }

  /** Asks every actor to push its edits and waits for the merges (bounded by `timeoutMs`). */
  async flush(timeoutMs = 2_000): Promise<void> {
    const all = Promise.all(this.actors.filter((a) => a.up && a.control).map((a) => a.control!.flush()));
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /** Final merge, then every thread ends. */
  async stop(timeoutMs = 2_000): Promise<void> {
    if (this.stopping) return;
    await this.flush(timeoutMs).catch(() => undefined);
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.actors.map(async (a) => {
      const w = a.worker;
      if (w) await w.terminate();
    }));
  }
}
