// The actor's side of the merge loop, in its worker thread: a replica of the primary, a delta
// pushed every merge interval (or sooner when edits pile up), head deltas applied as they arrive.
// Nothing here ever waits: packets are handled while a push is in flight, and the actor's own share
// of a cycle (flush, encode, apply the answer) runs in slices of ~100 µs between frame batches
// (store/replica/merge-cycle.ts). An idle actor's loop sleeps until the primary or the actor changes
// something (actors/runtime/merge-timer.ts).
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { DeltaCodec, MergeCycle, Replica, type DeltaRejectedMessage, type HeadDeltaMessage, type Schema, type SnapshotMessage } from '../../store/index.js';
import { exposeControl } from './control.js';
import { MergeTimer } from './merge-timer.js';
import { actorInit } from './actor-init.js';
import type {
  ActorControl, ActorInit, ActorKind, ActorStats, FailoverSend, FromActor, HistoryAnswer, PrimaryAnswer, PrimaryQueryBody, StatsKind, ToActor, VrrpHeard,
} from './messages.js';

export class ActorRuntime {
  readonly init: ActorInit;
  private readonly codec: DeltaCodec;
  private replicaRef: Replica | null = null;
  private readyResolve!: (r: Replica) => void;
  private readonly ready: Promise<Replica>;
  private readonly timer: MergeTimer;
  private merging = true;
  private intervalMs: number;
  private flushWaiters: (() => void)[] = [];
  /** A fresh snapshot was asked for: pushes wait for it. */
  private resyncPending = false;
  /** The actor's own counters, for stats. */
  counters: () => Record<string, number> = () => ({});
  /**
   * Called in steps before each push: an actor writes up to `limit` of the edits it coalesced (NAT
   * counters) into its branch and returns how many remain (void: it wrote them all).
   */
  beforePush: ((limit: number) => number | void) | null = null;
  /** The merge cycle in slices, once the replica exists. */
  private cycle: MergeCycle | null = null;
  private sliceQueued = false;
  /** Called after every head delta is applied (the actor may re-read what it caches). */
  onRebase: (() => void) | null = null;
  /** Called with every head delta applied (the lookup actor turns them into watch events). */
  onHead: ((head: HeadDeltaMessage) => void) | null = null;
  /** Called after a fresh snapshot replaced the replica's base (everything may have changed). */
  onResync: (() => void) | null = null;
  /** A router packet actor with failover sends what the main thread's VirtualRouter asks (false: it cannot). */
  onFailoverSend: ((m: FailoverSend) => boolean) | null = null;
  private historyId = 0;
  private readonly historyWaiters = new Map<number, (a: HistoryAnswer) => void>();
  private readonly queryWaiters = new Map<number, (a: PrimaryAnswer) => void>();
  /** The primary's head commit (low 32 bits), written by the main thread: see turn(). */
  private readonly head: Int32Array | null;

  constructor(readonly schema: Schema, init: ActorInit = actorInit()) {
    this.init = init;
    this.codec = new DeltaCodec(schema);
    this.intervalMs = init.mergeIntervalMs;
    this.merging = init.merging ?? true;
    this.head = init.headCell ? new Int32Array(init.headCell) : null;
    this.timer = new MergeTimer(() => this.turn(), this.head, () => this.replicaRef?.base ?? -1);
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    parentPort!.on('message', (m: ToActor) => this.onMessage(m));
    const api: ActorControl = {
      stats: async () => this.stats(),
      flush: () => this.flush(),
      setMergeInterval: async (ms) => this.setInterval(ms),
      setMerging: async (on) => { this.merging = on; this.setInterval(this.intervalMs); },
    };
    exposeControl(api, init.control);
  }

  /** Resolves with the replica once the primary's snapshot arrived; the merge loop then runs. */
  async start(opts: { announce?: boolean } = {}): Promise<Replica> {
    const r = await this.ready;
    this.setInterval(this.intervalMs);
    if (opts.announce !== false) this.announce();
    return r;
  }

  /** Tells the supervisor the actor is serving (start() does, unless told to wait for a listener). */
  announce(): void {
    this.post({ type: 'ready' });
  }

  get replica(): Replica {
    if (!this.replicaRef) throw new Error('actor used before its snapshot arrived');
    return this.replicaRef;
  }

  /** Call after edits (or frames that may have made some): wakes an idle merge loop, pushes early when the overlay has grown past the bound. */
  notePending(): void {
    this.timer.wake();
    const r = this.replicaRef;
    if (r !== null && this.merging && r.pending >= this.init.maxPendingEdits) this.push();
  }

  /** Starts a merge cycle: the pending edits are sent (an empty delta is a pull); false while one is in progress. */
  push(): boolean {
    const c = this.cycle;
    if (c === null || this.resyncPending || !c.begin()) return false; // no push on a base being replaced
    this.runSlice();
    return true;
  }

  /** The longest slice of merge work so far, µs, and how many ran. */
  get sliceStats(): { maxUs: number; slices: number } {
    return { maxUs: this.cycle?.maxSliceUs ?? 0, slices: this.cycle?.slices ?? 0 };
  }

  private newCycle(r: Replica): MergeCycle {
    return new MergeCycle(r, this.codec, {
      flush: (limit) => this.beforePush?.(limit),
      send: (bytes) => parentPort!.postMessage({ type: 'delta', bytes } satisfies FromActor, [bytes.buffer as ArrayBuffer]),
      applied: (head) => this.headApplied(head),
      clock: () => performance.now() * 1000,
    });
  }

  /** One slice now, and the next ones after the frames that arrive meanwhile (setImmediate runs after I/O). */
  private runSlice(): void {
    if (this.cycle?.slice() && !this.sliceQueued) {
      this.sliceQueued = true;
      setImmediate(() => {
        this.sliceQueued = false;
        this.runSlice();
      });
    }
  }

  private headApplied(head: HeadDeltaMessage): void {
    this.onRebase?.();
    this.onHead?.(head);
    this.settleFlushWaiters();
  }

  log(level: 'info' | 'warn' | 'error', msg: string): void {
    this.post({ type: 'log', level, msg });
  }

  stats(): ActorStats {
    const r = this.replicaRef;
    return {
      name: this.init.name,
      kind: statsKind(this.init.kind),
      incarnation: this.init.incarnation,
      base: r?.base ?? -1,
      pendingEdits: r?.pending ?? 0,
      pushes: r?.stats.pushes ?? 0,
      heads: r?.stats.heads ?? 0,
      conflicts: r?.stats.conflicts ?? 0,
      rejected: r?.stats.rejected ?? 0,
      resyncs: r?.stats.resyncs ?? 0,
      counters: { ...this.counters(), 'merge.turns': this.timer.turns, 'merge.idleTurns': this.timer.idleTurns, 'merge.asleep': this.timer.asleep ? 1 : 0 },
    };
  }

  /**
   * One turn of the merge loop; true when it was idle. With no edits of ours and the primary still
   * at our base there is nothing to push or pull: the turn ends there, without a message or an
   * allocation (an idle router's actors would otherwise trade an empty delta and its answer every interval).
   */
  private turn(): boolean {
    const c = this.cycle;
    const r = this.replicaRef;
    if (c === null || r === null || this.resyncPending || !c.begin(() => this.nothingToMerge(r))) return false;
    this.runSlice();
    return c.idle;
  }

  private nothingToMerge(r: Replica): boolean {
    return this.head !== null && r.pending === 0 && Atomics.load(this.head, 0) === (r.base | 0);
  }

  private flush(): Promise<void> {
    return new Promise((resolve) => {
      this.flushWaiters.push(resolve);
      this.push(); // if one is in flight, the answer's handler pushes again
    });
  }

  private setInterval(ms: number): void {
    if (!(ms > 0)) throw new RangeError(`merge interval must be > 0 ms, got ${ms}`);
    this.intervalMs = ms;
    this.timer.run(this.merging ? ms : null);
  }

  /** An entry's history from the primary's log, which lives on the main thread. */
  history(table: number, key: string | number, limit: number, timeoutMs = 5_000): Promise<HistoryAnswer> {
    const id = ++this.historyId;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.historyWaiters.delete(id); reject(new Error('the main thread did not answer the history query')); }, timeoutMs);
      this.historyWaiters.set(id, (a) => { clearTimeout(t); resolve(a); });
      this.post({ type: 'history', id, table, key, limit });
    });
  }

  /** A question about the primary or the stack (report, commits, diff), answered on the main thread. */
  query(query: PrimaryQueryBody, timeoutMs = 5_000): Promise<unknown> {
    const id = ++this.historyId;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.queryWaiters.delete(id); reject(new Error(`the main thread did not answer the ${query.op} query`)); }, timeoutMs);
      this.queryWaiters.set(id, (a) => { clearTimeout(t); if (a.error !== undefined) reject(new Error(a.error)); else resolve(a.result); });
      this.post({ type: 'query', id, query });
    });
  }

  /** A VRRP advertisement heard on the inside, for the main thread's VirtualRouter. */
  vrrpHeard(adv: Omit<VrrpHeard, 'type'>): void {
    this.post({ type: 'vrrp-heard', ...adv });
  }

  private onMessage(m: ToActor): void {
    if (m.type === 'failover-send') {
      const sent = this.onFailoverSend?.(m) ?? false;
      this.post({ type: 'failover-sent', id: m.id, sent });
      return;
    }
    if (m.type === 'query') {
      const w = this.queryWaiters.get(m.id);
      this.queryWaiters.delete(m.id);
      w?.(m);
      return;
    }
    if (m.type === 'history') {
      const w = this.historyWaiters.get(m.id);
      this.historyWaiters.delete(m.id);
      w?.(m);
      return;
    }
    if (m.type !== 'replica') return;
    const rd = this.codec.reader(m.bytes);
    const type = rd.header.type;
    if (type === 'head') {
      // Applied in slices; the flush waiters are settled when it is done.
      if (this.cycle?.answer(rd, this.onHead !== null)) this.runSlice();
      return;
    }
    if (type === 'snapshot') this.onSnapshot(this.codec.decode(m.bytes) as SnapshotMessage);
    else if (type === 'rejected') this.onRejected(rd.header as unknown as DeltaRejectedMessage);
    this.settleFlushWaiters();
  }

  private onSnapshot(msg: SnapshotMessage): void {
    if (this.replicaRef === null) {
      this.replicaRef = new Replica(this.schema, msg);
      this.cycle = this.newCycle(this.replicaRef);
      this.readyResolve(this.replicaRef);
    } else {
      this.replicaRef.resync(msg);
      this.onResync?.();
    }
    this.resyncPending = false;
  }

  private onRejected(msg: DeltaRejectedMessage): void {
    if (!this.replica.applyRejected(msg.push)) return; // an answer to a push already settled
    this.cycle?.refused();
    this.log('warn', `delta refused (${msg.code}): ${msg.message}`);
    if (msg.code === 'base-released' || msg.code === 'unknown-replica') {
      this.resyncPending = true;
      this.post({ type: 'resync' });
    }
  }

  /** `flush()` callers: push again while edits remain, else they are done. */
  private settleFlushWaiters(): void {
    if (this.flushWaiters.length === 0 || this.cycle === null || !this.cycle.free) return;
    if (this.replicaRef!.pending > 0) this.push();
    else for (const w of this.flushWaiters.splice(0)) w();
  }

  private post(m: FromActor): void {
    parentPort!.postMessage(m);
  }
}

function statsKind(kind: ActorKind): StatsKind {
  return kind === 'host-packet' || kind === 'router-packet' ? 'packet' : kind;
}
