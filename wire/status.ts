// What a view's length check found, as a number: the data path tests it with no try/catch and no allocation, and
// `check()` turns the same answer into a WireError, so each rule is written once (in the view's `checkLen`).

/** Outcomes of `checkLen()`; which field a failure is about is the view's own (its `check()` message names it). */
export const WireStatus = {
  Ok: 0,
  /** The view's window lies outside its buffer. */
  OutsideBuffer: 1,
  /** Shorter than the fixed header. */
  Truncated: 2,
  /** A header-length field (IPv4 IHL, TCP data offset) below the fixed header. */
  BadHeaderLength: 3,
  /** A header-length field beyond the bytes present. */
  HeaderTruncated: 4,
  /** A length field (IPv4 total length, UDP length) below the header. */
  BadLength: 5,
  /** A length field (or ARP's address sizes) beyond the bytes present. */
  LengthTruncated: 6,
} as const;

export type WireStatus = (typeof WireStatus)[keyof typeof WireStatus];
