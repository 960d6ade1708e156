// A connection's receive side: a ring holding in-order bytes for the application and, past them, bytes that
// arrived out of order, written in place; the received ranges past RCV.NXT are tracked until the hole fills.
// The window is the ring's free space, so out-of-order data is bounded by the window by construction.
import { seqAdd, seqAfter, seqAtOrBefore, seqDiff } from './seq-space.js';

/** Out-of-order ranges kept at most: a peer sending many tiny gapped segments costs bounded work per segment. */
const MAX_RANGES = 64;

export class ReceiveBuffer {
  private readonly ring: Uint8Array;
  private start = 0;
  /** In-order bytes not yet read. */
  private used = 0;
  /** Received ranges past the in-order end, [from, to) in sequence numbers, sorted and disjoint. */
  private readonly ranges: Array<[number, number]> = [];

  constructor(readonly capacity: number) {
    this.ring = new Uint8Array(capacity);
  }

  get readable(): number { return this.used; }
  /** Free bytes after the in-order data: the receive window. */
  get window(): number { return this.capacity - this.used; }
  get outOfOrderRanges(): number { return this.ranges.length; }
  /** Whether another out-of-order range may be kept. */
  get acceptsOutOfOrder(): boolean { return this.ranges.length < MAX_RANGES; }

  /**
   * Writes `data`, starting at `seq`, given RCV.NXT; the caller trimmed it to [rcvNxt, rcvNxt + window).
   * Returns the new RCV.NXT (unchanged when the data landed past a hole).
   */
  write(rcvNxt: number, seq: number, data: Uint8Array): number {
    const at = seqDiff(seq, rcvNxt);
    this.copyIn(this.used + at, data);
    if (at > 0) {
      this.addRange(seq, seqAdd(seq, data.length));
      return rcvNxt;
    }
    let next = seqAdd(rcvNxt, data.length);
    while (this.ranges.length > 0 && seqAtOrBefore(this.ranges[0][0], next)) {
      const [, to] = this.ranges.shift()!;
      if (seqAfter(to, next)) next = to;
    }
    this.used += seqDiff(next, rcvNxt);
    return next;
  }

  /** Drains the in-order bytes (a copy); null when there are none. */
  read(): Uint8Array | null {
    if (this.used === 0) return null;
    const out = new Uint8Array(this.used);
    const first = Math.min(this.used, this.capacity - this.start);
    out.set(this.ring.subarray(this.start, this.start + first), 0);
    if (first < this.used) out.set(this.ring.subarray(0, this.used - first), first);
    this.start = (this.start + this.used) % this.capacity;
    this.used = 0;
    return out;
  }

  private copyIn(offset: number, data: Uint8Array): void {
    const at = (this.start + offset) % this.capacity;
    const first = Math.min(data.length, this.capacity - at);
    this.ring.set(first === data.length ? data : data.subarray(0, first), at);
    if (first < data.length) this.ring.set(data.subarray(first), 0);
  }

  /** Inserts [from, to), merging with the ranges it touches. */
  private addRange(from: number, to: number): void {
    const r = this.ranges;
    let i = 0;
    while (i < r.length && seqAfter(from, r[i][1])) i++;
    let lo = from, hi = to, j = i;
    while (j < r.length && seqAtOrBefore(r[j][0], hi)) {
      if (seqAfter(lo, r[j][0])) lo = r[j][0];
      if (seqAfter(r[j][1], hi)) hi = r[j][1];
      j++;
    }
    r.splice(i, j - i, [lo, hi]);
  }
}
