// The `dns` table: the DNS cache's answers, one row per question (name, type, class), as git and the API show them.
// Merge: the answer with the later expiry wins, ties broken canonically; an expiry sweep loses to a refresh.
import { table, option, custom, compareCanonical, CodecError, values, type KeyCodec, type Merge, type ValueCodec } from '../../store/index.js';
import type { TableRule } from '../../api/server/requests.js';

/** Record data as JSON: dns-packet's decoded `data`, with each byte buffer as `{ hex }`. */
export type DnsData = string | number | boolean | null | DnsData[] | { [field: string]: DnsData };

/** One resource record as the table holds it; its TTL is the row's (see DnsEntry.expires). */
export interface DnsRecord {
  name: string;
  /** dns-packet's type name: `A`, `CNAME`, `UNKNOWN_65280`. */
  type: string;
  class: string;
  data: DnsData;
}

/** The rcodes an answer is cached with: positive and NODATA answers are NOERROR, RFC 2308 name errors NXDOMAIN. */
export const CACHED_RCODES = ['NOERROR', 'NXDOMAIN'] as const;
export type CachedRcode = (typeof CACHED_RCODES)[number];

export interface DnsEntry {
  rcode: CachedRcode;
  /** The answer section (the CNAME chain and the records asked for), in bailiwick. */
  answers: DnsRecord[];
  /** For a negative answer, the SOA it was cached by (RFC 2308 §3: it goes back out in the authority section). */
  authorities: DnsRecord[];
  /** When the answer stops being served, ms on the cache's clock; every record's TTL counts down to it. */
  expires: number;
  /** NXDOMAIN or NODATA (RFC 2308 §1). */
  negative: boolean;
  /** The SOA MINIMUM field of a negative answer, s; 0 for a positive one. */
  soaMinimum: number;
}

/** A question as the cache keys it. */
export interface DnsQuestion {
  name: string;
  type: string;
  class: string;
}

/** DNS names are case-insensitive in ASCII only (RFC 4343): other bytes stay as they are. */
export function asciiLower(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : name;
}

/** The longest key a file name can be (most file systems: 255 bytes). */
export const MAX_KEY_LEN = 255;
const SAFE = /^[a-z0-9._*-]$/;
const SAFE_NAME = /^[a-z0-9._*-]+$/;
const CODE = /^[A-Z][A-Z0-9_]{0,31}$/;
const SEP = '~';

/** A name as a path segment: lowercased, every byte outside [a-z0-9._*-] written %xx. */
function escapeName(name: string): string {
  const lower = asciiLower(name);
  if (SAFE_NAME.test(lower)) return lower; // the common case, without a pass per character
  let out = '';
  for (const ch of lower) {
    if (SAFE.test(ch)) { out += ch; continue; }
    for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The readable key: `www.example.com~A~IN` (name lowercased and escaped, type, class); undefined when over MAX_KEY_LEN. */
export function dnsKey(q: DnsQuestion): string | undefined {
  if (!CODE.test(q.type) || !CODE.test(q.class)) return undefined;
  const key = `${escapeName(q.name)}${SEP}${q.type}${SEP}${q.class}`;
  return key.length <= MAX_KEY_LEN ? key : undefined;
}

/** The question a key names (name lowercased, unescaped), or undefined when it is not a canonical key. */
export function parseDnsKey(k: unknown): DnsQuestion | undefined {
  if (typeof k !== 'string' || k.length > MAX_KEY_LEN) return undefined;
  const cls = k.lastIndexOf(SEP), typ = k.lastIndexOf(SEP, cls - 1);
  if (typ <= 0) return undefined;
  const escaped = k.slice(0, typ), type = k.slice(typ + 1, cls), klass = k.slice(cls + 1);
  if (!/^(?:[a-z0-9._*-]|%[0-9a-f]{2})+$/.test(escaped) || !CODE.test(type) || !CODE.test(klass)) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(escaped);
  } catch {
    return undefined; // %xx that are not UTF-8
  }
  const q = { name, type, class: klass };
  return dnsKey(q) === k ? q : undefined; // canonical only: one key per question
}

/** Question keys; paths group them by top-level label: `dns/com/www.example.com~A~IN`. */
export const dnsQuestionKey: KeyCodec<string> = {
  name: 'dns-question',
  encode: (k: string) => k,
  decode(x: unknown): string {
    if (parseDnsKey(x) === undefined) throw new CodecError(String(x), 'dns-question', `not a DNS question key like www.example.com~A~IN: ${JSON.stringify(x)}`);
    return x as string;
  },
  dirs(k: string): string[] {
    const name = k.slice(0, k.lastIndexOf(SEP, k.lastIndexOf(SEP) - 1));
    const top = name.slice(name.lastIndexOf('.') + 1);
    return [top === '' ? '_root' : top];
  },
};

/** dns-packet record data in the table's JSON form: byte buffers become `{ hex }`. */
export function toDnsData(x: unknown): DnsData {
  if (x instanceof Uint8Array) return { hex: Buffer.from(x.buffer, x.byteOffset, x.length).toString('hex') };
  if (Array.isArray(x)) return x.map(toDnsData);
  if (x !== null && typeof x === 'object') {
    const out: { [field: string]: DnsData } = {};
    for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = toDnsData(v);
    return out;
  }
  return x as DnsData;
}

/** The table's JSON form back to what dns-packet encodes: `{ hex }` becomes a Buffer. */
export function fromDnsData(x: DnsData): unknown {
  if (Array.isArray(x)) return x.map(fromDnsData);
  if (x !== null && typeof x === 'object') {
    const keys = Object.keys(x);
    if (keys.length === 1 && keys[0] === 'hex' && typeof x.hex === 'string') return Buffer.from(x.hex, 'hex');
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromDnsData(x[k]);
    return out;
  }
  return x;
}

/** Records in one row, at most (an answer that fills a 64 KiB TCP message has fewer). */
const MAX_RECORDS = 256;
const MAX_DEPTH = 4;

function bad(p: string | undefined, codec: string, reason: string): never {
  throw new CodecError(p ?? '', codec, reason);
}

/** Checks record data is the JSON a record can hold: finite numbers, `{ hex }` with hex digits, bounded depth. */
function checkData(x: unknown, p: string, depth: number): DnsData {
  if (typeof x === 'string' || typeof x === 'boolean' || x === null) return x;
  if (typeof x === 'number') return Number.isFinite(x) ? x : bad(p, 'dns-data', 'a number must be finite');
  if (depth >= MAX_DEPTH || typeof x !== 'object') return bad(p, 'dns-data', `not record data: ${typeof x}`);
  if (Array.isArray(x)) return x.map((v, i) => checkData(v, `${p}[${i}]`, depth + 1));
  const o = x as Record<string, unknown>;
  if ('hex' in o && (typeof o.hex !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(o.hex))) bad(p, 'dns-data', 'hex must be pairs of lowercase hex digits');
  const out: { [field: string]: DnsData } = {};
  for (const [k, v] of Object.entries(o)) out[k] = checkData(v, `${p}.${k}`, depth + 1);
  return out;
}

const recordCodec = values.record({
  name: values.string,
  type: { name: 'dns-type', decode: (x: unknown, p?: string) => (typeof x === 'string' && CODE.test(x) ? x : bad(p, 'dns-type', `expected a type name like A, got ${JSON.stringify(x)}`)) },
  class: { name: 'dns-class', decode: (x: unknown, p?: string) => (typeof x === 'string' && CODE.test(x) ? x : bad(p, 'dns-class', `expected a class name like IN, got ${JSON.stringify(x)}`)) },
  data: { name: 'dns-data', decode: (x: unknown, p?: string) => checkData(x, p ?? 'data', 0) } as ValueCodec<DnsData>,
});

const recordList: ValueCodec<DnsRecord[]> = {
  name: 'dns-records',
  decode(x: unknown, p?: string): DnsRecord[] {
    if (!Array.isArray(x) || x.length > MAX_RECORDS) bad(p, 'dns-records', `expected an array of at most ${MAX_RECORDS} records`);
    return x.map((r, i) => recordCodec.decode(r, `${p ?? ''}[${i}]`));
  },
};

/**
 * The later expiry wins; equal expiries go to the canonically larger entry. A total order, so the merge is
 * commutative, associative and idempotent. Why the later expiry: every row is an answer some branch fetched
 * from upstream (or an operator wrote); for the same question the later-expiring one was fetched later (or
 * granted a longer life by the same zone), so it is the fresher copy and keeps the cache warm the longest.
 */
export function compareDnsEntries(a: DnsEntry, b: DnsEntry): number {
  if (a.expires !== b.expires) return a.expires < b.expires ? -1 : 1;
  return compareCanonical(a, b);
}

export const mergeDnsEntry: Merge<DnsEntry> = custom((_old, a, b) => (compareDnsEntries(a, b) >= 0 ? a : b));

export const dnsTable = table<string, DnsEntry>({
  name: 'dns',
  key: dnsQuestionKey,
  value: values.record({
    rcode: values.oneOf(...CACHED_RCODES),
    answers: recordList,
    authorities: recordList,
    expires: values.uint,
    negative: values.boolean,
    soaMinimum: values.uint,
  }),
  // 'keep': the sweep deletes expired rows; a branch that refreshed the answer meanwhile keeps it.
  merge: option(mergeDnsEntry, { onDeleteModify: 'keep' }),
});

/** The API may read `dns` rows, write one (pin an answer until its expiry) or delete one (flush it). */
export const dnsApiRule: TableRule = {
  write: () => null, // the value codec already checks every field
  keyExample: 'www.example.com~A~IN',
};
