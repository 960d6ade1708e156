// The RFC 815 hole descriptor list of one datagram being reassembled: the byte ranges still missing, in order.
// It starts as one hole [0, infinity); the last fragment (MF clear) bounds it; the datagram is whole when none is left.

/** Where a fragment's byte range falls against the holes. */
export const Coverage = {
  /** Entirely inside one hole: new data. */
  InHole: 0,
  /** Entirely inside bytes already received: a duplicate, or a rewrite of them (the caller checks the end first). */
  Received: 1,
  /** Part hole, part received (or across two holes): an overlap. */
  Partial: 2,
} as const;
export type Coverage = (typeof Coverage)[keyof typeof Coverage];

export class HoleList {
  /** Flat [first, last] pairs, inclusive as RFC 815 writes them; the last pair ends at Infinity until the end is known. */
  private holes: number[] = [0, Infinity];

  /** No byte missing, and the end known. */
  get complete(): boolean { return this.holes.length === 0; }

  /** The end of the data, once the last fragment set it; else -1. */
  get end(): number { return this.endKnown ? this.knownEnd : -1; }

  /** One past the highest byte received so far (where the open-ended hole starts, while the end is unknown). */
  get receivedEnd(): number {
    if (this.endKnown) return this.knownEnd;
    return this.holes[this.holes.length - 2];
  }

  private endKnown = false;
  private knownEnd = 0;

  /** How [first, last] relates to the holes. */
  coverage(first: number, last: number): Coverage {
    const h = this.holes;
    for (let i = 0; i < h.length; i += 2) {
      if (last < h[i]) return Coverage.Received; // holes are ordered: none further can meet the range
      if (first > h[i + 1]) continue;
      return first >= h[i] && last <= h[i + 1] ? Coverage.InHole : Coverage.Partial;
    }
    return Coverage.Received;
  }

  /** Fills [first, last], which `coverage` found InHole: RFC 815 steps 4-6, the hole split in at most two. */
  fill(first: number, last: number): void {
    const h = this.holes;
    for (let i = 0; i < h.length; i += 2) {
      if (first < h[i] || last > h[i + 1]) continue;
      const parts: number[] = [];
      if (first > h[i]) parts.push(h[i], first - 1);
      if (last < h[i + 1]) parts.push(last + 1, h[i + 1]);
      h.splice(i, 2, ...parts);
      return;
    }
  }

  /** The last fragment arrived: the datagram has `end` bytes, so no hole reaches past it. */
  setEnd(end: number): void {
    this.endKnown = true;
    this.knownEnd = end;
    const h = this.holes;
    while (h.length > 0 && h[h.length - 2] >= end) h.length -= 2;
    if (h.length > 0 && h[h.length - 1] >= end) h[h.length - 1] = end - 1;
  }

  /** `1480-2959,4440-*` (inclusive byte ranges; `*` is the unknown end); empty when complete. */
  toString(): string {
    let out = '';
    for (let i = 0; i < this.holes.length; i += 2) {
      const last = this.holes[i + 1];
      out += `${i ? ',' : ''}${this.holes[i]}-${last === Infinity ? '*' : last}`;
    }
    return out;
  }
}
