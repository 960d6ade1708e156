// Length-prefixed msgpack frames: a 4-byte big-endian length, then that many bytes of msgpack.
// Plain msgpack maps (no msgpackr records or shared structures), so any language's msgpack reads them.
// Integers are msgpack integers whatever their size (see wholeNumbersAsInts), and 64-bit integers
// decode to JS numbers (exact up to 2^53, which covers every time and counter; a Python client
// sends its times as uint64).
import { Packr } from 'msgpackr';
import { DEFAULT_MAX_FRAME } from './protocol.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, int64AsType: 'number' });

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
  if (out.indexOf(FLOAT64, 4) >= 0) wholeNumbersAsInts(out, 4);
  return out;
}

const FLOAT64 = 0xcb;
const TWO_32 = 2 ** 32;

/**
 * msgpackr writes a JS number that is a whole number beyond 32 bits (a time in ms since 1970, a byte
 * count past 4 GiB) as a float64: JS has one number type. The protocol promises integers, so each
 * float64 holding a safe integer is rewritten in place as the uint64/int64 of the same value (both are
 * 9 bytes). The walk reads each item's type byte and skips its payload; a container's items follow
 * its header, so no stack is needed. Anything it cannot read (0xc1) ends it, leaving the rest as is.
 */
function wholeNumbersAsInts(b: Buffer, start: number): void {
  let i = start;
  while (i < b.length) {
    const t = b[i];
    if (t === FLOAT64) {
      const v = b.readDoubleBE(i + 1);
      if (Number.isSafeInteger(v)) {
        const hi = Math.floor(v / TWO_32);
        b[i] = v < 0 ? 0xd3 : 0xcf;
        b.writeInt32BE(hi, i + 1); // two's complement: the high word carries the sign
        b.writeUInt32BE(v - hi * TWO_32, i + 5);
      }
      i += 9;
      continue;
    }
    const skip = itemBytes(b, i, t);
    if (skip === 0) return;
    i += skip;
  }
}

/** Bytes of the item at `i` with type byte `t`, up to its next item (a container: its header only); 0 if unknown. */
function itemBytes(b: Buffer, i: number, t: number): number {
  if (t <= 0x7f || t >= 0xe0) return 1; // fixint
  if (t <= 0x9f) return 1; // fixmap, fixarray header
  if (t <= 0xbf) return 1 + (t & 0x1f); // fixstr
  switch (t) {
    case 0xc0: case 0xc2: case 0xc3: return 1; // nil, false, true
    case 0xc4: case 0xd9: return 2 + b[i + 1]; // bin8, str8
    case 0xc5: case 0xda: return 3 + b.readUInt16BE(i + 1); // bin16, str16
    case 0xc6: case 0xdb: return 5 + b.readUInt32BE(i + 1); // bin32, str32
    case 0xc7: return 3 + b[i + 1]; // ext8
    case 0xc8: return 4 + b.readUInt16BE(i + 1); // ext16
    case 0xc9: return 6 + b.readUInt32BE(i + 1); // ext32
    case 0xca: case 0xce: case 0xd2: return 5; // float32, uint32, int32
    case 0xcc: case 0xd0: return 2;
    case 0xcd: case 0xd1: return 3;
    case 0xcf: case 0xd3: return 9;
    case 0xd4: return 3; // fixext 1..16
    case 0xd5: return 4;
    case 0xd6: return 6;
    case 0xd7: return 10;
    case 0xd8: return 18;
    case 0xdc: case 0xde: return 3; // array16, map16 header
    case 0xdd: case 0xdf: return 5; // array32, map32 header
    default: return 0; // 0xc1: never used
  }
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
