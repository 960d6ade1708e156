import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { parseIpv4, ArpOperation } from '../wire/index.js';
import { StackActors } from '../actors/host/host-actors.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { arpFrame, decode, echoRequestFrame } from './support/frames.js';

const ME: NetInterface = { name: 'wire0', mac: localMac(7), ip: parseIpv4('10.77.0.1'), prefix: 24 };
const peerIp = (i: number) => parseIpv4('10.77.0.10') + i;
const peerMac = (i: number) => 0x02_00_00_00_10_00 + i;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A stack on one end of a ring "wire", a test peer on the other. */
async function rig(opts: ConstructorParameters<typeof StackActors>[2] = {}) {
  const [a, b] = ringLinkPair('wire');
  const stackEnd = new RingLink(a);
  const peer = new RingLink(b);
  const got: Uint8Array[] = [];
  peer.onFrames((frames) => { for (const f of frames) got.push(f.slice()); });
  const actors = new StackActors(stackEnd, ME, { packetActors: 2, mergeIntervalMs: 30, ...opts });
  await actors.ready();
  return { actors, peer, got, arp: actors.store.main.table(arpTable) };
}

const replies = (got: Uint8Array[], kind: 'arp' | 'echo') =>
  got.map(decode).filter((r) => (kind === 'arp' ? r.network.kind === 'arp' && r.network.arp.operation === ArpOperation.Reply : r.network.kind === 'ipv4' && r.network.transport.kind === 'icmpv4'));

describe('actors on worker threads', () => {
  const rigs: Awaited<ReturnType<typeof rig>>[] = [];
  after(async () => {
    for (const r of rigs) {
      await r.actors.stop();
      r.peer.close(); // a link with a handler keeps its thread alive
    }
  });

  test('packet actors answer ARP and ping on their branches, and the merge loop brings what they learn to the primary', async () => {
    const r = await rig();
    rigs.push(r);
    for (let i = 0; i < 16; i++) r.peer.send(arpFrame({ op: 'request', srcMac: peerMac(i), senderIp: peerIp(i), targetIp: ME.ip }));
    await waitFor('16 ARP replies', () => replies(r.got, 'arp').length === 16);
    await waitFor('the primary to learn 16 neighbours', () => r.arp.size === 16);
    for (let i = 0; i < 16; i++) assert.equal(r.arp.get(peerIp(i))?.mac, peerMac(i));
    // Both packet actors did some of the work: the dispatcher spread the senders.
    const stats = await r.actors.supervisor.stats();
    const answered = stats.filter((s) => s.kind === 'packet').map((s) => s.counters['arp.requestsAnswered']);
    assert.equal(answered.reduce((x, y) => x + y, 0), 16);
    assert.ok(answered.every((n) => n > 0), `answered per actor: ${answered}`);
    for (let seq = 0; seq < 20; seq++) r.peer.send(echoRequestFrame({ srcMac: peerMac(seq % 16), dstMac: ME.mac, src: peerIp(seq % 16), dst: ME.ip, seq }));
    await waitFor('20 echo replies', () => replies(r.got, 'echo').length === 20);
  });

  test('the ARP-expiry actor removes expired entries on its branch and the removal merges', async () => {
    const r = await rig({ arp: { ttlMs: 300, refreshSlackMs: 0 }, expiryTickMs: 50 });
    rigs.push(r);
    for (let i = 0; i < 4; i++) r.peer.send(arpFrame({ op: 'request', srcMac: peerMac(i), senderIp: peerIp(i), targetIp: ME.ip }));
    await waitFor('4 learned', () => r.arp.size === 4);
    await waitFor('all expired on the primary', () => r.arp.size === 0, 3_000);
    const exp = (await r.actors.supervisor.stats()).find((s) => s.kind === 'arp-expiry')!;
    assert.ok(exp.counters.expired >= 4);
  });

  test('a killed packet actor is restarted from a fresh replica; merged state survives and forwarding resumes', async () => {
    const r = await rig();
    rigs.push(r);
    for (let i = 0; i < 8; i++) r.peer.send(arpFrame({ op: 'request', srcMac: peerMac(i), senderIp: peerIp(i), targetIp: ME.ip }));
    await waitFor('8 learned', () => r.arp.size === 8);
    const victim = r.actors.supervisor.actors[0];
    const down = new Promise((res) => r.actors.supervisor.once('down', res));
    let seq = 0;
    const ping = () => r.peer.send(echoRequestFrame({ srcMac: peerMac(seq % 8), dstMac: ME.mac, src: peerIp(seq % 8), dst: ME.ip, seq: seq++ }));
    for (let i = 0; i < 10; i++) ping();
    await victim.worker!.terminate(); // the crash
    await down;
    // Meanwhile the other actor keeps answering.
    const before = replies(r.got, 'echo').length;
    for (let i = 0; i < 10; i++) ping();
    await waitFor('pings answered while the actor is down', () => replies(r.got, 'echo').length >= before + 10);
    await waitFor('the restart', () => victim.up && victim.incarnation === 2);
    assert.equal(r.actors.supervisor.counters.restarts, 1);
    assert.equal(victim.restarts, 1);
    for (let i = 0; i < 8; i++) assert.equal(r.arp.get(peerIp(i))?.mac, peerMac(i), 'merged state survived the crash');
    // The restarted actor serves again: its flows are answered by it.
    const mark = replies(r.got, 'echo').length;
    for (let i = 0; i < 20; i++) ping();
    await waitFor('pings after the restart', () => replies(r.got, 'echo').length >= mark + 20);
    const st = (await r.actors.supervisor.stats()).find((s) => s.name === victim.name)!;
    assert.equal(st.incarnation, 2);
    assert.ok(st.counters.echoAnswered > 0, 'the restarted actor answers its share');
  });
});
