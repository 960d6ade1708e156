// A stress branch's side of its port: a Replica that pushes deltas without waiting for the answer, applies
// head deltas and rejections as they arrive, resyncs when its base is released, and waits at the barriers.
import type { MessagePort } from 'node:worker_threads';
import { DeltaCodec, Replica, type HeadDeltaMessage, type Schema, type SnapshotMessage } from '../../store/index.js';
import type { StressControl } from './stress-messages.js';

export class StressBranch {
  readonly replica: Replica;
  /** Deltas sent with edits, and empty ones (pulls). */
  pushes = 0;
  pulls = 0;
  private readonly codec: DeltaCodec;
  private resyncing = false;
  private failure: Error | null = null;
  private lastHead: HeadDeltaMessage | null = null;
  private go = false;
  private released = false;
  // The waiter for the next control message or answer; the task awaits it between ops.
  private wake: (() => void) | null = null;

  constructor(private readonly name: string, schema: Schema, snapshot: Uint8Array, private readonly port: MessagePort) {
    this.codec = new DeltaCodec(schema);
    this.replica = new Replica(schema, this.codec.decode(snapshot) as SnapshotMessage);
    port.on('message', (m: Uint8Array | StressControl) => {
      if (m instanceof Uint8Array) {
        if (!this.receive(m)) return;
      } else if (m.type === 'go') {
        this.go = true;
      } else if (m.type === 'final-pull') {
        this.released = true;
      }
      this.poke();
    });
  }

  send(m: StressControl): void {
    this.port.postMessage(m);
  }

  /** Pushes the edits made so far, unless a push is in flight or a resync is pending. */
  push(): void {
    if (this.resyncing) return;
    const d = this.replica.takeDelta(); // null while a push is in flight: at most one at a time
    if (!d) return;
    if (d.tables.length) this.pushes++;
    else this.pulls++;
    this.port.postMessage(this.codec.encode(d));
  }

  /** 'ready', then waits for every other branch to be ready too ('go'). */
  async start(): Promise<void> {
    this.send({ type: 'ready' });
    while (!this.go) await this.nextEvent();
  }

  /** Lets head deltas and rejections in between edits; throws what a rejection recorded. */
  async letMessagesIn(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.throwFailure();
  }

  /** Pushes everything that is left, then waits for every other branch to do the same. */
  async drain(): Promise<void> {
    await this.pushUntil(() => !(this.replica.pending > 0 || this.replica.busy || this.resyncing));
    this.throwFailure();
    this.send({ type: 'drained' });
    while (!this.released) await this.nextEvent();
  }

  /** The final pull: an empty delta, answered with everything the primary changed since our base. */
  async finalPull(): Promise<void> {
    this.lastHead = null;
    // Pushed again after a resync: a lagging branch may have lost its base meanwhile.
    await this.pushUntil(() => this.lastHead !== null);
  }

  close(): void {
    this.port.close();
  }

  private async pushUntil(done: () => boolean): Promise<void> {
    while (!done()) {
      this.throwFailure();
      if (!this.replica.busy) this.push();
      await this.nextEvent();
    }
  }

  /** Applies a replica message; false for the answer to a push already settled (nothing to wake for). */
  private receive(bytes: Uint8Array): boolean {
    const msg = this.codec.decode(bytes);
    if (msg.type === 'head') {
      if (this.replica.applyHead(msg)) this.lastHead = msg;
    } else if (msg.type === 'rejected') {
      if (!this.replica.applyRejected(msg.push)) return false;
      if (msg.code === 'base-released') {
        this.resyncing = true;
        this.send({ type: 'resync' });
      } else {
        this.failure = new Error(`${this.name}: delta push ${msg.push} rejected (${msg.code}): ${msg.message}`);
      }
    } else if (msg.type === 'snapshot') {
      this.replica.resync(msg);
      this.resyncing = false;
    }
    return true;
  }

  private throwFailure(): void {
    if (this.failure) throw this.failure;
  }

  private nextEvent(): Promise<void> {
    return new Promise<void>((resolve) => { this.wake = resolve; });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
