// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), shared by IPv4, ICMP, UDP and TCP.

/**
 * One's-complement partial sum of bytes[start, end) read as big-endian 16-bit words, added to `initial`.
 * The result is unfolded (it may exceed 16 bits); pass it to `finish` or on to another `sum`.
 * A range of odd length is padded with a zero byte, so only the last range of a sum may be odd.
 */
export function sum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let s = initial;
  let i = start;
  // Plain integer adds stay exact up to 2^53, so folding waits until the end.
  const even = end - ((end - start) & 1);
  for (; i + 8 <= even; i += 8) {
    s += ((bytes[i] << 8) | bytes[i + 1]) + ((bytes[i + 2] << 8) | bytes[i + 3])
      + ((bytes[i + 4] << 8) | bytes[i + 5]) + ((bytes[i + 6] << 8) | bytes[i + 7]);
  }
  for (; i < even; i += 2) s += (bytes[i] << 8) | bytes[i + 1];
  if (even < end) s += bytes[even] << 8;
  return s;
}

/**
 * As `sum`, over a DataView the caller already holds (every *Packet view has one). Reads 32 bits at a time and keeps
 * the high and low halves in separate small-integer sums (a 32-bit word folds to the same value as its halves), so
 * no double is ever boxed: the hot path allocates nothing. Exact for ranges up to 64 KiB.
 */
export function sumData(data: DataView, start: number, end: number, initial = 0): number {
  let hi = 0;
  let lo = 0;
  let i = start;
  const end4 = start + ((end - start) & ~3);
  for (; i < end4; i += 4) {
    const w = data.getInt32(i);
    hi += w >>> 16;
    lo += w & 0xffff;
  }
  if (i + 2 <= end) { lo += data.getUint16(i); i += 2; }
  if (i < end) lo += data.getUint8(i) << 8;
  return initial + hi + lo;
}

/** Folds a partial sum to 16 bits with end-around carry (the one's-complement sum). */
export function fold(partial: number): number {
  let s = partial;
  // Only sums of very large ranges leave the small-integer range; fold those down first.
  while (s > 0x7fffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Combines partial sums (e.g. a pseudo-header and a segment), as RFC 1071 allows in any order. */
export function combine(...partials: number[]): number {
  let s = 0;
  for (const p of partials) s += fold(p);
  return s;
}

/** The checksum field value for a partial sum: the one's complement of the folded sum. */
export function finish(partial: number): number {
  return ~fold(partial) & 0xffff;
}

/** The checksum of bytes[start, end) as it goes into a header whose checksum field is zero. */
export function checksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return finish(sum(bytes, start, end));
}

/** Partial sum of the IPv4 pseudo-header (RFC 793/768) for a transport segment of `length` bytes. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changes from `oldWord` to `newWord`.
 * Equals recomputing from scratch, except that covered data which becomes all zeros yields 0x0000 where a full
 * computation gives 0xffff (both are zero in one's complement; no IP header or pseudo-header is all zeros).
 */
export function updateChecksum16(csum: number, oldWord: number, newWord: number): number {
  const s = (~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(s) & 0xffff;
}

/** As `updateChecksum16` for a 32-bit field (an IPv4 address, a TCP sequence number) aligned on a 16-bit word. */
export function updateChecksum32(csum: number, oldValue: number, newValue: number): number {
  const s = (~csum & 0xffff)
    + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff)
    + ((newValue >>> 16) & 0xffff) + (newValue & 0xffff);
  return ~fold(s) & 0xffff;
}

/** As `updateChecksum16` for UDP, where 0 means "no checksum" and must stay 0, and a computed 0 is sent as 0xffff. */
export function updateUdpChecksum16(csum: number, oldWord: number, newWord: number): number {
  if (csum === 0) return 0;
  return updateChecksum16(csum, oldWord, newWord) || 0xffff;
}

/** As `updateChecksum32` for UDP (see `updateUdpChecksum16`). */
export function updateUdpChecksum32(csum: number, oldValue: number, newValue: number): number {
  if (csum === 0) return 0;
  return updateChecksum32(csum, oldValue, newValue) || 0xffff;
}
