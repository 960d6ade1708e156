// The replica protocol's messages (a named interface per message, as piscina does) and their
// msgpackr encoding with structures shared by both threads, derived from the schema: a header, then
// the entries as compact chunked records (records.ts), which both sides may also read and write in steps.
import { Packr } from 'msgpackr';
import type { Schema } from '../table.js';
import { BadDeltaError } from '../errors.js';
import { RecordReader, RecordWriter } from './records.js';

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

/** A message without its entries: what goes in the header frame. */
export type MessageHeader = Omit<SnapshotMessage, 'tables'> | Omit<DeltaMessage, 'tables'> | Omit<HeadDeltaMessage, 'tables'> | DeltaRejectedMessage;

const HEADER_STRUCTURES: string[][] = [
  ['type', 'replica', 'base'],
  ['type', 'replica', 'base', 'push'],
  ['type', 'replica', 'from', 'to', 'push', 'conflicts'],
  ['type', 'replica', 'push', 'code', 'message'],
];

/** Encodes and decodes replica messages; both threads build it from the same schema. */
export class DeltaCodec {
  private readonly packr: Packr;

  constructor(schema: Schema) {
    const structures = [...HEADER_STRUCTURES];
    for (const t of schema.tables) if (t.value.fields && t.value.fields.length) structures.push([...t.value.fields]);
    // Shapes outside this fixed list are written in-band, so the two sides never drift apart.
    this.packr = new Packr({ structures, maxSharedStructures: structures.length, useRecords: true, moreTypes: false });
  }

  encode(msg: ReplicaMessage): Uint8Array {
    const { tables, ...header } = msg as ReplicaMessage & { tables?: TableChanges[] };
    const w = this.writer(header as MessageHeader);
    for (const tc of tables ?? []) {
      for (const [k, v] of tc.set) w.add(tc.table, k, v);
      for (const k of tc.del) w.add(tc.table, k, null);
    }
    return w.finish();
  }

  /** A message written entry by entry (a replica's push, a few entries per step). */
  writer(header: MessageHeader, sizeHint?: number): RecordWriter {
    return new RecordWriter(this.packr, header, sizeHint);
  }

  /** Decodes a whole message and checks the envelope; entries are checked against the table codecs by the merger. */
  decode(bytes: Uint8Array): ReplicaMessage {
    const r = this.reader(bytes);
    if (r.header.type === 'rejected') return r.header as unknown as ReplicaMessage;
    const tables: TableChanges[] = [];
    const byName = new Map<string, TableChanges>();
    r.rest((table, k, v) => {
      let tc = byName.get(table);
      if (tc === undefined) byName.set(table, (tc = { table, set: [], del: [] })), tables.push(tc);
      if (v === null) tc.del.push(k);
      else tc.set.push([k, v]);
    });
    return { ...r.header, tables } as unknown as ReplicaMessage;
  }

  /** The header checked at once; the entries read on demand, a chunk at a time. */
  reader(bytes: Uint8Array): RecordReader {
    if (!(bytes instanceof Uint8Array)) throw new BadDeltaError('message', 'expected bytes');
    const r = new RecordReader(this.packr, bytes);
    checkHeader(r.header);
    return r;
  }
}

function checkHeader(m: Record<string, unknown>): void {
  const str = (f: string) => { if (typeof m[f] !== 'string') throw new BadDeltaError(f, 'expected a string'); };
  const int = (f: string) => { if (!Number.isSafeInteger(m[f]) || (m[f] as number) < 0) throw new BadDeltaError(f, 'expected a non-negative integer'); };
  str('type');
  str('replica');
  switch (m.type) {
    case 'snapshot': int('base'); break;
    case 'delta': int('base'); int('push'); break;
    case 'head': int('from'); int('to'); int('push'); int('conflicts'); break;
    case 'rejected': int('push'); str('code'); str('message'); break;
    default: throw new BadDeltaError('type', `unknown message type ${JSON.stringify(m.type)}`);
  }
}
