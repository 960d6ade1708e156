// A host's tables as the external-lookup API sees them: ARP takes static entries; TCP connections and
// reassembly rows are the packet actors' own bookkeeping, read (or removed), never written.
import type { TableRule } from '../../api/server/requests.js';
import { arpApiRule } from '../iface/arp-api.js';
import { fragApiRule } from '../iface/frag-table.js';
import { tcpApiRule } from '../tcp/tcp-table.js';

export const hostApiRules: Readonly<Record<string, TableRule>> = {
  arp: arpApiRule,
  tcp: tcpApiRule,
  frag: fragApiRule,
};
