// The tables every thread of a netbranch process agrees on (the order fixes table indexes and the
// shared msgpack structures, so both sides of a delta must build it from this one list).
import { Schema, type Table } from '../../store/index.js';
import { arpTable } from '../iface/arp-table.js';
import { fragTable } from '../iface/frag-table.js';
import { tcpTable } from '../tcp/tcp-table.js';

export const stackTables: readonly Table<any, any>[] = [arpTable, tcpTable, fragTable];

export function stackSchema(): Schema {
  return new Schema(stackTables);
}
