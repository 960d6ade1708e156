// `netbranch stats` (cli/stats.ts) and its table (cli/stats-format.ts): a realistic report of a two-actor router
// as its actors count (router-worker.ts's counters), the command against the API server with and without a
// stack behind it, and, as root, against a real router whose flows the test made.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActorReport, StackReport } from '../api/protocol.js';
import { formatColumns, formatStats } from '../cli/stats-format.js';
import { syncLines } from '../cli/sync.js';
import { buildProgram } from '../cli/main.js';
import { inProcess } from './support/cli-run.js';
import { serveLive, type LiveTables } from './support/live-tables.js';
import { noLab, PY, ServicesLab, waitOutput } from './support/services-lab.js';

delete process.env.NETBRANCH_API;
delete process.env.NETBRANCH_TOKEN;

const link = (side: string, rx: number, tx: number, drops: number) => ({
  [`link.${side}.rxFrames`]: rx, [`link.${side}.rxBytes`]: rx * 90, [`link.${side}.txFrames`]: tx, [`link.${side}.txBytes`]: tx * 90,
  [`link.${side}.rxDropped`]: 0, [`link.${side}.txDropped`]: drops, [`link.${side}.errors`]: 0,
});
const handoff = (side: string, out: number, dropped: number) => ({
  [`handoff.${side}.handedOut`]: out, [`handoff.${side}.handedIn`]: out, [`handoff.${side}.arpCopies`]: 1, [`handoff.${side}.handoffDropped`]: dropped,
});
const nat = (created: number, flows: number, full: number, noPort: number, noBinding: number) => ({
  'nat.created': created, 'nat.outbound': created * 30, 'nat.inbound': created * 28, 'nat.preserved': created - 1, 'nat.tableFull': full,
  'nat.portsExhausted': noPort, 'nat.noBinding': noBinding, 'nat.reverseRebuilds': 0, 'nat.flushedWrites': created * 9, 'nat.expired': 0,
  'nat.forwardCreated': 1, 'nat.forwardClash': 0, 'nat.forwardPortsSkipped': 0, 'nat.remapExpired': 0, 'nat.flows': flows,
});
const actor = (name: string, kind: string, pushes: number, counters: Record<string, number>, o: Partial<ActorReport> = {}): ActorReport => ({
  name, kind, incarnation: 1, base: 4_520, pendingEdits: 0, pushes, heads: 4_521, conflicts: 0, rejected: 0, resyncs: 0, counters, ...o,
});

/** A router with two packet actors after an hour: what gatherReport (actors/runtime/stack-report.ts) answers. */
export const REPORT: StackReport = {
  role: 'router', now: 1_700_000_000_000, uptimeS: 3_725, head: 4_521,
  tables: [
    { name: 'arp', entries: 3 }, { name: 'nat', entries: 1_204, limit: 131_072 }, { name: 'dnat', entries: 1 }, { name: 'frag', entries: 0 },
    { name: 'leases', entries: 2 }, { name: 'dhcp-client', entries: 0 }, { name: 'dns', entries: 17 },
  ],
  actors: [
    actor('packet-0', 'packet', 2_210, { rxInside: 18_000, rxOutside: 16_500, forwardedOut: 17_900, forwardedIn: 16_400, ...nat(610, 598, 0, 2, 14),
      ...link('inside', 18_000, 16_450, 0), ...link('outside', 16_500, 17_900, 3), ...handoff('inside', 20, 0), ...handoff('outside', 31, 1), 'merge.turns': 36_000 }, { conflicts: 2 }),
    actor('packet-1', 'packet', 2_190, { rxInside: 17_200, rxOutside: 15_900, forwardedOut: 17_150, forwardedIn: 15_800, ...nat(605, 590, 0, 0, 9),
      ...link('inside', 17_200, 15_850, 0), ...link('outside', 15_900, 17_150, 0), ...handoff('inside', 18, 0), ...handoff('outside', 25, 0), 'merge.turns': 36_000 }, { incarnation: 2 }),
    actor('expiry', 'router-expiry', 95, { ticks: 3_725, arpExpired: 4, natExpired: 21, fragExpired: 0, 'merge.turns': 36_000 }),
    actor('lookup', 'lookup', 3, { connections: 5, open: 1, requests: 41, errors: 1, refused: 1, httpRequests: 0, 'merge.turns': 36_000 }),
  ],
  restarts: { 'packet-0': 0, 'packet-1': 1, expiry: 0, lookup: 0 },
  supervisor: { crashes: 1, restarts: 1, deltas: 4_498, rejected: 0, startupFailures: 0, givenUp: 0 },
  store: { commits: 4_530, merges: 4_498, fastForwards: 0, conflicts: 2, released: 4_400, watchErrors: 0, rejectedDeltas: 0, retainedCommits: 130 },
  conflictsByTable: { nat: 2 },
  mergeMs: { buckets: [[0.05, 1_200], [0.1, 3_900], [0.25, 4_400], [0.5, 4_470], [1, 4_490], [2.5, 4_497], [5, 4_498], [10, 4_498], [25, 4_498], [50, 4_498], [100, 4_498], [250, 4_498]], sum: 410.2, count: 4_498 },
  git: { flushes: 3_700, flushErrors: 0, lastFlushMs: 14, lastFlushChanges: 37, objectsWritten: 90_000, bytesWritten: 12_000_000, editsMerged: 1, editEntriesApplied: 1, editFilesRejected: 0, editErrors: 0, squashedCommits: 3_600, prunedObjects: 80_000, backlog: 12 },
};

const SERVER = { connections: 5, open: 1, requests: 41, errors: 1, refused: 1, events: 230, slowConsumers: 0, requestsByOp: { hello: 5, list: 20, stats: 3, watch: 2, get: 11 }, errorsByCode: { forbidden: 1 } };

test('the report as a table: tables with limits, actors with frames and merges, NAT by reason, merges, git, the API server', () => {
  assert.deepEqual(formatStats(REPORT, SERVER), [
    'router: up 1h 2m, head commit #4521, 4 actors',
    '',
    'Tables',
    '  table        entries   limit  used',
    '  arp                3       -',
    '  nat             1204  131072  0.9%',
    '  dnat               1       -',
    '  frag               0       -',
    '  leases             2       -',
    '  dhcp-client        0       -',
    '  dns               17       -',
    '',
    'Actors (pushes: deltas merged into the primary)',
    '  actor     kind           inc  frames in  frames out  dropped  pushes  conflicts  rejected  resyncs  restarts',
    '  packet-0  packet           1      34500       34350        4    2210          2         0        0         0',
    '  packet-1  packet           2      33100       33000        0    2190          0         0        0         1',
    '  expiry    router-expiry    1          -           -        -      95          0         0        0         0',
    '  lookup    lookup           1          -           -        -       3          0         0        0         0',
    '',
    'NAT (drops: table full, no port, no binding for return traffic, forward clash)',
    '  actor     flows  inserts  forwarded  expired  table full  no port  no binding  forward clash',
    '  packet-0    598      610          1        0           0        2          14              0',
    '  packet-1    590      605          1        0           0        0           9              0',
    '  expiry        0        0          0       21           0        0           0              0',
    '  total      1188     1215          2       21           0        2          23              0',
    '',
    'Merges: 4498 merges, 0 fast-forwards, 4530 commits, 0 deltas rejected, 4400 commits released',
    'Merge duration: p50 0.069 ms, p99 0.44 ms, mean 0.091 ms over 4498 merges (estimated from the histogram\'s buckets)',
    'Conflicts settled: nat 2',
    'Supervisor: 4498 deltas, 1 crashes, 1 restarts, 0 start-up failures, 0 given up',
    'Restarts: packet-1 1',
    'Git: 3700 flushes (0 failed), the last 14 ms for 37 entries, backlog 12 entries; 1 edits merged (0 files rejected)',
    '',
    'API: 41 requests (list 20, get 11, hello 5, stats 3, watch 2), 1 errors (forbidden 1), 1 refused',
    'API connections: 1 open, 5 since start; 230 watch events sent, 0 slow consumers dropped',
  ]);
});

test('a stack with nothing yet: no merges timed, no NAT section, no git line, conflicts and restarts none', () => {
  const idle: StackReport = { ...REPORT, actors: [], restarts: {}, conflictsByTable: {}, mergeMs: { buckets: [[1, 0]], sum: 0, count: 0 }, git: undefined };
  const lines = formatStats(idle);
  assert.ok(lines.includes('Merge duration: no merges timed yet (estimated from the histogram\'s buckets)'), lines.join('\n'));
  assert.ok(lines.includes('Conflicts settled: none') && lines.includes('Restarts: none'));
  assert.ok(!lines.some((l) => l.startsWith('NAT') || l.startsWith('Git') || l.startsWith('API')), lines.join('\n'));
});

test('the pair: a sync that fails is a loud line with its reason; each peer with its lag; the failover state', () => {
  const lines = formatStats({
    ...REPORT,
    git: { ...REPORT.git, peerMerges: 12, peerEntriesApplied: 340, peerConflicts: 2, peerFilesRejected: 3 },
    peers: {
      url: 'http://10.0.9.1:8418/tables.git', branch: 'routers/a', failingFor: 4, lastPushAt: REPORT.now - 10_000, lastFetchAt: 0,
      lastError: 'fetch http://10.0.9.1:8418/tables.git: connect ECONNREFUSED', failures: { connect: 4, http: 0, timeout: 1, rejected: 0, other: 0 },
      bytesSent: 52_000, bytesReceived: 8_000, peers: [{ name: 'b', head: 'f'.repeat(40), seenAt: REPORT.now - 65_000, lagMs: 65_000 }],
    },
    failover: { vrid: 7, priority: 200, state: 'backup', since: REPORT.now - 125_000, counters: { received: 125, becameBackup: 1 } },
  });
  const at = lines.findIndex((l) => l.startsWith('PEER SYNC FAILING'));
  assert.deepEqual(lines.slice(at, at + 6), [
    'PEER SYNC FAILING: the last 4 syncs with http://10.0.9.1:8418/tables.git failed (fetch http://10.0.9.1:8418/tables.git: connect ECONNREFUSED); the tables are not being shared',
    '  last push 10s ago, last fetch never; 52000 bytes sent, 8000 received; failures: connect 4, timeout 1',
    '  12 peer merges, 340 entries applied, 2 conflicts settled by rule, 3 files rejected',
    '  peer  head          lag       last seen',
    '  b     ffffffffffff  65000 ms  1m 5s ago',
    'Failover: VRRP 7 priority 200, BACKUP since 2m 5s ago; received 125, becameBackup 1',
  ]);
  const healthy = formatStats({ ...REPORT, peers: { url: 'http://s/t.git', branch: 'routers/a', failingFor: 0, lastPushAt: REPORT.now, lastFetchAt: REPORT.now, lastError: null, failures: {}, bytesSent: 0, bytesReceived: 0, peers: [] } });
  assert.ok(healthy.includes('Peers: synced through http://s/t.git as routers/a'));
  assert.ok(healthy.includes('  no peer has pushed yet'));
  assert.ok(!healthy.some((l) => l.includes('FAILING')));
});

test('columns: names left-aligned, numbers right-aligned, trailing blanks trimmed', () => {
  assert.deepEqual(formatColumns(['a', 'bb'], [['xyz', '1'], ['q', '']]), ['  a    bb', '  xyz   1', '  q']);
  assert.deepEqual(formatColumns(['a', 'kind', 'n'], [['x', 'packet', '1']], 2), ['  a  kind    n', '  x  packet  1']);
});

describe('netbranch stats against the API server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-cli-stats-'));
  let withStack: LiveTables;
  let bare: LiveTables;
  before(async () => {
    withStack = await serveLive(join(dir, 'stack'), { now: REPORT.now, report: () => REPORT });
    bare = await serveLive(join(dir, 'bare'), { now: REPORT.now });
  });
  after(async () => {
    await withStack.close();
    await bare.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('prints the stack table, then the server\'s own requests by op', async () => {
    const r = await inProcess('stats', '--api', withStack.unix);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, -2), formatStats(REPORT, SERVER).slice(0, -2));
    assert.match(lines.at(-2)!, /^API: \d+ requests \(.*stats 1.*\), 0 errors \(none\), 0 refused$/);
  });

  test('--json is the raw answer: counters, requestsByOp, errorsByCode and the stack', async () => {
    const r = await inProcess('stats', '--api', withStack.unix, '--json');
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.stack, REPORT);
    assert.equal(typeof doc.requests, 'number');
    assert.ok(doc.requestsByOp.stats >= 1, JSON.stringify(doc.requestsByOp));
    assert.deepEqual(doc.errorsByCode, {});
  });

  test('a server with no stack behind it: its own counters and a line saying the report is absent', async () => {
    const r = await inProcess('stats', '--api', bare.unix);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, r.stdout);
    assert.match(lines[0], /^API: 1 requests \(stats 1\), 0 errors \(none\), 0 refused$/);
    assert.equal(lines[2], 'stack report: absent (this server has no stack behind it: only its own counters are shown)');
  });

  test('--help names what the table shows and has an example', () => {
    const cmd = buildProgram().commands.find((c) => c.name() === 'stats');
    assert.ok(cmd);
    let help = '';
    cmd.configureOutput({ writeOut: (t) => { help += t; } });
    cmd.outputHelp();
    for (const s of ['--json', '--api <where>', 'NAT inserts and drops', '$ netbranch stats']) assert.ok(help.includes(s), s);
  });
});

// ---- a real router: TAPs in namespaces, a UDP exchange and a ping through it, then `stats` and `nat` ----

describe('netbranch stats and nat against a running router', { skip: noLab }, () => {
  const lab = new ServicesLab(`nbst${process.pid % 10000}`);
  before(async () => {
    await lab.startRouter(['--inside', `${lab.tapIn}:10.201.0.1/24`, '--outside', `${lab.tapOut}:10.202.0.1/24`, '--workers', '2']);
    const client = lab.addNamespace('c');
    const server = lab.addNamespace('s');
    lab.moveInto(lab.tapIn, client, ['10.201.0.2/24'], '10.201.0.1');
    lab.moveInto(lab.tapOut, server, ['10.202.0.2/24']);
    const echo = lab.spawn(PY, ['-c', "import socket\ns=socket.socket(2,2); s.bind(('10.202.0.2',5353)); print('ready',flush=True)\nd,a=s.recvfrom(100); s.sendto(d,a)"], { ns: server });
    await waitOutput(echo, /ready/, 10_000, 'the echo server');
    const sent = await lab.run(client, PY, ['-c', "import socket\ns=socket.socket(2,2); s.bind(('10.201.0.2',40000)); s.settimeout(5)\ns.sendto(b'ping',('10.202.0.2',5353)); s.recvfrom(100)"]);
    assert.equal(sent.code, 0, `the UDP exchange through the router: ${sent.stderr}`);
  });
  after(() => lab.teardown());

  test('stats: both packet actors, the expiry and lookup actors, the nat table with its limit, an insert', async () => {
    let out = '';
    // The flow reaches the primary with the next merge (100 ms): ask until the table shows it.
    for (let i = 0; i < 50 && !/^ {2}nat +[1-9]/m.test(out); i++) {
      const r = await lab.cli(['stats']);
      assert.equal(r.code, 0, r.stderr);
      out = r.stdout;
    }
    assert.match(out, /^router: up \S+, head commit #\d+, 4 actors$/m);
    assert.match(out, /^ {2}nat +1 +131072 +0\.0%$/m);
    for (const name of ['packet-0', 'packet-1', 'expiry', 'lookup']) assert.match(out, new RegExp(`^ {2}${name} `, 'm'), out);
    assert.match(out, /^ {2}total +\d+ +1 +0 +/m, 'one insert over both packet actors');
    assert.match(out, /^API: \d+ requests \(.*stats/m);
  });

  test('nat: the flow as conntrack -L prints it, reply to the outside address, then the count', async () => {
    const r = await lab.cli(['nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^udp {6}17 \d+ src=10\.201\.0\.2 dst=10\.202\.0\.2 sport=40000 dport=5353 packets=1 bytes=32 src=10\.202\.0\.2 dst=10\.202\.0\.1 sport=5353 dport=\d+ packets=1 bytes=32 mark=0 use=1\n1 flow\n$/);
  });
});

test('netbranch sync: what each peer merge did, or the step that failed and why', () => {
  assert.deepEqual(syncLines({ failed: null, merged: [{ peer: 'b', head: 'a'.repeat(40), applied: 12, rejected: 1, conflicts: 2 }] }), [
    'merged peer b aaaaaaaaaaaa: 12 entries applied, 1 files rejected, 2 conflicts settled by rule', 'synced',
  ]);
  assert.deepEqual(syncLines({ failed: null, merged: [] }), ['synced: pushed, and no peer had anything new']);
  assert.deepEqual(syncLines({ failed: { step: 'fetch', reason: 'connect', message: 'fetch http://s/t.git: connect ECONNREFUSED' }, merged: [] }), [
    'sync failed at fetch (connect): fetch http://s/t.git: connect ECONNREFUSED',
  ]);
});
