// `netbranch sim` over TCP (the default): connections per peer on the simulated clock, every message
// acknowledged, frames of a connection on the actor that opened it, and the tcp table's history in git.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { runSim } from '../actors/sim/sim.js';
import type { SimNodeSummary, SimResult } from '../actors/sim/sim-summary.js';
import { actorOfConnection, portForActor } from '../actors/sim/actor-port.js';
import { frameMessage, MessageReader } from '../wire/stream-framing.js';
import { flowHash } from '../actors/runtime/dispatcher.js';
import { parseIpv4, TcpFlags } from '../wire/index.js';
import { tcpFrame } from './support/frames.js';
import { git } from './support/git-cli.js';

const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
const total = (r: SimResult, f: (n: SimNodeSummary) => number) => r.nodes.reduce((s, n) => s + f(n), 0);
const tcpTotal = (r: SimResult, f: (t: NonNullable<SimNodeSummary['tcp']>) => number) => total(r, (n) => (n.tcp ? f(n.tcp) : 0));

test('ten nodes over TCP: every message is acknowledged, every connection opened is established and accepted', async () => {
  const r = await runSim({ nodes: 10, seconds: 30, speed: Infinity, seed: 1, reportEveryS: 0 });
  assert.equal(r.proto, 'tcp');
  for (const n of r.nodes) {
    assert.ok(n.entries >= 3, `node ${n.node} knows ${n.entries} neighbours`);
    assert.ok(n.merges > 0, `node ${n.node} merged its actors' branches`);
    assert.ok(n.sent >= 20, `node ${n.node} sent ${n.sent}`);
    assert.ok(n.tcp && n.tcp.opened > 0, `node ${n.node} opened connections`);
  }
  assert.equal(total(r, (n) => n.acked), total(r, (n) => n.sent), 'every message acknowledged');
  assert.equal(total(r, (n) => n.received), total(r, (n) => n.sent), 'every message received once');
  const opened = tcpTotal(r, (t) => t.opened);
  assert.equal(tcpTotal(r, (t) => t.established), opened);
  assert.equal(tcpTotal(r, (t) => t.accepted), opened);
  assert.equal(tcpTotal(r, (t) => t.failed), 0);
  // A frame on an actor without its connection would be answered with a reset: none was.
  assert.equal(tcpTotal(r, (t) => t.resetsSent), 0);
  assert.ok(opened < total(r, (n) => n.sent) / 3, `${opened} connections for ${total(r, (n) => n.sent)} messages: connections are reused`);
  assert.ok(tcpTotal(r, (t) => t.rows) > 0, 'open connections have rows in the nodes\' primaries');
});

test('peers change every 40 s: idle connections close, entries nobody refreshes still expire at 60 s', async () => {
  const r = await runSim({ nodes: 6, seconds: 150, speed: Infinity, seed: 2, reportEveryS: 0 });
  assert.ok(tcpTotal(r, (t) => t.closedIdle) > 0, 'idle connections were closed by their openers');
  assert.equal(tcpTotal(r, (t) => t.failed), 0);
  assert.ok(total(r, (n) => n.expired) > 0, 'some ARP entries expired after the peers changed');
  assert.equal(total(r, (n) => n.acked), total(r, (n) => n.sent));
});

test('the same seed gives the same TCP run (initial sequence numbers come from the seed)', async () => {
  const a = await runSim({ nodes: 5, seconds: 20, speed: Infinity, seed: 9, reportEveryS: 0 });
  const b = await runSim({ nodes: 5, seconds: 20, speed: Infinity, seed: 9, reportEveryS: 0 });
  assert.deepEqual(a.nodes, b.nodes);
  assert.equal(a.frames, b.frames);
});

test('--proto udp still sends datagrams: every message acknowledged, no connection', async () => {
  const r = await runSim({ nodes: 10, seconds: 30, speed: Infinity, seed: 1, reportEveryS: 0, proto: 'udp' });
  assert.equal(r.proto, 'udp');
  assert.ok(r.nodes.every((n) => n.tcp === undefined));
  assert.ok(total(r, (n) => n.sent) >= 200);
  assert.equal(total(r, (n) => n.acked), total(r, (n) => n.sent));
});

/** A segment as the dispatcher hashes it (only addresses, protocol and ports count). */
const segment = (src: number, dst: number, srcPort: number, dstPort: number, flags: number) => tcpFrame({ srcMac: 4, dstMac: 2, src, dst, srcPort, dstPort, flags });

test('the port chosen for an actor brings both directions of the connection to that actor (property)', () => {
  const ip = fc.integer({ min: 1, max: 0xfffffffe });
  fc.assert(
    fc.property(ip, ip, fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 8 }), fc.nat(), fc.integer({ min: 1024, max: 65535 }), (local, remote, rport, actors, a, from) => {
      const actor = a % actors;
      const port = portForActor({ localIp: local, remoteIp: remote, remotePort: rport, actor, actors }, from, [1024, 65535]);
      assert.ok(port >= 1024 && port <= 65535);
      assert.equal(flowHash(segment(local, remote, port, rport, TcpFlags.SYN)) % actors, actor, 'our SYN');
      assert.equal(flowHash(segment(remote, local, rport, port, TcpFlags.SYN | TcpFlags.ACK)) % actors, actor, 'the peer\'s SYN-ACK');
    }),
    { seed: Number(process.env.FC_SEED ?? 14), numRuns: 300 },
  );
});

test('a port taken is skipped, and a range with no port for the actor gives -1', () => {
  const q = { localIp: parseIpv4('10.0.0.1'), remoteIp: parseIpv4('10.0.0.2'), remotePort: 7777, actor: 0, actors: 2 };
  const first = portForActor(q, 40000, [32768, 60999]);
  const second = portForActor(q, 40000, [32768, 60999], (p) => p === first);
  assert.notEqual(second, first);
  assert.equal(actorOfConnection(q.localIp, second, q.remoteIp, q.remotePort, 2), 0);
  const other = actorOfConnection(q.localIp, 40000, q.remoteIp, q.remotePort, 2);
  assert.equal(portForActor({ ...q, actor: 1 - other }, 40000, [40000, 40000]), -1);
});

test('netbranch sim --store git:DIR: git log -p -- tcp/ in a node\'s repository shows its connections\' rows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-sim-tcp-'));
  try {
    const r = cli(['sim', '--nodes', '10', '--seconds', '12', '--speed', 'max', '--store', `git:${join(dir, 'g')}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /node\s+ip\s+mac\s+arp\s+merges\s+conflicts\s+sent\s+recv\s+acked\s+expired\s+conns\s+retx/);
    assert.match(r.stdout, /messages over TCP: (\d+) of \1 acknowledged; tcp: ([1-9]\d*) connections opened, \2 established, \2 accepted by their peers/);
    const log = git(join(dir, 'g', 'node0'), 'log', '-p', '--', 'tcp/');
    assert.match(log, /^\+\+\+ b\/tcp\/10\.0\.0\.1\/\d+\/10\.0\.0\.1:\d+-10\.0\.0\.\d+:7777$/m, 'a connection node0 opened');
    assert.match(log, /^\+\+\+ b\/tcp\/10\.0\.0\.1\/7777\/10\.0\.0\.1:7777-10\.0\.0\.\d+:\d+$/m, 'a connection node0 accepted');
    assert.match(log, /"state": "established"/);
    assert.match(log, /"rcvNxt": \d+/);
    // A second run on the same repositories starts with no connection: the first run's rows are deleted.
    const before = git(join(dir, 'g', 'node0'), 'ls-tree', '-r', '--name-only', 'HEAD', '--', 'tcp/').split('\n').filter(Boolean);
    assert.ok(before.length > 0);
    const again = cli(['sim', '--nodes', '10', '--seconds', '0.01', '--speed', 'max', '--store', `git:${join(dir, 'g')}`]);
    assert.equal(again.status, 0, again.stderr);
    const after = git(join(dir, 'g', 'node0'), 'ls-tree', '-r', '--name-only', 'HEAD', '--', 'tcp/').split('\n').filter(Boolean);
    assert.deepEqual(after.filter((f) => before.includes(f)), [], 'no row of the first run is left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('netbranch sim --proto udp prints the UDP totals; a bad --proto is one line and exit 2', () => {
  const r = cli(['sim', '--nodes', '4', '--seconds', '5', '--speed', 'max', '--proto', 'udp']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /messages over UDP: \d+ of \d+ acknowledged/);
  assert.doesNotMatch(r.stdout, /conns/);
  const bad = cli(['sim', '--proto', 'sctp']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /--proto must be tcp or udp/);
});

test('length-prefixed messages come out whole and in order however the stream is cut (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1 }), (msgs, cuts) => {
      const stream = Buffer.concat(msgs.map(frameMessage));
      const reader = new MessageReader();
      const out: Uint8Array[] = [];
      for (let at = 0, i = 0; at < stream.length; i++) {
        const end = Math.min(stream.length, at + cuts[i % cuts.length]);
        reader.push(stream.subarray(at, end));
        at = end;
        for (let m = reader.next(); m !== null; m = reader.next()) out.push(m.slice());
      }
      assert.deepEqual(out.map((m) => Buffer.from(m).toString('hex')), msgs.map((m) => Buffer.from(m).toString('hex')));
      assert.equal(reader.buffered, 0);
    }),
    { seed: Number(process.env.FC_SEED ?? 14), numRuns: 300 },
  );
});
