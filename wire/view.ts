// A reusable window on a byte buffer: every *Packet view extends it, so re-pointing a view at the next frame allocates nothing.
import { WireError, type WireProtocol } from './error.js';

/**
 * The bytes a view reads: `bytes` and `data` span the whole underlying ArrayBuffer and every getter adds `offset`,
 * so `reset` onto another frame in the same buffer (a ring, a pool) makes no new DataView.
 */
export abstract class WireView {
  /** The whole underlying buffer as bytes; the view's bytes are bytes[offset, offset + length). */
  bytes: Uint8Array;
  /** A DataView over the same whole buffer, for multi-byte fields. */
  data: DataView;
  /** Where the view starts in `bytes`. */
  offset = 0;
  /** How many bytes the view covers. */
  length = 0;

  /** The Uint8Array last passed in, and its byteOffset, for `reset`'s fast path. */
  private source: Uint8Array;
  private sourceOffset: number;

  constructor(buf: Uint8Array, offset = 0, length = buf.length - offset) {
    this.bytes = new Uint8Array(buf.buffer);
    this.data = new DataView(buf.buffer);
    this.source = buf;
    this.sourceOffset = buf.byteOffset;
    this.offset = buf.byteOffset + offset;
    this.length = length;
  }

  /**
   * Points the view at buf[offset, offset + length) without checking its contents; call `check()` before reading
   * untrusted bytes. Allocates only when `buf` lives in a different ArrayBuffer than the last one.
   */
  reset(buf: Uint8Array, offset = 0, length = buf.length - offset): this {
    // Reading `buf.buffer` is slow in V8, so the common case (the same Uint8Array as last time) skips it.
    if (buf !== this.source) {
      if (buf.buffer !== this.bytes.buffer) {
        this.bytes = new Uint8Array(buf.buffer);
        this.data = new DataView(buf.buffer);
      }
      this.source = buf;
      this.sourceOffset = buf.byteOffset;
    }
    this.offset = this.sourceOffset + offset;
    this.length = length;
    return this;
  }

  /** Throws a WireError unless every getter of this view can read inside `length`; returns the view. */
  abstract check(): this;

  /** The window itself lies inside the buffer (a negative or overlong window is a short input, not a RangeError). */
  protected checkWindow(protocol: WireProtocol): void {
    if (!(this.offset >= 0 && this.length >= 0 && this.offset + this.length <= this.bytes.length)) {
      throw new WireError(protocol, 'buffer', 'truncated', `window ${this.offset}+${this.length} outside ${this.bytes.length} bytes`);
    }
  }

  /** A copy-free Uint8Array of bytes[from, to) relative to the view's start. */
  slice(from = 0, to = this.length): Uint8Array {
    return this.bytes.subarray(this.offset + from, this.offset + to);
  }

  /** The view's bytes as one Uint8Array (no copy). */
  asBytes(): Uint8Array {
    return this.slice(0, this.length);
  }
}

/** Throws unless buf[offset, offset + length) lies inside `buf`: a caller's window mistake reads like a short input. */
export function checkWindow(protocol: WireProtocol, buf: Uint8Array, offset: number, length: number): void {
  if (!(Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= buf.length)) {
    throw new WireError(protocol, 'buffer', 'truncated', `window ${offset}+${length} outside ${buf.length} bytes`);
  }
}
