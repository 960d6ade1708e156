// A branch held by another thread: the primary's state at a base commit plus local edits. Pushing
// sends the edits as a delta; the answer (a head delta) moves the base, and edits made meanwhile stay.
import type { DeltaCodec, DeltaMessage, HeadDeltaMessage, SnapshotMessage, TableChanges } from './delta.js';
import { HeadApply, OutgoingPush } from './replica-steps.js';
import type { RecordReader } from './records.js';
import type { Schema, Table } from '../table.js';
import { cellValue, TOMB, type Cell } from '../branch-table.js';
import { countEntries, missingValue } from '../view.js';

export class ReplicaTable<K extends string | number = string | number, V = unknown> {
  /** The primary's entries at the replica's base commit. */
  readonly base = new Map<K, V>();
  /** Edits pushed and not yet answered. */
  inflight = new Map<K, Cell<V>>();
  /** Edits not yet pushed. */
  overlay = new Map<K, Cell<V>>();

  constructor(readonly def: Table<K, V>) {}

  get(key: K): V | undefined {
    if (this.overlay.size !== 0) {
      const o = this.overlay.get(key);
      if (o !== undefined) return o === TOMB ? undefined : o;
    }
    if (this.inflight.size !== 0) {
      const f = this.inflight.get(key);
      if (f !== undefined) return f === TOMB ? undefined : f;
    }
    return this.base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  set(key: K, value: V): void {
    if (value === undefined) throw missingValue(this.def.name);
    this.overlay.set(key, value);
  }

  delete(key: K): void {
    this.overlay.set(key, TOMB);
  }

  *entries(): IterableIterator<[K, V]> {
    if (this.overlay.size === 0 && this.inflight.size === 0) {
      yield* this.base;
      return;
    }
    const seen = new Set<K>();
    for (const layer of [this.overlay, this.inflight]) {
      for (const [k, c] of layer) {
        if (seen.has(k)) continue;
        seen.add(k);
        if (c !== TOMB) yield [k, c];
      }
    }
    for (const [k, v] of this.base) if (!seen.has(k)) yield [k, v];
  }

  get size(): number {
    if (this.overlay.size === 0 && this.inflight.size === 0) return this.base.size;
    return countEntries(this.entries());
  }

  /** Entries plus overlay edits: an upper bound on size in O(1). */
  get sizeBound(): number {
    return this.base.size + this.inflight.size + this.overlay.size;
  }

  /** The value below the unpushed edits: the pushed edit's, else the base's. */
  pushedValue(key: K): V | undefined {
    const f = this.inflight.get(key);
    return f !== undefined ? cellValue(f) : this.base.get(key);
  }

  /**
   * Applies entries from the primary to the base. Unpushed edits of keys the primary changed were
   * made over the old value, so they are re-merged over the new one (a rebase, as git does).
   */
  applyToBase(tc: TableChanges): number {
    let conflicts = 0;
    for (const [k, v] of tc.set) conflicts += this.takeHead(k as K, v as V);
    for (const k of tc.del) conflicts += this.takeHead(k as K, undefined);
    return conflicts;
  }

  /** An edit that leaves the value as it was is no change (as Branch.commit drops it too); call before pushing it. */
  unchanged(key: K, c: Cell<V>): boolean {
    return this.def.equal(cellValue(c), this.base.get(key));
  }

  /**
   * One key of a head delta (or a snapshot): unpushed edits of it are re-merged over `next`, which joins the base, and the
   * pushed edit is settled (dropped from inflight, so reads see `next` at once). Returns conflicts settled.
   */
  takeHead(key: K, next: V | undefined): number {
    let conflicts = 0;
    const mine = this.overlay.get(key);
    if (mine !== undefined) {
      const was = this.pushedValue(key);
      if (!this.def.equal(was, next)) {
        const r = this.def.mergeSettled(() => was, next, cellValue(mine), () => { conflicts++; });
        this.overlay.set(key, r === undefined ? TOMB : r);
      }
    }
    if (next === undefined) this.base.delete(key);
    else this.base.set(key, next);
    this.inflight.delete(key);
    return conflicts;
  }

  /** A pushed edit the head delta did not mention merged to exactly what was pushed: it joins the base. */
  joinBase(key: K, c: Cell<V>): void {
    if (c === TOMB) this.base.delete(key);
    else this.base.set(key, c);
  }
}

export class Replica {
  readonly tables: ReplicaTable[];
  private readonly byName = new Map<string, ReplicaTable>();
  base: number;
  private pushes = 0;
  private inflightPush = 0;
  /** Merges answered, and conflicts the primary resolved in them. */
  readonly stats = { pushes: 0, heads: 0, conflicts: 0, rejected: 0, resyncs: 0 };

  constructor(readonly schema: Schema, snapshot: SnapshotMessage) {
    this.tables = schema.tables.map((t) => new ReplicaTable(t));
    this.tables.forEach((t) => this.byName.set(t.def.name, t));
    this.base = snapshot.base;
    this.id = snapshot.replica;
    this.load(snapshot);
  }

  readonly id: string;

  table<K extends string | number, V>(def: Table<K, V>): ReplicaTable<K, V> {
    return this.tables[this.schema.indexOf(def)] as unknown as ReplicaTable<K, V>;
  }

  /** Edits waiting to be pushed. */
  get pending(): number {
    let n = 0;
    for (const t of this.tables) n += t.overlay.size;
    return n;
  }

  /** True while a pushed delta has not been answered. */
  get busy(): boolean {
    return this.inflightPush !== 0;
  }

  /**
   * Takes the local edits as a delta (an empty one is a pull). Returns null while an earlier push
   * is unanswered: one delta in flight at a time keeps the base unambiguous.
   */
  takeDelta(): DeltaMessage | null {
    if (!this.swapOverlays()) return null;
    const tables: TableChanges[] = [];
    for (const t of this.tables) {
      if (t.inflight.size === 0) continue;
      const tc: TableChanges = { table: t.def.name, set: [], del: [] };
      for (const [k, c] of t.inflight) {
        if (t.unchanged(k, c)) continue;
        if (c === TOMB) tc.del.push(k);
        else tc.set.push([k, c]);
      }
      tables.push(tc);
    }
    return { type: 'delta', replica: this.id, base: this.base, push: this.inflightPush, tables };
  }

  /**
   * takeDelta in steps: the overlay becomes the push at once (O(1), nothing copied), and the returned
   * push encodes it a chunk per step while edits go on into a new overlay. Null while a push is in flight.
   */
  beginPush(codec: DeltaCodec): OutgoingPush | null {
    const sizeHint = 64 + this.pending * 48;
    if (!this.swapOverlays()) return null;
    return new OutgoingPush(this.tables, codec.writer({ type: 'delta', replica: this.id, base: this.base, push: this.inflightPush }, sizeHint));
  }

  /** Overlay → inflight for every table, as one push; false while a push is in flight. */
  private swapOverlays(): boolean {
    if (this.inflightPush !== 0) return false;
    for (const t of this.tables) {
      if (t.overlay.size === 0) continue;
      t.inflight = t.overlay;
      t.overlay = new Map();
    }
    this.inflightPush = ++this.pushes;
    this.stats.pushes++;
    return true;
  }

  /**
   * Rebases onto the primary's answer: the pushed edits are now in the base. An answer to another
   * push than the one in flight (stale, after a resync) is ignored: returns false.
   */
  applyHead(head: HeadDeltaMessage): boolean {
    if (!this.answers(head)) return false;
    for (const tc of head.tables) {
      const t = this.byName.get(tc.table);
      if (t === undefined) continue;
      for (const [k, v] of tc.set) this.stats.conflicts += t.takeHead(k, v);
      for (const k of tc.del) this.stats.conflicts += t.takeHead(k, undefined);
    }
    for (const t of this.tables) for (const [k, c] of t.inflight) t.joinBase(k, c);
    this.endHead(head.to, head.conflicts);
    return true;
  }

  /**
   * applyHead in steps, from the head delta's bytes: a chunk of its entries per step, then the pushed
   * edits it did not mention. Reads stay right in between (see HeadApply). Null for a stale answer.
   */
  beginHead(head: Pick<RecordReader, 'header' | 'next'>, collect = false): HeadApply | null {
    const h = head.header as unknown as Omit<HeadDeltaMessage, 'tables'>;
    if (!this.answers(h)) return null;
    return new HeadApply(this, this.byName, head, h, collect);
  }

  /** Whether a head delta answers the push in flight (else it is stale); throws on a head from another base. */
  private answers(head: Pick<HeadDeltaMessage, 'push' | 'from'>): boolean {
    if (head.push !== this.inflightPush) return false;
    if (head.from !== this.base) throw new Error(`head delta from ${head.from} does not start at this replica's base ${this.base}`);
    return true;
  }

  /** The head delta is applied: the base moves to `to`, and the next push may go. */
  endHead(to: number, conflicts: number): void {
    for (const t of this.tables) if (t.inflight.size !== 0) t.inflight = new Map();
    this.base = to;
    this.inflightPush = 0;
    this.stats.heads++;
    this.stats.conflicts += conflicts;
  }

  /**
   * The primary refused the push: its edits go back to the overlay to be pushed again. `push` names
   * the refused push; a refusal of another one (stale) is ignored: returns false.
   */
  applyRejected(push: number = this.inflightPush): boolean {
    if (push !== this.inflightPush || this.inflightPush === 0) return false;
    for (const t of this.tables) {
      for (const [k, c] of t.inflight) if (!t.overlay.has(k)) t.overlay.set(k, c);
      t.inflight = new Map();
    }
    this.inflightPush = 0;
    this.stats.rejected++;
    return true;
  }

  /** Starts over from a fresh snapshot (after the base was released), keeping unpushed edits. */
  resync(snapshot: SnapshotMessage): void {
    if (this.inflightPush !== 0) this.applyRejected();
    // The snapshot is applied like a head delta, so unpushed edits are re-merged over what others
    // merged meanwhile (a counter edit made over the old base must not overwrite their increments).
    for (const t of this.tables) {
      const set = snapshot.tables.find((x) => x.table === t.def.name)?.set ?? [];
      const fresh = new Set(set.map(([k]) => k));
      const del = [...t.base.keys()].filter((k) => !fresh.has(k));
      this.stats.conflicts += t.applyToBase({ table: t.def.name, set, del });
    }
    this.base = snapshot.base;
    this.stats.resyncs++;
  }

  private load(snapshot: SnapshotMessage): void {
    for (const tc of snapshot.tables) {
      const t = this.byName.get(tc.table);
      if (!t) continue;
      for (const [k, v] of tc.set) t.base.set(k, v);
    }
  }
}
