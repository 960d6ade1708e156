// A DnsForwarder on a store branch with a scripted upstream, for the DNS tests: clients are strings, the clock is a
// number the test moves, query ids come from a seeded PRNG, and every message sent either way is kept to inspect.
import { Store, type TableView } from '../../store/index.js';
import { DnsFlag, DnsRepr, type DnsMessage, type DnsMessageInit } from '../../wire/dns.js';
import { dnsTable, type DnsEntry } from '../../actors/dns/dns-table.js';
import { DnsCache, type DnsCacheOptions } from '../../actors/dns/dns-cache.js';
import { DnsForwarder, type DnsForwarderOptions } from '../../actors/dns/dns-forwarder.js';
import { prng } from '../../actors/sim/prng.js';

type Rr = NonNullable<DnsMessageInit['answers']>[number];

export interface Harness {
  table: TableView<string, DnsEntry>;
  cache: DnsCache;
  fwd: DnsForwarder<string>;
  /** Queries the forwarder sent upstream, oldest first. */
  sent: Uint8Array[];
  /** Replies to clients, oldest first, parsed. */
  replies: { to: string; message: DnsMessage; bytes: Uint8Array }[];
}

export function harness(opts: { seed?: number; cache?: DnsCacheOptions; forwarder?: DnsForwarderOptions; randomId?: () => number } = {}): Harness {
  const table = new Store([dnsTable]).main.table(dnsTable);
  const cache = new DnsCache(table, opts.cache);
  const rand = prng(opts.seed ?? 15);
  const sent: Uint8Array[] = [];
  const replies: Harness['replies'] = [];
  const fwd = new DnsForwarder<string>(cache, {
    upstream: (payload) => { sent.push(payload); },
    reply: (to, bytes) => { replies.push({ to, message: DnsRepr.parse(bytes).message as DnsMessage, bytes }); },
    randomId: opts.randomId ?? (() => Math.floor(rand() * 65536)),
  }, opts.forwarder);
  return { table, cache, fwd, sent, replies };
}

/** A client's query: one question, RD set. */
export function query(name: string, type = 'A', id = 0x1234, extra: Partial<DnsMessageInit> = {}): Uint8Array {
  return DnsRepr.fromMessage({ id, type: 'query', flags: DnsFlag.RecursionDesired, questions: [{ name, type: type as 'A', class: 'IN' }], ...extra }).toBytes();
}

export interface Scripted {
  rcode?: number;
  answers?: Rr[];
  authorities?: Rr[];
  id?: number;
  questions?: DnsMessageInit['questions'];
  truncated?: boolean;
}

/** An upstream's response to `sentQuery`: its id and question unless the script says otherwise. */
export function respond(sentQuery: Uint8Array, s: Scripted = {}): Uint8Array {
  const q = DnsRepr.parse(sentQuery).message;
  return DnsRepr.fromMessage({
    id: s.id ?? q.id,
    type: 'response',
    flags: DnsFlag.RecursionDesired | DnsFlag.RecursionAvailable | (s.truncated ? DnsFlag.Truncated : 0) | (s.rcode ?? 0),
    questions: s.questions ?? q.questions,
    answers: s.answers ?? [],
    authorities: s.authorities ?? [],
  }).toBytes();
}

export const a = (name: string, ip: string, ttl = 300): Rr => ({ name, type: 'A', class: 'IN', ttl, data: ip });
export const cname = (name: string, target: string, ttl = 300): Rr => ({ name, type: 'CNAME', class: 'IN', ttl, data: target });
export const soa = (zone: string, ttl: number, minimum: number): Rr => ({
  name: zone, type: 'SOA', class: 'IN', ttl,
  data: { mname: `ns1.${zone}`, rname: `hostmaster.${zone}`, serial: 2024010101, refresh: 3600, retry: 600, expire: 86400, minimum },
});

/** The TTLs of a reply's answers. */
export const ttls = (m: DnsMessage): number[] => (m.answers ?? []).map((r) => ('ttl' in r ? r.ttl ?? 0 : 0));
