// Tables shared by the store tests and their worker threads (both sides must build the same schema).
import { table, keys, values, option, counter, max, lww, set, defaultMerge, record, map, sparseCounter, compareCanonical } from '../../store/index.js';

export interface Neighbour { mac: string; expires: number; hits: number }

// Counters use sparseCounter (absent = 0): option(counter()) would tell "unchanged" by value, and a
// count back at its old value would then let a concurrent deletion win in some merge orders only.
export const counters = table<string, number>({ name: 'cnt', key: keys.string, value: values.number, merge: sparseCounter() });
export const maxima = table<string, number>({ name: 'max', key: keys.string, value: values.number, merge: option(max<number>()) });
export const stamped = table<string, { t: number; v: string }>({
  name: 'lww',
  key: keys.string,
  value: values.record({ t: values.number, v: values.string }),
  merge: option(lww((x: { t: number; v: string }) => x.t)),
});
export const members = table<string, readonly number[]>({
  name: 'set',
  key: keys.string,
  value: values.sortedSet(values.number, (a, b) => a - b),
  merge: option(set<number>((a, b) => a - b)),
});
export const plain = table<string, number>({ name: 'def', key: keys.string, value: values.number, merge: option(defaultMerge<number>()) });
export const neighbours = table<string, Neighbour>({
  name: 'rec',
  key: keys.ipv4,
  // hits: a counter merges as a + b - old, and the properties edit it freely (down too): any integer, not uint.
  value: values.record({ mac: values.mac, expires: values.uint, hits: values.number }),
  merge: option(record<Neighbour>({ mac: defaultMerge<string>(), expires: max<number>(), hits: counter() }), { onDeleteModify: 'keep' }),
});
export const tallies = table<string, Readonly<Record<string, number>>>({
  name: 'map',
  key: keys.string,
  value: {
    name: 'tally',
    decode(x: unknown) {
      if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new TypeError('tally must be an object');
      return x as Record<string, number>;
    },
  },
  merge: option(map(sparseCounter())),
});

export const allTables = [counters, maxima, stamped, members, plain, neighbours, tallies];
export { compareCanonical };
