// Length-prefixed msgpack frames: a 4-byte big-endian length, then that many bytes of msgpack.
// Plain msgpack maps (no msgpackr records or shared structures), so any language's msgpack reads them.
import { Packr } from 'msgpackr';
import { DEFAULT_MAX_FRAME } from './protocol.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export class FrameTooLargeError extends Error {
  constructor(readonly length: number, readonly max: number) {
    super(`frame of ${length} bytes is over the limit of ${max}`);
    this.name = 'FrameTooLargeError';
  }
}

export function encodeFrame(msg: unknown): Buffer {
  const body = packr.pack(msg);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Decodes one frame's body; throws on bytes that are not msgpack. */
export function decodeBody(body: Uint8Array): unknown {
  return packr.unpack(body);
}

/** Collects stream chunks into frame bodies; refuses a length over `max` before buffering it. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(readonly max: number = DEFAULT_MAX_FRAME) {}

  /** Bytes of a frame started but not finished. */
  get pending(): number {
    return this.buffered;
  }

  /** Adds a chunk and returns the complete frame bodies in it; throws FrameTooLargeError. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    while (this.buffered >= 4) {
      const head = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [head];
      const len = head.readUInt32BE(0);
      if (len > this.max) throw new FrameTooLargeError(len, this.max);
      if (head.length < 4 + len) break;
      out.push(head.subarray(4, 4 + len));
      const rest = head.subarray(4 + len);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
    return out;
  }
}
