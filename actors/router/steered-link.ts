// One packet actor's view of one network when it owns a TAP queue there: frames the kernel put on
// its queue that another actor owns are handed to that actor over an SPSC ring (one hop), frames
// handed over by the others come in from their rings, and everything it sends goes out of its own
// queue. With the kernel steering by port (TUNSETSTEERINGEBPF) the hand-off carries only what the
// kernel cannot place: ARP replies (every actor learns them), ICMP errors, port-forwarded flows,
// fragments (to their datagram's owner), and datagrams reassembled for the actor that owns their port.
import { type FrameBatchHandler, type Link, type LinkCounters } from '../../wire/link/link.js';
import { isArpReply } from '../runtime/dispatcher.js';

export interface HandoffCounters {
  /** Frames from this actor's queue that another actor owns, handed to it. */
  handedOut: number;
  /** Frames other actors handed to this one. */
  handedIn: number;
  /** ARP replies copied to every other actor. */
  arpCopies: number;
  /** Hand-offs refused: the owner's ring was full (its thread down or behind). */
  handoffDropped: number;
}

export class SteeredLink implements Link {
  readonly name: string;
  readonly handoff: HandoffCounters = { handedOut: 0, handedIn: 0, arpCopies: 0, handoffDropped: 0 };
  /** The frames of a queue batch this actor keeps: reused batch after batch. */
  private readonly local: Uint8Array[] = [];

  /**
   * `own`: this actor's queue of the TAP; `peers[j]`: the ring to and from actor j (null for `me`);
   * `owner(frame)`: the actor that owns a frame (steering.ts's rule, as this side sees it).
   */
  constructor(
    private readonly own: Link,
    private readonly peers: readonly (Link | null)[],
    private readonly me: number,
    private readonly owner: (frame: Uint8Array) => number,
  ) {
    this.name = own.name;
  }

  /** The queue's own counters (hand-offs are counted apart, in `handoff`). */
  get counters(): LinkCounters {
    return this.own.counters;
  }

  send(frame: Uint8Array): boolean {
    return this.own.send(frame);
  }

  onFrames(handler: FrameBatchHandler | null): void {
    this.own.onFrames(handler === null ? null : (frames) => this.fromQueue(frames, handler));
    for (const p of this.peers) {
      p?.onFrames(handler === null ? null : (frames) => {
        this.handoff.handedIn += frames.length;
        handler(frames);
      });
    }
  }

  close(): void {
    this.own.close();
    for (const p of this.peers) p?.close();
  }

  /** A batch from the queue: what this actor owns is handled here, the rest goes to its owner. */
  private fromQueue(frames: readonly Uint8Array[], handler: FrameBatchHandler): void {
    const local = this.local;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (isArpReply(f)) {
        this.copyToPeers(f);
        local.push(f);
        continue;
      }
      const o = this.owner(f);
      const peer = o === this.me ? null : this.peers[o];
      if (peer === null || peer === undefined) local.push(f);
      else if (peer.send(f)) this.handoff.handedOut++;
      else this.handoff.handoffDropped++;
    }
    try {
      if (local.length > 0) handler(local);
    } finally {
      local.length = 0;
    }
  }

  /** Sends a frame this actor made (a reassembled datagram cut again) to actor `owner`; false when its ring refused it. */
  handTo(owner: number, frame: Uint8Array): boolean {
    const peer = this.peers[owner];
    if (peer === null || peer === undefined) return false;
    if (peer.send(frame)) {
      this.handoff.handedOut++;
      return true;
    }
    this.handoff.handoffDropped++;
    return false;
  }

  /** Any actor may be waiting for this answer: every one learns it (ARP is rare). */
  private copyToPeers(f: Uint8Array): void {
    for (const p of this.peers) {
      if (p === null) continue;
      if (p.send(f)) this.handoff.arpCopies++;
      else this.handoff.handoffDropped++;
    }
  }
}

