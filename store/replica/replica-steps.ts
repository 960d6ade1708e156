// A replica's two long jobs, in bounded steps so a packet actor can interleave them with its frames:
// encoding a push (OutgoingPush) and applying the primary's answer (HeadApply). Neither copies a table;
// each step does at most one chunk of entries. Between steps the replica reads and edits as usual.
import { TOMB, type Cell } from '../branch-table.js';
import type { HeadDeltaMessage, TableChanges } from './delta.js';
import { CHUNK, type RecordReader, type RecordWriter } from './records.js';
import type { Replica, ReplicaTable } from './replica.js';

type Entries = Iterator<[string | number, Cell<unknown>]>;

/** A push being encoded: the pushed edits (a replica's inflight maps, which nothing else writes meanwhile) → bytes. */
export class OutgoingPush {
  private ti = 0;
  private it: Entries | null = null;
  private out: Uint8Array | null = null;

  constructor(private readonly tables: readonly ReplicaTable[], private readonly writer: RecordWriter) {}

  get done(): boolean {
    return this.out !== null;
  }

  /** Encodes up to `max` more pushed edits; returns true once the whole push is written. */
  step(max = CHUNK): boolean {
    if (this.out !== null) return true;
    let n = 0;
    while (this.ti < this.tables.length) {
      const t = this.tables[this.ti];
      const it = this.it ?? (this.it = t.inflight.entries());
      for (;;) {
        if (n >= max) return false;
        const r = it.next();
        if (r.done) break;
        n++;
        const [k, c] = r.value;
        if (!t.unchanged(k, c)) this.writer.add(t.def.name, k, c === TOMB ? null : c);
      }
      this.it = null;
      this.ti++;
    }
    this.out = this.writer.finish();
    return true;
  }

  /** The delta's bytes, once done. */
  bytes(): Uint8Array {
    if (this.out === null) throw new Error('push not fully encoded yet');
    return this.out;
  }
}

/**
 * A head delta being applied: first its entries, a chunk per step (each rebases the unpushed edits of
 * its key and settles the pushed one), then the pushed edits it did not mention join the base. Until
 * the last step the replica stays busy on its old base number, and every key reads either its pushed
 * value or its merged one, both of which the replica may show.
 */
export class HeadApply {
  private reading = true;
  private ti = 0;
  private it: Entries | null = null;
  private conflicts = 0;
  /** The head delta's entries, when asked to collect them (the lookup actor's watch events). */
  private readonly collected: TableChanges[] | null;
  private readonly visit: (table: string, key: string | number, value: unknown) => void;

  constructor(
    private readonly replica: Replica,
    byName: ReadonlyMap<string, ReplicaTable>,
    private readonly reader: Pick<RecordReader, 'next'>,
    private readonly header: Omit<HeadDeltaMessage, 'tables'>,
    collect: boolean,
  ) {
    const collected: TableChanges[] | null = (this.collected = collect ? [] : null);
    this.visit = (table, key, value) => {
      const t = byName.get(table);
      if (t !== undefined) this.conflicts += t.takeHead(key, value === null ? undefined : value);
      if (collected === null) return;
      let tc = collected[collected.length - 1];
      if (tc === undefined || tc.table !== table) collected.push((tc = { table, set: [], del: [] }));
      if (value === null) tc.del.push(key);
      else tc.set.push([key, value]);
    };
  }

  /** Applies one chunk; returns true once the head delta is fully applied (the replica is then at its `to`). */
  step(): boolean {
    if (this.reading) {
      if (!this.reader.next(this.visit, 1)) this.reading = false;
      return false;
    }
    const tables = this.replica.tables;
    let n = 0;
    while (this.ti < tables.length) {
      const t = tables[this.ti];
      const it = this.it ?? (this.it = t.inflight.entries());
      for (;;) {
        if (n >= CHUNK) return false;
        const r = it.next();
        if (r.done) break;
        n++;
        t.joinBase(r.value[0], r.value[1]);
      }
      this.it = null;
      this.ti++;
    }
    this.replica.stats.conflicts += this.conflicts;
    this.replica.endHead(this.header.to, this.header.conflicts);
    return true;
  }

  /** The head delta as a message (its entries only if collected). */
  message(): HeadDeltaMessage {
    return { ...this.header, tables: this.collected ?? [] };
  }
}
