// A cable for simulations on one thread: what one end sends is queued and handed to the other end
// when the simulation delivers, so a simulated clock decides when frames arrive and nothing re-enters.
import { newLinkCounters, type FrameBatchHandler, type Link, type LinkCounters } from '../../wire/link/link.js';

class SimEnd implements Link {
  readonly counters: LinkCounters = newLinkCounters();
  handler: FrameBatchHandler | null = null;
  queue: Uint8Array[] = [];
  peer!: SimEnd;
  closed = false;
  /** Sees every frame this end sends (a pcap tee). */
  tap: ((frame: Uint8Array) => void) | null = null;

  constructor(readonly name: string, private readonly maxQueue: number) {}

  send(frame: Uint8Array): boolean {
    if (this.closed || this.peer.queue.length >= this.maxQueue) {
      this.counters.txDropped++;
      return false;
    }
    this.counters.txFrames++;
    this.counters.txBytes += frame.length;
    this.tap?.(frame);
    this.peer.queue.push(frame.slice());
    return true;
  }

  onFrames(handler: FrameBatchHandler | null): void {
    this.handler = handler;
  }

  close(): void {
    this.closed = true;
    this.handler = null;
  }

  /** Hands the queued frames to the handler; returns how many. */
  deliver(): number {
    if (this.queue.length === 0) return 0;
    const batch = this.queue;
    this.queue = [];
    this.counters.rxFrames += batch.length;
    for (const f of batch) this.counters.rxBytes += f.length;
    if (this.handler) this.handler(batch);
    else this.counters.rxDropped += batch.length;
    return batch.length;
  }
}

/** Two ends of one cable. */
export class SimCable {
  readonly a: SimEnd;
  readonly b: SimEnd;

  constructor(name: string, maxQueue = 4096) {
    this.a = new SimEnd(`${name}/a`, maxQueue);
    this.b = new SimEnd(`${name}/b`, maxQueue);
    this.a.peer = this.b;
    this.b.peer = this.a;
  }

  /** Delivers what is queued both ways; returns how many frames moved. */
  deliver(): number {
    return this.a.deliver() + this.b.deliver();
  }
}

export type { SimEnd };
