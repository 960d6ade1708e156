// The DNS cache on a store branch: answers by question, their TTLs counted down to the row's `expires` on the clock
// passed in, TTLs clamped on the way in, negative answers cached for the SOA's MINIMUM (RFC 2308 §5), and a sweep.
import type { TableView } from '../../store/index.js';
import type { DnsMessage } from '../../wire/dns.js';
import { dnsKey, toDnsData, type CachedRcode, type DnsEntry, type DnsQuestion, type DnsRecord } from './dns-table.js';

/** A record as dns-packet decodes it: what an upstream answer holds. */
export type DnsAnswerRecord = NonNullable<DnsMessage['answers']>[number];

export interface DnsCacheOptions {
  /** TTLs below this are raised to it, s (0: a zero TTL is answered but not cached, RFC 1035 §3.2.1). */
  minTtlS?: number;
  /** TTLs above this are cut to it, s (RFC 2181 §8 allows up to 2^31-1; a day keeps a stale answer from living long). */
  maxTtlS?: number;
  /** Negative answers are kept at most this long, s (RFC 2308 §5: one to three hours). */
  maxNegativeTtlS?: number;
  /** Rows the cache holds; past it new questions are answered but not cached (counted). */
  maxEntries?: number;
  /** How often `poll` deletes expired rows, ms; lookups never serve an expired row either way. */
  sweepIntervalMs?: number;
}

export interface DnsCacheCounters {
  hits: number;
  negativeHits: number;
  misses: number;
  inserted: number;
  negativeInserted: number;
  /** Answers not cached: a TTL of 0 after clamping, or a negative answer without an SOA (RFC 2308 §5). */
  uncacheable: number;
  /** Answers not cached because `maxEntries` rows are held. */
  capDropped: number;
  /** Questions whose key would pass the file-name limit (names full of escaped bytes): answered, not cached. */
  unstorable: number;
  swept: number;
}

/** A row found for a question, with the TTL left on it, s. */
export interface CacheHit {
  entry: DnsEntry;
  ttlS: number;
}

const DEFAULTS: Required<DnsCacheOptions> = { minTtlS: 0, maxTtlS: 86_400, maxNegativeTtlS: 10_800, maxEntries: 10_000, sweepIntervalMs: 1_000 };

/** What is kept of a record: its TTL is the row's. */
function stored(r: DnsAnswerRecord): DnsRecord {
  return { name: r.name, type: r.type, class: ('class' in r && typeof r.class === 'string' ? r.class : 'IN'), data: toDnsData('data' in r ? r.data : null) };
}

const ttlOf = (r: DnsAnswerRecord): number => ('ttl' in r && typeof r.ttl === 'number' ? r.ttl : 0);

/** RFC 2308 §2.2: no record of the asked type (a CNAME chain alone is NODATA for any other type). */
function isNoData(q: DnsQuestion, answers: readonly DnsAnswerRecord[]): boolean {
  if (q.type === 'ANY') return answers.length === 0;
  return !answers.some((r) => r.type === q.type);
}

export class DnsCache {
  readonly counters: DnsCacheCounters = {
    hits: 0, negativeHits: 0, misses: 0, inserted: 0, negativeInserted: 0, uncacheable: 0, capDropped: 0, unstorable: 0, swept: 0,
  };
  private readonly opts: Required<DnsCacheOptions>;
  private nextSweep = 0;

  constructor(readonly table: TableView<string, DnsEntry>, opts: DnsCacheOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** The unexpired row for `q` and its remaining TTL, or undefined (a miss). */
  lookup(q: DnsQuestion, now: number): CacheHit | undefined {
    const key = dnsKey(q);
    const entry = key === undefined ? undefined : this.table.get(key);
    if (entry === undefined || entry.expires <= now) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    if (entry.negative) this.counters.negativeHits++;
    return { entry, ttlS: Math.floor((entry.expires - now) / 1000) };
  }

  /**
   * The row an upstream answer (NOERROR or NXDOMAIN, records already in bailiwick) makes: every record lives as long
   * as the shortest TTL among them, clamped; a negative one as long as min(SOA TTL, SOA MINIMUM) (RFC 2308 §5),
   * or not at all without an SOA. `expires` may be `now`: such an answer is served once, never cached.
   */
  entryFor(q: DnsQuestion, rcode: CachedRcode, answers: readonly DnsAnswerRecord[], authorities: readonly DnsAnswerRecord[], now: number): DnsEntry {
    const negative = rcode === 'NXDOMAIN' || isNoData(q, answers);
    const soa = negative ? authorities.find((r) => r.type === 'SOA') : undefined;
    const soaMinimum = soa !== undefined && 'data' in soa ? Number((soa.data as { minimum?: number }).minimum ?? 0) : 0;
    const raw = negative
      ? Math.min(soa === undefined ? 0 : ttlOf(soa), soaMinimum, ...answers.map(ttlOf))
      : Math.min(...answers.map(ttlOf));
    const cap = negative ? Math.min(this.opts.maxTtlS, this.opts.maxNegativeTtlS) : this.opts.maxTtlS;
    const ttl = negative && soa === undefined ? 0 : Math.min(Math.max(raw, this.opts.minTtlS), cap);
    return {
      rcode, answers: answers.map(stored), authorities: soa === undefined ? [] : [stored(soa)],
      expires: Math.floor(now) + ttl * 1000, negative, soaMinimum,
    };
  }

  /** Stores a row made by `entryFor`; false when it is not cached (zero TTL, cap, unstorable name: counted). */
  insert(q: DnsQuestion, entry: DnsEntry, now: number): boolean {
    if (entry.expires <= now) { this.counters.uncacheable++; return false; }
    const key = dnsKey(q);
    if (key === undefined) { this.counters.unstorable++; return false; }
    if (!this.table.has(key) && this.table.sizeBound >= this.opts.maxEntries) { this.counters.capDropped++; return false; }
    this.table.set(key, entry);
    this.counters.inserted++;
    if (entry.negative) this.counters.negativeInserted++;
    return true;
  }

  /** Deletes expired rows, at most once per sweep interval. */
  poll(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + this.opts.sweepIntervalMs;
    const expired: string[] = [];
    for (const [key, entry] of this.table.entries()) if (entry.expires <= now) expired.push(key);
    for (const key of expired) this.table.delete(key);
    this.counters.swept += expired.length;
  }

  /** When `poll` has work next; Infinity when the table is empty. */
  nextDeadline(): number {
    return this.table.sizeBound === 0 ? Infinity : this.nextSweep;
  }
}
