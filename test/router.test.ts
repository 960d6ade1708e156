import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store, Conflict, CodecError, deepEqual, settle, resolveByOrder } from '../store/index.js';
import { Icmpv4Repr, IpProtocol, Ipv4Repr, EtherType, EthernetRepr, TcpFlags, emitFrame, parseIpv4, type FrameRepr } from '../wire/index.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { natTable, natKey, natFlowKey, CONN_STATES, type NatEntry } from '../actors/router/nat-table.js';
import { Router } from '../actors/router/router.js';
import { NatEngine, portOwner, portSlice } from '../actors/router/nat-engine.js';
import { localMac } from '../actors/iface/net-interface.js';
import { decode, echoRequestFrame, tcpFrame, udpFrame } from './support/frames.js';

const ip = parseIpv4;
const INSIDE = { name: 'in', mac: localMac(0x101), ip: ip('10.201.0.1'), prefix: 24 };
const OUTSIDE = { name: 'out', mac: localMac(0x102), ip: ip('10.202.0.1'), prefix: 24 };
const CLIENT = ip('10.201.0.2');
const CLIENT2 = ip('10.201.0.3');
const SERVER = ip('10.202.0.2');
const CLIENT_MAC = 0x02_00_00_00_01_02;
const CLIENT2_MAC = 0x02_00_00_00_01_03;
const SERVER_MAC = 0x02_00_00_00_02_02;

function rig(opts: Partial<ConstructorParameters<typeof Router>[0]> = {}) {
  const store = new Store([arpTable, natTable]);
  const inside: Uint8Array[] = [];
  const outside: Uint8Array[] = [];
  const tables = { arp: store.main.table(arpTable), nat: store.main.table(natTable) };
  const r = new Router({ inside: INSIDE, outside: OUTSIDE, ...opts }, tables, (f) => inside.push(f.slice()), (f) => outside.push(f.slice()));
  for (const [a, m] of [[CLIENT, CLIENT_MAC], [CLIENT2, CLIENT2_MAC], [SERVER, SERVER_MAC]]) r.insideArp.cache.learn(a, m, 0);
  return { r, store, inside, outside, nat: tables.nat };
}

const v4 = (f: FrameRepr) => {
  assert.ok(f.network.kind === 'ipv4');
  return f.network;
};

describe('forwarding with masquerade', () => {
  test('UDP out and back: source rewritten to the outside address, port preserved, TTL down, checksums right', () => {
    const { r, inside, outside } = rig();
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: new Uint8Array([1, 2, 3]) })], 0);
    assert.equal(outside.length, 1);
    const o = decode(outside[0]);
    const n = v4(o);
    assert.equal(n.ipv4.src, OUTSIDE.ip);
    assert.equal(n.ipv4.dst, SERVER);
    assert.equal(n.ipv4.ttl, 63);
    assert.ok(n.transport.kind === 'udp');
    assert.equal(n.transport.udp.srcPort, 40000);
    assert.equal(o.ethernet.src, OUTSIDE.mac);
    assert.equal(o.ethernet.dst, SERVER_MAC);
    r.receiveOutside([udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, srcPort: 5300, dstPort: 40000, payload: new Uint8Array([9]) })], 5);
    assert.equal(inside.length, 1);
    const i = v4(decode(inside[0]));
    assert.equal(i.ipv4.dst, CLIENT);
    assert.ok(i.transport.kind === 'udp' && i.transport.udp.dstPort === 40000);
    assert.equal(r.counters.forwardedOut, 1);
    assert.equal(r.counters.forwardedIn, 1);
  });

  test('a taken source port is replaced by one from the actor\'s own slice', () => {
    const { r, outside } = rig({ nat: { actor: 1, actors: 2 } });
    const [lo, hi] = portSlice(1, 2);
    const p = lo + 5; // owned by actor 1: preserved for the first host, not for the second
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: p, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    r.receiveInside([udpFrame({ srcMac: CLIENT2_MAC, dstMac: INSIDE.mac, src: CLIENT2, dst: SERVER, srcPort: p, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    const ports = outside.map((f) => { const n = v4(decode(f)); assert.ok(n.transport.kind === 'udp'); return n.transport.udp.srcPort; });
    assert.equal(ports[0], p);
    assert.notEqual(ports[1], p);
    assert.ok(ports[1] >= lo && ports[1] < hi);
    assert.equal(portOwner(ports[1], 2), 1);
  });

  test('a restarted actor does not hand a live flow\'s port to another host', () => {
    const { store, outside } = rig();
    const tables = { arp: store.main.table(arpTable), nat: store.main.table(natTable) };
    const first = new Router({ inside: INSIDE, outside: OUTSIDE }, tables, () => {}, (f) => outside.push(f.slice()));
    first.insideArp.cache.learn(SERVER, SERVER_MAC, 0);
    first.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    first.flush(0);
    const again = new Router({ inside: INSIDE, outside: OUTSIDE }, tables, () => {}, (f) => outside.push(f.slice())); // a new incarnation
    again.receiveInside([udpFrame({ srcMac: CLIENT2_MAC, dstMac: INSIDE.mac, src: CLIENT2, dst: SERVER, srcPort: 40000, dstPort: 5300, payload: new Uint8Array(1) })], 10);
    const ports = outside.map((f) => { const n = v4(decode(f)); assert.ok(n.transport.kind === 'udp'); return n.transport.udp.srcPort; });
    assert.equal(ports[0], 40000);
    assert.notEqual(ports[1], 40000);
  });

  test('a next hop that never answers ARP gets the inside sender an ICMP host unreachable', () => {
    const { r, inside } = rig();
    const nobody = ip('10.202.0.99');
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: nobody, srcPort: 4444, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    for (let t = 0; t <= 4000; t += 100) r.poll(t);
    assert.equal(inside.length, 1);
    const e = decode(inside[0]);
    assert.equal(e.ethernet.dst, CLIENT_MAC);
    const n = v4(e);
    assert.equal(n.ipv4.dst, CLIENT);
    assert.ok(n.transport.kind === 'icmpv4' && n.transport.icmp.type === 3 && n.transport.icmp.code === 1);
    const q = n.transport.icmp.data;
    assert.equal(((q[12] << 24) | (q[13] << 16) | (q[14] << 8) | q[15]) >>> 0, CLIENT, 'the quote is what the client sent');
  });

  test('TCP: the connection moves through SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, TIME_WAIT', () => {
    const { r, nat } = rig();
    const c = (flags: number, t: number) => r.receiveInside([tcpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 50000, dstPort: 80, flags })], t);
    const s = (flags: number, t: number) => r.receiveOutside([tcpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, srcPort: 80, dstPort: 50000, flags })], t);
    const state = () => { r.flush(0); return [...nat.entries()][0][1].state; };
    c(TcpFlags.SYN, 0); assert.equal(state(), 'syn-sent');
    s(TcpFlags.SYN | TcpFlags.ACK, 1); assert.equal(state(), 'syn-recv');
    c(TcpFlags.ACK, 2); assert.equal(state(), 'established');
    c(TcpFlags.FIN | TcpFlags.ACK, 3); assert.equal(state(), 'fin-wait');
    s(TcpFlags.FIN | TcpFlags.ACK, 4); assert.equal(state(), 'time-wait');
    const e = [...nat.entries()][0][1];
    assert.equal(e.pktsOut, 3);
    assert.equal(e.pktsIn, 2);
  });

  test('ICMP echo is NATed by its identifier', () => {
    const { r, inside, outside } = rig();
    r.receiveInside([echoRequestFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, ident: 777, seq: 1 })], 0);
    const o = v4(decode(outside[0]));
    assert.ok(o.transport.kind === 'icmpv4');
    const reply = emitFrame({
      ethernet: new EthernetRepr({ dst: OUTSIDE.mac, src: SERVER_MAC, ethertype: EtherType.Ipv4 }),
      network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: SERVER, dst: OUTSIDE.ip, protocol: IpProtocol.Icmp, payloadLen: 8 + 32, ttl: 64 }), transport: { kind: 'icmpv4', icmp: Icmpv4Repr.echoReply(o.transport.icmp.rest >>> 16, 1, new Uint8Array(32).fill(0x61)) } },
      padding: new Uint8Array(0), checksumErrors: [],
    });
    r.receiveOutside([reply], 1);
    const i = v4(decode(inside[0]));
    assert.equal(i.ipv4.dst, CLIENT);
    assert.ok(i.transport.kind === 'icmpv4' && i.transport.icmp.rest >>> 16 === 777);
  });

  test('an ICMP error about a NATed flow is translated back to the inside host, quote included', () => {
    const { r, inside, outside } = rig();
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 41000, dstPort: 9999, payload: new Uint8Array(4) })], 0);
    const natted = outside[0];
    const quote = natted.slice(14, 14 + 28);
    const unreachable = emitFrame({
      ethernet: new EthernetRepr({ dst: OUTSIDE.mac, src: SERVER_MAC, ethertype: EtherType.Ipv4 }),
      network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: SERVER, dst: OUTSIDE.ip, protocol: IpProtocol.Icmp, payloadLen: 8 + quote.length, ttl: 64 }), transport: { kind: 'icmpv4', icmp: Icmpv4Repr.destUnreachable(3, quote) } },
      padding: new Uint8Array(0), checksumErrors: [],
    });
    r.receiveOutside([unreachable], 1);
    assert.equal(inside.length, 1);
    const i = v4(decode(inside[0]));
    assert.equal(i.ipv4.dst, CLIENT);
    assert.ok(i.transport.kind === 'icmpv4');
    const q = i.transport.icmp.data;
    assert.equal(((q[12] << 24) | (q[13] << 16) | (q[14] << 8) | q[15]) >>> 0, CLIENT, 'quoted source is the inside host');
    assert.equal((q[20] << 8) | q[21], 41000, 'quoted source port is the inside port');
    assert.equal(r.counters.icmpErrorsTranslated, 1);
  });

  test('a translated error quotes the datagram as the inside host sent it: address, port and checksums (only the TTL is one down)', () => {
    const { r, inside, outside } = rig();
    const sent = udpFrame({ srcMac: CLIENT2_MAC, dstMac: INSIDE.mac, src: CLIENT2, dst: SERVER, srcPort: 41001, dstPort: 9999, payload: new Uint8Array([5, 6, 7]) });
    r.receiveInside([sent.slice()], 0); // rewritten in place
    // 10.201.0.3 → 10.202.0.1 changes the UDP checksum (10.201.0.2 would not: its words sum alike).
    const quote = outside[0].slice(14, 14 + 28);
    assert.notDeepEqual(quote.subarray(20), sent.subarray(34, 42), 'the NATed UDP checksum differs from the one sent');
    r.receiveOutside([emitFrame({
      ethernet: new EthernetRepr({ dst: OUTSIDE.mac, src: SERVER_MAC, ethertype: EtherType.Ipv4 }),
      network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: SERVER, dst: OUTSIDE.ip, protocol: IpProtocol.Icmp, payloadLen: 8 + quote.length, ttl: 64 }), transport: { kind: 'icmpv4', icmp: Icmpv4Repr.destUnreachable(3, quote) } },
      padding: new Uint8Array(0), checksumErrors: [],
    })], 1);
    const n = v4(decode(inside[0]));
    assert.ok(n.transport.kind === 'icmpv4');
    const q = n.transport.icmp.data;
    assert.deepEqual(q.subarray(20, 28), sent.subarray(34, 42), 'the quoted UDP header, checksum included, is what the client sent');
    const original = sent.slice(14, 14 + 20);
    original[8]--; // the TTL we took on the way out
    original[10] = 0; original[11] = 0;
    const header = q.slice(0, 20);
    header[10] = 0; header[11] = 0;
    assert.deepEqual(header, original);
    assert.equal(n.transport.icmp.original()?.ipv4.wireChecksum, undefined, 'the quoted header\'s checksum is right');
  });

  test('host unreachable quotes the datagram exactly as the inside host sent it', () => {
    const { r, inside } = rig();
    const sent = udpFrame({ srcMac: CLIENT2_MAC, dstMac: INSIDE.mac, src: CLIENT2, dst: ip('10.202.0.99'), srcPort: 4445, dstPort: 5300, payload: new Uint8Array([1, 2]) });
    r.receiveInside([sent.slice()], 0); // rewritten in place
    for (let t = 0; t <= 4000; t += 100) r.poll(t);
    const n = v4(decode(inside[0]));
    assert.ok(n.transport.kind === 'icmpv4' && n.transport.icmp.code === 1);
    assert.deepEqual(n.transport.icmp.data, sent.subarray(14, 14 + 28));
  });

  test('TTL 1 is answered with time exceeded, rate-limited', () => {
    const { r, inside } = rig({ icmpErrorsPerSecond: 10 });
    const f = udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 1, dstPort: 2, payload: new Uint8Array(1), ttl: 1 });
    for (let i = 0; i < 200; i++) r.receiveInside([f], 0);
    assert.equal(r.counters.ttlExceeded, 200);
    assert.equal(inside.length, 50); // the burst
    const e = v4(decode(inside[0]));
    assert.ok(e.transport.kind === 'icmpv4' && e.transport.icmp.type === 11);
    assert.equal(r.icmpErrors.counters.rateLimited, 150);
  });

  test('no route: ICMP net unreachable; with a gateway the packet goes to the gateway\'s MAC', () => {
    const far = ip('192.0.2.9');
    const a = rig();
    a.r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: far, srcPort: 1, dstPort: 2, payload: new Uint8Array(1) })], 0);
    assert.equal(a.outside.length, 0);
    assert.equal(a.r.counters.noRoute, 1);
    const u = v4(decode(a.inside[0]));
    assert.ok(u.transport.kind === 'icmpv4' && u.transport.icmp.type === 3 && u.transport.icmp.code === 0);
    const b = rig({ gateway: SERVER });
    b.r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: far, srcPort: 1, dstPort: 2, payload: new Uint8Array(1) })], 0);
    assert.equal(decode(b.outside[0]).ethernet.dst, SERVER_MAC);
  });

  test('the router answers ping on both of its addresses', () => {
    const { r, inside, outside } = rig();
    r.receiveInside([echoRequestFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: INSIDE.ip, seq: 1 })], 0);
    r.receiveOutside([echoRequestFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, seq: 2 })], 0);
    assert.equal(v4(decode(inside[0])).ipv4.src, INSIDE.ip);
    assert.equal(v4(decode(outside[0])).ipv4.src, OUTSIDE.ip);
  });

  test('unsolicited, malformed and badly checksummed packets are dropped and counted, never thrown', () => {
    const { r, inside, outside } = rig();
    r.receiveOutside([udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, srcPort: 5300, dstPort: 12345, payload: new Uint8Array(1) })], 0);
    const good = udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 1, dstPort: 2, payload: new Uint8Array(8) });
    const bad = good.slice(); bad[14 + 10] ^= 0xff; // IP checksum
    r.receiveInside([bad, good.subarray(0, 20), good.subarray(0, 10)], 0);
    assert.equal(r.counters.unsolicited, 1);
    assert.equal(r.counters.badChecksum, 1);
    assert.equal(r.counters.malformed, 2);
    assert.equal(inside.length + outside.length, 0);
  });

  test('a full table drops new flows (counted); the port search is bounded', () => {
    const { r } = rig({ nat: { maxEntries: 10, portSearchLimit: 4 } });
    for (let i = 0; i < 30; i++) r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 2000 + i, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    assert.equal(r.nat.counters.created, 10);
    assert.equal(r.nat.counters.tableFull, 20);
  });

  test('last-seen and counters touched by every packet are one store write per flush, not one per packet', () => {
    const { r, store, nat } = rig();
    const f = udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 3000, dstPort: 5300, payload: new Uint8Array(10) });
    for (let i = 0; i < 100; i++) r.receiveInside([f.slice()], i); // forwarding rewrites the frame in place
    store.main.commit();
    const before = r.nat.counters.flushedWrites;
    for (let i = 0; i < 100; i++) r.receiveInside([f.slice()], 100 + i);
    assert.equal(r.nat.counters.flushedWrites, before);
    r.flush(200);
    assert.equal(r.nat.counters.flushedWrites, before + 1);
    const e = [...nat.entries()][0][1];
    assert.equal(e.pktsOut, 200);
    assert.equal(e.lastSeen, 199);
  });

  test('flows expire after their conntrack timeout (UDP 30 s, 120 s once replied)', () => {
    const { r, nat } = rig();
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 1111, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: SERVER, srcPort: 2222, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    r.receiveOutside([udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, srcPort: 5300, dstPort: 2222, payload: new Uint8Array(1) })], 0);
    r.flush(0);
    assert.equal(r.nat.expire(29_999), 0);
    assert.equal(r.nat.expire(30_000), 1);
    assert.equal(nat.size, 1);
    assert.equal(r.nat.expire(120_000), 1);
  });
});

describe('NatEngine after a merge settled a binding', () => {
  test('an actor adopts the merged port instead of writing its own back', () => {
    const store = new Store([natTable]);
    const t = store.main.table(natTable);
    const nat = new NatEngine(t);
    assert.equal(nat.outbound('udp', CLIENT, 7000, SERVER, 53, 0, 40, 0), 7000);
    nat.flush(0);
    const key = natKey('udp', CLIENT, 7000, SERVER, 53);
    t.set(key, { ...t.get(key)!, outPort: 6500 }); // what a merge of two bindings settled on
    nat.outbound('udp', CLIENT, 7000, SERVER, 53, 0, 40, 1);
    nat.flush(1);
    assert.equal(t.get(key)!.outPort, 6500);
    assert.equal(nat.peek('udp', 6500, SERVER, 53)?.insidePort, 7000);
    assert.equal(nat.peek('udp', 7000, SERVER, 53), undefined);
  });
});

describe('NatEngine sweeping a dead flow it read off the table', () => {
  test('a dead flow\'s binding, now a live flow\'s, keeps routing the live flow\'s return traffic', () => {
    const store = new Store([natTable]);
    const t = store.main.table(natTable);
    new NatEngine(t).outbound('udp', CLIENT2, 7000, SERVER, 53, 0, 40, 0); // expires at 30 s, still in the table (no expiry run)
    const nat = new NatEngine(t, { now: 31_000 }); // a restarted actor: reads the dead flow off the table, cold
    assert.equal(nat.outbound('udp', CLIENT, 7000, SERVER, 53, 0, 40, 31_000), 7000, 'the dead flow\'s port is free');
    nat.flush(31_000); // the sweep finds the dead cold flow and forgets it
    const s = nat.inbound('udp', 7000, SERVER, 53, 0, 40, 31_001); // within a second of the last index rebuild
    assert.ok(s >= 0, 'return traffic to the live flow finds it');
    assert.equal(nat.insideIp(s), CLIENT);
  });
});

describe('nat flow keys', () => {
  test('are packed in memory and readable in paths, both ways', () => {
    const k = natKey('udp', CLIENT, 40000, SERVER, 53);
    assert.equal(k.length, 7);
    assert.equal(natFlowKey.encode(k), 'udp:10.201.0.2:40000:10.202.0.2:53');
    assert.equal(natFlowKey.decode('udp:10.201.0.2:40000:10.202.0.2:53'), k);
    assert.equal(natFlowKey.decode(k), k);
    assert.equal(natTable.path(k), 'nat/udp:10.201.0.2:40000:10.202.0.2:53');
  });
  test('a malformed key is a CodecError naming it', () => {
    for (const bad of ['udp:10.201.0.2:40000:10.202.0.2', 'sctp:1.2.3.4:1:5.6.7.8:2', 'udp:300.1.1.1:1:1.1.1.1:1', 42, 'abcdefg']) {
      assert.throws(() => natFlowKey.decode(bad), (e: unknown) => e instanceof CodecError && /NAT flow key/.test((e as Error).message));
    }
  });
});

describe('the nat merge', () => {
  const entry = fc.record({
    proto: fc.constant('udp' as const), insideIp: fc.constant(1), insidePort: fc.constant(2), remoteIp: fc.constant(3), remotePort: fc.constant(4),
    outPort: fc.integer({ min: 1024, max: 1030 }), state: fc.constantFrom(...CONN_STATES), created: fc.nat(5), lastSeen: fc.nat(5),
    pktsOut: fc.nat(5), pktsIn: fc.nat(5), bytesOut: fc.nat(5), bytesIn: fc.nat(5),
  });
  const opt = fc.option(entry, { nil: undefined });
  test('is commutative (1,000 cases)', () => {
    fc.assert(fc.property(opt, opt, opt, (o, a, b) => {
      const s = (x: NatEntry | undefined, y: NatEntry | undefined) => {
        const m = natTable.merge(() => o, x, y);
        return m instanceof Conflict ? settle(m, o, x, y, resolveByOrder) : m;
      };
      assert.ok(deepEqual(s(a, b), s(b, a)));
    }), { numRuns: 1000 });
  });
  test('two bindings for one flow resolve to the lower port and count as a conflict', () => {
    const base: NatEntry = { proto: 'udp', insideIp: 1, insidePort: 2, remoteIp: 3, remotePort: 4, outPort: 5000, state: 'udp-new', created: 0, lastSeen: 0, pktsOut: 1, pktsIn: 0, bytesOut: 10, bytesIn: 0 };
    const store = new Store([natTable]);
    store.main.table(natTable).set('k', base);
    store.main.commit();
    const a = store.main.fork('a');
    const b = store.main.fork('b');
    a.table(natTable).set('k', { ...base, outPort: 6001, pktsOut: 3, lastSeen: 5 });
    b.table(natTable).set('k', { ...base, outPort: 6000, pktsOut: 2, state: 'udp-replied', lastSeen: 7 });
    a.commit(); b.commit();
    store.main.merge(a);
    const out = store.main.merge(b);
    const e = store.main.table(natTable).get('k')!;
    assert.equal(out.conflicts, 1);
    assert.equal(e.outPort, 6000);
    assert.equal(e.pktsOut, 4); // 1 + 2 + 1
    assert.equal(e.state, 'udp-replied');
    assert.equal(e.lastSeen, 7);
  });
});
