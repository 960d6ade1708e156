// The tables every branch of `netbranch stress` edits: the stack's ARP table and a table of shared counters.
import { table, keys, values, option, counter, type Table } from '../../store/index.js';
import { arpTable } from '../iface/arp-table.js';

/** Shared counters, edited only by increments: their final values must be the sum of all increments. */
export const stressCounters = table<string, number>({
  name: 'counters',
  key: keys.string,
  value: values.uint,
  merge: option(counter(), { onDeleteModify: 'keep' }),
});

/** The stress schema; the primary and every branch build it in this order. */
export const stressTables: readonly Table<any, any>[] = [arpTable, stressCounters];
