// The router's tables, in one order for every thread (see ../host/host-schema.ts). New tables go at the end:
// a table's index and its msgpack structure follow this order.
import { Schema, type Table } from '../../store/index.js';
import { arpTable } from '../iface/arp-table.js';
import { natTable } from './nat-table.js';
import { dnatTable } from './dnat-table.js';
import { fragTable } from '../iface/frag-table.js';
import { leasesTable } from '../dhcp/lease-table.js';
import { clientLeaseTable } from '../dhcp/client-lease-table.js';
import { dnsTable } from '../dns/dns-table.js';

export const routerTables: readonly Table<any, any>[] = [arpTable, natTable, dnatTable, fragTable, leasesTable, clientLeaseTable, dnsTable];

export function routerSchema(): Schema {
  return new Schema(routerTables);
}
