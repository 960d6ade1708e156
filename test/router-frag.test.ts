// The router's fragment path in one thread: fragmented datagrams through the NAT both ways (reassembled,
// translated, cut again to the size they came in), out of order, a flood of fragments that never complete,
// ICMP reassembly time exceeded on the simulated clock, and two actors handing a datagram to its port's owner.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store } from '../store/index.js';
import {
  emitFrame, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, Icmpv4Repr, Icmpv4Type, IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4, UdpPacket,
} from '../wire/index.js';
import { fragmentFrame } from '../wire/ipv4-fragment.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { fragTable } from '../actors/iface/frag-table.js';
import { Reassembler } from '../actors/iface/reassembly.js';
import { natTable } from '../actors/router/nat-table.js';
import { Router, type RouterConfig } from '../actors/router/router.js';
import { portOwner, portSlice } from '../actors/router/nat-engine.js';
import { datagramOwner, fragmentOwner, steer, type ForwardMaps } from '../actors/router/steering.js';
import { localMac } from '../actors/iface/net-interface.js';
import { decode, echoRequestFrame, udpFrame } from './support/frames.js';

const ip = parseIpv4;
const INSIDE = { name: 'in', mac: localMac(0x101), ip: ip('10.201.0.1'), prefix: 24 };
const OUTSIDE = { name: 'out', mac: localMac(0x102), ip: ip('10.202.0.1'), prefix: 24 };
const CLIENT = ip('10.201.0.2');
const SERVER = ip('10.202.0.2');
const CLIENT_MAC = 0x02_00_00_00_01_02;
const SERVER_MAC = 0x02_00_00_00_02_02;
const NO_RULES: ForwardMaps = { inside: new Map(), outside: new Map() };

function rig(cfg: Partial<RouterConfig> = {}) {
  const store = new Store([arpTable, natTable, fragTable]);
  const inside: Uint8Array[] = [];
  const outside: Uint8Array[] = [];
  const tables = { arp: store.main.table(arpTable), nat: store.main.table(natTable), frag: store.main.table(fragTable) };
  const r = new Router({ inside: INSIDE, outside: OUTSIDE, ...cfg }, tables, (f) => inside.push(f.slice()), (f) => outside.push(f.slice()));
  for (const [a, m] of [[CLIENT, CLIENT_MAC], [SERVER, SERVER_MAC]]) r.insideArp.cache.learn(a, m, 0);
  return { r, store, inside, outside, frag: tables.frag };
}

/** Deterministic payload bytes, so a reassembly that misplaces one is seen. */
function payload(n: number, seed = 7): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
}

/** A UDP datagram with identification `ident`, cut into fragments of at most `mtu` IP bytes. */
function udpFragments(o: Parameters<typeof udpFrame>[0] & { ident: number; mtu: number }): Uint8Array[] {
  const f = udpFrame(o);
  const v = Ipv4Packet.newUnchecked(f, ETHERNET_HEADER_LEN, f.length - ETHERNET_HEADER_LEN);
  v.ident = o.ident;
  v.fillChecksum();
  return fragmentFrame(f, o.mtu);
}

/** What a receiving kernel does with the fragments: reassembled, parsed, checksums verified. */
function reassemble(frames: readonly Uint8Array[]): { ip: Ipv4Packet; udpPayload: Uint8Array; srcPort: number; dstPort: number; datagram: Uint8Array } {
  const re = new Reassembler(null);
  let datagram: Uint8Array | null = null;
  for (const f of frames) {
    const v = Ipv4Packet.newChecked(EthernetPacket.newChecked(f).payload());
    assert.ok(v.verifyChecksum(), 'every fragment\'s header checksum is right');
    datagram = re.accept(v, 0) ?? datagram;
  }
  assert.ok(datagram !== null, 'the fragments make a whole datagram');
  const v = Ipv4Packet.newChecked(datagram);
  assert.equal(v.protocol, IpProtocol.Udp);
  const u = UdpPacket.newChecked(v.payload());
  assert.ok(u.verifyChecksum(v.src, v.dst), 'the UDP checksum over the whole datagram is right');
  return { ip: v, udpPayload: u.payload().slice(), srcPort: u.srcPort, dstPort: u.dstPort, datagram };
}

function ipOf(f: Uint8Array): Ipv4Packet {
  return Ipv4Packet.newChecked(EthernetPacket.newChecked(f).payload());
}

describe('fragmented datagrams through the NAT', () => {
  test('inside → outside: translated whole (port in the first fragment, address in all), cut again to the size they came in', () => {
    const { r, outside, frag } = rig();
    const data = payload(5000);
    const frags = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: data, ident: 0x1234, mtu: 1500 });
    assert.equal(frags.length, 4);
    r.receiveInside(frags.slice(0, 2), 0);
    assert.equal(outside.length, 0, 'nothing leaves before the datagram is whole');
    assert.equal(frag.size, 1, 'the datagram in reassembly is a row of the frag table');
    r.receiveInside(frags.slice(2), 1);
    assert.equal(frag.size, 0, 'its row is gone once it is whole');
    assert.equal(outside.length, 4);
    for (const f of outside) {
      const v = ipOf(f);
      assert.equal(v.src, OUTSIDE.ip);
      assert.equal(v.dst, SERVER);
      assert.equal(v.ttl, 63);
      assert.equal(v.ident, 0x1234);
      assert.ok(v.totalLength <= 1500);
      assert.equal(EthernetPacket.newChecked(f).src, OUTSIDE.mac);
    }
    const got = reassemble(outside);
    assert.deepEqual(got.udpPayload, data);
    assert.equal(got.srcPort, 40000, 'the source port was free: kept');
    assert.equal(got.dstPort, 5300);
    assert.equal(r.counters.fragments, 4);
    assert.equal(r.fragCounters.reassembled, 1);
    assert.equal(r.fragCounters.refragmented, 1);
    assert.equal(r.counters.forwardedOut, 1);
  });

  test('outside → inside: return traffic in fragments reaches the inside host translated', () => {
    const { r, inside, outside } = rig();
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: payload(10) })], 0);
    assert.equal(outside.length, 1);
    const data = payload(3000, 3);
    const back = udpFragments({ srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, srcPort: 5300, dstPort: 40000, payload: data, ident: 77, mtu: 1500 });
    r.receiveOutside(back, 5);
    assert.equal(inside.length, 3);
    for (const f of inside) assert.equal(ipOf(f).dst, CLIENT);
    const got = reassemble(inside);
    assert.deepEqual(got.udpPayload, data);
    assert.equal(got.dstPort, 40000);
    assert.equal(got.ip.src, SERVER);
    assert.equal(r.counters.forwardedIn, 1);
  });

  test('fragments in any order give the same translated datagram (seeded; FC_SEED overrides)', () => {
    const seed = Number(process.env.FC_SEED ?? 14014);
    console.log(`fast-check seed ${seed}`);
    const data = payload(4200, 11);
    const frags = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40001, dstPort: 5300, payload: data, ident: 9, mtu: 700 });
    fc.assert(fc.property(fc.shuffledSubarray(frags.map((_, i) => i), { minLength: frags.length }), (order) => {
      const { r, outside } = rig();
      r.receiveInside(order.map((i) => frags[i]), 0);
      const got = reassemble(outside);
      assert.deepEqual(got.udpPayload, data);
      assert.equal(got.ip.src, OUTSIDE.ip);
      for (const f of outside) assert.ok(ipOf(f).totalLength <= 700, 'cut to the largest fragment that came in');
    }), { seed, numRuns: 100 });
  });

  test('ping -s 4000 through the router: the echo request and its reply, both in fragments', () => {
    const { r, inside, outside } = rig();
    const data = payload(4000);
    const req = echoRequestFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, ident: 0x4242, seq: 1, data });
    r.receiveInside(fragmentFrame(req, 1500), 0);
    assert.equal(outside.length, 3);
    assert.equal(r.counters.forwardedOut, 1);
    const out = wholeIcmp(outside);
    assert.equal(out.network.ipv4.src, OUTSIDE.ip);
    // The server answers the identifier the router chose, with the same data, in fragments as its kernel would.
    const icmp = Icmpv4Repr.echoReply(out.network.transport.icmp.ident, 1, data);
    const reply = emitFrame({
      ethernet: new EthernetRepr({ dst: OUTSIDE.mac, src: SERVER_MAC, ethertype: EtherType.Ipv4 }),
      network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: SERVER, dst: OUTSIDE.ip, protocol: IpProtocol.Icmp, payloadLen: icmp.bufferLen(), ttl: 64, ident: 99 }), transport: { kind: 'icmpv4', icmp } },
      padding: new Uint8Array(0),
      checksumErrors: [],
    });
    r.receiveOutside(fragmentFrame(reply, 1500), 1);
    assert.equal(inside.length, 3);
    const back = wholeIcmp(inside);
    assert.equal(back.network.ipv4.dst, CLIENT);
    assert.equal(back.network.transport.icmp.type, Icmpv4Type.EchoReply);
    assert.equal(back.network.transport.icmp.ident, 0x4242);
    assert.deepEqual(back.network.transport.icmp.data, data);
    assert.equal(r.counters.forwardedIn, 1);
  });

  test('a fragment-only flood stays under the memory bound, every drop counted, nothing forwarded', () => {
    const highThresh = 256 * 1024;
    const { r, outside } = rig({ reassembly: { highThresh } });
    let peak = 0;
    for (let id = 0; id < 5_000; id++) {
      const frags = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: payload(3000), ident: id, mtu: 1500 });
      r.receiveInside([frags[0], frags[1]], id); // the last fragment never comes
      peak = Math.max(peak, r.reassembler.memoryBytes);
    }
    assert.ok(peak <= highThresh, `peak ${peak} ≤ ${highThresh}`);
    assert.equal(outside.length, 0);
    const c = r.reassembler.counters;
    assert.ok(c.overMemory > 0, 'fragments past the bound are dropped and counted');
    assert.equal(r.counters.fragments, 10_000);
  });

  test('ICMP time exceeded (reassembly) goes to the source when its datagram times out, on the simulated clock', () => {
    const { r, inside, frag } = rig();
    const frags = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: payload(3000), ident: 5, mtu: 1500 });
    const noFirst = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: payload(3000), ident: 6, mtu: 1500 });
    r.receiveInside([frags[0], noFirst[1]], 1_000);
    assert.equal(frag.size, 2);
    r.poll(30_999);
    assert.equal(inside.length, 0, 'not before the 30 s timeout');
    r.poll(31_000);
    assert.equal(inside.length, 1, 'one error: the datagram without its first fragment gets none (RFC 792)');
    assert.equal(frag.size, 0);
    const e = decode(inside[0]);
    assert.ok(e.network.kind === 'ipv4' && e.network.transport.kind === 'icmpv4');
    assert.equal(e.network.ipv4.src, INSIDE.ip);
    assert.equal(e.network.ipv4.dst, CLIENT);
    assert.equal(e.ethernet.dst, CLIENT_MAC);
    const icmp = e.network.transport.icmp;
    assert.equal(icmp.type, 11);
    assert.equal(icmp.code, 1);
    assert.deepEqual(e.checksumErrors, []);
    assert.equal(r.fragCounters.timeExceeded, 1);
    assert.equal(r.reassembler.counters.timeouts, 2);
  });

  test('a reassembled datagram with DF set that is larger than its fragments is dropped and counted', () => {
    const { r, outside } = rig();
    const frags = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: payload(2000), ident: 8, mtu: 1500 });
    const first = ipOf(frags[0]);
    first.dontFragment = true;
    first.fillChecksum();
    r.receiveInside(frags, 0);
    assert.equal(outside.length, 0);
    assert.equal(r.fragCounters.dontFragment, 1);
  });
});

describe('fragments and several packet actors', () => {
  test('steering: every fragment of a datagram goes to one actor, and a dispatcher follows its first fragment', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1024, max: 65535 }), (actors, ident, port) => {
      const frags = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: port, dstPort: 53, payload: payload(3000), ident, mtu: 1000 });
      const owners = new Set(frags.map((f) => steer(f, true, NO_RULES, actors, 0)));
      assert.equal(owners.size, 1);
      assert.equal([...owners][0], datagramOwner(CLIENT, SERVER, IpProtocol.Udp, ident, actors));
      assert.equal(fragmentOwner(frags[2], actors), [...owners][0]);
      // The dispatcher: the first fragment by its port, the later ones after it.
      for (const f of frags) assert.equal(steer(f, true, NO_RULES, actors), portOwner(port, actors));
    }), { seed: 14015, numRuns: 300 });
  });

  test('two actors: the datagram owner reassembles and hands the datagram to its port\'s owner, which translates it', () => {
    const actors = 2;
    const rigs = [0, 1].map((a) => rig({ nat: { actor: a, actors } }));
    const sent: { frame: Uint8Array; owner: number; outbound: boolean }[] = [];
    rigs.forEach(({ r }, me) => {
      r.handOff = {
        me, actors,
        owner: (f, outbound) => steer(f, outbound, NO_RULES, actors, me),
        send: (frame, owner, outbound) => { sent.push({ frame: frame.slice(), owner, outbound }); return true; },
      };
    });
    // A source port in actor 1's slice, and an ident whose datagram actor 0 owns.
    const port = portSlice(1, 2)[0] + 10;
    let ident = 0;
    while (datagramOwner(CLIENT, SERVER, IpProtocol.Udp, ident, actors) !== 0) ident++;
    const data = payload(4000, 5);
    const frags = udpFragments({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: port, dstPort: 5300, payload: data, ident, mtu: 1200 });
    rigs[0].r.receiveInside(frags, 0);
    assert.equal(rigs[0].outside.length, 0, 'actor 0 translates nothing: actor 1 owns the port');
    assert.equal(rigs[0].r.fragCounters.handedOff, 1);
    assert.ok(sent.length > 1 && sent.every((s) => s.owner === 1 && s.outbound));
    assert.ok(sent.every((s) => ipOf(s.frame).totalLength <= 1200), 'handed over as fragments no larger than they came');
    rigs[1].r.receiveInside(sent.map((s) => s.frame), 1);
    assert.equal(rigs[1].r.fragCounters.handedOff, 0, 'the port\'s owner never hands a datagram on');
    assert.equal(rigs[1].r.nat.counters.created, 1);
    const got = reassemble(rigs[1].outside);
    assert.deepEqual(got.udpPayload, data);
    assert.equal(got.srcPort, port);
    assert.equal(got.ip.src, OUTSIDE.ip);
  });
});

/** Fragments of an ICMP datagram reassembled and decoded with checksums verified. */
function wholeIcmp(frames: readonly Uint8Array[]) {
  const re = new Reassembler(null);
  let whole: Uint8Array | null = null;
  for (const f of frames) whole = re.accept(ipOf(f), 0) ?? whole;
  assert.ok(whole !== null, 'the fragments make a whole datagram');
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + whole.length);
  frame.set(frames[0].subarray(0, ETHERNET_HEADER_LEN));
  frame.set(whole, ETHERNET_HEADER_LEN);
  const d = decode(frame);
  assert.deepEqual(d.checksumErrors, []);
  assert.ok(d.network.kind === 'ipv4' && d.network.transport.kind === 'icmpv4');
  return { ...d, network: { ...d.network, transport: d.network.transport } };
}
