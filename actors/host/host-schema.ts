// The tables every thread of a netbranch process agrees on (the order fixes table indexes and the
// shared msgpack structures, so both sides of a delta must build it from this one list).
import { Schema, type Table } from '../../store/index.js';
import { arpTable } from '../iface/arp-table.js';

export const stackTables: readonly Table<any, any>[] = [arpTable];

export function stackSchema(): Schema {
  return new Schema(stackTables);
}
