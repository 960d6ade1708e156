// The host's packet actors on worker threads serve TCP: an echo listener on every actor, connection rows
// written to each actor's replica before its push (so they merge into the primary), and TCP's timers
// run in the worker (retransmissions over a lossy wire). The client is a TcpEndpoint on this thread.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mock } from 'node:test';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { parseIpv4 } from '../wire/index.js';
import { Store } from '../store/index.js';
import { StackActors } from '../actors/host/host-actors.js';
import { HostStack } from '../actors/host/host-stack.js';
import { stackTables } from '../actors/host/host-schema.js';
import { DeadlineTimer } from '../actors/host/deadline-timer.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { tcpTable } from '../actors/tcp/tcp-table.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { portForActor } from '../actors/sim/actor-port.js';
import type { TcpSocket } from '../actors/tcp/tcp-endpoint.js';

const ME: NetInterface = { name: 'wire0', mac: localMac(14), ip: parseIpv4('10.78.0.1'), prefix: 24 };
const PEER: NetInterface = { name: 'peer0', mac: localMac(15), ip: parseIpv4('10.78.0.2'), prefix: 24 };
const ECHO_PORT = 7;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The stack's actors on one end of a ring wire; a client stack with its own endpoint on the other, `drop(i)` losing frame i either way. */
async function rig(drop: (n: number) => boolean = () => false) {
  const [a, b] = ringLinkPair('wire');
  const stackEnd = new RingLink(a);
  const wire = new RingLink(b);
  const actors = new StackActors(stackEnd, ME, { packetActors: 2, mergeIntervalMs: 30, tcpEcho: [ECHO_PORT] });
  await actors.ready();
  const store = new Store(stackTables);
  let n = 0;
  const client = new HostStack(PEER, store.main.table(arpTable), (f) => { if (!drop(n++)) wire.send(f); }, { tcp: { table: store.main.table(tcpTable) } });
  wire.onFrames((frames) => client.receive(frames.filter(() => !drop(n++)), Date.now()));
  const timers = setInterval(() => client.poll(Date.now()), 5);
  return {
    actors, client,
    async close() {
      clearInterval(timers);
      await actors.stop();
      wire.close();
    },
  };
}

/** One client connection: sends `data`, reads the echo, closes once it is all back. */
function echoClient(sock: TcpSocket, data: Uint8Array) {
  const got: Uint8Array[] = [];
  let sent = 0, received = 0, closedBy: string | null = null;
  const pump = () => {
    while (sent < data.length) {
      const n = sock.send(data.subarray(sent, sent + 65536), Date.now());
      if (n <= 0) return;
      sent += n;
    }
  };
  sock.onEstablished = pump;
  sock.onWritable = pump;
  sock.onData = () => {
    for (let c = sock.read(); c !== null; c = sock.read()) { got.push(c); received += c.length; }
  };
  sock.onClose = (reason) => { closedBy = reason; };
  return {
    close: () => sock.close(Date.now()),
    get done() { return received === data.length; },
    get closedBy() { return closedBy; },
    sha: () => createHash('sha256').update(Buffer.concat(got)).digest('hex'),
  };
}

const sha = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');

/** Client ports whose connections land on packet actor 0, 1, 0, 1 (the dispatcher hashes their flow). */
function spreadPorts(count: number): number[] {
  return Array.from({ length: count }, (_, k) =>
    portForActor({ localIp: PEER.ip, remoteIp: ME.ip, remotePort: ECHO_PORT, actor: k % 2, actors: 2 }, 40000 + k * 97, [40000, 60999]));
}

describe('packet actors serve TCP', () => {
  const rigs: Awaited<ReturnType<typeof rig>>[] = [];
  after(async () => {
    for (const r of rigs) await r.close();
  });

  test('every packet actor echoes its connections; their rows merge into the primary and go once closed', async () => {
    const r = await rig();
    rigs.push(r);
    const data = Array.from({ length: 4 }, () => new Uint8Array(randomBytes(256 * 1024)));
    const clients = spreadPorts(4).map((port, k) => echoClient(r.client.tcp.connect(ME.ip, ECHO_PORT, Date.now(), port), data[k]));
    await waitFor('4 × 256 KiB echoed', () => clients.every((c) => c.done));
    clients.forEach((c, k) => assert.equal(c.sha(), sha(data[k]), `connection ${k}`));
    const stats = (await r.actors.supervisor.stats()).filter((s) => s.kind === 'packet');
    assert.deepEqual(stats.map((s) => s.counters[`echo.${ECHO_PORT}.accepted`]), [2, 2], 'two connections on each actor');
    assert.equal(stats.reduce((x, s) => x + s.counters[`echo.${ECHO_PORT}.bytesEchoed`], 0), 4 * 256 * 1024);
    const rows = r.actors.store.main.table(tcpTable);
    const ours = () => [...rows.entries()].filter(([, e]) => e.localPort === ECHO_PORT);
    await waitFor('4 established rows on the primary', () => ours().filter(([, e]) => e.state === 'established').length === 4);
    for (const [, e] of ours()) assert.equal(e.remoteIp, PEER.ip);
    // The clients close; each echo closes its side after the FIN, and the rows leave the primary.
    for (const c of clients) c.close();
    await waitFor('the server sides closed and their rows deleted from the primary', () => ours().length === 0);
    assert.ok(clients.every((c) => c.closedBy === null || c.closedBy === 'closed'), 'no connection reset');
  });

  test('over a wire losing 1 frame in 40 both ways, the workers\' TCP timers retransmit and the echo arrives whole', async () => {
    const r = await rig((i) => i % 40 === 39);
    rigs.push(r);
    const data = new Uint8Array(randomBytes(512 * 1024));
    const c = echoClient(r.client.tcp.connect(ME.ip, ECHO_PORT, Date.now(), spreadPorts(1)[0]), data);
    await waitFor('512 KiB echoed over the lossy wire', () => c.done, 60_000);
    assert.equal(c.sha(), sha(data));
    const stats = (await r.actors.supervisor.stats()).filter((s) => s.kind === 'packet');
    assert.ok(stats[0].counters['tcp.retransmits'] > 0, `actor 0 retransmitted: ${JSON.stringify(stats[0].counters)}`);
    assert.equal(stats[1].counters[`echo.${ECHO_PORT}.accepted`], 0, 'the connection stayed on actor 0');
  });
});

test('the stack timer polls at the next deadline with that time, re-arms, and stops when nothing is due', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000 });
  try {
    const deadlines = [1_200, 1_500];
    const polled: number[] = [];
    const t = new DeadlineTimer(() => deadlines[0] ?? Infinity, (now) => { polled.push(now); deadlines.shift(); });
    t.arm(1_000);
    assert.ok(t.armed);
    mock.timers.tick(199);
    assert.deepEqual(polled, []);
    mock.timers.tick(1);
    assert.deepEqual(polled, [1_200]);
    deadlines.unshift(1_300); // a sooner deadline appears: the timeout moves earlier
    t.arm(1_200);
    mock.timers.tick(100);
    assert.deepEqual(polled, [1_200, 1_300]);
    mock.timers.tick(200);
    assert.deepEqual(polled, [1_200, 1_300, 1_500]);
    assert.equal(t.armed, false, 'nothing due: no timeout set');
  } finally {
    mock.timers.reset();
  }
});
