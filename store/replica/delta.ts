// The replica protocol's messages (a named interface per message, as piscina does) and their
// msgpackr encoding with structures shared by both threads, derived from the schema.
import { Packr } from 'msgpackr';
import type { Schema } from '../table.js';
import { BadDeltaError } from '../errors.js';

/** Entries of one table: values set and keys deleted. */
export interface TableChanges {
  table: string;
  set: [key: string | number, value: unknown][];
  del: (string | number)[];
}

/** Primary → replica: the primary's state at commit `base`, to start a replica from. */
export interface SnapshotMessage {
  type: 'snapshot';
  replica: string;
  base: number;
  tables: TableChanges[];
}

/** Replica → primary: edits made on top of commit `base`; `push` counts this replica's pushes. */
export interface DeltaMessage {
  type: 'delta';
  replica: string;
  base: number;
  push: number;
  tables: TableChanges[];
}

/** Primary → replica: what changed on the primary from `from` to `to`, after merging a delta. */
export interface HeadDeltaMessage {
  type: 'head';
  replica: string;
  from: number;
  to: number;
  /** The push this answers (0 for a pull without edits). */
  push: number;
  conflicts: number;
  tables: TableChanges[];
}

/** Primary → replica: the delta was refused; nothing of it was merged. */
export interface DeltaRejectedMessage {
  type: 'rejected';
  replica: string;
  push: number;
  code: string;
  message: string;
}

export type ReplicaMessage = SnapshotMessage | DeltaMessage | HeadDeltaMessage | DeltaRejectedMessage;

const MESSAGE_STRUCTURES: string[][] = [
  ['type', 'replica', 'base', 'tables'],
  ['type', 'replica', 'base', 'push', 'tables'],
  ['type', 'replica', 'from', 'to', 'push', 'conflicts', 'tables'],
  ['type', 'replica', 'push', 'code', 'message'],
  ['table', 'set', 'del'],
];

/** Encodes and decodes replica messages; both threads build it from the same schema. */
export class DeltaCodec {
  private readonly packr: Packr;

  constructor(schema: Schema) {
    const structures = [...MESSAGE_STRUCTURES];
    for (const t of schema.tables) if (t.value.fields && t.value.fields.length) structures.push([...t.value.fields]);
    // Shapes outside this fixed list are written in-band, so the two sides never drift apart.
    this.packr = new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false });
  }

  encode(msg: ReplicaMessage): Uint8Array {
    return this.packr.pack(msg);
  }

  /** Decodes and checks the envelope; entries are checked against the table codecs by the merger. */
  decode(bytes: Uint8Array): ReplicaMessage {
    let msg: unknown;
    try {
      msg = this.packr.unpack(bytes);
    } catch (err) {
      throw new BadDeltaError('message', `not msgpack: ${(err as Error).message}`);
    }
    return checkMessage(msg);
  }
}

function checkMessage(x: unknown): ReplicaMessage {
  if (typeof x !== 'object' || x === null) throw new BadDeltaError('message', 'not an object');
  const m = x as Record<string, unknown>;
  const str = (f: string) => { if (typeof m[f] !== 'string') throw new BadDeltaError(f, 'expected a string'); };
  const int = (f: string) => { if (!Number.isSafeInteger(m[f]) || (m[f] as number) < 0) throw new BadDeltaError(f, 'expected a non-negative integer'); };
  str('type');
  str('replica');
  switch (m.type) {
    case 'snapshot': int('base'); checkTables(m.tables); break;
    case 'delta': int('base'); int('push'); checkTables(m.tables); break;
    case 'head': int('from'); int('to'); int('push'); int('conflicts'); checkTables(m.tables); break;
    case 'rejected': int('push'); str('code'); str('message'); break;
    default: throw new BadDeltaError('type', `unknown message type ${JSON.stringify(m.type)}`);
  }
  return m as unknown as ReplicaMessage;
}

function checkTables(x: unknown): void {
  if (!Array.isArray(x)) throw new BadDeltaError('tables', 'expected an array');
  x.forEach((t, i) => {
    if (typeof t !== 'object' || t === null) throw new BadDeltaError(`tables[${i}]`, 'expected an object');
    const tc = t as Record<string, unknown>;
    if (typeof tc.table !== 'string') throw new BadDeltaError(`tables[${i}].table`, 'expected a table name');
    if (!Array.isArray(tc.set)) throw new BadDeltaError(`tables[${i}].set`, 'expected an array');
    if (!Array.isArray(tc.del)) throw new BadDeltaError(`tables[${i}].del`, 'expected an array');
    tc.set.forEach((e, j) => {
      if (!Array.isArray(e) || e.length !== 2) throw new BadDeltaError(`${tc.table}.set[${j}]`, 'expected a [key, value] pair');
    });
  });
}
