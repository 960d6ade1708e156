// The replica protocol's byte layout: a msgpack header, then chunks of at most CHUNK entries, each
// `[table, key, value, key, value, …]` (value null = deleted), every frame prefixed by its u32 length.
// Both sides write and read it a chunk at a time: no object per entry, and bounded work per step.
import type { Packr } from 'msgpackr';
import { BadDeltaError } from '../errors.js';

/** Entries per chunk: the unit of incremental work when a delta is written or a head delta applied. */
export const CHUNK = 64;

/** One entry as read: value null is a deletion. */
export type EntryVisitor = (table: string, key: string | number, value: unknown) => void;

/** Writes a header and then entries, chunked; the buffer grows by doubling (one copy per doubling, none per entry). */
export class RecordWriter {
  private buf: Uint8Array;
  private len = 0;
  private readonly chunk: unknown[] = [];
  private table = '';

  constructor(private readonly packr: Packr, header: object, sizeHint = 4096) {
    this.buf = new Uint8Array(Math.max(64, sizeHint));
    this.frame(header);
  }

  /** One entry; `value` null (or undefined) deletes `key`. */
  add(table: string, key: string | number, value: unknown): void {
    if (table !== this.table || this.chunk.length > 2 * CHUNK) {
      this.close();
      this.chunk.push(table);
      this.table = table;
    }
    this.chunk.push(key, value === undefined ? null : value);
  }

  /** The message's bytes (a view of a buffer of its own: it may be transferred). */
  finish(): Uint8Array {
    this.close();
    return this.buf.subarray(0, this.len);
  }

  private close(): void {
    if (this.chunk.length > 1) this.frame(this.chunk);
    this.chunk.length = 0;
    this.table = '';
  }

  private frame(x: unknown): void {
    const b = this.packr.pack(x);
    const need = this.len + 4 + b.length;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    const n = b.length;
    const o = this.len;
    this.buf[o] = n & 0xff; this.buf[o + 1] = (n >>> 8) & 0xff; this.buf[o + 2] = (n >>> 16) & 0xff; this.buf[o + 3] = n >>> 24;
    this.buf.set(b, o + 4);
    this.len = need;
  }
}

/** Reads a message written by RecordWriter: the header at once, the entries a chunk at a time. */
export class RecordReader {
  readonly header: Record<string, unknown>;
  private pos = 0;
  /** Entries read so far. */
  entries = 0;

  constructor(private readonly packr: Packr, private readonly bytes: Uint8Array) {
    const h = this.frame('header');
    if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new BadDeltaError('message', 'not an object');
    this.header = h as Record<string, unknown>;
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** Reads up to `chunks` chunks, calling `visit` per entry; returns true while entries remain. */
  next(visit: EntryVisitor, chunks = 1): boolean {
    for (let c = 0; c < chunks && !this.done; c++) {
      const x = this.frame(`chunk at byte ${this.pos}`);
      if (!Array.isArray(x) || x.length % 2 !== 1 || typeof x[0] !== 'string') throw new BadDeltaError(`chunk at byte ${this.pos}`, 'expected [table, key, value, …]');
      const table = x[0];
      for (let i = 1; i < x.length; i += 2) {
        const k = x[i];
        if (typeof k !== 'string' && typeof k !== 'number') throw new BadDeltaError(`${table}[${this.entries}]`, 'expected a string or number key');
        this.entries++;
        visit(table, k, x[i + 1]);
      }
    }
    return !this.done;
  }

  /** Every remaining entry. */
  rest(visit: EntryVisitor): void {
    while (this.next(visit, 64));
  }

  private frame(where: string): unknown {
    const b = this.bytes;
    const o = this.pos;
    if (o + 4 > b.length) throw new BadDeltaError(where, 'truncated');
    const n = (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000;
    if (o + 4 + n > b.length) throw new BadDeltaError(where, 'truncated');
    this.pos = o + 4 + n;
    try {
      return this.packr.unpack(b.subarray(o + 4, o + 4 + n));
    } catch (err) {
      throw new BadDeltaError(where, `not msgpack: ${(err as Error).message}`);
    }
  }
}
