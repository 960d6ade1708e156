// A reusable window on a byte buffer: every *Packet view extends it, so re-pointing a view at the next frame allocates nothing.
import { WireError, type WireProtocol } from './error.js';
import { WireStatus } from './status.js';

/** What `newChecked` needs of a view class: its constructor, and the protocol its errors name. */
export interface WireViewClass<T extends WireView> {
  new (buf: Uint8Array, offset?: number, length?: number): T;
  readonly wireProtocol: WireProtocol;
}

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

  /** A view of buf[offset, offset + length) with nothing checked: for writing, or for bytes checked elsewhere. */
  static newUnchecked<T extends WireView>(
    this: new (buf: Uint8Array, offset?: number, length?: number) => T, buf: Uint8Array, offset = 0, length = buf.length - offset,
  ): T {
    return new this(buf, offset, length);
  }

  /** A view of buf[offset, offset + length) that `check()` passed: a WireError unless every getter reads inside it. */
  static newChecked<T extends WireView>(this: WireViewClass<T>, buf: Uint8Array, offset = 0, length = buf.length - offset): T {
    checkWindow(this.wireProtocol, buf, offset, length);
    return new this(buf, offset, length).check();
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

  /**
   * Points the view at `length` bytes from `from` inside `outer`'s view (the next header in). Goes through `outer.bytes`,
   * the same Uint8Array frame after frame, so `reset`'s fast path holds even when every frame is a new Uint8Array.
   */
  resetIn(outer: WireView, from: number, length: number): this {
    return this.reset(outer.bytes, outer.offset + from, length);
  }

  /** WireStatus.Ok when every getter of this view reads inside `length`; otherwise the rule that failed. Never throws. */
  abstract checkLen(): WireStatus;

  /** The WireError for a failed `checkLen` status other than OutsideBuffer, naming the field and the numbers. */
  protected abstract lenError(status: WireStatus): WireError;

  /** Throws the WireError for `checkLen()`'s answer unless it is Ok; returns the view. */
  check(): this {
    return this.orThrow(this.checkLen());
  }

  /** Returns the view when `status` is Ok, else throws its WireError. */
  protected orThrow(status: WireStatus): this {
    if (status !== WireStatus.Ok) throw this.statusError(status);
    return this;
  }

  /**
   * The first rule of every `checkLen`: the window lies inside the buffer (a negative or overlong window is a short
   * input, not a RangeError), and holds `min` bytes, the fixed header.
   */
  protected checkFixedLen(min: number): WireStatus {
    if (!(this.offset >= 0 && this.length >= 0 && this.offset + this.length <= this.bytes.length)) return WireStatus.OutsideBuffer;
    return this.length < min ? WireStatus.Truncated : WireStatus.Ok;
  }

  /** The WireError for a view shorter than the `min` bytes `field` needs. */
  protected truncatedError(field: string, min: number): WireError {
    return new WireError(this.errorProtocol, field, 'truncated', `needs ${min} bytes, has ${this.length}`);
  }

  /** A copy-free Uint8Array of bytes[from, to) relative to the view's start. */
  slice(from = 0, to = this.length): Uint8Array {
    return this.bytes.subarray(this.offset + from, this.offset + to);
  }

  /** The view's bytes as one Uint8Array (no copy). */
  asBytes(): Uint8Array {
    return this.slice(0, this.length);
  }

  /** The protocol this view's errors name: its class's. */
  protected get errorProtocol(): WireProtocol {
    return (this.constructor as WireViewClass<this>).wireProtocol;
  }

  private statusError(status: WireStatus): WireError {
    if (status !== WireStatus.OutsideBuffer) return this.lenError(status);
    return new WireError(this.errorProtocol, 'buffer', 'truncated', `window ${this.offset}+${this.length} outside ${this.bytes.length} bytes`);
  }
}

/** Throws unless buf[offset, offset + length) lies inside `buf`: a caller's window mistake reads like a short input. */
function checkWindow(protocol: WireProtocol, buf: Uint8Array, offset: number, length: number): void {
  if (!(Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= buf.length)) {
    throw new WireError(protocol, 'buffer', 'truncated', `window ${offset}+${length} outside ${buf.length} bytes`);
  }
}
