// What code that edits a table needs, whichever branch kind holds it: a Branch in this thread, or a
// Replica of the primary in a worker thread. Actors are written against this, so they run in both.
export interface TableView<K extends string | number, V> {
  get(key: K): V | undefined;
  has(key: K): boolean;
  set(key: K, value: V): void;
  delete(key: K): void;
  entries(): IterableIterator<[K, V]>;
  /** Exact; may walk the overlays, so not for the hot path. */
  readonly size: number;
  /** A cheap upper bound on size (entries plus overlay edits): what caps on the hot path check. */
  readonly sizeBound: number;
}

/** What set() throws for undefined, whichever view: a deletion is delete()'s. */
export function missingValue(table: string): TypeError {
  return new TypeError(`${table}: set() needs a value; use delete() to remove an entry`);
}

/** An exact size by walking the entries (see TableView.size). */
export function countEntries(entries: Iterable<unknown>): number {
  let n = 0;
  for (const _ of entries) n++;
  return n;
}

/** A branch as an actor sees it: its tables. */
export interface BranchView {
  table<K extends string | number, V>(def: import('./table.js').Table<K, V>): TableView<K, V>;
}
