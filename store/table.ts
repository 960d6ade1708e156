// A typed table: key codec, value codec and merge function. Each entry has its own path (`name/key`).
import type { KeyCodec, ValueCodec } from './codec.js';
import { UnknownTableError } from './errors.js';
import { type Conflict, type Merge, mergeSettled, type Old, resolveByOrder } from './merge.js';
import { deepEqual } from './canonical.js';

export interface TableSpec<K extends string | number, V> {
  name: string;
  key: KeyCodec<K>;
  value: ValueCodec<V>;
  /** Three-way merge of one entry; absent (deleted) is `undefined`. Wrap value merges in `option`. */
  merge: Merge<V | undefined>;
  /** Picks a winner when `merge` conflicts; must be symmetric in a and b. Default: resolveByOrder. */
  resolve?: (old: V | undefined, a: V | undefined, b: V | undefined) => V | undefined;
  /** Value equality used to detect unchanged sides; default structural. */
  equal?: (a: V | undefined, b: V | undefined) => boolean;
}

export class Table<K extends string | number = string | number, V = unknown> {
  readonly name: string;
  readonly key: KeyCodec<K>;
  readonly value: ValueCodec<V>;
  readonly merge: Merge<V | undefined>;
  readonly resolve: (old: V | undefined, a: V | undefined, b: V | undefined) => V | undefined;
  readonly equal: (a: V | undefined, b: V | undefined) => boolean;

  constructor(spec: TableSpec<K, V>) {
    if (!/^[a-z][a-z0-9_-]{0,63}$/.test(spec.name)) throw new Error(`bad table name '${spec.name}': lowercase letters, digits, '-' and '_'`);
    this.name = spec.name;
    this.key = spec.key;
    this.value = spec.value;
    this.merge = spec.merge;
    this.resolve = spec.resolve ?? resolveByOrder;
    this.equal = spec.equal ?? deepEqual;
  }

  /** One entry's three-way merge by this table's rules, a conflict settled by `resolve` (see mergeSettled). */
  mergeSettled(old: Old<V | undefined>, a: V | undefined, b: V | undefined, onConflict: (c: Conflict) => void): V | undefined {
    return mergeSettled(this.merge, this.resolve, old, a, b, onConflict);
  }

  /** The entry's path, as git and the API show it. */
  path(key: K): string {
    return `${this.name}/${this.key.encode(key)}`;
  }
}

export function table<K extends string | number, V>(spec: TableSpec<K, V>): Table<K, V> {
  return new Table(spec);
}

/** The fixed, ordered set of tables a store holds; table indexes are the same on every thread. */
export class Schema {
  readonly tables: readonly Table[];
  private readonly byName = new Map<string, number>();

  constructor(tables: readonly Table<any, any>[]) {
    this.tables = tables as Table[];
    tables.forEach((t, i) => {
      if (this.byName.has(t.name)) throw new Error(`table '${t.name}' defined twice`);
      this.byName.set(t.name, i);
    });
  }

  index(name: string): number {
    const i = this.byName.get(name);
    if (i === undefined) throw new UnknownTableError(name, [...this.byName.keys()]);
    return i;
  }

  indexOf(t: Table<any, any>): number {
    const i = this.byName.get(t.name);
    if (i === undefined || this.tables[i] !== t) throw new UnknownTableError(t.name, [...this.byName.keys()]);
    return i;
  }
}
