// The router's tables as the external-lookup API sees them: ARP takes static entries, port forwards
// are written by operators, NAT flows are the data path's own (read, or removed, never written); DHCP
// reservations and the outside lease are operators' too (an edit of the lease's address remaps NAT).
import { fragApiRule } from '../iface/frag-table.js';
import type { TableRule } from '../../api/server/requests.js';
import { arpApiRule } from '../iface/arp-api.js';
import { leasesApiRule } from '../dhcp/lease-table.js';
import { clientLeaseApiRule, clientLeaseTable } from '../dhcp/client-lease-table.js';
import type { InterfaceInfo } from '../../api/protocol.js';
import type { Replica } from '../../store/index.js';
import { ipv4ToString } from '../../wire/index.js';
import { dnsApiRule } from '../dns/dns-table.js';

export const routerApiRules: Readonly<Record<string, TableRule>> = {
  arp: arpApiRule,
  nat: { keyExample: 'udp:10.201.0.2:40000:10.202.0.2:53' },
  dnat: { write: () => null, keyExample: 'tcp:8080' },
  frag: fragApiRule,
  leases: leasesApiRule,
  'dhcp-client': clientLeaseApiRule,
  dns: dnsApiRule,
};

/** The interfaces with a leased outside address filled in from the replica's `dhcp-client` row (0.0.0.0 until a lease). */
export function leasedInterfaces(list: readonly InterfaceInfo[], replica: Replica): InterfaceInfo[] {
  const leases = replica.table(clientLeaseTable);
  return list.map((i) => {
    if (i.ip !== '0.0.0.0') return i;
    const lease = leases.get(i.dev);
    return lease ? { ...i, ip: ipv4ToString(lease.ip), prefix: lease.prefix } : i;
  });
}
