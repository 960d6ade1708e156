// The `dhcp-client` table: the lease the router's DHCP client holds on an outside interface, one row
// per interface (key: its name). Merge: the lease obtained later wins whole (an operator's edit made
// now beats the lease it replaces); a deletion loses to a concurrent renewal. See docs/dhcp.md.
import { table, keys, values, option, lww, CodecError, type ValueCodec } from '../../store/index.js';
import type { TableRule } from '../../api/server/requests.js';
import { ipv4ToString, tryParseIpv4 } from '../../wire/ipv4.js';

/** RFC 2131 §4.4 client states (Figure 5), as the row shows them. */
export const DHCP_CLIENT_STATES = ['init', 'selecting', 'requesting', 'bound', 'renewing', 'rebinding', 'init-reboot', 'rebooting'] as const;
export type DhcpClientState = (typeof DHCP_CLIENT_STATES)[number];

export interface ClientLease {
  ip: number;
  prefix: number;
  /** The first router the server gave (option 3), 0 when none. */
  gateway: number;
  /** DNS servers in the server's order of preference (option 6). */
  dns: number[];
  /** The server that granted the lease (option 54): where renewals go. */
  server: number;
  /** The lease time the server gave, s (option 51). */
  leaseSeconds: number;
  /** When the lease was granted (the ACK's arrival), ms on the client's clock. */
  obtained: number;
  /** T1 and T2 (RFC 2131 §4.4.5), and the end of the lease, ms on the client's clock. */
  renewAt: number;
  rebindAt: number;
  expires: number;
  state: DhcpClientState;
}

/** An ordered list of addresses (order is the server's preference, so not a set); readable as dotted quads. */
const addressList: ValueCodec<number[]> = {
  name: 'ipv4-list',
  show: (v: number[]) => v.map(ipv4ToString),
  decode(x: unknown, p?: string): number[] {
    if (!Array.isArray(x)) throw new CodecError(p ?? '', 'ipv4-list', `expected an array of IPv4 addresses, got ${JSON.stringify(x)}`);
    return x.map((a, i) => {
      const n = typeof a === 'number' && Number.isInteger(a) && a >= 0 && a <= 0xffff_ffff ? a : typeof a === 'string' ? tryParseIpv4(a) : undefined;
      if (n === undefined) throw new CodecError(`${p ?? ''}[${i}]`, 'ipv4-list', `not an IPv4 address: ${JSON.stringify(a)}`);
      return n;
    });
  },
};

export const clientLeaseTable = table<string, ClientLease>({
  name: 'dhcp-client',
  key: keys.string,
  value: values.record({
    ip: values.ipv4num,
    prefix: values.uint,
    gateway: values.ipv4num,
    dns: addressList,
    server: values.ipv4num,
    leaseSeconds: values.uint,
    obtained: values.uint,
    renewAt: values.uint,
    rebindAt: values.uint,
    expires: values.uint,
    state: values.oneOf(...DHCP_CLIENT_STATES),
  }),
  // Later `obtained` wins whole (fields of two leases never mix); equal stamps fall to canonical order.
  merge: option(lww<ClientLease>((l) => l.obtained), { onDeleteModify: 'keep' }),
});

/** The API may read the row and write it (an operator's static address or correction). */
export const clientLeaseApiRule: TableRule = {
  keyExample: 'tap-out',
  write: (v) => (typeof v.prefix === 'number' && (v.prefix < 1 || v.prefix > 30) ? 'prefix must be 1..30' : null),
};
