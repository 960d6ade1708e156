// Length-prefixed messages over a TCP byte stream (a 2-byte big-endian length, then the message), as DNS over
// TCP frames them (RFC 1035 §4.2.2) and the sim's messages do: a message survives being split over segments.
export const MAX_MESSAGE_LEN = 0xffff;
const PREFIX_LEN = 2;

/** The message as it goes on the stream: its length, then its bytes. */
export function frameMessage(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_MESSAGE_LEN) throw new RangeError(`a message is at most ${MAX_MESSAGE_LEN} bytes, got ${payload.length}`);
  const out = new Uint8Array(PREFIX_LEN + payload.length);
  new DataView(out.buffer).setUint16(0, payload.length);
  out.set(payload, PREFIX_LEN);
  return out;
}

/** Collects stream bytes and hands out whole messages in order. */
export class MessageReader {
  private buf = new Uint8Array(256);
  private start = 0;
  private end = 0;

  /** Bytes read from the stream (copied: the caller may reuse its buffer). */
  push(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) this.makeRoom(chunk.length);
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The next whole message (a view, valid until the next push), or null while it is incomplete. */
  next(): Uint8Array | null {
    const have = this.end - this.start;
    if (have < PREFIX_LEN) return null;
    const len = (this.buf[this.start] << 8) | this.buf[this.start + 1];
    if (have < PREFIX_LEN + len) return null;
    const msg = this.buf.subarray(this.start + PREFIX_LEN, this.start + PREFIX_LEN + len);
    this.start += PREFIX_LEN + len;
    return msg;
  }

  /** Bytes held that do not yet make a whole message. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Moves what is held to the front, growing the buffer when that is not enough. */
  private makeRoom(extra: number): void {
    const held = this.end - this.start;
    if (held + extra <= this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      const next = new Uint8Array((held + extra) * 2);
      next.set(this.buf.subarray(this.start, this.end));
      this.buf = next;
    }
    this.start = 0;
    this.end = held;
  }
}
