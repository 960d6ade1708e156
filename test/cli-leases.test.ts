// `netbranch leases` (cli/leases.ts) against the real API server (api/server/lookup-server.ts) serving a store
// with lease rows, as the router's --api will serve its `leases` table: a LocalActor 'lookup' fork of the
// primary through BranchSource, on a Unix socket and on loopback TCP (with a token). Run in-process through main().
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Branch, Table } from '../store/index.js';
import { serveTables } from './support/api-fixture.js';
import { leasesApiRule, leasesTable, type LeaseEntry } from '../actors/dhcp/lease-table.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { inProcess as netbranch } from './support/cli-run.js';
import { parseIpv4 } from '../wire/index.js';

const DIR = mkdtempSync(join(tmpdir(), 'nb-cli-leases-'));
const closers: (() => unknown)[] = [];
const serve = async (name: string, tables: Table<any, any>[], fill: (main: Branch) => void) => {
  const f = await serveTables(join(DIR, name), { tables, fill, rules: { leases: leasesApiRule }, now: NOW, token: TOKEN });
  closers.push(f.close);
  return f;
};
after(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(DIR, { recursive: true, force: true });
});

delete process.env.NETBRANCH_API;
delete process.env.NETBRANCH_TOKEN;

const NOW = 1_733_500_000_000; // the router's clock: epoch ms
const TOKEN = 'tok-read-leases-0123456789';

const row = (mac: number, over: Partial<LeaseEntry>): LeaseEntry => ({
  mac, clientId: '', hostname: '', expires: NOW + 3_600_000, state: 'bound', kind: 'dynamic', created: NOW, ...over,
});

const ROWS: [string, LeaseEntry][] = [
  ['10.201.0.100', row(0x02_00_00_00_01_01, { hostname: 'laptop', clientId: '01:02:00:00:00:01:01' })],
  ['10.201.0.101', row(0x02_00_00_00_01_02, { state: 'offered', expires: NOW + 60_000 })],
  ['10.201.0.102', row(0, { state: 'declined', expires: NOW + 600_000 })],
  ['10.201.0.150', row(0x02_00_00_00_01_50, { kind: 'static', hostname: 'printer', created: 0, expires: NOW + 1_800_000 })],
  ['10.201.0.50', row(0x02_00_00_00_00_50, { kind: 'static', state: 'reserved', expires: 0, created: 0 })],
];

// dnsmasq's lease-file lines, in the API's key order.
const LINES = {
  laptop: '1733503600 02:00:00:00:01:01 10.201.0.100 laptop 01:02:00:00:00:01:01',
  offered: '1733500060 02:00:00:00:01:02 10.201.0.101 * *',
  declined: '1733500600 00:00:00:00:00:00 10.201.0.102 * *',
  printer: '1733501800 02:00:00:00:01:50 10.201.0.150 printer *',
  reserved: '0 02:00:00:00:00:50 10.201.0.50 * *',
};

let unix = '';
let tcp = '';
let noLeases = '';

before(async () => {
  const served = await serve('leases', [leasesTable], (main) => { for (const [k, v] of ROWS) main.table(leasesTable).set(parseIpv4(k), v); });
  ({ unix, tcp } = served);
  noLeases = (await serve('arp-only', [arpTable], () => {})).unix;
});

test('netbranch leases prints the bound leases as dnsmasq\'s lease file does, reservations in use included', async () => {
  const r = await netbranch('leases', '--api', unix);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, [LINES.laptop, LINES.printer, ''].join('\n'));
});

test('--state picks states (any case), `all` shows every row', async () => {
  const r = await netbranch('leases', '--api', unix, '--state', 'Offered,declined');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [LINES.offered, LINES.declined, ''].join('\n'));
  const all = await netbranch('leases', '--api', unix, '--state', 'all');
  assert.equal(all.stdout, [LINES.laptop, LINES.offered, LINES.declined, LINES.printer, LINES.reserved, ''].join('\n'));
});

test('--prefix picks by address; over TCP with a token the same lines', async () => {
  const r = await netbranch('leases', '--api', tcp, '--token', TOKEN, '--prefix', '10.201.0.15', '--state', 'all');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [LINES.printer, ''].join('\n'));
});

test('--json: {table, entries} with the rows in the API\'s readable form, filtered by --state', async () => {
  const r = await netbranch('leases', '--api', unix, '--json', '--state', 'reserved');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { table: 'leases', entries: [{ key: '10.201.0.50', value: { ...ROWS[4][1], mac: '02:00:00:00:00:50' } }] });
});

test('an unknown --state is a usage error (exit 2) naming the states, before any connection is tried', async () => {
  const r = await netbranch('leases', '--api', 'unix:/nonexistent/api.sock', '--state', 'bound,expired');
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "netbranch: --state: no lease state 'expired' (states: reserved, offered, declined, bound, all)\n");
  assert.equal(r.stdout, '');
});

test('a server without a leases table: one line naming the tables it has, exit 1', async () => {
  const r = await netbranch('leases', '--api', noLeases);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "netbranch: unknown-table: no table 'leases' (tables: arp)\n");
});

test('TCP without a token is refused as the other API commands are: one line, exit 1', async () => {
  const r = await netbranch('leases', '--api', tcp);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^netbranch: unauthenticated: TCP clients must authenticate first[^\n]*\n$/);
});
