// NAT remap on an outside address change (actors/router/nat-remap.ts) through the real Router: UDP and
// ICMP echo bindings carry on from the new address on the same port, return traffic to it finds its
// flow, TCP flows are gone and counted, nothing else in the table changes; and actors' deletes merge.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store, type Branch } from '../store/index.js';
import { ArpOperation, EtherType, EthernetRepr, Icmpv4Repr, IpProtocol, Ipv4Repr, TcpFlags, emitFrame, parseIpv4, type FrameRepr } from '../wire/index.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { natTable, type NatEntry, type NatProto } from '../actors/router/nat-table.js';
import { Router } from '../actors/router/router.js';
import { remapOutside } from '../actors/router/nat-remap.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { decode, echoRequestFrame, tcpFrame, udpFrame } from './support/frames.js';

const ip = parseIpv4;
const SEED = Number(process.env.NB_SEED ?? 15);
const INSIDE: NetInterface = { name: 'in', mac: localMac(0x151), ip: ip('10.201.0.1'), prefix: 24 };
const OLD = ip('10.202.0.1');
const NEW = ip('10.202.0.77');
const clientIp = (c: number) => ip('10.201.0.2') + c;
const clientMac = (c: number) => 0x02_00_00_00_01_00 + c;
const serverIp = (s: number) => ip('10.202.0.2') + s;
const serverMac = (s: number) => 0x02_00_00_00_02_00 + s;

interface Flow { proto: NatProto; client: number; port: number; server: number; rport: number }

/** A router whose outside interface starts on OLD (a fresh object: remap moves it). */
function rig(branch?: Branch, nat?: { actor: number; actors: number }) {
  const store = branch === undefined ? new Store([arpTable, natTable]) : undefined;
  const b = branch ?? store!.main;
  const outside: NetInterface = { name: 'out', mac: localMac(0x152), ip: OLD, prefix: 24 };
  const sentIn: Uint8Array[] = [];
  const sentOut: Uint8Array[] = [];
  const r = new Router({ inside: INSIDE, outside, nat }, { arp: b.table(arpTable), nat: b.table(natTable) }, (f) => sentIn.push(f.slice()), (f) => sentOut.push(f.slice()));
  for (let i = 0; i < 4; i++) r.insideArp.cache.learn(clientIp(i), clientMac(i), 0);
  for (let i = 0; i < 3; i++) r.insideArp.cache.learn(serverIp(i), serverMac(i), 0);
  /** Frames the router sent while `f` ran. */
  const sends = (f: () => void) => {
    sentIn.length = sentOut.length = 0;
    f();
    return { inside: sentIn.map(decode), outside: sentOut.map(decode) };
  };
  return { r, b, outside, sends };
}

const v4 = (f: FrameRepr) => {
  assert.ok(f.network.kind === 'ipv4');
  return f.network;
};

/** The source port (ICMP: echo identifier) of a frame the router sent. */
function srcPortOf(f: FrameRepr): number {
  const t = v4(f).transport;
  if (t.kind === 'udp') return t.udp.srcPort;
  if (t.kind === 'tcp') return t.tcp.srcPort;
  assert.ok(t.kind === 'icmpv4');
  return t.icmp.rest >>> 16;
}

function dstPortOf(f: FrameRepr): number {
  const t = v4(f).transport;
  if (t.kind === 'udp') return t.udp.dstPort;
  if (t.kind === 'tcp') return t.tcp.dstPort;
  assert.ok(t.kind === 'icmpv4');
  return t.icmp.rest >>> 16;
}

/** An inside host's packet of the flow (TCP: `flags`). */
function out(fl: Flow, flags: number = TcpFlags.ACK): Uint8Array {
  const o = { srcMac: clientMac(fl.client), dstMac: INSIDE.mac, src: clientIp(fl.client), dst: serverIp(fl.server) };
  if (fl.proto === 'icmp') return echoRequestFrame({ ...o, ident: fl.port, seq: 1 });
  if (fl.proto === 'udp') return udpFrame({ ...o, srcPort: fl.port, dstPort: fl.rport, payload: new Uint8Array([1]) });
  return tcpFrame({ ...o, srcPort: fl.port, dstPort: fl.rport, flags });
}

/** The remote end's answer to `to`:`port` (our outside address and binding). */
function back(fl: Flow, to: number, port: number, flags: number = TcpFlags.ACK): Uint8Array {
  const o = { srcMac: serverMac(fl.server), dstMac: localMac(0x152), src: serverIp(fl.server), dst: to };
  if (fl.proto === 'udp') return udpFrame({ ...o, srcPort: fl.rport, dstPort: port, payload: new Uint8Array([2]) });
  if (fl.proto === 'tcp') return tcpFrame({ ...o, srcPort: fl.rport, dstPort: port, flags });
  const icmp = Icmpv4Repr.echoReply(port, 1, new Uint8Array(32).fill(0x61));
  return emitFrame({
    ethernet: new EthernetRepr({ dst: o.dstMac, src: o.srcMac, ethertype: EtherType.Ipv4 }),
    network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: o.src, dst: o.dst, protocol: IpProtocol.Icmp, payloadLen: icmp.bufferLen(), ttl: 64 }), transport: { kind: 'icmpv4', icmp } },
    padding: new Uint8Array(0),
    checksumErrors: [],
  });
}

/** Opens the flow (TCP: the three-way handshake, so it is established); returns its outside port. */
function open(s: ReturnType<typeof rig>, fl: Flow, now: number): number {
  const first = s.sends(() => s.r.receiveInside([out(fl, TcpFlags.SYN)], now)).outside;
  assert.equal(first.length, 1);
  const port = srcPortOf(first[0]);
  if (fl.proto === 'tcp') {
    s.r.receiveOutside([back(fl, OLD, port, TcpFlags.SYN | TcpFlags.ACK)], now);
    s.r.receiveInside([out(fl, TcpFlags.ACK)], now);
  }
  return port;
}

const flowArb = fc.uniqueArray(
  fc.record({
    proto: fc.constantFrom<NatProto>('tcp', 'udp', 'icmp'),
    client: fc.integer({ min: 0, max: 3 }),
    port: fc.integer({ min: 1024, max: 1040 }), // few ports: clients collide, so some bindings are not the inside port
    server: fc.integer({ min: 0, max: 2 }),
    rport: fc.integer({ min: 1, max: 3 }),
  }),
  { selector: (f) => `${f.proto}:${f.client}:${f.port}:${f.server}:${f.proto === 'icmp' ? 0 : f.rport}`, minLength: 1, maxLength: 60 },
);

const rows = (b: Branch): Map<string, NatEntry> => new Map(b.table(natTable).entries());

describe('remapOutside', () => {
  test('UDP/ICMP bindings move to the new address on the same port, return traffic finds them, TCP is expired and counted, nothing else changes (300 cases)', () => {
    fc.assert(fc.property(flowArb, fc.integer({ min: 0, max: 1 }), (flows, actorIndex) => {
      const s = rig(undefined, { actor: actorIndex, actors: 2 });
      const now = 1_000;
      const ports = flows.map((fl) => open(s, fl, now));
      s.r.flush(now);
      const before = rows(s.b);
      const tcp = flows.filter((f) => f.proto === 'tcp').length;
      const res = remapOutside(s.r, OLD, NEW, now + 10);
      assert.ok(res.changed && !res.stale);
      assert.equal(res.expired, tcp);
      assert.equal(res.kept, flows.length - tcp);
      assert.equal(s.outside.ip, NEW);
      // Nothing but the TCP rows changed in the table.
      const after = rows(s.b);
      for (const [k, e] of before) {
        if (e.proto === 'tcp') assert.ok(!after.has(k));
        else assert.deepEqual(after.get(k), e);
      }
      assert.equal(after.size, flows.length - tcp);
      flows.forEach((fl, i) => {
        const t = now + 20;
        const port = ports[i];
        if (fl.proto === 'tcp') {
          // The remote's segment to the new address finds no flow; to the old one, nothing is ours.
          assert.equal(s.sends(() => s.r.receiveOutside([back(fl, NEW, port)], t)).inside.length, 0);
          return;
        }
        const o = s.sends(() => s.r.receiveInside([out(fl)], t)).outside;
        assert.equal(o.length, 1);
        assert.equal(v4(o[0]).ipv4.src, NEW);
        assert.equal(srcPortOf(o[0]), port);
        const i2 = s.sends(() => s.r.receiveOutside([back(fl, NEW, port)], t)).inside;
        assert.equal(i2.length, 1);
        assert.equal(v4(i2[0]).ipv4.dst, clientIp(fl.client));
        assert.equal(dstPortOf(i2[0]), fl.port);
        assert.equal(s.sends(() => s.r.receiveOutside([back(fl, OLD, port)], t)).inside.length, 0);
      });
    }), { numRuns: 300, seed: SEED });
  });

  test('a TCP flow\'s inside host starts over: its next segment makes a new binding from the new address', () => {
    const s = rig();
    const fl: Flow = { proto: 'tcp', client: 0, port: 40000, server: 0, rport: 80 };
    open(s, fl, 0);
    remapOutside(s.r, OLD, NEW, 5);
    const o = s.sends(() => s.r.receiveInside([out(fl, TcpFlags.SYN)], 6)).outside;
    assert.equal(v4(o[0]).ipv4.src, NEW);
    assert.equal(s.r.nat.counters.remapExpired, 1);
    assert.equal(s.b.table(natTable).get([...s.b.table(natTable).entries()][0][0])!.state, 'syn-sent');
  });

  test('the gratuitous ARP announces the new address from our MAC to everyone', () => {
    const s = rig();
    const res = remapOutside(s.r, OLD, NEW, 0);
    const f = decode(res.announcement!);
    assert.equal(f.ethernet.dst, 0xffff_ffff_ffff);
    assert.equal(f.ethernet.src, s.outside.mac);
    assert.ok(f.network.kind === 'arp');
    const a = f.network.arp;
    assert.deepEqual([a.operation, a.senderMac, a.senderIp, a.targetIp, a.targetMac], [ArpOperation.Request, s.outside.mac, NEW, NEW, 0]);
  });

  test('replayed or refused: the address it has already, or 0.0.0.0, changes nothing; a stale old address is reported', () => {
    const s = rig();
    open(s, { proto: 'tcp', client: 0, port: 40000, server: 0, rport: 80 }, 0);
    s.r.flush(0);
    assert.equal(remapOutside(s.r, OLD, OLD, 1).changed, false);
    assert.equal(remapOutside(s.r, OLD, 0, 1).changed, false);
    assert.equal(s.b.table(natTable).size, 1);
    const moved = remapOutside(s.r, ip('10.202.0.99'), NEW, 1);
    assert.ok(moved.changed && moved.stale);
    assert.equal(moved.expired, 1);
    assert.equal(remapOutside(s.r, OLD, NEW, 2).changed, false);
  });

  test('the new lease\'s prefix and gateway go with it', () => {
    const s = rig();
    remapOutside(s.r, OLD, ip('192.0.2.10'), 0, { prefix: 28, gateway: ip('192.0.2.1') });
    assert.equal(s.outside.prefix, 28);
    assert.equal(s.r.cfg.gateway, ip('192.0.2.1'));
  });
  test('a restart binds the lease it had from 0.0.0.0: the TCP rows from the store are live flows and stay', () => {
    const store = new Store([arpTable, natTable]);
    const a = rig(store.main.fork('a'));
    const fl: Flow = { proto: 'tcp', client: 0, port: 40000, server: 0, rport: 80 };
    const port = open(a, fl, 0);
    a.r.flush(0);
    a.b.commit();
    store.main.merge(a.b);
    // The restarted actor starts unbound (--outside NAME:dhcp) and follows the `dhcp-client` row back to OLD.
    const b = rig(store.main.fork('b'));
    b.outside.ip = 0;
    b.outside.prefix = 32;
    const res = remapOutside(b.r, 0, OLD, 10, { prefix: 24 });
    assert.equal(res.changed, true);
    assert.equal(res.expired, 0);
    assert.equal(res.kept, 1);
    assert.equal(b.r.nat.counters.remapExpired, 0);
    const delivered = b.sends(() => b.r.receiveOutside([back(fl, OLD, port)], 11)).inside;
    assert.equal(delivered.length, 1);
    assert.equal(dstPortOf(delivered[0]), fl.port);
  });
});

describe('remap across packet actors and merges', () => {
  test('every actor remaps on its branch: the deletes agree, UDP rows stay; a concurrent write to a TCP row is deleted once its actor remaps', () => {
    const store = new Store([arpTable, natTable]);
    const a = rig(store.main.fork('a'), { actor: 0, actors: 2 });
    const udp: Flow = { proto: 'udp', client: 0, port: 1500, server: 0, rport: 5300 };
    const tcp: Flow = { proto: 'tcp', client: 1, port: 1600, server: 1, rport: 80 };
    open(a, udp, 0);
    open(a, tcp, 0);
    a.r.flush(0);
    a.b.commit();
    store.main.merge(a.b);
    const b = rig(store.main.fork('b'), { actor: 1, actors: 2 });
    // Actor b writes to the TCP row (a packet it counted) while actor a remaps: the write survives that merge ('keep')…
    const [tcpKey, tcpRow] = [...b.b.table(natTable).entries()].find(([, e]) => e.proto === 'tcp')!;
    b.b.table(natTable).set(tcpKey, { ...tcpRow, pktsOut: tcpRow.pktsOut + 9 });
    b.b.commit();
    assert.equal(remapOutside(a.r, OLD, NEW, 10).expired, 1);
    a.b.commit();
    store.main.merge(a.b);
    store.main.merge(b.b);
    assert.equal([...store.main.table(natTable).entries()].filter(([, e]) => e.proto === 'tcp').length, 1);
    // …and goes when b remaps on the merge that brings the change to it.
    assert.equal(remapOutside(b.r, OLD, NEW, 10).expired, 1);
    b.b.commit();
    store.main.merge(b.b);
    const left = [...store.main.table(natTable).entries()].map(([, e]) => e);
    assert.deepEqual(left.map((e) => e.proto), ['udp']);
  });
});
