// An open-addressing hash index from a flow's integer key (four 32-bit words: a 5-tuple packed as
// integers) to a small integer (a flow's slot in FlowColumns), as struct-of-arrays in one
// ArrayBuffer: no string and no object per key, nothing allocated by find, set of a present key, or
// delete. Linear probing; a delete shifts the run after it back (no tombstones, so churn never
// degrades probes). It doubles (rehash) past half full, up to `limit` keys; past the limit set fails.

const EMPTY = 0;
/** Grow when more than this share of the buckets is used: linear probing stays short below it. */
const MAX_LOAD = 0.5;

/** A 32-bit hash of the four words (murmur3's mixing steps). */
export function flowHash(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0xcc9e2d51);
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ c;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ d;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return h ^ (h >>> 13);
}

export class FlowSlots {
  private mask = 0;
  private used = 0;
  /** Four key words per bucket, side by side (one cache line holds a probe's few buckets). */
  private keys!: Int32Array;
  private hashes!: Int32Array;
  /** The value + 1 per bucket: 0 marks an empty bucket (a fresh buffer is all zeros, never filled). */
  private values!: Int32Array;

  /** `capacity`: keys held before the first rehash; `limit`: most keys ever held (set fails past it). */
  constructor(capacity: number, readonly limit = Infinity) {
    this.place(bucketsFor(Math.min(capacity, limit)));
  }

  get size(): number {
    return this.used;
  }

  /** Keys it holds before it must rehash. */
  get capacity(): number {
    return Math.floor((this.mask + 1) * MAX_LOAD);
  }

  /** The value under the key, or -1. */
  find(a: number, b: number, c: number, d: number): number {
    const i = this.probe(a | 0, b | 0, c | 0, d | 0, flowHash(a | 0, b | 0, c | 0, d | 0));
    return this.values[i] - 1; // an empty bucket holds 0: -1
  }

  /** Puts `value` (≥ 0) under the key; false when the key is new and `limit` keys are held already. */
  set(a: number, b: number, c: number, d: number, value: number): boolean {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const h = flowHash(a, b, c, d);
    let i = this.probe(a, b, c, d, h);
    if (this.values[i] === EMPTY) {
      if (this.used >= this.limit) return false;
      if (this.used + 1 > this.capacity) {
        this.place(2 * (this.mask + 1));
        i = this.probe(a, b, c, d, h);
      }
      this.fill(i, a, b, c, d, h);
      this.used++;
    }
    this.values[i] = value + 1;
    return true;
  }

  /** Removes the key; false when it was not there. */
  delete(a: number, b: number, c: number, d: number): boolean {
    const i = this.probe(a | 0, b | 0, c | 0, d | 0, flowHash(a | 0, b | 0, c | 0, d | 0));
    if (this.values[i] === EMPTY) return false;
    this.shiftBack(i);
    this.used--;
    return true;
  }

  /** Removes every key (the buckets stay allocated). */
  clear(): void {
    this.values.fill(EMPTY);
    this.used = 0;
  }

  /** The key's bucket, or the empty bucket where it would go. */
  private probe(a: number, b: number, c: number, d: number, h: number): number {
    const { keys, hashes, values, mask } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      if (values[i] === EMPTY) return i;
      const k = i << 2;
      if (hashes[i] === h && keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d) return i;
    }
  }

  private fill(i: number, a: number, b: number, c: number, d: number, h: number): void {
    const k = i << 2;
    this.keys[k] = a; this.keys[k + 1] = b; this.keys[k + 2] = c; this.keys[k + 3] = d;
    this.hashes[i] = h;
  }

  /** Empties bucket `hole`, moving back each later key of its run whose home bucket is not after the hole. */
  private shiftBack(hole: number): void {
    const { keys, hashes, values, mask } = this;
    for (let j = (hole + 1) & mask; values[j] !== EMPTY; j = (j + 1) & mask) {
      // The key at j may fill the hole if its home is cyclically at or before the hole (seen from j).
      if (((j - (hashes[j] & mask)) & mask) < ((j - hole) & mask)) continue;
      keys.copyWithin(hole << 2, j << 2, (j << 2) + 4);
      hashes[hole] = hashes[j];
      values[hole] = values[j];
      hole = j;
    }
    values[hole] = EMPTY;
  }

  /** New buckets in one ArrayBuffer, the keys held so far rehashed into them. */
  private place(buckets: number): void {
    const old = this.values === undefined ? undefined : { keys: this.keys, hashes: this.hashes, values: this.values };
    const buf = new ArrayBuffer(buckets * 24);
    this.keys = new Int32Array(buf, 0, buckets * 4);
    this.hashes = new Int32Array(buf, buckets * 16, buckets);
    this.values = new Int32Array(buf, buckets * 20, buckets);
    this.mask = buckets - 1;
    if (old === undefined) return;
    for (let i = 0; i < old.values.length; i++) {
      if (old.values[i] === EMPTY) continue;
      const k = i << 2;
      const j = this.probe(old.keys[k], old.keys[k + 1], old.keys[k + 2], old.keys[k + 3], old.hashes[i]);
      this.fill(j, old.keys[k], old.keys[k + 1], old.keys[k + 2], old.keys[k + 3], old.hashes[i]);
      this.values[j] = old.values[i];
    }
  }
}

/** The power of two of buckets that holds `n` keys under MAX_LOAD (at least 16). */
function bucketsFor(n: number): number {
  let b = 16;
  while (b * MAX_LOAD < n) b *= 2;
  return b;
}
