// A Link wrapper that loses, duplicates and reorders frames on a seeded PRNG, in either direction: netem's
// impairments for kernels built without sch_netem, and for the direction a qdisc on one device cannot shape.
import type { FrameBatchHandler, Link, LinkCounters } from '../../wire/link/link.js';
import { prng } from '../../actors/sim/prng.js';

/** Probabilities per frame, 0..1; a reordered frame is held back and sent after the next one (or at the next poll). */
export interface Impairment {
  loss: number;
  duplicate: number;
  reorder: number;
}

export const NO_IMPAIRMENT: Impairment = { loss: 0, duplicate: 0, reorder: 0 };

export interface FaultCounters {
  lost: number;
  duplicated: number;
  reordered: number;
}

/** One direction's impairment: decides each frame's fate and holds at most one frame back. */
class ImpairedPath {
  readonly counters: FaultCounters = { lost: 0, duplicated: 0, reordered: 0 };
  private held: Uint8Array | null = null;

  constructor(private readonly impairment: Impairment, private readonly random: () => number) {}

  /** Hands `frame` (and any frame it lets overtake) to `deliver`. */
  pass(frame: Uint8Array, deliver: (f: Uint8Array) => void): void {
    const { loss, duplicate, reorder } = this.impairment;
    if (loss > 0 && this.random() < loss) {
      this.counters.lost++;
      return;
    }
    if (this.held === null && reorder > 0 && this.random() < reorder) {
      this.counters.reordered++;
      this.held = frame.slice(); // lent by the link: copy what outlives the call
      return;
    }
    deliver(frame);
    if (duplicate > 0 && this.random() < duplicate) {
      this.counters.duplicated++;
      deliver(frame);
    }
    this.release(deliver);
  }

  /** Sends the held frame, if any: after the frame that overtook it, or when the line goes quiet. */
  release(deliver: (f: Uint8Array) => void): void {
    const h = this.held;
    if (h === null) return;
    this.held = null;
    deliver(h);
  }
}

export class FaultInjector implements Link {
  private readonly rx: ImpairedPath;
  private readonly tx: ImpairedPath;
  private handler: FrameBatchHandler | null = null;
  private readonly out: Uint8Array[] = [];

  constructor(private readonly inner: Link, rx: Impairment, tx: Impairment, seed: number) {
    const random = prng(seed);
    this.rx = new ImpairedPath(rx, random);
    this.tx = new ImpairedPath(tx, random);
  }

  get name(): string { return this.inner.name; }
  get counters(): LinkCounters { return this.inner.counters; }
  get faults(): { rx: FaultCounters; tx: FaultCounters } { return { rx: this.rx.counters, tx: this.tx.counters }; }

  send(frame: Uint8Array): boolean {
    this.tx.pass(frame, this.sendInner);
    return true; // a lost frame looks sent, as on a real wire
  }

  onFrames(handler: FrameBatchHandler | null): void {
    this.handler = handler;
    this.inner.onFrames(handler === null ? null : (frames) => this.receive(frames));
  }

  /** Lets held frames go when no later frame came to overtake them; call it from the poll loop. */
  poll(): void {
    this.tx.release(this.sendInner);
    this.rx.release(this.collect);
    this.deliver();
  }

  close(): void {
    this.inner.close();
  }

  private receive(frames: readonly Uint8Array[]): void {
    for (const f of frames) this.rx.pass(f, this.collect);
    this.deliver();
  }

  private deliver(): void {
    if (this.out.length === 0) return;
    this.handler?.(this.out);
    this.out.length = 0;
  }

  private readonly sendInner = (f: Uint8Array): void => void this.inner.send(f);
  private readonly collect = (f: Uint8Array): void => void this.out.push(f);
}
