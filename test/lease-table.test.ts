// The `leases` table (actors/dhcp/lease-table.ts): its merge obeys the laws over random rows of one address
// (fast-check; LEASE_TABLE_SEED=n replays a run), the order settles two holders as docs/dhcp.md argues, the
// codec refuses what would break the lease file, the lease file's line reads back, and a reservation written
// as a file with plain git comes back into the store.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CodecError, Conflict, Store } from '../store/index.js';
import { GitStore } from '../store/git/index.js';
import { LEASE_STATES, compareLeaseEntries, leasesApiRule, leasesTable, type LeaseEntry } from '../actors/dhcp/lease-table.js';
import { formatLeaseLine, parseLeaseLine } from '../actors/dhcp/lease-file.js';
import { parseIpv4 } from '../wire/ipv4.js';
import { git } from './support/git-cli.js';

const SEED = Number(process.env.LEASE_TABLE_SEED ?? Date.now() % 1_000_000);
console.log(`lease-table properties: seed ${SEED} (LEASE_TABLE_SEED=${SEED} replays it)`);
const RUNS = { numRuns: 2000, seed: SEED, endOnFailure: true };

const tmp = mkdtempSync(join(tmpdir(), `nb-lease-table-${process.pid}-`));
after(() => rmSync(tmp, { recursive: true, force: true }));

const IP = parseIpv4('10.201.0.150');
const MAC_A = 0x02_00_00_00_00_0a, MAC_B = 0x02_00_00_00_00_0b;

const lease = (over: Partial<LeaseEntry> = {}): LeaseEntry => ({
  mac: MAC_A, clientId: '', hostname: '', expires: 3_600_000, state: 'bound', kind: 'dynamic', created: 1000, ...over,
});

/** Rows of one address from few values per field, so ties on every field but one are common. */
const row: fc.Arbitrary<LeaseEntry> = fc.record({
  mac: fc.constantFrom(0, MAC_A, MAC_B),
  clientId: fc.constantFrom('', '01:02:00:00:00:00:0a'),
  hostname: fc.constantFrom('', 'laptop', 'printer'),
  expires: fc.constantFrom(0, 1000, 2000),
  state: fc.constantFrom(...LEASE_STATES),
  kind: fc.constantFrom('dynamic' as const, 'static' as const),
  created: fc.constantFrom(0, 10, 20),
}).map((x) => ({ ...x })); // plain objects, as the store holds them (fast-check may make null-prototype ones)
const maybe = fc.option(row, { nil: undefined });

/** The table's merge (option and all) with ancestor `old`. */
function merge(a: LeaseEntry | undefined, b: LeaseEntry | undefined, old?: LeaseEntry): LeaseEntry | undefined {
  const r = leasesTable.merge(() => old, a, b);
  assert.ok(!(r instanceof Conflict), `merge gave a conflict: ${String(r)}`);
  return r as LeaseEntry | undefined;
}

test('merge is commutative, associative and idempotent over rows of one address', () => {
  fc.assert(fc.property(row, row, row, (a, b, c) => {
    assert.deepEqual(merge(a, b), merge(b, a));
    assert.deepEqual(merge(a, a), a);
    assert.deepEqual(merge(merge(a, b), c), merge(a, merge(b, c)));
    const ab = merge(a, b)!;
    assert.ok(ab === a || ab === b, 'the winner is one side whole: no row mixes two holders');
  }), RUNS);
});

test('with deletions (a release or an expiry on one side) the merge is still commutative and never conflicts', () => {
  fc.assert(fc.property(maybe, maybe, maybe, (old, a, b) => {
    assert.deepEqual(merge(a, b, old), merge(b, a, old));
  }), RUNS);
});

test('the order is total and antisymmetric: 0 only for equal rows', () => {
  fc.assert(fc.property(row, row, (a, b) => {
    assert.equal(Math.sign(compareLeaseEntries(a, b)), 0 - Math.sign(compareLeaseEntries(b, a)));
    assert.equal(compareLeaseEntries(a, b) === 0, JSON.stringify(a) === JSON.stringify(b));
  }), RUNS);
});

test('two branches gave the address to two clients: bound beats offered, whatever the times or MACs', () => {
  const bound = lease({ mac: MAC_B, state: 'bound', created: 900 });
  const offered = lease({ mac: MAC_A, state: 'offered', created: 100, expires: 60_000 });
  assert.deepEqual(merge(bound, offered), bound);
  assert.deepEqual(merge(offered, bound), bound);
});

test('both bound: the earlier holder keeps the address, then the lower MAC', () => {
  const first = lease({ mac: MAC_B, created: 100 });
  const second = lease({ mac: MAC_A, created: 200, expires: 9_999_999 });
  assert.deepEqual(merge(second, first), first);
  const tieA = lease({ mac: MAC_A, created: 100 }), tieB = lease({ mac: MAC_B, created: 100, expires: 9_999_999 });
  assert.deepEqual(merge(tieB, tieA), tieA);
});

test('one client on both sides: the later expiry (a renewal) wins', () => {
  const renewed = lease({ expires: 7_200_000 });
  assert.deepEqual(merge(lease(), renewed), renewed);
});

test('evidence beats intention: a decline beats an offer, a bound client beats a decline', () => {
  const declined = lease({ mac: 0, state: 'declined', created: 500, expires: 600_000 });
  const offered = lease({ mac: MAC_A, state: 'offered', created: 100 });
  assert.deepEqual(merge(offered, declined), declined);
  assert.deepEqual(merge(declined, lease({ state: 'bound', created: 900 })), lease({ state: 'bound', created: 900 }));
});

test('a reservation beats any lease of its address; of two reservations the later written wins', () => {
  const reservation = lease({ mac: MAC_B, kind: 'static', state: 'reserved', expires: 0, created: 0, hostname: 'printer' });
  assert.deepEqual(merge(lease({ created: 5 }), reservation), reservation);
  const edited = { ...reservation, mac: MAC_A, created: 50 };
  const serverBound = { ...reservation, state: 'bound' as const, expires: 3_600_000 };
  assert.deepEqual(merge(serverBound, edited), edited, "an operator's later reservation supersedes the server's use of the old one");
});

test('a release (deletion) loses to a concurrent change of the row: the other branch\'s holder stays', () => {
  const old = lease({ state: 'bound' });
  const other = lease({ mac: MAC_B, state: 'offered', created: 3000 });
  assert.deepEqual(merge(undefined, other, old), other);
  assert.equal(merge(undefined, old, old), undefined, 'released on one side, untouched on the other: gone');
});

test('the codec shows the readable form and refuses hostnames or client ids that would break a lease-file line', () => {
  const e = lease({ hostname: 'laptop', clientId: '01:02:00:00:00:00:0a' });
  const shown = leasesTable.value.show!(e);
  assert.deepEqual(shown, { ...e, mac: '02:00:00:00:00:0a' });
  assert.deepEqual(leasesTable.value.decode(shown, 'leases/x'), e);
  for (const bad of [{ hostname: 'two words' }, { hostname: 'x'.repeat(64) }, { clientId: '1:2' }, { clientId: 'ZZ' }, { state: 'free' }, { kind: 'fixed' }]) {
    assert.throws(() => leasesTable.value.decode({ ...shown, ...bad }, 'leases/x'), CodecError, JSON.stringify(bad));
  }
  assert.equal(leasesTable.key.encode(IP), '10.201.0.150');
  assert.deepEqual(leasesTable.key.dirs!(IP), ['10.201.0']);
});

test('the API writes reservations only', () => {
  assert.equal(leasesApiRule.write!({ kind: 'static' }), null);
  assert.match(leasesApiRule.write!({ kind: 'dynamic' }) ?? '', /must be reservations/);
});

test('a lease-file line is dnsmasq\'s: expiry in epoch seconds, mac, ip, hostname or *, client id or *', () => {
  const e = lease({ expires: 1_733_500_000_999, hostname: 'laptop', clientId: '01:02:00:00:00:00:0a' });
  assert.equal(formatLeaseLine(IP, e), '1733500000 02:00:00:00:00:0a 10.201.0.150 laptop 01:02:00:00:00:00:0a');
  assert.equal(formatLeaseLine(IP, lease({ expires: 5000 })), '5 02:00:00:00:00:0a 10.201.0.150 * *');
  assert.deepEqual(parseLeaseLine('1733500000 02:00:00:00:00:0a 10.201.0.150 laptop 01:02:00:00:00:00:0a'),
    { expiresS: 1733500000, mac: MAC_A, ip: IP, hostname: 'laptop', clientId: '01:02:00:00:00:00:0a' });
  for (const bad of ['', '17 02:00:00:00:00:0a 10.201.0.150 *', 'x 02:00:00:00:00:0a 10.201.0.150 * *', '1 02:00:00:00:00 10.201.0.150 * *', '1 02:00:00:00:00:0a 10.201.0.256 * *']) {
    assert.equal(parseLeaseLine(bad), undefined, bad);
  }
  fc.assert(fc.property(row, fc.nat(0xffff_ffff), (e, ip) => {
    const back = parseLeaseLine(formatLeaseLine(ip >>> 0, e))!;
    assert.deepEqual(back, { expiresS: Math.floor(e.expires / 1000), mac: e.mac, ip: ip >>> 0, hostname: e.hostname, clientId: e.clientId });
  }), RUNS);
});

test('a reservation committed with plain git as leases/10.201.0/10.201.0.150 is read back into the table', async () => {
  const dir = join(tmp, 'repo');
  const work = join(tmp, 'work');
  const t = { now: 1_000 };
  const store = new Store([leasesTable], { clock: () => t.now });
  const gs = await GitStore.open(dir, store.main, { thread: false, pruneGraceMs: 0 });
  try {
    store.main.table(leasesTable).set(parseIpv4('10.201.0.100'), lease({ hostname: 'laptop' }));
    store.main.commit({ author: 'dhcp', message: 'ACK' });
    await gs.flush((t.now += 1000));
    assert.match(git(dir, 'show', 'main:leases/10.201.0/10.201.0.100'), /"mac": "02:00:00:00:00:0a"/);
    git(tmp, 'clone', '-q', dir, work);
    git(work, 'checkout', '-q', '-b', 'edits');
    mkdirSync(join(work, 'leases/10.201.0'), { recursive: true });
    const reservation = { mac: '02:00:00:00:00:0b', clientId: '', hostname: 'printer', expires: 0, state: 'reserved', kind: 'static', created: 0 };
    writeFileSync(join(work, 'leases/10.201.0/10.201.0.150'), JSON.stringify(reservation, null, 2) + '\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'reserve .150 for the printer');
    git(work, 'push', '-q', 'origin', 'edits');
    const out = await gs.pollEdits((t.now += 1000));
    assert.ok(out, 'the edit was found');
    assert.deepEqual(out.rejected, []);
    assert.deepEqual(store.main.table(leasesTable).get(IP), lease({ mac: MAC_B, hostname: 'printer', expires: 0, state: 'reserved', kind: 'static', created: 0 }));
  } finally {
    await gs.close(t.now);
  }
});
