// The primary of `netbranch stress`, on the main thread: a Store with a ReplicaHost answering each branch's
// deltas on its port, a log of every delta it accepted, and the two barriers (every branch ready → 'go',
// every branch drained → 'final-pull').
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { DeltaCodec, ReplicaHost, Store, type DeltaMessage } from '../../store/index.js';
import type { StressEvidence } from './stress-oracle.js';
import type { StressControl, StressTaskReport } from './stress-messages.js';
import { stressTables } from './stress-schema.js';

export interface StressPrimaryOptions {
  branches: number;
  /** The ReplicaHost's maxLag and the store's retention (their own defaults when absent). */
  maxLag?: number;
  retention?: number;
}

export class StressPrimary {
  readonly store: Store;
  readonly host: ReplicaHost;
  /** Edits each branch has reported making so far. */
  readonly progress: number[];
  resyncs = 0;
  /** When every branch was ready and 'go' went out (NaN until then). */
  goAt = NaN;
  private readonly codec: DeltaCodec;
  private readonly rawLog: { bytes: Uint8Array; head: number }[] = [];
  private readonly ports: MessagePort[] = [];
  private ready = 0;
  private drained = 0;

  constructor(private readonly o: StressPrimaryOptions, private readonly clock: () => number) {
    this.store = new Store(stressTables, { clock: () => 0, ...(o.retention === undefined ? {} : { retention: o.retention }) });
    this.host = new ReplicaHost(this.store.main, o.maxLag === undefined ? {} : { maxLag: o.maxLag });
    this.codec = new DeltaCodec(this.store.schema);
    this.progress = new Array<number>(o.branches).fill(0);
  }

  /** Edits made by all branches so far. */
  get edits(): number {
    return this.progress.reduce((a, x) => a + x, 0);
  }

  /** The port for branch `b`'s task (to transfer to it); the primary answers on the other end. */
  connect(b: number, replica: string): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.ports.push(port1);
    port1.on('message', (m: Uint8Array | StressControl) => {
      if (m instanceof Uint8Array) port1.postMessage(this.accept(m));
      else this.control(b, replica, port1, m);
    });
    return port2;
  }

  /** The primary's state now, encoded for a replica joining as `replica`. */
  snapshot(replica: string): Uint8Array {
    return this.codec.encode(this.host.attach(replica));
  }

  close(): void {
    for (const p of this.ports) p.close();
  }

  /** What the oracle checks: the accepted deltas, the primary's final state and each branch's report. */
  evidence(reports: StressTaskReport[] | null): StressEvidence {
    return {
      log: this.rawLog.map(({ bytes, head }) => ({ delta: this.codec.decode(bytes) as DeltaMessage, head })),
      primary: Object.fromEntries(this.store.main.tables.map((t) => [t.name, [...t.committedEntries()]])),
      head: this.store.main.headSeq,
      conflicts: this.store.stats.conflicts,
      branches: (reports ?? []).map((r) => ({ replica: r.replica, increments: r.increments, view: r.view })),
    };
  }

  /** Answers a delta, logging it with the head it produced unless it was rejected. */
  private accept(bytes: Uint8Array): Uint8Array {
    const rejectedBefore = this.store.stats.rejectedDeltas;
    const answer = this.host.acceptBytes(bytes);
    if (this.store.stats.rejectedDeltas === rejectedBefore) this.rawLog.push({ bytes, head: this.store.main.headSeq });
    return answer;
  }

  private control(b: number, replica: string, port: MessagePort, m: StressControl): void {
    switch (m.type) {
      case 'ready':
        if (++this.ready === this.o.branches) {
          this.goAt = this.clock();
          this.broadcast({ type: 'go' });
        }
        break;
      case 'progress':
        this.progress[b] = m.ops;
        break;
      case 'resync':
        this.resyncs++;
        port.postMessage(this.snapshot(replica));
        break;
      case 'drained':
        if (++this.drained === this.o.branches) this.broadcast({ type: 'final-pull' });
        break;
      default:
        break;
    }
  }

  private broadcast(m: StressControl): void {
    for (const p of this.ports) p.postMessage(m);
  }
}
