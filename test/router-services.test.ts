// The router's own services wired into its packet path, in process on a simulated clock: the DHCP server and
// its ARP probe inside, the DNS cache (UDP and TCP on the inside address, upstream from the outside address),
// and the outside DHCP client whose address changes remap NAT.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Store, type Branch } from '../store/index.js';
import { BROADCAST_MAC, ETHERNET_HEADER_LEN, EtherType, IPV4_MIN_HEADER_LEN, TcpFlags, UdpPacket, VNET_HDR_LEN, VirtioNetFlags, VirtioNetHeader, VirtioNetHeaderRepr, parseIpv4, type FrameRepr } from '../wire/index.js';
import { registerVnetBuffer } from '../wire/link/vnet-frames.js';
import { DhcpPacket, DhcpRepr, DhcpMessageType } from '../wire/dhcpv4.js';
import { DnsRepr, type DnsMessage } from '../wire/dns.js';
import { routerTables } from '../actors/router/router-schema.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { natTable } from '../actors/router/nat-table.js';
import { leasesTable, type LeaseEntry } from '../actors/dhcp/lease-table.js';
import { clientLeaseTable } from '../actors/dhcp/client-lease-table.js';
import { dnsTable } from '../actors/dns/dns-table.js';
import { Router } from '../actors/router/router.js';
import { LocalServices, type LocalServicesOptions } from '../actors/router/local-services.js';
import { dnsUpstreamPort, dhcpOwner } from '../actors/router/steering.js';
import { DhcpClient } from '../actors/dhcp/dhcp-client.js';
import { DhcpServer } from '../actors/dhcp/dhcp-server.js';
import { AddressPool } from '../actors/dhcp/address-pool.js';
import { DnsStream } from '../actors/dns/dns-stream.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { prng } from '../actors/sim/prng.js';
import { a, query, respond } from './support/dns-upstream.js';
import { arpFrame, decode, tcpFrame, udpFrame } from './support/frames.js';

const ip = parseIpv4;
const INSIDE = (): NetInterface => ({ name: 'in', mac: localMac(0x101), ip: ip('10.201.0.1'), prefix: 24 });
const OUTSIDE = (): NetInterface => ({ name: 'out', mac: localMac(0x102), ip: ip('10.202.0.1'), prefix: 24 });
const HOST_MAC = 0x02_00_00_00_01_02;
const UPSTREAM = ip('10.202.0.53');
const UPSTREAM_MAC = 0x02_00_00_00_02_53;
const SERVER = ip('10.202.0.2');
const SERVER_MAC = 0x02_00_00_00_02_02;
const DHCPD = ip('10.202.0.254');
const DHCPD_MAC = 0x02_00_00_00_02_fe;

/** One packet actor with its services; `on` puts its tables on a fork of `store` (an actor's own branch), else on main. */
function rig(opts: Partial<LocalServicesOptions> & { outside?: NetInterface; store?: Store; on?: Branch } = {}) {
  const store = opts.store ?? new Store(routerTables);
  const t = opts.on ?? store.main;
  const inside: Uint8Array[] = [];
  const outside: Uint8Array[] = [];
  const sendIn = (f: Uint8Array) => inside.push(f.slice());
  const sendOut = (f: Uint8Array) => outside.push(f.slice());
  const r = new Router({ inside: INSIDE(), outside: opts.outside ?? OUTSIDE() }, { arp: t.table(arpTable), nat: t.table(natTable) }, sendIn, sendOut);
  const ids = prng(7);
  const s = new LocalServices(r, { leases: t.table(leasesTable), dhcpClient: t.table(clientLeaseTable), dns: t.table(dnsTable) }, sendIn, sendOut, {
    actor: 0, actors: 1, random: prng(3), ...opts,
    dns: opts.dns ? { randomId: () => Math.floor(ids() * 65536), ...opts.dns } : undefined,
  });
  r.insideArp.cache.learn(ip('10.201.0.2'), HOST_MAC, 0);
  for (const [a, m] of [[UPSTREAM, UPSTREAM_MAC], [SERVER, SERVER_MAC], [DHCPD, DHCPD_MAC]]) r.outsideArp.cache.learn(a, m, 0);
  return { store, r, s, inside, outside, leases: t.table(leasesTable), row: t.table(clientLeaseTable) };
}

type Udp = { src: number; dst: number; srcPort: number; dstPort: number; payload: Uint8Array; ethDst: number };

/** The UDP datagrams among `frames` (each decoded with its checksums verified). */
function udps(frames: Uint8Array[]): Udp[] {
  const out: Udp[] = [];
  for (const f of frames) {
    const d: FrameRepr = decode(f);
    if (d.network.kind !== 'ipv4' || d.network.transport.kind !== 'udp') continue;
    const { ipv4, transport } = d.network;
    out.push({ src: ipv4.src, dst: ipv4.dst, srcPort: transport.udp.srcPort, dstPort: transport.udp.dstPort, payload: rawUdpPayload(f), ethDst: d.ethernet.dst });
  }
  return out;
}

/** The UDP payload of an IPv4 frame as sent (the decoder may have parsed it as DHCP or DNS). */
function rawUdpPayload(f: Uint8Array): Uint8Array {
  const ihl = (f[14] & 0x0f) * 4;
  const len = (f[14 + ihl + 4] << 8) | f[14 + ihl + 5];
  return f.subarray(14 + ihl + 8, 14 + ihl + len);
}

const dhcpOf = (payload: Uint8Array) => DhcpRepr.parse(DhcpPacket.newChecked(payload));

/** An inside host's DHCP client, talking to the router through its inside path. */
function insideClient(r: Router, mac: number, seed: number) {
  const c = new DhcpClient({
    mac, random: prng(seed),
    send: ({ payload, src, dst }) => r.receiveInside([udpFrame({ srcMac: mac, dstMac: BROADCAST_MAC, src, dst, srcPort: 68, dstPort: 67, payload })], now.t),
  });
  const now = { t: 0 };
  return { c, now };
}

/** Runs the clock in 100 ms steps to `until`, delivering the router's inside DHCP replies to the client and polling everything. */
function runDhcp(r: Router, s: LocalServices, client: ReturnType<typeof insideClient>, inside: Uint8Array[], from: number, until: number, onFrame?: (f: Uint8Array) => void) {
  for (let t = from; t <= until; t += 100) {
    client.now.t = t;
    s.poll(t);
    r.poll(t);
    client.c.poll(t);
    while (inside.length > 0) {
      const f = inside.shift()!;
      onFrame?.(f);
      for (const u of udps([f])) if (u.dstPort === 68) client.c.receive(u.payload, t);
    }
    if (client.c.state === 'bound') return t;
  }
  return -1;
}

describe('DHCP server on the inside', () => {
  test('DORA through the inside path: an address from the range, router and DNS options are the inside address', () => {
    const { r, s, inside, leases } = rig({ dhcp: { pool: AddressPool.parse('10.201.0.100-10.201.0.110'), leaseMs: 3_600_000 } });
    const client = insideClient(r, 0x02_00_00_00_0a_01, 1);
    client.c.start(0);
    const offers: DhcpRepr[] = [];
    const probes: Uint8Array[] = [];
    const boundAt = runDhcp(r, s, client, inside, 0, 10_000, (f) => {
      if (decode(f).ethernet.ethertype === EtherType.Arp) probes.push(f);
      for (const u of udps([f])) { const m = dhcpOf(u.payload); if (m.messageType === DhcpMessageType.Offer) offers.push(m); }
    });
    assert.ok(boundAt > 0, 'the client is bound');
    const lease = client.c.lease!;
    assert.equal(lease.ip, ip('10.201.0.100'));
    assert.equal(lease.gateway, INSIDE().ip);
    assert.deepEqual(lease.dns, [INSIDE().ip]);
    assert.equal(lease.server, INSIDE().ip);
    assert.equal(probes.length, 1, 'one ARP probe before the offer');
    const probe = decode(probes[0]);
    assert.ok(probe.network.kind === 'arp');
    assert.equal(probe.network.arp.senderIp, 0, 'RFC 5227: a probe says 0.0.0.0');
    assert.equal(probe.network.arp.targetIp, ip('10.201.0.100'));
    assert.ok(boundAt >= 1_000, 'the offer waited for the probe timeout');
    const row = leases.get(ip('10.201.0.100')) as LeaseEntry;
    assert.equal(row.state, 'bound');
    assert.equal(row.mac, 0x02_00_00_00_0a_01);
    assert.equal(s.dhcp!.server.counters.acks, 1);
    assert.equal(r.counters.forwardedOut, 0, 'no DHCP broadcast leaks out');
  });

  test('an address answering the ARP probe is not offered: the next one is', () => {
    const { r, s, inside, leases } = rig({ dhcp: { pool: AddressPool.parse('10.201.0.100-10.201.0.110') } });
    const squatter = 0x02_00_00_00_0b_0b;
    const client = insideClient(r, 0x02_00_00_00_0a_02, 2);
    client.c.start(0);
    const boundAt = runDhcp(r, s, client, inside, 0, 10_000, (f) => {
      const d = decode(f);
      if (d.network.kind !== 'arp' || d.network.arp.senderIp !== 0 || d.network.arp.targetIp !== ip('10.201.0.100')) return;
      // The squatter answers the probe for .100 (RFC 5227: a reply to the prober's MAC).
      r.receiveInside([arpFrame({ op: 'reply', srcMac: squatter, senderIp: ip('10.201.0.100'), targetIp: 0, targetMac: INSIDE().mac })], client.now.t);
    });
    assert.ok(boundAt > 0);
    assert.equal(client.c.lease!.ip, ip('10.201.0.101'));
    assert.equal(leases.get(ip('10.201.0.100'))!.state, 'declined', 'the answered address is held back');
    assert.equal(s.dhcp!.probe.counters.inUse, 1);
  });

  test('DHCP is served by the owner of port 68 on both sides: one actor writes every lease', () => {
    for (const n of [1, 2, 3, 4, 8]) assert.equal(dhcpOwner(n), 68 % n);
  });
});

describe('DNS cache on the inside address', () => {
  const CLIENT = ip('10.201.0.2');
  const askUdp = (r: Router, id: number, port: number, t: number) =>
    r.receiveInside([udpFrame({ srcMac: HOST_MAC, dstMac: INSIDE().mac, src: CLIENT, dst: INSIDE().ip, srcPort: port, dstPort: 53, payload: query('www.example.com', 'A', id) })], t);

  test('a UDP query goes upstream from the outside address and our port; the answer comes back, then from the cache', () => {
    const { r, s, inside, outside, store } = rig({ dns: { upstream: UPSTREAM } });
    askUdp(r, 0x1111, 5555, 0);
    const up = udps(outside);
    assert.equal(up.length, 1);
    assert.equal(up[0].src, OUTSIDE().ip);
    assert.equal(up[0].dst, UPSTREAM);
    assert.equal(up[0].srcPort, dnsUpstreamPort(0, 1));
    assert.equal(up[0].dstPort, 53);
    assert.equal(r.nat.table.size + r.nat.activeFlows, 0, 'no NAT flow for our own query');
    outside.length = 0;
    r.receiveOutside([udpFrame({ srcMac: UPSTREAM_MAC, dstMac: OUTSIDE().mac, src: UPSTREAM, dst: OUTSIDE().ip, srcPort: 53, dstPort: up[0].srcPort, payload: respond(up[0].payload, { answers: [a('www.example.com', '192.0.2.7', 300)] }) })], 10);
    const back = udps(inside);
    assert.equal(back.length, 1);
    assert.equal(back[0].src, INSIDE().ip);
    assert.equal(back[0].dst, CLIENT);
    assert.equal(back[0].dstPort, 5555);
    const m = DnsRepr.parse(back[0].payload).message as DnsMessage;
    assert.equal(m.id, 0x1111);
    assert.deepEqual(m.answers!.map((x) => ('data' in x ? x.data : null)), ['192.0.2.7']);
    assert.equal(store.main.table(dnsTable).size, 1, 'the answer is on the dns table');
    inside.length = 0;
    askUdp(r, 0x2222, 5556, 5_000);
    assert.equal(udps(outside).length, 0, 'answered from the cache: nothing goes upstream');
    const hit = DnsRepr.parse(udps(inside)[0].payload).message as DnsMessage;
    assert.equal(hit.id, 0x2222);
    assert.equal((hit.answers![0] as { ttl: number }).ttl, 295, 'the TTL counted down');
    assert.equal(s.dns!.forwarder.counters.answeredFromCache, 1);
  });

  test('offload on: a query whose UDP checksum the kernel left partial (virtio-net NEEDS_CSUM) is taken, not counted bad', () => {
    const { r, s, outside } = rig({ dns: { upstream: UPSTREAM } });
    const frame = udpFrame({ srcMac: HOST_MAC, dstMac: INSIDE().mac, src: CLIENT, dst: INSIDE().ip, srcPort: 5555, dstPort: 53, payload: query('www.example.com', 'A', 0x3333) });
    const udp = UdpPacket.newUnchecked(frame, ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN);
    udp.checksum = 0x1234; // what a partial checksum looks like to a verifier: wrong
    r.receiveInside([frame], 0);
    assert.equal(s.counters.badChecksum, 1, 'without the header, a wrong checksum is dropped');
    assert.equal(udps(outside).length, 0);
    // The same frame behind a virtio-net header with NEEDS_CSUM, in a buffer the TAP registered.
    const withHeader = new Uint8Array(VNET_HDR_LEN + frame.length);
    new VirtioNetHeaderRepr({ flags: VirtioNetFlags.NeedsCsum }).emit(VirtioNetHeader.newUnchecked(withHeader, 0, VNET_HDR_LEN));
    withHeader.set(frame, VNET_HDR_LEN);
    registerVnetBuffer(withHeader.buffer);
    r.receiveInside([withHeader.subarray(VNET_HDR_LEN)], 1);
    assert.equal(s.counters.badChecksum, 1, 'not counted again');
    assert.equal(udps(outside).length, 1, 'the query went upstream');
  });

  test('an answer from another source to our port is not taken; one with a wrong id goes on to NAT (unsolicited)', () => {
    const { r, s, outside } = rig({ dns: { upstream: UPSTREAM } });
    askUdp(r, 0x1111, 5555, 0);
    const [q] = udps(outside);
    const spoof = respond(q.payload, { answers: [a('www.example.com', '6.6.6.6')] });
    r.receiveOutside([udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE().mac, src: SERVER, dst: OUTSIDE().ip, srcPort: 53, dstPort: q.srcPort, payload: spoof })], 1);
    r.receiveOutside([udpFrame({ srcMac: UPSTREAM_MAC, dstMac: OUTSIDE().mac, src: UPSTREAM, dst: OUTSIDE().ip, srcPort: 53, dstPort: q.srcPort, payload: respond(q.payload, { id: 0x9999 }) })], 1);
    assert.equal(s.dns!.forwarder.counters.unknownId, 1);
    assert.equal(r.counters.unsolicited, 2);
    assert.equal(s.dns!.forwarder.outstanding, 1, 'the real query still waits');
  });

  test('DNS over TCP to the inside address: the query is framed, answered from upstream on the same connection', () => {
    const { r, s, inside, outside } = rig({ dns: { upstream: UPSTREAM } });
    const seg = (flags: number, seq: number, ack: number, payload?: Uint8Array) =>
      r.receiveInside([tcpFrame({ srcMac: HOST_MAC, dstMac: INSIDE().mac, src: CLIENT, dst: INSIDE().ip, srcPort: 40001, dstPort: 53, flags, seq, ack, payload })], 0);
    seg(TcpFlags.SYN, 1000, 0);
    const synAck = decode(inside.shift()!);
    assert.ok(synAck.network.kind === 'ipv4' && synAck.network.transport.kind === 'tcp');
    const iss = synAck.network.transport.tcp.seq;
    seg(TcpFlags.ACK, 1001, iss + 1);
    const framed = DnsStream.frame(query('tcp.example.com', 'A', 0x3333));
    seg(TcpFlags.ACK | TcpFlags.PSH, 1001, iss + 1, framed);
    const [q] = udps(outside);
    assert.equal(q.dst, UPSTREAM);
    r.receiveOutside([udpFrame({ srcMac: UPSTREAM_MAC, dstMac: OUTSIDE().mac, src: UPSTREAM, dst: OUTSIDE().ip, srcPort: 53, dstPort: q.srcPort, payload: respond(q.payload, { answers: [a('tcp.example.com', '192.0.2.9')] }) })], 5);
    const data = inside.map((f) => decode(f)).filter((d) => d.network.kind === 'ipv4' && d.network.transport.kind === 'tcp' && d.network.transport.payload.length > 0);
    assert.equal(data.length, 1);
    const payload = (data[0].network as { transport: { payload: Uint8Array } }).transport.payload;
    const got: Uint8Array[] = [];
    new DnsStream((m) => got.push(m)).receive(payload, 5);
    assert.equal((DnsRepr.parse(got[0]).message as DnsMessage).id, 0x3333);
    assert.equal(s.dns!.forwarder.counters.upstreamAnswers, 1);
  });

  test('no upstream until the outside lease names one: the query is counted, not sent', () => {
    const { r, s, outside } = rig({ dns: {}, outsideDhcp: true, outside: { name: 'out', mac: localMac(0x102), ip: 0, prefix: 32 } });
    askUdp(r, 0x4444, 5557, 0);
    assert.equal(udps(outside).filter((u) => u.dstPort === 53).length, 0);
    assert.equal(s.dns!.counters.noUpstream, 1);
  });
});

describe('DHCP client on the outside, and NAT remap', () => {
  function upstreamServer(range = '10.202.0.50-10.202.0.60', leaseMs = 600_000) {
    const store = new Store([leasesTable]);
    const replies: { payload: Uint8Array; ip: number; mac: number | undefined }[] = [];
    const server = new DhcpServer(store.main.table(leasesTable), (payload, to) => replies.push({ payload, ip: to.ip, mac: to.mac }), {
      address: DHCPD, prefix: 24, pool: AddressPool.parse(range), leaseMs,
    });
    return { server, replies, table: store.main.table(leasesTable) };
  }

  type Actor = ReturnType<typeof rig>;
  const UNBOUND = (): NetInterface => ({ name: 'out', mac: localMac(0x102), ip: 0, prefix: 32 });
  const HOST = ip('10.201.0.2');
  const udpOut = (x: Actor, t: number) => x.r.receiveInside([udpFrame({ srcMac: HOST_MAC, dstMac: INSIDE().mac, src: HOST, dst: SERVER, srcPort: 40000, dstPort: 7000, payload: new Uint8Array([t & 0xff]) })], t);
  const udpBack = (x: Actor, to: number, port: number, t: number) =>
    x.r.receiveOutside([udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE().mac, src: SERVER, dst: to, srcPort: 7000, dstPort: port, payload: new Uint8Array([9]) })], t);
  const tcpFlows = (x: Actor) => [...x.r.nat.table.entries()].filter(([, e]) => e.proto === 'tcp').length;

  /**
   * Runs the owner's clock from `from` until `done()` or `until`: each step polls it, hands its DHCP datagrams
   * to `server` (null: no server answers) and the replies back, then jumps to its next deadline (at most
   * `step` ms on, for `each`, e.g. a flow kept alive). Neighbours keep answering ARP. Returns the time it stopped.
   */
  function drive(x: Actor, server: ReturnType<typeof upstreamServer> | null, from: number, until: number, done: () => boolean, each?: (t: number) => void, step = 10_000): number {
    let t = from;
    for (let n = 0; n < 1_000 && t <= until; n++) {
      for (const [addr, mac] of [[SERVER, SERVER_MAC], [DHCPD, DHCPD_MAC]]) x.r.outsideArp.cache.learn(addr, mac, t);
      x.s.poll(t);
      x.r.poll(t);
      each?.(t);
      const rest: Uint8Array[] = [];
      for (const f of x.outside.splice(0)) {
        const u = udps([f])[0];
        if (u?.dstPort === 67) server?.server.receive(u.payload, t);
        else rest.push(f);
      }
      x.outside.push(...rest);
      for (const rep of server?.replies.splice(0) ?? []) {
        x.r.receiveOutside([udpFrame({ srcMac: DHCPD_MAC, dstMac: rep.mac ?? BROADCAST_MAC, src: DHCPD, dst: rep.ip, srcPort: 67, dstPort: 68, payload: rep.payload })], t);
      }
      if (done()) return t;
      t = Math.max(t + 1, Math.min(x.s.nextDeadline(), t + step));
    }
    return -1;
  }

  /** A merge round: the owner's branch into main, both actors synced to it, then both services' sync (as the worker does). */
  function mergeTo(store: Store, b0: Branch, b1: Branch, owner: Actor, follower: Actor, t: number): void {
    b0.commit({ message: 'owner' });
    store.main.merge(b0);
    b0.sync();
    b1.sync();
    owner.s.sync(t);
    follower.s.sync(t);
  }

  test('renewal NAKed, a fresh DORA binds another address: the owner drops the address at once, then every actor remaps to the new one', () => {
    const store = new Store(routerTables);
    const b0 = store.main.fork('actor0'), b1 = store.main.fork('actor1');
    const owner = rig({ actor: 0, actors: 2, outsideDhcp: true, outside: UNBOUND(), store, on: b0 });
    const follower = rig({ actor: 1, actors: 2, outsideDhcp: true, outside: UNBOUND(), store, on: b1 });
    const first = upstreamServer('10.202.0.50-10.202.0.60', 60_000);
    owner.s.start(0);
    follower.s.start(0);
    let t = drive(owner, first, 0, 5_000, () => owner.r.cfg.outside.ip !== 0);
    assert.equal(owner.r.cfg.outside.ip, ip('10.202.0.50'));
    mergeTo(store, b0, b1, owner, follower, t);
    assert.equal(follower.r.cfg.outside.ip, ip('10.202.0.50'), 'the follower took the lease from the row');
    // A UDP flow (answered, so its binding lives 120 s) and a TCP flow through the owner.
    udpOut(owner, 6_000);
    const [out1] = udps(owner.outside.splice(0)).filter((u) => u.dstPort === 7000);
    assert.equal(out1.src, ip('10.202.0.50'));
    udpBack(owner, ip('10.202.0.50'), out1.srcPort, 6_010);
    assert.equal(udps(owner.inside.splice(0)).length, 1);
    owner.r.receiveInside([tcpFrame({ srcMac: HOST_MAC, dstMac: INSIDE().mac, src: HOST, dst: SERVER, srcPort: 41000, dstPort: 80, flags: TcpFlags.SYN })], 6_020);
    owner.outside.length = 0;
    assert.equal(tcpFlows(owner), 1);
    // The server restarts with another range (dnsmasq with a new --dhcp-range): it NAKs the renewal at T1 (30 s).
    const second = upstreamServer('10.202.0.70-10.202.0.80', 60_000);
    t = drive(owner, second, 6_100, 40_000, () => owner.r.cfg.outside.ip === 0);
    assert.ok(t >= 30_000, `lost at T1, not before (${t})`);
    assert.equal(owner.s.lease!.client!.counters.naks, 1);
    const lostRow = owner.row.get('out')!;
    assert.equal(lostRow.ip, 0, 'the row says the address is gone');
    assert.equal(lostRow.state, 'init');
    assert.equal(tcpFlows(owner), 0, 'the TCP flow is expired with the address');
    assert.equal(owner.r.nat.counters.remapExpired, 1);
    udpOut(owner, t);
    assert.equal(owner.r.counters.noOutsideAddress, 1, 'NAT out is refused while there is no lease');
    mergeTo(store, b0, b1, owner, follower, t);
    assert.equal(follower.r.cfg.outside.ip, 0, 'the follower gave the address up on its merge');
    // DISCOVER at once after the NAK: the new server offers .70 and the owner binds and announces it.
    owner.outside.length = 0;
    t = drive(owner, second, t, 40_000, () => owner.r.cfg.outside.ip !== 0, (at) => udpOut(owner, at), 100);
    const moved = ip('10.202.0.70');
    assert.equal(owner.r.cfg.outside.ip, moved);
    assert.equal(owner.row.get('out')!.ip, moved);
    assert.equal(owner.row.get('out')!.state, 'bound');
    const garp = owner.outside.map((f) => decode(f)).find((d) => d.network.kind === 'arp');
    assert.ok(garp && garp.network.kind === 'arp' && garp.network.arp.senderIp === moved, 'a gratuitous ARP for the new address');
    owner.outside.length = 0;
    udpOut(owner, t + 10);
    const [out2] = udps(owner.outside.splice(0)).filter((u) => u.dstPort === 7000);
    assert.equal(out2.src, moved, 'the UDP flow continues from the new address');
    assert.equal(out2.srcPort, out1.srcPort, 'on the same port');
    udpBack(owner, moved, out2.srcPort, t + 20);
    assert.equal(udps(owner.inside.splice(0)).length, 1, 'and its replies to the new address come back');
    mergeTo(store, b0, b1, owner, follower, t + 30);
    assert.equal(follower.r.cfg.outside.ip, moved, 'the follower remapped to the new address on its merge');
    assert.equal(follower.s.lease!.counters.unbinds, 1);
    assert.equal(follower.s.lease!.counters.remaps, 2);
    assert.deepEqual([owner.s.lease!.counters.operatorEdits, owner.s.lease!.counters.unbinds, owner.s.lease!.counters.remaps], [0, 1, 2], 'the owner took its own rows as its own');
  });

  test('the lease expires with no server: the address is 0.0.0.0 at once, NAT out refused and counted, the others follow on sync', () => {
    const store = new Store(routerTables);
    const b0 = store.main.fork('actor0'), b1 = store.main.fork('actor1');
    const owner = rig({ actor: 0, actors: 2, outsideDhcp: true, outside: UNBOUND(), store, on: b0 });
    const follower = rig({ actor: 1, actors: 2, outsideDhcp: true, outside: UNBOUND(), store, on: b1 });
    owner.s.start(0);
    let t = drive(owner, upstreamServer('10.202.0.50-10.202.0.60', 60_000), 0, 5_000, () => owner.r.cfg.outside.ip !== 0);
    const bound = owner.row.get('out')!;
    mergeTo(store, b0, b1, owner, follower, t);
    assert.equal(follower.r.cfg.outside.ip, bound.ip);
    // The server is gone: RENEWING and REBINDING go unanswered until the lease ends.
    t = drive(owner, null, t, 120_000, () => owner.r.cfg.outside.ip === 0, (at) => { if (at < bound.expires) assert.equal(owner.r.cfg.outside.ip, bound.ip, 'the address is used until the lease ends'); });
    assert.equal(t, bound.expires, 'given up exactly at expiry');
    assert.equal(owner.s.lease!.client!.counters.expired, 1);
    assert.equal(owner.r.cfg.outside.prefix, 32);
    assert.deepEqual([owner.row.get('out')!.ip, owner.row.get('out')!.state], [0, 'init']);
    assert.ok(owner.row.get('out')!.obtained > bound.obtained, 'the row of the loss wins over the lease it ends in any merge');
    owner.outside.length = 0;
    udpOut(owner, t + 1);
    assert.equal(owner.r.counters.noOutsideAddress, 1, 'NAT out refused and counted');
    assert.equal(udps(owner.outside).filter((u) => u.dstPort === 7000).length, 0);
    assert.equal(follower.r.cfg.outside.ip, bound.ip, 'the follower uses the address until its merge');
    mergeTo(store, b0, b1, owner, follower, t + 2);
    assert.equal(follower.r.cfg.outside.ip, 0, 'and gives it up on the merge');
    udpOut(follower, t + 3);
    assert.equal(follower.r.counters.noOutsideAddress, 1);
    owner.outside.length = 0;
    owner.s.poll(t + 4);
    assert.equal(owner.s.lease!.client!.state, 'selecting', 'the owner asks anew at once');
    assert.deepEqual(udps(owner.outside).map((u) => [u.src, u.dstPort]), [[0, 67]], 'a DISCOVER from 0.0.0.0');
  });

  test('bound against a server on the outside: NAT waits for the address, then uses it; an address change remaps a UDP flow and announces it', () => {
    const { r, s, inside, outside, row } = rig({ outsideDhcp: true, outside: { name: 'out', mac: localMac(0x102), ip: 0, prefix: 32 } });
    const up = upstreamServer();
    const flow = (t: number) => r.receiveInside([udpFrame({ srcMac: HOST_MAC, dstMac: INSIDE().mac, src: ip('10.201.0.2'), dst: SERVER, srcPort: 40000, dstPort: 7000, payload: new Uint8Array([t & 0xff]) })], t);
    flow(0);
    assert.equal(r.counters.noOutsideAddress, 1, 'NAT out is refused until the lease');
    s.start(0);
    for (let t = 0; t <= 5_000 && r.cfg.outside.ip === 0; t += 100) {
      s.poll(t);
      for (const u of udps(outside.splice(0))) if (u.dstPort === 67) up.server.receive(u.payload, t);
      for (const rep of up.replies.splice(0)) {
        r.receiveOutside([udpFrame({ srcMac: DHCPD_MAC, dstMac: rep.mac ?? BROADCAST_MAC, src: DHCPD, dst: rep.ip, srcPort: 67, dstPort: 68, payload: rep.payload })], t);
      }
    }
    const first = ip('10.202.0.50');
    assert.equal(r.cfg.outside.ip, first, 'bound: the outside address is the lease\'s');
    assert.equal(r.cfg.outside.prefix, 24);
    assert.equal(row.get('out')!.ip, first, 'the lease is on the dhcp-client row');
    assert.equal(row.get('out')!.state, 'bound');
    outside.length = 0;
    flow(6_000);
    const out1 = udps(outside.splice(0));
    assert.equal(out1.length, 1);
    assert.equal(out1[0].src, first);
    const port = out1[0].srcPort;
    r.receiveOutside([udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE().mac, src: SERVER, dst: first, srcPort: 7000, dstPort: port, payload: new Uint8Array([1]) })], 6_010);
    assert.equal(udps(inside.splice(0)).length, 1, 'the reply reaches the host');
    // An operator moves the address (as a merge would bring the edited row): every actor remaps on sync.
    const moved = ip('10.202.0.77');
    row.set('out', { ...row.get('out')!, ip: moved, obtained: 7_000 });
    s.sync(7_000);
    assert.equal(r.cfg.outside.ip, moved);
    assert.equal(s.lease!.counters.remaps, 2);
    const garp = outside.map((f) => decode(f)).find((d) => d.network.kind === 'arp');
    assert.ok(garp && garp.network.kind === 'arp', 'a gratuitous ARP goes out');
    assert.equal(garp.network.arp.senderIp, moved);
    assert.equal(garp.network.arp.targetIp, moved);
    assert.equal(garp.ethernet.dst, BROADCAST_MAC);
    outside.length = 0;
    flow(8_000);
    const out2 = udps(outside.splice(0)).filter((u) => u.dstPort === 7000);
    assert.equal(out2.length, 1);
    assert.equal(out2[0].src, moved, 'the flow continues from the new address');
    assert.equal(out2[0].srcPort, port, 'on the same port');
    r.receiveOutside([udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE().mac, src: SERVER, dst: moved, srcPort: 7000, dstPort: port, payload: new Uint8Array([2]) })], 8_010);
    assert.equal(udps(inside.splice(0)).length, 1, 'and its replies to the new address come back');
  });

  test('a non-owner actor follows the row on sync, without announcing', () => {
    const { r, s, outside, row } = rig({ actor: 1, actors: 2, outsideDhcp: true, outside: { name: 'out', mac: localMac(0x102), ip: 0, prefix: 32 } });
    assert.equal(s.lease!.client, null, 'actor 1 of 2 does not own port 68');
    s.start(0);
    assert.equal(outside.length, 0, 'no DISCOVER from a non-owner');
    row.set('out', { ip: ip('10.202.0.50'), prefix: 24, gateway: DHCPD, dns: [UPSTREAM], server: DHCPD, leaseSeconds: 600, obtained: 1, renewAt: 300_000, rebindAt: 525_000, expires: 600_000, state: 'bound' });
    s.sync(10);
    assert.equal(r.cfg.outside.ip, ip('10.202.0.50'));
    assert.equal(r.cfg.gateway, DHCPD);
    assert.equal(outside.length, 0, 'the owner announces, not this actor');
  });
});
