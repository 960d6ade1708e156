// The DNS cache (actors/dns/dns-cache.ts) and its `dns` table (actors/dns/dns-table.ts): TTLs counted down on a
// simulated clock, clamps, RFC 2308 negative caching, the sweep, the key's text form, and the merge laws
// (fast-check; DNS_TABLE_SEED=n replays a run).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError, Store, showValue } from '../store/index.js';
import { DnsCache } from '../actors/dns/dns-cache.js';
import {
  compareDnsEntries, dnsKey, dnsQuestionKey, dnsTable, fromDnsData, mergeDnsEntry, parseDnsKey, toDnsData, type DnsEntry,
} from '../actors/dns/dns-table.js';
import { a, cname, soa } from './support/dns-upstream.js';

const SEED = Number(process.env.DNS_TABLE_SEED ?? Date.now() % 1_000_000);
console.log(`dns-cache properties: seed ${SEED} (DNS_TABLE_SEED=${SEED} replays it)`);
const RUNS = { numRuns: 500, seed: SEED, endOnFailure: true };

const Q = { name: 'www.example.com', type: 'A', class: 'IN' };
const T0 = 1_000_000;

function fresh(opts: ConstructorParameters<typeof DnsCache>[1] = {}) {
  const table = new Store([dnsTable]).main.table(dnsTable);
  return { table, cache: new DnsCache(table, opts) };
}

describe('positive answers', () => {
  test('the TTL counts down on the clock and the row expires at the shortest record TTL', () => {
    const { cache } = fresh();
    const entry = cache.entryFor(Q, 'NOERROR', [cname('www.example.com', 'web.example.com', 600), a('web.example.com', '192.0.2.1', 300)], [], T0);
    assert.equal(entry.expires, T0 + 300_000);
    assert.equal(cache.insert(Q, entry, T0), true);
    assert.equal(cache.lookup(Q, T0)!.ttlS, 300);
    assert.equal(cache.lookup(Q, T0 + 10_000)!.ttlS, 290);
    assert.equal(cache.lookup(Q, T0 + 299_999)!.ttlS, 0);
    assert.equal(cache.lookup(Q, T0 + 300_000), undefined);
    assert.deepEqual([cache.counters.hits, cache.counters.misses], [3, 1]);
  });

  test('lookups ignore letter case in the name (RFC 4343)', () => {
    const { cache } = fresh();
    cache.insert(Q, cache.entryFor(Q, 'NOERROR', [a('www.example.com', '192.0.2.1')], [], T0), T0);
    assert.equal(cache.lookup({ ...Q, name: 'WwW.ExAmPlE.CoM' }, T0)!.entry.answers[0].data, '192.0.2.1');
  });

  test('TTLs are clamped to maxTtlS and raised to minTtlS', () => {
    const { cache } = fresh({ minTtlS: 30, maxTtlS: 3600 });
    assert.equal(cache.entryFor(Q, 'NOERROR', [a('www.example.com', '192.0.2.1', 604_800)], [], T0).expires, T0 + 3_600_000);
    assert.equal(cache.entryFor(Q, 'NOERROR', [a('www.example.com', '192.0.2.1', 5)], [], T0).expires, T0 + 30_000);
  });

  test('a zero TTL is answered but not cached (RFC 1035 §3.2.1)', () => {
    const { cache, table } = fresh();
    const entry = cache.entryFor(Q, 'NOERROR', [a('www.example.com', '192.0.2.1', 0)], [], T0);
    assert.equal(cache.insert(Q, entry, T0), false);
    assert.deepEqual([table.size, cache.counters.uncacheable], [0, 1]);
  });
});

describe('negative answers (RFC 2308)', () => {
  test('NXDOMAIN lives for min(SOA TTL, SOA MINIMUM) (§5), with the SOA kept for the authority section (§3)', () => {
    const { cache } = fresh();
    const nx = { ...Q, name: 'nope.example.com' };
    const entry = cache.entryFor(nx, 'NXDOMAIN', [], [soa('example.com', 3600, 60)], T0);
    assert.deepEqual([entry.negative, entry.soaMinimum, entry.expires, entry.authorities[0].type], [true, 60, T0 + 60_000, 'SOA']);
    assert.equal(cache.entryFor(nx, 'NXDOMAIN', [], [soa('example.com', 20, 60)], T0).expires, T0 + 20_000);
    cache.insert(nx, entry, T0);
    assert.equal(cache.lookup(nx, T0 + 59_000)!.entry.rcode, 'NXDOMAIN');
    assert.equal(cache.lookup(nx, T0 + 60_000), undefined);
    assert.deepEqual([cache.counters.negativeInserted, cache.counters.negativeHits], [1, 1]);
  });

  test('NODATA (NOERROR, no record of the type) is negative and lives for the SOA minimum too', () => {
    const { cache } = fresh();
    const aaaa = { ...Q, type: 'AAAA' };
    const entry = cache.entryFor(aaaa, 'NOERROR', [], [soa('example.com', 3600, 120)], T0);
    assert.deepEqual([entry.negative, entry.expires], [true, T0 + 120_000]);
  });

  test('a CNAME chain ending in no record of the type is NODATA, bounded by the CNAME TTL as well', () => {
    const { cache } = fresh();
    const entry = cache.entryFor({ ...Q, type: 'AAAA' }, 'NOERROR', [cname('www.example.com', 'web.example.com', 30)], [soa('example.com', 3600, 120)], T0);
    assert.deepEqual([entry.negative, entry.expires, entry.answers.length], [true, T0 + 30_000, 1]);
  });

  test('a negative answer without an SOA is not cached (§5)', () => {
    const { cache } = fresh();
    const entry = cache.entryFor(Q, 'NXDOMAIN', [], [], T0);
    assert.equal(cache.insert(Q, entry, T0), false);
    assert.equal(cache.counters.uncacheable, 1);
  });

  test('negative TTLs are cut to maxNegativeTtlS', () => {
    const { cache } = fresh({ maxNegativeTtlS: 900 });
    assert.equal(cache.entryFor(Q, 'NXDOMAIN', [], [soa('example.com', 86400, 86400)], T0).expires, T0 + 900_000);
  });
});

describe('the sweep and the bounds', () => {
  test('poll deletes expired rows, once per sweep interval, and nextDeadline says when', () => {
    const { cache, table } = fresh({ sweepIntervalMs: 1000 });
    assert.equal(cache.nextDeadline(), Infinity);
    cache.insert(Q, cache.entryFor(Q, 'NOERROR', [a('www.example.com', '192.0.2.1', 5)], [], T0), T0);
    const other = { ...Q, name: 'long.example.com' };
    cache.insert(other, cache.entryFor(other, 'NOERROR', [a('long.example.com', '192.0.2.2', 500)], [], T0), T0);
    cache.poll(T0);
    assert.equal(cache.nextDeadline(), T0 + 1000);
    cache.poll(T0 + 5000);
    assert.deepEqual([table.size, cache.counters.swept], [1, 1]);
    assert.ok(table.has(dnsKey(other)!));
  });

  test('past maxEntries new questions are not cached, and an existing one is still refreshed', () => {
    const { cache, table } = fresh({ maxEntries: 2 });
    for (const name of ['a.example', 'b.example', 'c.example']) {
      const q = { ...Q, name };
      cache.insert(q, cache.entryFor(q, 'NOERROR', [a(name, '192.0.2.1')], [], T0), T0);
    }
    assert.deepEqual([table.size, cache.counters.capDropped], [2, 1]);
    const q = { ...Q, name: 'a.example' };
    assert.equal(cache.insert(q, cache.entryFor(q, 'NOERROR', [a('a.example', '192.0.2.9')], [], T0 + 1), T0 + 1), true);
  });

  test('a name whose escaped key passes 255 bytes is answered but not stored', () => {
    const { cache, table } = fresh();
    const q = { ...Q, name: Array.from({ length: 4 }, () => '/'.repeat(60)).join('.') };
    assert.equal(dnsKey(q), undefined);
    assert.equal(cache.insert(q, cache.entryFor(q, 'NOERROR', [a(q.name, '192.0.2.1')], [], T0), T0), false);
    assert.deepEqual([table.size, cache.counters.unstorable], [0, 1]);
  });
});

describe('the key', () => {
  test('a question reads as name~TYPE~CLASS, lowercased, grouped by top-level label', () => {
    assert.equal(dnsKey({ name: 'WWW.Example.COM', type: 'A', class: 'IN' }), 'www.example.com~A~IN');
    assert.deepEqual(dnsQuestionKey.dirs!('www.example.com~A~IN'), ['com']);
    assert.equal(dnsKey({ name: '.', type: 'NS', class: 'IN' }), '.~NS~IN');
    assert.deepEqual(dnsQuestionKey.dirs!('.~NS~IN'), ['_root']);
  });

  test('bytes outside [a-z0-9._*-] are escaped, so the key is one path segment', () => {
    const k = dnsKey({ name: 'a/b~c%d é', type: 'TXT', class: 'IN' })!;
    assert.equal(k, 'a%2fb%7ec%25d%20%c3%a9~TXT~IN');
    assert.deepEqual(parseDnsKey(k), { name: 'a/b~c%d é', type: 'TXT', class: 'IN' });
  });

  test('non-canonical keys are refused', () => {
    for (const bad of ['WWW.example.com~A~IN', 'www%2eexample.com~A~IN', 'www.example.com~a~IN', 'www.example.com~A', '~A~IN', 'x/y~A~IN', '%ff~A~IN']) {
      assert.throws(() => dnsQuestionKey.decode(bad), CodecError, bad);
    }
  });

  test('any question round-trips through its key (fast-check)', () => {
    const label = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((s) => !s.includes('.'));
    fc.assert(fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), fc.constantFrom('A', 'AAAA', 'TXT', 'UNKNOWN_65280'), (labels, type) => {
      const name = labels.join('.');
      const k = dnsKey({ name, type, class: 'IN' });
      if (k === undefined) return;
      const back = parseDnsKey(k)!;
      assert.equal(dnsKey(back), k);
      assert.ok(!k.includes('/') && !k.includes('\0') && !k.includes('\n'));
    }), RUNS);
  });
});

describe('the value', () => {
  test('record bytes are stored as { hex } and come back as the same bytes', () => {
    const txt = [Buffer.from('v=spf1 -all'), Buffer.from([0, 255, 10])];
    const data = toDnsData(txt);
    assert.deepEqual(data, [{ hex: '763d73706631202d616c6c' }, { hex: '00ff0a' }]);
    assert.deepEqual(fromDnsData(data), txt);
  });

  test('a row decodes from its readable form, and bad record data is a CodecError', () => {
    const { cache } = fresh();
    const entry = cache.entryFor(Q, 'NXDOMAIN', [], [soa('example.com', 60, 60)], T0);
    assert.deepEqual(dnsTable.value.decode(JSON.parse(JSON.stringify(showValue(dnsTable.value, entry)))), entry);
    assert.throws(() => dnsTable.value.decode({ ...entry, answers: [{ name: 'x', type: 'A', class: 'IN', data: { hex: 'zz' } }] }), CodecError);
    assert.throws(() => dnsTable.value.decode({ ...entry, rcode: 'SERVFAIL' }), CodecError);
  });
});

describe('the merge', () => {
  const entry: fc.Arbitrary<DnsEntry> = fc.record({
    rcode: fc.constantFrom('NOERROR' as const, 'NXDOMAIN' as const),
    answers: fc.array(fc.record({ name: fc.constantFrom('www.example.com', 'web.example.com'), type: fc.constantFrom('A', 'CNAME'), class: fc.constant('IN'), data: fc.ipV4() }), { maxLength: 3 }),
    authorities: fc.constant([]),
    expires: fc.integer({ min: T0, max: T0 + 5 }), // few values, so ties are common
    negative: fc.boolean(),
    soaMinimum: fc.integer({ min: 0, max: 2 }),
  }).map((e): DnsEntry => ({ ...e, answers: e.answers.map((r) => ({ ...r })), authorities: [] })); // plain objects, as the store holds them (fast-check may make null-prototype ones)
  const merge = (x: DnsEntry, y: DnsEntry) => mergeDnsEntry(() => undefined, x, y) as DnsEntry;

  test('commutative, associative and idempotent (fast-check)', () => {
    fc.assert(fc.property(entry, entry, entry, (x, y, z) => {
      assert.deepEqual(merge(x, y), merge(y, x));
      assert.deepEqual(merge(merge(x, y), z), merge(x, merge(y, z)));
      assert.deepEqual(merge(x, x), x);
    }), RUNS);
  });

  test('the later expiry wins whatever the content; ties go the same way on every branch', () => {
    fc.assert(fc.property(entry, entry, (x, y) => {
      const m = merge(x, y);
      assert.equal(m.expires, Math.max(x.expires, y.expires));
      assert.equal(compareDnsEntries(m, x) >= 0 && compareDnsEntries(m, y) >= 0, true);
    }), RUNS);
  });

  test('a refresh on one branch survives the sweep deleting the row on another', () => {
    const store = new Store([dnsTable]);
    const { cache } = fresh();
    const key = dnsKey(Q)!;
    store.main.table(dnsTable).set(key, cache.entryFor(Q, 'NOERROR', [a('www.example.com', '192.0.2.1', 10)], [], T0));
    store.main.commit({ author: 't', message: 'cached' });
    const swept = store.main.fork('swept'), refreshed = store.main.fork('refreshed');
    swept.table(dnsTable).delete(key);
    swept.commit({ author: 't', message: 'swept' });
    refreshed.table(dnsTable).set(key, cache.entryFor(Q, 'NOERROR', [a('www.example.com', '192.0.2.1', 10)], [], T0 + 20_000));
    refreshed.commit({ author: 't', message: 'refreshed' });
    store.main.merge(swept);
    store.main.merge(refreshed);
    assert.equal(store.main.table(dnsTable).get(key)?.expires, T0 + 30_000);
  });
});
