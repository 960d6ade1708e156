// The `leases` table: the DHCP server's leases and static reservations, one row per client address.
// Keyed by the address, the contended resource, so two branches giving one address to two clients meet
// on one key and the merge settles it: static beats dynamic, then bound > declined > offered, then the
// earlier holder, then the lower MAC (docs/dhcp.md argues the order).
import { table, keys, values, option, custom, compareCanonical, CodecError, type Merge, type ValueCodec } from '../../store/index.js';
import type { TableRule } from '../../api/server/requests.js';

/** `reserved`: a static row no client holds now; the others are a lease's life (RFC 2131 §4.3). */
export const LEASE_STATES = ['reserved', 'offered', 'declined', 'bound'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];
export type LeaseKind = 'dynamic' | 'static';

export interface LeaseEntry {
  /** The client's hardware address (chaddr), 48 bits; 0 for an address declined by an unknown holder. */
  mac: number;
  /** Option 61 as dnsmasq writes it (`01:02:00:00:00:00:01`), '' when the client sent none. */
  clientId: string;
  /** Option 12, sanitised (letters, digits, '-', '_', '.'), '' when none. */
  hostname: string;
  /** When the lease (or offer, or decline hold) ends, ms on the server's clock; 0 for a reservation no one holds. */
  expires: number;
  state: LeaseState;
  kind: LeaseKind;
  /** When this holder first got the address (dynamic), or when the reservation was written (static), ms. */
  created: number;
}

/** Evidence beats intention: a client using the address, then someone else using it, then a mere offer. */
const RANK: Record<LeaseState, number> = { reserved: 0, offered: 1, declined: 2, bound: 3 };

const cmp = (x: number, y: number): number => (x === y ? 0 : x > y ? 1 : -1);

/**
 * A total order; the merge keeps the greater row. Reservations beat leases. Between reservations the later
 * written wins (an operator's edit supersedes; the server never changes a reservation's `created`). Between
 * leases: the state rank, then the earlier `created` (first come, first served), the lower MAC, the later expiry.
 */
export function compareLeaseEntries(a: LeaseEntry, b: LeaseEntry): number {
  if (a.kind !== b.kind) return a.kind === 'static' ? 1 : -1;
  if (a.kind === 'static' && a.created !== b.created) return cmp(a.created, b.created);
  const rank = RANK[a.state] - RANK[b.state];
  if (rank !== 0) return rank;
  if (a.created !== b.created) return cmp(b.created, a.created);
  if (a.mac !== b.mac) return cmp(b.mac, a.mac);
  if (a.expires !== b.expires) return cmp(a.expires, b.expires);
  return compareCanonical([a.hostname, a.clientId], [b.hostname, b.clientId]);
}

export const mergeLeaseEntry: Merge<LeaseEntry> = custom((_old, a, b) => (compareLeaseEntries(a, b) >= 0 ? a : b));

/** A hostname safe for the lease file's space-separated line and for DNS labels. */
export const HOSTNAME = /^[A-Za-z0-9._-]{0,63}$/;
/** A client identifier as colon-separated hex bytes. */
export const CLIENT_ID = /^(?:[0-9a-f]{2}(?::[0-9a-f]{2}){0,254})?$/;

function pattern(name: string, re: RegExp, example: string): ValueCodec<string> {
  return {
    name,
    decode(x: unknown, p?: string): string {
      if (typeof x === 'string' && re.test(x)) return x;
      throw new CodecError(p ?? '', name, `expected ${example}, got ${JSON.stringify(x)}`);
    },
  };
}

export const leasesTable = table<number, LeaseEntry>({
  name: 'leases',
  key: keys.ipv4num,
  value: values.record({
    mac: values.macNumber,
    clientId: pattern('client-id', CLIENT_ID, "'' or hex bytes like 01:02:00:00:00:00:01"),
    hostname: pattern('hostname', HOSTNAME, "'' or up to 63 of letters, digits, '.', '-', '_'"),
    expires: values.uint,
    state: values.oneOf(...LEASE_STATES),
    kind: values.oneOf('dynamic', 'static'),
    created: values.uint,
  }),
  // 'keep': an expiry or release loses to a concurrent renewal or reservation of the same address.
  merge: option(mergeLeaseEntry, { onDeleteModify: 'keep' }),
  // The order compares every field, so 0 is equality.
  equal: (a, b) => a === b || (a !== undefined && b !== undefined && compareLeaseEntries(a, b) === 0),
});

/** The API writes reservations only (leases are the server's to give); deleting any row revokes it. */
export const leasesApiRule: TableRule = {
  write: (v) => (v.kind === 'static' ? null
    : 'API writes to leases must be reservations: {"mac": "…", "clientId": "", "hostname": "", "expires": 0, "state": "reserved", "kind": "static", "created": 0}'),
  keyExample: '10.201.0.150',
};
