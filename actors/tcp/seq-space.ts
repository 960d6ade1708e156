// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): every comparison follows from the one `seqAfter` rule.

/** `a` is later than `b` in sequence space (compared modulo 2^32 within half the space). */
export const seqAfter = (a: number, b: number): boolean => ((a - b) | 0) > 0;
export const seqBefore = (a: number, b: number): boolean => seqAfter(b, a);
export const seqAtOrAfter = (a: number, b: number): boolean => !seqAfter(b, a);
export const seqAtOrBefore = (a: number, b: number): boolean => !seqAfter(a, b);
/** Distance from `b` forward to `a` (a − b mod 2^32, as a signed 32-bit number). */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
/** `lo <= x < hi` in sequence space. */
export const seqInRange = (x: number, lo: number, hi: number): boolean => seqAtOrAfter(x, lo) && seqBefore(x, hi);
