// The router's tables, in one order for every thread (see schema.ts).
import { Schema, type Table } from '../store/index.js';
import { arpTable } from './arp-table.js';
import { natTable } from './nat-table.js';

export const routerTables: readonly Table<any, any>[] = [arpTable, natTable];

export function routerSchema(): Schema {
  return new Schema(routerTables);
}
