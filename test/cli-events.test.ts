// `netbranch events` (cli/events.ts) against the real API server over tables the test changes: conntrack -E
// lines for nat, key and fields for other tables, --json, --event, the listing that tells NEW from UPDATE,
// and a clean stop on SIGTERM and on a closed stdout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KnownEntries, parseEventKinds } from '../cli/events.js';
import { buildProgram } from '../cli/main.js';
import { inProcess } from './support/cli-run.js';
import { startCli, waitFor } from './support/cli.js';
import { serveLive, type LiveTables } from './support/live-tables.js';
import type { InterfaceInfo } from '../api/protocol.js';

delete process.env.NETBRANCH_API;
delete process.env.NETBRANCH_TOKEN;

const DIR = mkdtempSync(join(tmpdir(), 'nb-cli-events-'));
const NOW = 1_700_000_000_000;
const INTERFACES: InterfaceInfo[] = [
  { role: 'inside', dev: 'tap-in', ip: '10.201.0.1', prefix: 24, mac: '02:00:00:00:01:01' },
  { role: 'outside', dev: 'tap-out', ip: '10.202.0.1', prefix: 24, mac: '02:00:00:00:02:01' },
];
const F1 = 'udp:10.201.0.2:40000:10.202.0.2:53';
const F2 = 'tcp:10.201.0.3:51000:10.202.0.2:443';
const flow = (key: string, state: string, o: Record<string, number> = {}) => {
  const [proto, insideIp, insidePort, remoteIp, remotePort] = key.split(':');
  return {
    proto, insideIp, insidePort: Number(insidePort), remoteIp, remotePort: Number(remotePort), outPort: Number(insidePort), state,
    created: NOW, lastSeen: NOW, pktsOut: 1, pktsIn: 0, bytesOut: 60, bytesIn: 0, ...o,
  };
};

let live: LiveTables;
before(async () => {
  live = await serveLive(DIR, { now: NOW, interfaces: INTERFACES });
  live.edit([['nat', F1, flow(F1, 'udp-new')], ['arp', '10.201.0.7', { mac: '02:00:00:00:00:07', expires: 0, kind: 'static' }]], 'seed');
});
after(async () => {
  await live.close();
  rmSync(DIR, { recursive: true, force: true });
});

/** Resolves once the server has had `n` more requests than `from` (the command's hello, lists and watch). */
async function requestsReach(from: number, n: number): Promise<void> {
  assert.ok(await waitFor(() => live.server.counters.requests >= from + n, 20_000), `the command never made its ${n} requests`);
}

/** The seconds-left field as `T`: the CLI's clock runs on from hello's `now` while the test edits. */
const ttl = (line: string): string => line.replace(/^( *\[\w+\] \S+ +\d+) \d+/, '$1 T');

test('KnownEntries: a key not seen is NEW, a seen one UPDATE, a removed one DESTROY with its last value', () => {
  const k = new KnownEntries();
  k.seed('a', 1);
  assert.deepEqual(k.classify('a', 2), { type: 'update', key: 'a', value: 2, last: undefined });
  assert.deepEqual(k.classify('b', 3), { type: 'new', key: 'b', value: 3, last: undefined });
  assert.deepEqual(k.classify('a', null), { type: 'destroy', key: 'a', value: null, last: 2 });
  assert.deepEqual(k.classify('a', 4), { type: 'new', key: 'a', value: 4, last: undefined });
  assert.deepEqual(k.classify('z', null), { type: 'destroy', key: 'z', value: null, last: undefined });
});

test('--event takes new, update, destroy (any case); anything else is a usage error (exit 2) before connecting', async () => {
  assert.deepEqual([...parseEventKinds('NEW, destroy')], ['new', 'destroy']);
  const run = await inProcess('events', '--api', 'unix:/nonexistent/api.sock', '--event', 'new,gone');
  assert.equal(run.code, 2);
  assert.equal(run.stderr, "netbranch: --event: no event 'gone' (events: new, update, destroy)\n");
  const count = await inProcess('events', '--api', 'unix:/nonexistent/api.sock', '--count', '0');
  assert.equal(count.code, 2);
});

test('nat: conntrack -E lines; a flow listed at the start is an UPDATE, a new one NEW, a removed one DESTROY with its counters', async () => {
  const from = live.server.counters.requests;
  const run = inProcess('events', '--api', live.unix, '--count', '4');
  await requestsReach(from, 4); // hello, the dnat rules, watch, the listing
  live.edit([['nat', F1, flow(F1, 'udp-replied', { pktsIn: 1, bytesIn: 80 })]]);
  live.edit([['nat', F2, flow(F2, 'syn-sent')]]);
  live.edit([['nat', F2, flow(F2, 'established', { pktsOut: 3, pktsIn: 2, bytesOut: 180, bytesIn: 120 })]]);
  live.edit([['nat', F1, undefined]]);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trimEnd().split('\n').map(ttl), [
    ' [UPDATE] udp      17 T src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 src=10.202.0.2 dst=10.202.0.1 sport=53 dport=40000',
    '    [NEW] tcp      6 T SYN_SENT src=10.201.0.3 dst=10.202.0.2 sport=51000 dport=443 [UNREPLIED] src=10.202.0.2 dst=10.202.0.1 sport=443 dport=51000',
    ' [UPDATE] tcp      6 T ESTABLISHED src=10.201.0.3 dst=10.202.0.2 sport=51000 dport=443 src=10.202.0.2 dst=10.202.0.1 sport=443 dport=51000 [ASSURED]',
    '[DESTROY] udp      17 T src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 packets=1 bytes=60 src=10.202.0.2 dst=10.202.0.1 sport=53 dport=40000 packets=1 bytes=80',
  ]);
  live.edit([['nat', F1, flow(F1, 'udp-new')], ['nat', F2, undefined]], 'reset');
});

test('--table arp --json --event new,destroy: one object per event, the filtered ones not counted', async () => {
  const from = live.server.counters.requests;
  const run = inProcess('events', '--api', live.unix, '--table', 'arp', '--json', '--event', 'new,destroy', '--count', '2');
  await requestsReach(from, 2); // watch, the listing
  live.edit([['arp', '10.201.0.7', { mac: '02:00:00:00:00:77', expires: 0, kind: 'static' }]]); // an update: not printed
  live.edit([['arp', '10.201.0.8', { mac: '02:00:00:00:00:08', expires: 0, kind: 'static' }]]);
  live.edit([['arp', '10.201.0.7', undefined]]);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), [
    { type: 'new', table: 'arp', key: '10.201.0.8', value: { mac: '02:00:00:00:00:08', expires: 0, kind: 'static' } },
    { type: 'destroy', table: 'arp', key: '10.201.0.7', value: null, last: { mac: '02:00:00:00:00:77', expires: 0, kind: 'static' } },
  ]);
});

test('another table prints the key and its fields, times relative; --seconds ends a quiet stream', async () => {
  const from = live.server.counters.requests;
  const run = inProcess('events', '--api', live.unix, '--table', 'arp', '--seconds', '2');
  await requestsReach(from, 3); // hello, watch, the listing
  live.edit([['arp', '10.201.0.9', { mac: '02:00:00:00:00:09', expires: NOW + 3_600_000, kind: 'dynamic' }]]);
  live.edit([['arp', '10.201.0.9', undefined]]);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  assert.match(lines[0], /^ {4}\[NEW\] arp 10\.201\.0\.9 mac: 02:00:00:00:00:09, expires: in (1h|59m \d+s), kind: dynamic$/);
  assert.match(lines[1], /^\[DESTROY\] arp 10\.201\.0\.9 mac: 02:00:00:00:00:09, /);
});

test('a table the server does not have: one line with the code, exit 1', async () => {
  const r = await inProcess('events', '--api', live.unix, '--table', 'nope');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^netbranch: unknown-table: /);
});

test('spawned: SIGTERM stops it with exit 0; a reader closing stdout stops it too', async () => {
  let from = live.server.counters.requests;
  const p = startCli(['events', '--api', live.unix]);
  await requestsReach(from, 4);
  live.edit([['nat', F2, flow(F2, 'syn-sent')]]);
  assert.match(await p.firstLine, /^ {4}\[NEW\] tcp {6}6 \d+ SYN_SENT src=10\.201\.0\.3 /);
  p.child.kill('SIGTERM');
  assert.deepEqual(await p.exitWithin(5_000), { code: 0, signal: null });

  from = live.server.counters.requests;
  const head = startCli(['events', '--api', live.unix], 1); // `netbranch events | head -n 1`
  await requestsReach(from, 4);
  live.edit([['nat', F2, flow(F2, 'established')]]);
  await head.firstLine;
  live.edit([['nat', F2, undefined]]); // its line meets the closed pipe
  assert.deepEqual(await head.exitWithin(5_000), { code: 0, signal: null });
});

test('--help names the events, the flags and an example', () => {
  const cmd = buildProgram().commands.find((c) => c.name() === 'events');
  assert.ok(cmd);
  let help = '';
  cmd.configureOutput({ writeOut: (t) => { help += t; } });
  cmd.outputHelp();
  for (const s of ['--table <table>', '--event <kinds>', '--count <n>', '--seconds <s>', '--json', 'conntrack -E', '$ netbranch events']) assert.ok(help.includes(s), s);
});
