import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store, Conflict, CodecError, deepEqual, settle, resolveByOrder, showValue } from '../store/index.js';
import { TcpFlags, decodeFrame, parseIpv4, type FrameRepr } from '../wire/index.js';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { natTable, natKey } from '../actors/router/nat-table.js';
import { dnatTable, dnatKey, dnatRuleKey, dnatRuleProblem, isForwardedFlow, type DnatRule } from '../actors/router/dnat-table.js';
import { routerTables } from '../actors/router/router-schema.js';
import { Router } from '../actors/router/router.js';
import { portOwner } from '../actors/router/nat-engine.js';
import { formatNatEntry } from '../actors/router/nat-format.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { forwardMaps, forwardInsideKey, forwardOutsideKey } from '../actors/router/steering.js';
import { HostStack } from '../actors/host/host-stack.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { decode, tcpFrame, udpFrame } from './support/frames.js';

const ip = parseIpv4;
const INSIDE: NetInterface = { name: 'in', mac: localMac(0x101), ip: ip('10.201.0.1'), prefix: 24 };
const OUTSIDE: NetInterface = { name: 'out', mac: localMac(0x102), ip: ip('10.202.0.1'), prefix: 24 };
const WEB = ip('10.201.0.5');
const CLIENT = ip('10.201.0.2');
const REMOTE = ip('10.202.0.2');
const WEB_MAC = 0x02_00_00_00_01_05;
const CLIENT_MAC = 0x02_00_00_00_01_02;
const REMOTE_MAC = 0x02_00_00_00_02_02;

const isUdp = (f: Uint8Array) => f.length > 23 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 17;
const rule = (proto: 'tcp' | 'udp', port: number, insideIp: number, insidePort: number, created = 1): DnatRule => ({ proto, port, insideIp, insidePort, created });

function rig(opts: Partial<ConstructorParameters<typeof Router>[0]> = {}) {
  const store = new Store(routerTables);
  const inside: Uint8Array[] = [];
  const outside: Uint8Array[] = [];
  const tables = { arp: store.main.table(arpTable), nat: store.main.table(natTable), dnat: store.main.table(dnatTable) };
  const r = new Router({ inside: INSIDE, outside: OUTSIDE, ...opts }, tables, (f) => inside.push(f.slice()), (f) => outside.push(f.slice()));
  for (const [a, m] of [[WEB, WEB_MAC], [CLIENT, CLIENT_MAC], [REMOTE, REMOTE_MAC]]) r.insideArp.cache.learn(a, m, 0);
  const forward = (rl: DnatRule) => tables.dnat.set(dnatKey(rl.proto, rl.port), rl);
  return { r, store, tables, inside, outside, forward };
}

/** Decoded with every checksum verified (IPv4 header and TCP/UDP): a wrong one fails the test. */
function checked(f: Uint8Array): FrameRepr {
  assert.deepEqual(decodeFrame(f).checksumErrors, [], 'no checksum errors');
  return decode(f);
}

function tcpOf(f: Uint8Array) {
  const d = checked(f);
  assert.ok(d.network.kind === 'ipv4' && d.network.transport.kind === 'tcp');
  return { eth: d.ethernet, ip: d.network.ipv4, tcp: d.network.transport.tcp };
}

function udpOf(f: Uint8Array) {
  const d = checked(f);
  assert.ok(d.network.kind === 'ipv4' && d.network.transport.kind === 'udp');
  return { eth: d.ethernet, ip: d.network.ipv4, udp: d.network.transport.udp };
}

// A connection from the remote end to our outside address, and the inside server's side of it.
const fromRemote = (dstPort: number, flags: number, srcPort = 40000) =>
  tcpFrame({ srcMac: REMOTE_MAC, dstMac: OUTSIDE.mac, src: REMOTE, dst: OUTSIDE.ip, srcPort, dstPort, flags, seq: 7000 });
const fromWeb = (srcPort: number, flags: number, dstPort = 40000) =>
  tcpFrame({ srcMac: WEB_MAC, dstMac: INSIDE.mac, src: WEB, dst: REMOTE, srcPort, dstPort, flags, seq: 9000, ack: 7001 });

describe('the dnat table', () => {
  test('keys are proto:port on the outside address, readable and validated', () => {
    assert.equal(dnatKey('tcp', 8080), 'tcp:8080');
    for (const k of ['tcp:8080', 'udp:5353', 'tcp:1', 'udp:65535']) assert.equal(dnatRuleKey.decode(k), k);
    assert.equal(dnatTable.path('tcp:8080'), 'dnat/tcp:8080');
    for (const bad of ['tcp:0', 'tcp:65536', 'tcp:08080', 'sctp:80', 'tcp:', 'tcp', 'TCP:80', 'tcp:80:1', 8080, null]) {
      assert.throws(() => dnatRuleKey.decode(bad), (e: unknown) => e instanceof CodecError && /port-forward key/.test((e as Error).message), String(bad));
    }
  });

  test('values: the inside address is read and shown dotted; ports are 1-65535', () => {
    const v = dnatTable.value.decode({ proto: 'tcp', port: 8080, insideIp: '10.201.0.5', insidePort: 80, created: 5 });
    assert.deepEqual(v, rule('tcp', 8080, WEB, 80, 5));
    assert.deepEqual(showValue(dnatTable.value, v), { proto: 'tcp', port: 8080, insideIp: '10.201.0.5', insidePort: 80, created: 5 });
    for (const bad of [
      { proto: 'tcp', port: 0, insideIp: '10.201.0.5', insidePort: 80, created: 5 },
      { proto: 'tcp', port: 8080, insideIp: '10.201.0.5', insidePort: 70000, created: 5 },
      { proto: 'icmp', port: 8080, insideIp: '10.201.0.5', insidePort: 80, created: 5 },
      { proto: 'tcp', port: 8080, insideIp: '10.201.0.300', insidePort: 80, created: 5 },
      { proto: 'tcp', port: 8080, insideIp: '10.201.0.5', insidePort: 80 },
    ]) assert.throws(() => dnatTable.value.decode(bad), CodecError);
  });

  test('what the router refuses: a value that disagrees with its key, a target off the inside network or not a host', () => {
    assert.equal(dnatRuleProblem('tcp:8080', rule('tcp', 8080, WEB, 80), INSIDE), undefined);
    assert.match(dnatRuleProblem('tcp:8081', rule('tcp', 8080, WEB, 80), INSIDE)!, /stored as tcp:8081/);
    assert.match(dnatRuleProblem('udp:8080', rule('tcp', 8080, WEB, 80), INSIDE)!, /stored as/);
    assert.match(dnatRuleProblem('tcp:8080', rule('tcp', 8080, ip('10.99.0.5'), 80), INSIDE)!, /not on the inside network/);
    assert.match(dnatRuleProblem('tcp:8080', rule('tcp', 8080, INSIDE.ip, 80), INSIDE)!, /router's own/);
    assert.match(dnatRuleProblem('tcp:8080', rule('tcp', 8080, ip('10.201.0.255'), 80), INSIDE)!, /broadcast/);
    assert.match(dnatRuleProblem('tcp:8080', rule('tcp', 8080, ip('10.201.0.0'), 80), INSIDE)!, /network/);
  });

  const arb = fc.record({
    proto: fc.constantFrom('tcp' as const, 'udp' as const), port: fc.constantFrom(80, 8080),
    insideIp: fc.constantFrom(WEB, CLIENT), insidePort: fc.constantFrom(80, 8000), created: fc.nat(3),
  });
  const opt = fc.option(arb, { nil: undefined });
  const merged = (o: DnatRule | undefined, a: DnatRule | undefined, b: DnatRule | undefined) => {
    const m = dnatTable.merge(() => o, a, b);
    return m instanceof Conflict ? settle(m, o, a, b, resolveByOrder) : m;
  };

  test('the merge is commutative and associative, and never conflicts (1,000 cases each)', () => {
    fc.assert(fc.property(opt, opt, opt, (o, a, b) => {
      assert.ok(!(dnatTable.merge(() => o, a, b) instanceof Conflict));
      assert.ok(deepEqual(merged(o, a, b), merged(o, b, a)));
    }), { numRuns: 1000 });
    // Concurrent edits of one rule from one ancestor: the order they are merged in does not matter.
    fc.assert(fc.property(opt, arb, arb, arb, (o, a, b, c) => {
      assert.ok(deepEqual(merged(o, merged(o, a, b), c), merged(o, a, merged(o, b, c))));
    }), { numRuns: 1000 });
  });

  test('later created wins; ties go to the higher inside address, then port; a change beats a concurrent delete', () => {
    const base = rule('tcp', 8080, WEB, 80, 10);
    assert.deepEqual(merged(base, rule('tcp', 8080, CLIENT, 80, 11), rule('tcp', 8080, WEB, 81, 12)), rule('tcp', 8080, WEB, 81, 12));
    assert.deepEqual(merged(base, rule('tcp', 8080, CLIENT, 80, 11), rule('tcp', 8080, WEB, 80, 11)), rule('tcp', 8080, WEB, 80, 11));
    assert.deepEqual(merged(base, rule('tcp', 8080, WEB, 80, 11), rule('tcp', 8080, WEB, 81, 11)), rule('tcp', 8080, WEB, 81, 11));
    // Through branches, as operators editing two replicas would.
    const store = new Store(routerTables);
    store.main.table(dnatTable).set('tcp:8080', base);
    store.main.commit();
    const a = store.main.fork('a');
    const b = store.main.fork('b');
    a.table(dnatTable).delete('tcp:8080');
    b.table(dnatTable).set('tcp:8080', rule('tcp', 8080, WEB, 8000, 20));
    a.commit(); b.commit();
    store.main.merge(a);
    const out = store.main.merge(b);
    assert.equal(out.conflicts, 0);
    assert.deepEqual(store.main.table(dnatTable).get('tcp:8080'), rule('tcp', 8080, WEB, 8000, 20));
    // A delete of an unchanged rule is a delete.
    const c = store.main.fork('c');
    c.table(dnatTable).delete('tcp:8080');
    c.commit();
    store.main.merge(c);
    assert.equal(store.main.table(dnatTable).get('tcp:8080'), undefined);
  });

  test('is appended to the router\'s tables: arp and nat keep their indexes', () => {
    assert.deepEqual(routerTables.map((t) => t.name), ['arp', 'nat', 'dnat', 'frag', 'leases', 'dhcp-client', 'dns']);
  });
});

describe('port forwarding in the packet path', () => {
  test('TCP: SYN to outside:8080 goes to 10.201.0.5:80, the SYN-ACK leaves from outside:8080, checksums right', () => {
    const { r, inside, outside, forward, tables } = rig();
    forward(rule('tcp', 8080, WEB, 80));
    r.receiveOutside([fromRemote(8080, TcpFlags.SYN)], 0);
    assert.equal(inside.length, 1);
    const i = tcpOf(inside[0]);
    assert.equal(i.ip.src, REMOTE);
    assert.equal(i.ip.dst, WEB);
    assert.equal(i.ip.ttl, 63);
    assert.equal(i.tcp.srcPort, 40000);
    assert.equal(i.tcp.dstPort, 80);
    assert.equal(i.tcp.flags, TcpFlags.SYN);
    assert.equal(i.eth.src, INSIDE.mac);
    assert.equal(i.eth.dst, WEB_MAC);
    assert.equal(r.counters.dnatHits, 1);
    assert.equal(r.counters.forwardedIn, 1);
    assert.equal(r.nat.counters.forwardCreated, 1);

    r.receiveInside([fromWeb(80, TcpFlags.SYN | TcpFlags.ACK)], 1);
    assert.equal(outside.length, 1);
    const o = tcpOf(outside[0]);
    assert.equal(o.ip.src, OUTSIDE.ip);
    assert.equal(o.ip.dst, REMOTE);
    assert.equal(o.tcp.srcPort, 8080);
    assert.equal(o.tcp.dstPort, 40000);
    assert.equal(o.eth.src, OUTSIDE.mac);
    assert.equal(o.eth.dst, REMOTE_MAC);

    // The rest of the connection is an ordinary flow: found by its binding, no new hit.
    r.receiveOutside([fromRemote(8080, TcpFlags.ACK)], 2);
    r.receiveInside([fromWeb(80, TcpFlags.ACK | TcpFlags.PSH)], 3);
    assert.equal(inside.length, 2);
    assert.equal(outside.length, 2);
    assert.equal(tcpOf(outside[1]).tcp.srcPort, 8080);
    assert.equal(r.counters.dnatHits, 1);

    // The flow is in the nat table like any other, its state tracked from the remote end's side.
    r.flush(3);
    const e = tables.nat.get(natKey('tcp', WEB, 80, REMOTE, 40000));
    assert.ok(e);
    assert.equal(e.outPort, 8080);
    assert.equal(e.state, 'established');
    assert.equal(e.pktsIn, 2);
    assert.equal(e.pktsOut, 2);
    assert.equal(tables.nat.size, 1);
    assert.ok(isForwardedFlow(e, tables.dnat));
    assert.match(formatNatEntry(e, OUTSIDE.ip, 3, true), /ESTABLISHED src=10\.202\.0\.2 dst=10\.202\.0\.1 sport=40000 dport=8080 packets=2 .* src=10\.201\.0\.5 dst=10\.202\.0\.2 sport=80 dport=40000 packets=2/);
    assert.equal(r.nat.expire(3 + 5 * 24 * 3600 * 1000 - 1), 0, 'an established forward lives as long as any established flow');
  });

  test('a new incarnation of the actor recognises a forwarded flow from the rules and tracks it the same way', () => {
    const { r, store, tables, inside, outside, forward } = rig();
    forward(rule('tcp', 8080, WEB, 80));
    r.receiveOutside([fromRemote(8080, TcpFlags.SYN)], 0);
    r.receiveInside([fromWeb(80, TcpFlags.SYN | TcpFlags.ACK)], 1);
    r.flush(1);
    store.main.commit();
    const again = new Router({ inside: INSIDE, outside: OUTSIDE }, tables, (f) => inside.push(f.slice()), (f) => outside.push(f.slice()));
    again.insideArp.cache.learn(WEB, WEB_MAC, 0);
    again.receiveOutside([fromRemote(8080, TcpFlags.ACK)], 2);
    again.flush(2);
    assert.equal(tables.nat.get(natKey('tcp', WEB, 80, REMOTE, 40000))!.state, 'established');
    assert.equal(again.counters.dnatHits, 0, 'found by its binding, not made again');
  });

  test('no rule: dropped and counted as unsolicited, as before', () => {
    const { r, inside, outside, forward } = rig();
    r.receiveOutside([fromRemote(8080, TcpFlags.SYN)], 0);
    forward(rule('tcp', 8080, WEB, 80));
    r.receiveOutside([fromRemote(9090, TcpFlags.SYN)], 0);
    r.receiveOutside([udpFrame({ srcMac: REMOTE_MAC, dstMac: OUTSIDE.mac, src: REMOTE, dst: OUTSIDE.ip, srcPort: 1, dstPort: 8080, payload: new Uint8Array(1) })], 0);
    assert.equal(inside.length + outside.length, 0);
    assert.equal(r.counters.unsolicited, 3);
    assert.equal(r.counters.dnatNoRule, 3, 'udp:8080 is not tcp:8080');
    assert.equal(r.counters.dnatHits, 0);
  });

  test('a rule pointing off the inside network, or disagreeing with its key, is ignored and counted', () => {
    const { r, inside, outside, tables } = rig();
    tables.dnat.set('tcp:8080', rule('tcp', 8080, ip('10.99.0.5'), 80));
    tables.dnat.set('tcp:8081', rule('tcp', 8082, WEB, 80));
    tables.dnat.set('tcp:8083', rule('tcp', 8083, INSIDE.ip, 80));
    for (const p of [8080, 8081, 8083]) r.receiveOutside([fromRemote(p, TcpFlags.SYN)], 0);
    assert.equal(inside.length + outside.length, 0);
    assert.equal(r.counters.dnatBadRule, 3);
    assert.equal(r.counters.unsolicited, 3);
    assert.equal(tables.nat.size, 0);
  });

  test('UDP: a datagram to outside:5000 reaches 10.201.0.5:5001, the answer leaves from outside:5000', () => {
    const { r, inside, outside, forward, tables } = rig();
    forward(rule('udp', 5000, WEB, 5001));
    r.receiveOutside([udpFrame({ srcMac: REMOTE_MAC, dstMac: OUTSIDE.mac, src: REMOTE, dst: OUTSIDE.ip, srcPort: 33333, dstPort: 5000, payload: new Uint8Array([1, 2, 3]) })], 0);
    const i = udpOf(inside[0]);
    assert.equal(i.ip.dst, WEB);
    assert.equal(i.ip.src, REMOTE);
    assert.equal(i.udp.dstPort, 5001);
    assert.equal(i.udp.srcPort, 33333);
    r.flush(0);
    assert.equal(tables.nat.get(natKey('udp', WEB, 5001, REMOTE, 33333))!.state, 'udp-new');
    r.receiveInside([udpFrame({ srcMac: WEB_MAC, dstMac: INSIDE.mac, src: WEB, dst: REMOTE, srcPort: 5001, dstPort: 33333, payload: new Uint8Array([4, 5]) })], 1);
    const o = udpOf(outside[0]);
    assert.equal(o.ip.src, OUTSIDE.ip);
    assert.equal(o.ip.dst, REMOTE);
    assert.equal(o.udp.srcPort, 5000);
    assert.equal(o.udp.dstPort, 33333);
    r.flush(1);
    assert.equal(tables.nat.get(natKey('udp', WEB, 5001, REMOTE, 33333))!.state, 'udp-replied');
    assert.equal(r.counters.dnatHits, 1);
  });

  test('an actor makes a forwarded flow whatever slice the rule\'s port falls in', () => {
    const { r, inside, outside, forward } = rig({ nat: { actor: 1, actors: 2 } });
    assert.equal(portOwner(8080, 2), 0);
    forward(rule('tcp', 8080, WEB, 80));
    r.receiveOutside([fromRemote(8080, TcpFlags.SYN)], 0);
    r.receiveInside([fromWeb(80, TcpFlags.SYN | TcpFlags.ACK)], 1);
    assert.equal(tcpOf(inside[0]).tcp.dstPort, 80);
    assert.equal(tcpOf(outside[0]).tcp.srcPort, 8080);
  });

  test('masquerade never hands out a rule\'s port, kept or searched for', () => {
    const { r, outside, forward } = rig();
    forward(rule('tcp', 40000, WEB, 80));
    forward(rule('udp', 1025, WEB, 80));
    forward(rule('udp', 1026, WEB, 80));
    // The client's own source port is a rule's: not kept; the search of the slice starts at 1024.
    r.receiveInside([tcpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: REMOTE, srcPort: 40000, dstPort: 443, flags: TcpFlags.SYN })], 0);
    assert.equal(tcpOf(outside[0]).tcp.srcPort, 1024);
    // udp:40000 is no rule, so it is kept for the first host; the second host's search skips udp:1025 and udp:1026.
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: REMOTE, srcPort: 40000, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    r.receiveInside([udpFrame({ srcMac: WEB_MAC, dstMac: INSIDE.mac, src: WEB, dst: REMOTE, srcPort: 40000, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    assert.deepEqual(outside.slice(1).map((f) => udpOf(f).udp.srcPort), [40000, 1027]);
    assert.equal(r.nat.counters.forwardPortsSkipped, 3);
  });

  test('a flow made before the rule keeps its port: its return traffic is not forwarded', () => {
    const { r, inside, forward } = rig();
    r.receiveInside([udpFrame({ srcMac: CLIENT_MAC, dstMac: INSIDE.mac, src: CLIENT, dst: REMOTE, srcPort: 6000, dstPort: 5300, payload: new Uint8Array(1) })], 0);
    forward(rule('udp', 6000, WEB, 6000));
    r.receiveOutside([udpFrame({ srcMac: REMOTE_MAC, dstMac: OUTSIDE.mac, src: REMOTE, dst: OUTSIDE.ip, srcPort: 5300, dstPort: 6000, payload: new Uint8Array(1) })], 1);
    assert.equal(udpOf(inside[0]).ip.dst, CLIENT);
    assert.equal(r.counters.dnatHits, 0);
    // Another remote end is forwarded.
    r.receiveOutside([udpFrame({ srcMac: REMOTE_MAC, dstMac: OUTSIDE.mac, src: REMOTE, dst: OUTSIDE.ip, srcPort: 5301, dstPort: 6000, payload: new Uint8Array(1) })], 1);
    assert.equal(udpOf(inside[1]).ip.dst, WEB);
    assert.equal(r.counters.dnatHits, 1);
  });

  test('the target already talking to the remote end from its port through another binding: refused, counted', () => {
    const { r, inside, outside, forward } = rig();
    // WEB:6053 → REMOTE:6000 first, masqueraded: port 6053 kept.
    r.receiveInside([udpFrame({ srcMac: WEB_MAC, dstMac: INSIDE.mac, src: WEB, dst: REMOTE, srcPort: 6053, dstPort: 6000, payload: new Uint8Array(1) })], 0);
    forward(rule('udp', 7001, WEB, 6053));
    assert.equal(udpOf(outside[0]).udp.srcPort, 6053);
    // Then a rule forwards udp:7001 to WEB:6053, and REMOTE:6000 → outside:7001 arrives: the same inside 5-tuple, another binding.
    r.receiveOutside([udpFrame({ srcMac: REMOTE_MAC, dstMac: OUTSIDE.mac, src: REMOTE, dst: OUTSIDE.ip, srcPort: 6000, dstPort: 7001, payload: new Uint8Array(1) })], 1);
    assert.equal(inside.length, 0);
    assert.equal(r.nat.counters.forwardClash, 1);
    assert.equal(r.counters.unsolicited, 1);
  });

  test('several rules to one inside end all forward; replies leave from the port each connection came in on', () => {
    const { r, inside, outside, forward } = rig();
    forward(rule('tcp', 80, WEB, 80));
    forward(rule('tcp', 8080, WEB, 80));
    r.receiveOutside([fromRemote(80, TcpFlags.SYN, 41000)], 0);
    r.receiveOutside([fromRemote(8080, TcpFlags.SYN, 42000)], 0);
    assert.deepEqual(inside.map((f) => tcpOf(f).tcp.dstPort), [80, 80]);
    r.receiveInside([fromWeb(80, TcpFlags.SYN | TcpFlags.ACK, 42000)], 1);
    r.receiveInside([fromWeb(80, TcpFlags.SYN | TcpFlags.ACK, 41000)], 1);
    assert.deepEqual(outside.map((f) => [tcpOf(f).tcp.srcPort, tcpOf(f).tcp.dstPort]), [[8080, 42000], [80, 41000]]);
  });
});

describe('dispatch of forwarded flows', () => {
  test('the maps: a rule\'s inside end → the lowest outside port forwarded to it; bad rules left out', () => {
    const rules: [string, DnatRule][] = [
      ['tcp:8080', rule('tcp', 8080, WEB, 80)],
      ['tcp:80', rule('tcp', 80, WEB, 80)],
      ['udp:5000', rule('udp', 5000, WEB, 5001)],
      ['tcp:9000', rule('tcp', 9001, WEB, 81)],
      ['tcp:9002', rule('tcp', 9002, ip('10.99.0.1'), 82)],
    ];
    const m = forwardMaps(rules, INSIDE);
    assert.equal(m.inside.get(forwardInsideKey(6, WEB, 80)), 80);
    assert.equal(m.inside.get(forwardInsideKey(17, WEB, 5001)), 5000);
    assert.equal(m.inside.get(forwardInsideKey(17, WEB, 80)), undefined);
    assert.equal(m.inside.get(forwardInsideKey(6, WEB, 81)), undefined);
    assert.equal(m.inside.size, 2);
    assert.deepEqual([...m.outside], [[forwardOutsideKey(6, 8080), 80]]);
  });

  describe('RouterActors, 2 packet actors', () => {
    const closers: (() => Promise<void>)[] = [];
    after(async () => { for (const c of closers) await c(); });

    test('a rule written to the primary: the outside frame is forwarded inside, and the reply goes out from the rule\'s port', async () => {
      const EXT = 50053;
      const INT = 5300;
      assert.notEqual(portOwner(EXT, 2), portOwner(INT, 2), 'the rule\'s two ports belong to different actors');
      const [ia, ib] = ringLinkPair('inside');
      const [oa, ob] = ringLinkPair('outside');
      const web = new RingLink(ib);
      const remote = new RingLink(ob);
      const WEB_IF: NetInterface = { name: 'w', mac: WEB_MAC, ip: WEB, prefix: 24 };
      const REMOTE_IF: NetInterface = { name: 'r', mac: REMOTE_MAC, ip: REMOTE, prefix: 24 };
      // The inside server answers ARP and echoes each datagram back to its sender through the router.
      const webStack = new HostStack(WEB_IF, new Store([arpTable]).main.table(arpTable), (f) => web.send(f));
      const atWeb: Uint8Array[] = [];
      webStack.onUdp = (src, sport, dport, payload) => {
        web.send(udpFrame({ srcMac: WEB_MAC, dstMac: INSIDE.mac, src: WEB, dst: src, srcPort: dport, dstPort: sport, payload: payload.slice() }));
      };
      web.onFrames((fs) => { for (const f of fs) { if (isUdp(f)) atWeb.push(f.slice()); webStack.receiveOne(f, Date.now()); } });
      // The remote end answers the router's ARP and keeps the UDP it receives.
      const remoteStack = new HostStack(REMOTE_IF, new Store([arpTable]).main.table(arpTable), (f) => remote.send(f));
      const atRemote: Uint8Array[] = [];
      remote.onFrames((fs) => { for (const f of fs) { if (isUdp(f)) atRemote.push(f.slice()); remoteStack.receiveOne(f, Date.now()); } });

      const actors = new RouterActors(new RingLink(ia), new RingLink(oa), { inside: INSIDE, outside: OUTSIDE, packetActors: 2, mergeIntervalMs: 30 });
      closers.push(async () => { await actors.stop(); web.close(); remote.close(); });
      await actors.ready();
      actors.store.main.table(dnatTable).set(dnatKey('udp', EXT), rule('udp', EXT, WEB, INT, Date.now()));
      actors.store.main.commit({ message: 'forward udp:50053' });
      assert.equal(actors.forwards.inside.get(forwardInsideKey(17, WEB, INT)), EXT, 'the dispatcher saw the rule at once');

      // The rule reaches the actors with their next merge: until then the remote end's datagrams are dropped, so it retries.
      const send = () => remote.send(udpFrame({ srcMac: REMOTE_MAC, dstMac: OUTSIDE.mac, src: REMOTE, dst: OUTSIDE.ip, srcPort: 33333, dstPort: EXT, payload: new Uint8Array([7]) }));
      const end = Date.now() + 8_000;
      while (atRemote.length === 0) {
        if (Date.now() > end) throw new Error('timed out waiting for the forwarded echo');
        send();
        await new Promise((res) => setTimeout(res, 40));
      }
      const i = udpOf(atWeb[0]);
      assert.equal(i.ip.dst, WEB);
      assert.equal(i.ip.src, REMOTE);
      assert.equal(i.udp.dstPort, INT);
      assert.equal(i.udp.srcPort, 33333);
      const o = udpOf(atRemote[0]);
      assert.equal(o.ip.src, OUTSIDE.ip);
      assert.equal(o.ip.dst, REMOTE);
      assert.equal(o.udp.srcPort, EXT);
      assert.equal(o.udp.dstPort, 33333);

      // Both directions were handled by the owner of the rule's port, and the flow merged into the primary.
      const stats = (await actors.supervisor.stats()).filter((s) => s.kind === 'packet').sort((a, b) => (a.name < b.name ? -1 : 1));
      const owner = portOwner(EXT, 2);
      assert.ok(stats[owner].counters.forwardedOut >= 1);
      assert.ok(stats[owner].counters.dnatHits >= 1);
      assert.equal(stats[1 - owner].counters.forwardedOut, 0, 'the reply never reached the owner of the inside port');
      assert.equal(stats[1 - owner].counters['nat.created'], 0);
      const nat = actors.store.main.table(natTable);
      const key = natKey('udp', WEB, INT, REMOTE, 33333);
      const end2 = Date.now() + 8_000;
      while (nat.get(key)?.state !== 'udp-replied') {
        if (Date.now() > end2) throw new Error('timed out waiting for the flow in the primary');
        await new Promise((res) => setTimeout(res, 20));
      }
      assert.equal(nat.get(key)!.outPort, EXT);
      assert.equal(nat.size, 1);

      // Deleting the rule updates the dispatcher's map.
      actors.store.main.table(dnatTable).delete(dnatKey('udp', EXT));
      actors.store.main.commit();
      assert.equal(actors.forwards.inside.size, 0);
    });
  });
});
