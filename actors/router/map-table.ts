// A table on a plain Map: no branches, no merges, no history. The router's `--store hashtable`
// baseline (the original experiment's hashtable NAT) runs the same code on it.
import type { TableView } from '../../store/index.js';

export class MapTable<K extends string | number, V> implements TableView<K, V> {
  readonly map = new Map<K, V>();

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.set(key, value);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  get size(): number {
    return this.map.size;
  }

  get sizeBound(): number {
    return this.map.size;
  }
}
