// `netbranch tcp` (cli/tcp.ts) against the real API server (api/server/lookup-server.ts) serving a store
// with tcp rows, as a sim's --api serves a node's tables: a LocalActor 'lookup' fork of the primary
// through BranchSource, on a Unix socket and on loopback TCP (with a token). Most runs are in-process
// through main(); the exit statuses and --help are checked once as a user runs the command.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Branch, Table } from '../store/index.js';
import { serveTables } from './support/api-fixture.js';
import { tcpApiRule, tcpKey, tcpTable, type TcpEntry } from '../actors/tcp/tcp-table.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { inProcess as netbranch, spawned } from './support/cli-run.js';
import { parseIpv4 } from '../wire/index.js';

const DIR = mkdtempSync(join(tmpdir(), 'nb-cli-tcp-'));
const closers: (() => unknown)[] = [];
const serve = async (name: string, tables: Table<any, any>[], fill: (main: Branch) => void) => {
  const f = await serveTables(join(DIR, name), { tables, fill, rules: { tcp: tcpApiRule }, now: NOW, token: TOKEN });
  closers.push(f.close);
  return f;
};
after(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(DIR, { recursive: true, force: true });
});

delete process.env.NETBRANCH_API;
delete process.env.NETBRANCH_TOKEN;

const NOW = 50_000; // the tables' clock (simulated ms, as in a sim)
const TOKEN = 'tok-read-tcp-0123456789';

function conn(local: string, remote: string, over: Partial<TcpEntry>): TcpEntry {
  const [li, lp] = local.split(':'), [ri, rp] = remote.split(':');
  return {
    localIp: parseIpv4(li), localPort: Number(lp), remoteIp: parseIpv4(ri), remotePort: Number(rp), state: 'established',
    sndUna: 1000, sndNxt: 1000, sndWnd: 65535, rcvNxt: 5000, rcvWnd: 65535, sndWscale: 7, rcvWscale: 7, mss: 1460,
    rtoMs: 1000, srttMs: 0, timer: 'none', deadline: 0, created: 1000, updated: 1000, ...over,
  };
}

const ROWS = [
  conn('10.0.0.1:80', '10.0.0.2:40000', { sndUna: 1000, sndNxt: 2448, rcvNxt: 5301, timer: 'rto', deadline: NOW + 1200, rtoMs: 200, srttMs: 12 }),
  conn('10.0.0.1:80', '10.0.0.3:40001', { state: 'time-wait', timer: 'time-wait', deadline: NOW + 59_000 }),
  conn('10.0.0.1:51000', '10.0.0.9:22', { state: 'syn-sent', sndUna: 0xffff_ffff, sndNxt: 0, rcvNxt: 0, timer: 'rto', deadline: NOW + 800 }),
  conn('10.0.0.1:80', '10.0.0.4:40002', { state: 'close-wait', rcvWnd: 0, sndWscale: 0, rcvWscale: 0, mss: 536 }),
];

// The lines as a user reads them: Send-Q is SND.NXT − SND.UNA (1 for the SYN across the 2^32 wrap).
const HEADER = 'State      Send-Q Local Address:Port    Peer Address:Port';
const LINES = {
  synSent: 'SYN-SENT        1 10.0.0.1:51000        10.0.0.9:22           timer:(rto,800ms) snd_una:4294967295 snd_nxt:0 rcv_nxt:0 snd_wnd:65535 rcv_wnd:65535 wscale:7,7 mss:1460 rto:1000',
  estab: 'ESTAB        1448 10.0.0.1:80           10.0.0.2:40000        timer:(rto,1.2s) snd_una:1000 snd_nxt:2448 rcv_nxt:5301 snd_wnd:65535 rcv_wnd:65535 wscale:7,7 mss:1460 rto:200 rtt:12',
  timeWait: 'TIME-WAIT       0 10.0.0.1:80           10.0.0.3:40001        timer:(time-wait,59s) snd_una:1000 snd_nxt:1000 rcv_nxt:5000 snd_wnd:65535 rcv_wnd:65535 wscale:7,7 mss:1460 rto:1000',
  closeWait: 'CLOSE-WAIT      0 10.0.0.1:80           10.0.0.4:40002        snd_una:1000 snd_nxt:1000 rcv_nxt:5000 snd_wnd:65535 rcv_wnd:0 wscale:0,0 mss:536 rto:1000',
};

let unix = '';
let tcp = '';
let noTcpTable = '';

before(async () => {
  ({ unix, tcp } = await serve('tcp', [tcpTable], (main) => { for (const r of ROWS) main.table(tcpTable).set(tcpKey(r.localIp, r.localPort, r.remoteIp, r.remotePort), r); }));
  noTcpTable = (await serve('arp-only', [arpTable], () => {})).unix;
});


test('netbranch tcp prints a header and one ss-style line per connection, in key order, timers on the tables\' clock', async () => {
  const r = await netbranch('tcp', '--api', unix);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, [HEADER, LINES.synSent, LINES.estab, LINES.timeWait, LINES.closeWait, ''].join('\n'));
});

test('--state keeps the named states, by the table\'s names or ss\'s, any case', async () => {
  const r = await netbranch('tcp', '--api', unix, '--state', 'established,TIME-WAIT');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [HEADER, LINES.estab, LINES.timeWait, ''].join('\n'));
  const ss = await netbranch('tcp', '--api', unix, '--state', 'syn-sent, close-wait');
  assert.equal(ss.stdout, [HEADER, LINES.synSent, LINES.closeWait, ''].join('\n'));
  const none = await netbranch('tcp', '--api', unix, '--state', 'last-ack');
  assert.equal(none.stdout, `${HEADER}\n`, 'no connection in that state: the header alone, as ss prints it');
});

test('--prefix picks by local address and port; over TCP with a token the same lines', async () => {
  const r = await netbranch('tcp', '--api', tcp, '--token', TOKEN, '--prefix', '10.0.0.1:80-');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [HEADER, LINES.estab, LINES.timeWait, LINES.closeWait, ''].join('\n'));
});

test('--json: {table, entries} with the rows in the API\'s readable form, filtered by --state', async () => {
  const r = await netbranch('tcp', '--api', unix, '--json', '--state', 'estab');
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(doc, { table: 'tcp', entries: [{ key: '10.0.0.1:80-10.0.0.2:40000', value: { ...ROWS[0], localIp: '10.0.0.1', remoteIp: '10.0.0.2' } }] });
});

test('an unknown --state is a usage error (exit 2) naming the states, before any connection is tried', async () => {
  const r = await netbranch('tcp', '--api', 'unix:/nonexistent/api.sock', '--state', 'established,listening');
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "netbranch: --state: no TCP state 'listening' (states: syn-sent, syn-received, established, fin-wait-1, close-wait, fin-wait-2, closing, last-ack, time-wait, closed)\n");
  assert.equal(r.stdout, '');
});

test('a server without a tcp table: one line naming the tables it has, exit 1', async () => {
  const r = await netbranch('tcp', '--api', noTcpTable);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "netbranch: unknown-table: no table 'tcp' (tables: arp)\n");
});

test('TCP without a token is refused as the other API commands are: one line, exit 1', async () => {
  const r = await netbranch('tcp', '--api', tcp);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^netbranch: unauthenticated: TCP clients must authenticate first[^\n]*\n$/);
});

test('as a user runs it: nothing listening exits 1 with the hint; --help shows the flags and examples', async () => {
  const missing = await spawned('tcp', '--api', `unix:${join(DIR, 'none.sock')}`);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^netbranch: cannot connect to the API at unix:\S+none\.sock \(no such socket\); is the router running with --api/);
  assert.equal(missing.stdout, '');
  const help = await spawned('tcp', '--help');
  assert.equal(help.code, 0, help.stderr);
  for (const s of ['--state <s>', '--prefix <p>', '--api <where>', '--token <token>', '--json', '--timeout <ms>', '$ netbranch tcp --state established,time-wait']) {
    assert.ok(help.stdout.includes(s), `--help mentions ${s}:\n${help.stdout}`);
  }
});
