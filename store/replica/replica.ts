// A branch held by another thread: the primary's state at a base commit plus local edits. Pushing
// sends the edits as a delta; the answer (a head delta) moves the base, and edits made meanwhile stay.
import type { DeltaMessage, HeadDeltaMessage, SnapshotMessage, TableChanges } from './delta.js';
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
    const count = () => { conflicts++; };
    const rebase = (k: K, next: V | undefined) => {
      const mine = this.overlay.get(k);
      if (mine === undefined) return;
      const was = this.pushedValue(k);
      if (this.def.equal(was, next)) return;
      const r = this.def.mergeSettled(() => was, next, cellValue(mine), count);
      this.overlay.set(k, r === undefined ? TOMB : r);
    };
    for (const [k, v] of tc.set) { rebase(k as K, v as V); this.base.set(k as K, v as V); }
    for (const k of tc.del) { rebase(k as K, undefined); this.base.delete(k as K); }
    return conflicts;
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
    if (this.inflightPush !== 0) return null;
    const tables: TableChanges[] = [];
    for (const t of this.tables) {
      if (t.overlay.size === 0) continue;
      const tc: TableChanges = { table: t.def.name, set: [], del: [] };
      for (const [k, c] of t.overlay) {
        // An edit that left the value as it was is no change (as Branch.commit drops it too).
        if (t.def.equal(cellValue(c), t.pushedValue(k))) continue;
        if (c === TOMB) tc.del.push(k);
        else tc.set.push([k, c]);
      }
      tables.push(tc);
      t.inflight = t.overlay;
      t.overlay = new Map();
    }
    this.inflightPush = ++this.pushes;
    this.stats.pushes++;
    return { type: 'delta', replica: this.id, base: this.base, push: this.inflightPush, tables };
  }

  /**
   * Rebases onto the primary's answer: the pushed edits are now in the base. An answer to another
   * push than the one in flight (stale, after a resync) is ignored: returns false.
   */
  applyHead(head: HeadDeltaMessage): boolean {
    if (head.push !== this.inflightPush) return false;
    if (head.from !== this.base) throw new Error(`head delta from ${head.from} does not start at this replica's base ${this.base}`);
    // Pushed edits the head delta does not mention merged to exactly what was pushed: they join the base.
    const mentioned = new Map<string, Set<string | number>>();
    for (const tc of head.tables) {
      const ks = new Set<string | number>(tc.del);
      for (const [k] of tc.set) ks.add(k);
      mentioned.set(tc.table, ks);
    }
    for (const t of this.tables) {
      if (t.inflight.size === 0) continue;
      const ks = mentioned.get(t.def.name);
      for (const [k, c] of t.inflight) {
        if (ks?.has(k)) continue;
        if (c === TOMB) t.base.delete(k);
        else t.base.set(k, c);
      }
    }
    for (const tc of head.tables) this.stats.conflicts += this.byName.get(tc.table)?.applyToBase(tc) ?? 0;
    for (const t of this.tables) t.inflight = new Map();
    this.base = head.to;
    this.inflightPush = 0;
    this.stats.heads++;
    this.stats.conflicts += head.conflicts;
    return true;
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
