import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { parseIpv4 } from '../wire/index.js';
import { Store } from '../store/index.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { natTable } from '../actors/router/nat-table.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { HostStack } from '../actors/host/host-stack.js';
import { portOwner } from '../actors/router/nat-engine.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { decode, udpFrame } from './support/frames.js';

const INSIDE: NetInterface = { name: 'in', mac: localMac(0x201), ip: parseIpv4('10.201.0.1'), prefix: 24 };
const OUTSIDE: NetInterface = { name: 'out', mac: localMac(0x202), ip: parseIpv4('10.202.0.1'), prefix: 24 };
const CLIENT: NetInterface = { name: 'c', mac: 0x02_00_00_00_01_02, ip: parseIpv4('10.201.0.2'), prefix: 24 };
const SERVER: NetInterface = { name: 's', mac: 0x02_00_00_00_02_02, ip: parseIpv4('10.202.0.2'), prefix: 24 };

async function waitFor(what: string, cond: () => boolean, timeoutMs = 8_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A router on two ring "wires"; the client is a test end that sends frames, the server a HostStack that echoes UDP. */
async function rig(store: 'memory' | 'hashtable') {
  const [ia, ib] = ringLinkPair('inside');
  const [oa, ob] = ringLinkPair('outside');
  const client = new RingLink(ib);
  const serverLink = new RingLink(ob);
  const got: Uint8Array[] = [];
  // The client answers the router's ARP requests (a HostStack) and keeps the UDP it receives.
  const clientStack = new HostStack(CLIENT, new Store([arpTable]).main.table(arpTable), (f) => client.send(f));
  client.onFrames((fs) => {
    for (const f of fs) {
      const udp = f.length > 23 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 17;
      if (udp) got.push(f.slice());
      clientStack.receiveOne(f, Date.now());
    }
  });
  const serverStack = new HostStack(SERVER, new Store([arpTable]).main.table(arpTable), (f) => serverLink.send(f));
  serverStack.onUdp = (src, sport, dport, payload, now) => serverStack.sendUdp(src, dport, sport, payload, now); // echo
  serverLink.onFrames((fs) => serverStack.receive(fs, Date.now()));
  const poll = setInterval(() => serverStack.poll(Date.now()), 50);
  const actors = new RouterActors(new RingLink(ia), new RingLink(oa), { inside: INSIDE, outside: OUTSIDE, packetActors: 2, mergeIntervalMs: 30, store });
  await actors.ready();
  const send = (sport: number, n: number) => client.send(udpFrame({ srcMac: CLIENT.mac, dstMac: INSIDE.mac, src: CLIENT.ip, dst: SERVER.ip, srcPort: sport, dstPort: 7, payload: new Uint8Array([n]) }));
  const replies = () => got.map(decode).filter((r) => r.network.kind === 'ipv4' && r.network.transport.kind === 'udp');
  const close = async () => {
    clearInterval(poll);
    await actors.stop();
    client.close();
    serverLink.close();
  };
  return { actors, send, replies, close, serverStack };
}

describe('the router on worker threads', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => { for (const c of closers) await c(); });

  test('UDP flows are NATed by the actor owning their port, answered, and the bindings merge into the primary', async () => {
    const r = await rig('memory');
    closers.push(r.close);
    // Frames go straight to the router's MAC: the client needs no ARP for its gateway.
    const ports = [2000, 2001, 40000, 40001, 60000, 61000];
    for (const p of ports) r.send(p, 1);
    await waitFor('six echoes back through the NAT', () => r.replies().length === ports.length);
    for (const rep of r.replies()) {
      assert.ok(rep.network.kind === 'ipv4' && rep.network.transport.kind === 'udp');
      assert.equal(rep.network.ipv4.dst, CLIENT.ip);
      assert.equal(rep.network.ipv4.src, SERVER.ip);
      assert.ok(ports.includes(rep.network.transport.udp.dstPort));
    }
    const nat = r.actors.store.main.table(natTable);
    await waitFor('six replied flows merged into the primary', () => nat.size === ports.length && [...nat.entries()].every(([, e]) => e.state === 'udp-replied'));
    for (const [, e] of nat.entries()) {
      assert.equal(e.insideIp, CLIENT.ip);
      assert.equal(e.outPort, e.insidePort, 'the source port was free, so it was preserved');
      assert.equal(e.state, 'udp-replied');
    }
    // The server only ever saw the router's outside address.
    assert.ok(r.serverStack.cache.lookup(CLIENT.ip, Date.now()) === undefined);
    const stats = await r.actors.supervisor.stats();
    const created = stats.filter((s) => s.kind === 'packet').sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => s.counters['nat.created']);
    const owned = [0, 1].map((i) => ports.filter((p) => portOwner(p, 2) === i).length);
    assert.deepEqual(created, owned, 'each actor made the bindings of its own port slice');
  });

  test('a router actor killed mid-flow comes back from the primary and still translates its flows', async () => {
    const r = await rig('memory');
    closers.push(r.close);
    r.send(50000, 1); // port 50000: actor 1's slice with 2 actors
    await waitFor('the first echo', () => r.replies().length === 1);
    const nat = r.actors.store.main.table(natTable);
    await waitFor('the binding merged', () => nat.size === 1);
    const victim = r.actors.supervisor.actors[1];
    await victim.worker!.terminate();
    await waitFor('the restart', () => victim.up && victim.incarnation === 2);
    r.send(50000, 2);
    await waitFor('the flow answered by the new incarnation', () => r.replies().length === 2);
    assert.equal([...nat.entries()][0][1].outPort, 50000, 'the same binding');
  });

  test('--store hashtable: the same router on plain Maps, with nothing merged', async () => {
    const r = await rig('hashtable');
    closers.push(r.close);
    for (const p of [3000, 50000]) r.send(p, 1);
    await waitFor('two echoes', () => r.replies().length === 2);
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(r.actors.store.main.table(natTable).size, 0, 'no branches, no merges: the primary stays empty');
    assert.equal(r.actors.store.stats.merges, 0);
    const flows = (await r.actors.supervisor.stats()).filter((s) => s.kind === 'packet').map((s) => s.counters['nat.flows']);
    assert.deepEqual(flows.sort(), [1, 1]);
  });
});
