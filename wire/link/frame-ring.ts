// A single-producer, single-consumer ring of variable-length frames in a SharedArrayBuffer, drained in batches.
//
// Layout: a 256-byte header of Int32 cells, then `capacity` bytes of records. A record is a 4-byte length
// followed by the frame, padded to 4 bytes; a record never wraps: when it does not fit before the end,
// the producer writes a PAD marker there and starts again at offset 0. Cursors are free-running u32 byte counts
// (offset = cursor & (capacity - 1)), so full and empty are told apart without a spare slot. A record may start with
// a fixed prefix (a virtio-net header) that `drain` skips: the frame handed out has its prefix just before it.
import { MAX_FRAME } from './link.js';

const WRITE = 0; // producer's cursor; the consumer waits on this cell
const PUSHED = 1; // frames accepted, for the consumer's side to read
const DROPPED = 2; // frames refused because the ring was full
const READ = 16; // consumer's cursor, on its own cache line
const SLEEPING = 17; // 1 while the consumer waits: the producer notifies only then
const CAPACITY = 32;
const MAGIC_CELL = 33;
const CLOSED = 34; // set by either side; a closed ring accepts nothing
const MAX_FRAME_CELL = 35; // largest record payload (prefix + frame) this ring takes
const HEADER_BYTES = 256;
const MAGIC = 0x4e42_5247; // 'NBRG'
const PAD = -1;
const MIN_CAPACITY = 8192; // two largest default records, so any frame fits an empty ring

export type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
/** Atomics.waitAsync: in Node 20 (V8 11) but not in TypeScript's ES2023 lib. */
export const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, timeout?: number): WaitAsyncResult }).waitAsync;

export class FrameRing {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  /** Largest record payload (prefix + frame) `push` takes. */
  readonly maxFrame: number;
  private readonly ctl: Int32Array;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly mask: number;
  private writeCursor: number;
  private readCursor: number;
  private pushed: number;
  private dropped: number;
  private readonly batch: Uint8Array[] = [];

  /**
   * A new ring of `capacity` bytes of records (a power of two, at least 8 KiB and two of the largest records),
   * taking records of up to `maxFrame` bytes (default MAX_FRAME; a vnet ring needs VNET_MAX_FRAME).
   */
  static create(capacity = 1 << 20, maxFrame = MAX_FRAME): FrameRing {
    const min = Math.max(MIN_CAPACITY, 2 * (8 + maxFrame));
    if (!Number.isInteger(maxFrame) || maxFrame < 1) throw new RangeError(`ring maxFrame must be a positive integer, got ${maxFrame}`);
    if (!Number.isInteger(capacity) || capacity < min || capacity > 1 << 30 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two between ${min} and 2^30 for ${maxFrame}-byte frames, got ${capacity}`);
    }
    const sab = new SharedArrayBuffer(HEADER_BYTES + capacity);
    const ctl = new Int32Array(sab, 0, HEADER_BYTES / 4);
    ctl[CAPACITY] = capacity;
    ctl[MAX_FRAME_CELL] = maxFrame;
    ctl[MAGIC_CELL] = MAGIC;
    return new FrameRing(sab);
  }

  /** The same ring seen from another thread (or another end on this one); `buffer` is what to pass over. */
  static attach(buffer: SharedArrayBuffer): FrameRing {
    return new FrameRing(buffer);
  }

  private constructor(sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, HEADER_BYTES / 4);
    if (Atomics.load(this.ctl, MAGIC_CELL) !== MAGIC) throw new TypeError('not a FrameRing buffer');
    this.buffer = sab;
    this.capacity = Atomics.load(this.ctl, CAPACITY);
    this.maxFrame = Atomics.load(this.ctl, MAX_FRAME_CELL);
    if (sab.byteLength !== HEADER_BYTES + this.capacity) throw new TypeError('FrameRing buffer has the wrong size');
    this.mask = this.capacity - 1;
    this.words = new Int32Array(sab, HEADER_BYTES, this.capacity / 4);
    this.bytes = new Uint8Array(sab, HEADER_BYTES, this.capacity);
    this.writeCursor = Atomics.load(this.ctl, WRITE) >>> 0;
    this.readCursor = Atomics.load(this.ctl, READ) >>> 0;
    this.pushed = Atomics.load(this.ctl, PUSHED) >>> 0;
    this.dropped = Atomics.load(this.ctl, DROPPED) >>> 0;
  }

  // ---- producer side (one thread only) ----

  /** Copies one frame in. False when the ring is full or closed (counted in `droppedFrames`) or the frame is too long. */
  push(frame: Uint8Array): boolean {
    const at = this.reserve(frame.length);
    if (at < 0) return false;
    this.bytes.set(frame, at);
    this.publish();
    return true;
  }

  /**
   * As `push`, with a `prefixLen`-byte prefix first: the bytes just before the frame in `source` (the whole buffer the
   * frame views, so no subarray is made), or zeros when `source` is undefined.
   */
  pushPrefixed(frame: Uint8Array, prefixLen: number, source: Uint8Array | undefined): boolean {
    const at = this.reserve(prefixLen + frame.length);
    if (at < 0) return false;
    const bytes = this.bytes;
    const from = frame.byteOffset - prefixLen;
    for (let i = 0; i < prefixLen; i++) bytes[at + i] = source === undefined ? 0 : source[from + i];
    bytes.set(frame, at + prefixLen);
    this.publish();
    return true;
  }

  /** Claims a record of `len` bytes and writes its length: the offset in `bytes` to copy to, or -1 when it cannot. */
  private reserve(len: number): number {
    if (len > this.maxFrame) return -1;
    const need = 4 + ((len + 3) & ~3);
    let w = this.writeCursor;
    const free = this.capacity - ((w - (Atomics.load(this.ctl, READ) >>> 0)) >>> 0);
    let off = w & this.mask;
    const tail = this.capacity - off;
    if (Atomics.load(this.ctl, CLOSED) !== 0 || free < (tail < need ? tail + need : need)) {
      Atomics.store(this.ctl, DROPPED, ++this.dropped);
      return -1;
    }
    if (tail < need) {
      this.words[off >> 2] = PAD;
      w = (w + tail) >>> 0;
      off = 0;
    }
    this.words[off >> 2] = len;
    this.writeCursor = (w + need) >>> 0;
    return off + 4;
  }

  /** Publishes the reserved record (Atomics are sequentially consistent); notifies only a consumer that sleeps. */
  private publish(): void {
    Atomics.store(this.ctl, WRITE, this.writeCursor | 0);
    Atomics.store(this.ctl, PUSHED, ++this.pushed);
    if (Atomics.load(this.ctl, SLEEPING) !== 0 && Atomics.compareExchange(this.ctl, SLEEPING, 1, 0) === 1) {
      Atomics.notify(this.ctl, WRITE, 1);
    }
  }

  // ---- consumer side (one thread only) ----

  /**
   * Hands up to `maxFrames` waiting frames to `handler` in one call, as views into the shared buffer (no copy);
   * the space is given back to the producer when the handler returns. Returns how many frames were handed over.
   * Each view starts `prefixLen` bytes into its record (after the prefix `pushPrefixed` wrote).
   */
  drain(handler: (frames: readonly Uint8Array[]) => void, maxFrames = 256, prefixLen = 0): number {
    const end = Atomics.load(this.ctl, WRITE) >>> 0;
    let r = this.readCursor;
    const batch = this.batch;
    batch.length = 0;
    while (r !== end && batch.length < maxFrames) {
      const off = r & this.mask;
      const len = this.words[off >> 2];
      if (len === PAD) {
        r = (r + this.capacity - off) >>> 0;
        continue;
      }
      if (len >= prefixLen) batch.push(new Uint8Array(this.buffer, HEADER_BYTES + off + 4 + prefixLen, len - prefixLen));
      r = (r + 4 + ((len + 3) & ~3)) >>> 0;
    }
    if (r === this.readCursor) return 0;
    const count = batch.length;
    try {
      if (count > 0) handler(batch);
    } finally {
      batch.length = 0;
      this.readCursor = r;
      Atomics.store(this.ctl, READ, r | 0);
    }
    return count;
  }

  /**
   * Waits for the producer without blocking the thread (Atomics.waitAsync, so timers keep running).
   * Returns null when frames are already waiting, else a promise that settles when the producer pushes or `wake` is called.
   */
  waitForFrames(timeoutMs = 10): Promise<unknown> | null {
    Atomics.store(this.ctl, SLEEPING, 1);
    // The timeout is a safety net: under heavy cross-thread load on Node 20 a waitAsync wake-up has been
    // seen not to arrive (frames sat in the ring while the consumer's loop was idle); a bounded wait
    // turns such a loss into at most `timeoutMs` of delay instead of a stalled link.
    const res = waitAsync(this.ctl, WRITE, this.readCursor | 0, timeoutMs);
    if (!res.async) {
      Atomics.store(this.ctl, SLEEPING, 0);
      return null;
    }
    return res.value;
  }

  /** Settles a consumer's pending `waitForFrames` (used on close). */
  wake(): void {
    Atomics.notify(this.ctl, WRITE);
  }

  /** Marks the ring closed for both ends: pushes fail from then on, and a sleeping consumer is woken. */
  close(): void {
    Atomics.store(this.ctl, CLOSED, 1);
    this.wake();
  }

  get closed(): boolean {
    return Atomics.load(this.ctl, CLOSED) !== 0;
  }

  /** Bytes of records (with headers and padding) not yet drained. */
  get usedBytes(): number {
    return ((Atomics.load(this.ctl, WRITE) >>> 0) - (Atomics.load(this.ctl, READ) >>> 0)) >>> 0;
  }

  get pushedFrames(): number {
    return Atomics.load(this.ctl, PUSHED) >>> 0;
  }

  get droppedFrames(): number {
    return Atomics.load(this.ctl, DROPPED) >>> 0;
  }
}
