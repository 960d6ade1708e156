// What the external-lookup API may write to the `arp` table: static entries only (a dynamic entry is
// the stack's to learn and expire), for the router and the sim alike.
import type { TableRule } from '../../api/server/requests.js';

export const arpApiRule: TableRule = {
  write: (v) => (v.kind === 'static' ? null : 'API writes to arp must be static entries: {"mac": "…", "expires": 0, "kind": "static"}'),
  keyExample: '10.201.0.2',
};
