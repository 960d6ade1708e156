// The actor's side of the merge loop, in its worker thread: a replica of the primary, a delta
// pushed every merge interval (or sooner when edits pile up), head deltas applied as they arrive.
// Nothing here ever waits: packets are handled while a push is in flight. An idle actor's loop
// sleeps until the primary or the actor changes something (actors/runtime/merge-timer.ts).
import { parentPort } from 'node:worker_threads';
import { DeltaCodec, Replica, type HeadDeltaMessage, type Schema, type SnapshotMessage } from '../../store/index.js';
import { exposeControl } from './control.js';
import { MergeTimer } from './merge-timer.js';
import { actorInit } from './actor-init.js';
import type { ActorControl, ActorInit, ActorKind, ActorStats, FromActor, HistoryAnswer, StatsKind, ToActor } from './messages.js';

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
  /** Called just before each push: an actor writes what it coalesced (NAT counters) into its branch. */
  beforePush: (() => void) | null = null;
  /** Called after every head delta is applied (the actor may re-read what it caches). */
  onRebase: (() => void) | null = null;
  /** Called with every head delta applied (the lookup actor turns them into watch events). */
  onHead: ((head: HeadDeltaMessage) => void) | null = null;
  /** Called after a fresh snapshot replaced the replica's base (everything may have changed). */
  onResync: (() => void) | null = null;
  private historyId = 0;
  private readonly historyWaiters = new Map<number, (a: HistoryAnswer) => void>();
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

  /** Sends the pending edits (an empty delta is a pull); false while a push is in flight. */
  push(): boolean {
    const r = this.replicaRef;
    if (r === null || r.busy || this.resyncPending) return false; // no push on a base being replaced
    this.beforePush?.();
    return this.send(r);
  }

  private send(r: Replica): boolean {
    const d = r.takeDelta();
    if (d === null) return false;
    this.post({ type: 'delta', bytes: this.codec.encode(d) });
    return true;
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
    const r = this.replicaRef;
    if (r === null || r.busy || this.resyncPending) return false;
    this.beforePush?.();
    if (this.head !== null && r.pending === 0 && Atomics.load(this.head, 0) === (r.base | 0)) return true;
    this.send(r);
    return false;
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

  private onMessage(m: ToActor): void {
    if (m.type === 'history') {
      const w = this.historyWaiters.get(m.id);
      this.historyWaiters.delete(m.id);
      w?.(m);
      return;
    }
    if (m.type !== 'replica') return;
    const msg = this.codec.decode(m.bytes);
    switch (msg.type) {
      case 'snapshot':
        if (this.replicaRef === null) {
          this.replicaRef = new Replica(this.schema, msg as SnapshotMessage);
          this.readyResolve(this.replicaRef);
        } else {
          this.replicaRef.resync(msg);
          this.onResync?.();
        }
        this.resyncPending = false;
        break;
      case 'head':
        if (this.replica.applyHead(msg)) {
          this.onRebase?.();
          this.onHead?.(msg);
        }
        break;
      case 'rejected':
        if (!this.replica.applyRejected(msg.push)) break; // an answer to a push already settled
        this.log('warn', `delta refused (${msg.code}): ${msg.message}`);
        if (msg.code === 'base-released' || msg.code === 'unknown-replica') {
          this.resyncPending = true;
          this.post({ type: 'resync' });
        }
        break;
      default:
        break;
    }
    if (this.flushWaiters.length && this.replicaRef && !this.replicaRef.busy) {
      if (this.replicaRef.pending > 0) this.push();
      else for (const w of this.flushWaiters.splice(0)) w();
    }
  }

  private post(m: FromActor): void {
    parentPort!.postMessage(m);
  }
}

function statsKind(kind: ActorKind): StatsKind {
  return kind === 'host-packet' || kind === 'router-packet' ? 'packet' : kind;
}
