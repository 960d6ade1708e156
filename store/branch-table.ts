// One table as one branch sees it: uncommitted edits over committed edits over the parent's state
// at the branch's base commit. Reads are one or two Map lookups; writes are one Map.set.
import type { Table } from './table.js';
import { countEntries, missingValue } from './view.js';

/** Marks a deletion in an overlay, so a read stops there instead of falling through to the base. */
export const TOMB: unique symbol = Symbol('deleted');
export type Cell<V> = V | typeof TOMB;

/** The value a cell stands for (undefined = deleted). */
export function cellValue<V>(c: Cell<V>): V | undefined {
  return c === TOMB ? undefined : c;
}

/** The values keys had just before commit `seq` changed them (undefined = absent). */
export interface UndoRecord<K, V> {
  readonly seq: number;
  readonly before: Map<K, V | undefined>;
}

/** What a BranchTable needs from its branch: the commit it reads its parent at, and its head. */
export interface BranchClock {
  baseSeq: number;
  headSeq: number;
  assertOpen(): void;
}

/** Shared by fresh tables until their first write, so a fork allocates no Map (forks stay O(1) and cheap). */
const EMPTY: Map<any, any> = new Map();

export class BranchTable<K extends string | number = string | number, V = unknown> {
  /** Root: the whole committed table. Fork: committed edits since its base (TOMB = deleted). */
  committed: Map<K, Cell<V>> = EMPTY;
  /** Edits since the last commit. */
  work: Map<K, Cell<V>> = EMPTY;
  /** Per retained commit that changed this table, the values it replaced, oldest first. */
  readonly undo: UndoRecord<K, V>[] = [];
  /** The last retained commit that changed each key; keys absent here are unchanged since the horizon. */
  changedAt: Map<K, number> = EMPTY;

  constructor(
    readonly def: Table<K, V>,
    readonly index: number,
    readonly branch: BranchClock,
    readonly parent: BranchTable<K, V> | null,
  ) {
    if (parent === null) this.committed = new Map();
  }

  get name(): string {
    return this.def.name;
  }

  get(key: K): V | undefined {
    if (this.work.size !== 0) {
      const w = this.work.get(key);
      if (w !== undefined) return w === TOMB ? undefined : w;
    }
    const p = this.parent;
    if (p === null) return this.committed.get(key) as V | undefined; // a root never stores TOMB
    if (this.committed.size !== 0) {
      const c = this.committed.get(key);
      if (c !== undefined) return c === TOMB ? undefined : c;
    }
    // A fork of a root that has not changed since the fork reads the root's map directly.
    if (p.parent === null && (p.changedAt.size === 0 || this.branch.baseSeq >= p.branch.headSeq)) return p.committed.get(key) as V | undefined;
    return p.valueAt(key, this.branch.baseSeq);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  set(key: K, value: V): void {
    if (value === undefined) throw missingValue(this.def.name);
    (this.work === EMPTY ? (this.work = new Map()) : this.work).set(key, value);
  }

  delete(key: K): void {
    (this.work === EMPTY ? (this.work = new Map()) : this.work).set(key, TOMB);
  }

  /** Drops uncommitted edits. */
  clearWork(): void {
    if (this.work !== EMPTY) this.work = EMPTY;
  }

  /** Drops the committed overlay of a fork (after a sync moved its base). */
  clearCommitted(): void {
    if (this.parent !== null) this.committed = EMPTY;
  }

  /** The committed value at this branch's head (uncommitted edits not included). */
  committedValue(key: K): V | undefined {
    if (this.committed.size !== 0 || this.parent === null) {
      const c = this.committed.get(key);
      if (c !== undefined) return c === TOMB ? undefined : c;
    }
    const p = this.parent;
    return p === null ? undefined : p.valueAt(key, this.branch.baseSeq);
  }

  /** The committed value as of commit `seq` of this branch (seq must not be released). */
  valueAt(key: K, seq: number): V | undefined {
    if (seq < this.branch.headSeq && this.changedAt.size !== 0) {
      const last = this.changedAt.get(key);
      if (last !== undefined && last > seq) return this.undoneValue(key, seq);
    }
    return this.committedValue(key);
  }

  /** The value before the first retained commit after `seq` that changed the key. */
  private undoneValue(key: K, seq: number): V | undefined {
    const u = this.undo;
    let lo = 0;
    let hi = u.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (u[mid].seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < u.length; i++) if (u[i].before.has(key)) return u[i].before.get(key);
    return this.committedValue(key);
  }

  /** True when a commit after `seq` changed this key. */
  changedSince(key: K, seq: number): boolean {
    const last = this.changedAt.get(key);
    return last !== undefined && last > seq;
  }

  /** Live entries, uncommitted edits included. */
  *entries(): IterableIterator<[K, V]> {
    if (this.work.size === 0) {
      yield* this.committedEntries();
      return;
    }
    for (const [k, w] of this.work) if (w !== TOMB) yield [k, w];
    for (const [k, v] of this.committedEntries()) if (!this.work.has(k)) yield [k, v];
  }

  *keys(): IterableIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  get size(): number {
    if (this.work.size === 0 && this.parent === null) return this.committed.size;
    return countEntries(this.entries());
  }

  /** Entries plus overlay edits: an upper bound on size in O(depth). */
  get sizeBound(): number {
    return this.work.size + this.committed.size + (this.parent === null ? 0 : this.parent.sizeBound);
  }

  /** Committed entries at the head. */
  committedEntries(): IterableIterator<[K, V]> {
    return this.entriesAt(this.branch.headSeq);
  }

  /** Committed entries as of commit `seq`. */
  *entriesAt(seq: number): IterableIterator<[K, V]> {
    const old = seq < this.branch.headSeq && this.changedAt.size !== 0;
    if (this.parent === null) {
      for (const [k, c] of this.committed) {
        const v = old && this.changedAt.has(k) ? this.valueAt(k, seq) : (c as V);
        if (v !== undefined) yield [k, v];
      }
      if (old) {
        for (const k of this.changedAt.keys()) {
          if (this.committed.has(k)) continue;
          const v = this.valueAt(k, seq);
          if (v !== undefined) yield [k, v];
        }
      }
      return;
    }
    // A fork: keys it touched (overlay and history), then the parent's keys it did not touch.
    const seen = new Set<K>();
    for (const k of this.committed.keys()) {
      seen.add(k);
      const v = this.valueAt(k, seq);
      if (v !== undefined) yield [k, v];
    }
    if (old) {
      for (const k of this.changedAt.keys()) {
        if (seen.has(k)) continue;
        seen.add(k);
        const v = this.valueAt(k, seq);
        if (v !== undefined) yield [k, v];
      }
    }
    for (const [k, v] of this.parent.entriesAt(this.branch.baseSeq)) if (!seen.has(k)) yield [k, v];
  }

  /** Writes a committed value (undefined = delete), recording what it replaces for commit `seq`. */
  writeCommitted(key: K, value: V | undefined, before: V | undefined, seq: number): void {
    this.recordChange(key, before, seq);
    const c = this.committed === EMPTY ? (this.committed = new Map()) : this.committed;
    if (value !== undefined) c.set(key, value);
    else if (this.parent === null || this.parent.valueAt(key, this.branch.baseSeq) === undefined) c.delete(key);
    else c.set(key, TOMB);
  }

  /** Records what a key's visible value was before commit `seq` changed it. */
  recordChange(key: K, before: V | undefined, seq: number): void {
    let u = this.undo.length ? this.undo[this.undo.length - 1] : undefined;
    if (u === undefined || u.seq !== seq) {
      u = { seq, before: new Map() };
      this.undo.push(u);
    }
    if (!u.before.has(key)) u.before.set(key, before);
    (this.changedAt === EMPTY ? (this.changedAt = new Map()) : this.changedAt).set(key, seq);
  }

  /** Forgets what commits before `cutoff` replaced: no read may start before it any more. */
  release(cutoff: number): void {
    let n = 0;
    while (n < this.undo.length && this.undo[n].seq < cutoff) n++;
    if (n === 0) return;
    for (const u of this.undo.splice(0, n)) {
      for (const k of u.before.keys()) if (this.changedAt.get(k) === u.seq) this.changedAt.delete(k);
    }
  }

  /** Undo records kept (one per key per retained commit). */
  historySize(): number {
    let n = 0;
    for (const u of this.undo) n += u.before.size;
    return n;
  }
}
