// A failover pair (docs/ha.md): two routers with the same addresses and the same virtual MAC on a shared inside and
// outside link. First two Routers with their Failovers in this thread, on simulated time and a simulated hub (every
// frame one port sends reaches every other port); then two RouterActors on worker threads, with every wait bounded.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Store, type Logger } from '../store/index.js';
import {
  ArpOperation, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4, VrrpPacket, VrrpRepr,
  VRRP_MULTICAST_IPV4, VRRP_MULTICAST_MAC, vrrpVirtualMac,
} from '../wire/index.js';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { natTable } from '../actors/router/nat-table.js';
import { Router } from '../actors/router/router.js';
import { Failover } from '../actors/router/failover.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { HostStack } from '../actors/host/host-stack.js';
import type { NetInterface } from '../actors/iface/net-interface.js';
import { arpFrame, decode, echoRequestFrame, udpFrame } from './support/frames.js';
import { waitFor } from './support/router-rig.js';

const ip = parseIpv4;
const VRID = 7;
const VMAC = vrrpVirtualMac(VRID);
const INSIDE: NetInterface = { name: 'in', mac: VMAC, ip: ip('10.201.0.1'), prefix: 24 };
const OUTSIDE: NetInterface = { name: 'out', mac: VMAC, ip: ip('10.202.0.1'), prefix: 24 };
const CLIENT: NetInterface = { name: 'c', mac: 0x02_00_00_00_01_02, ip: ip('10.201.0.2'), prefix: 24 };
const SERVER: NetInterface = { name: 's', mac: 0x02_00_00_00_02_02, ip: ip('10.202.0.2'), prefix: 24 };

/** A logger that keeps its lines. */
function recorder(): Logger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  return { lines, info: (_o, msg) => lines.push({ level: 'info', msg }), warn: (_o, msg) => lines.push({ level: 'warn', msg }), error: (_o, msg) => lines.push({ level: 'error', msg }) };
}

/** An advertisement frame as the test wants it, possibly wrong: TTL, checksum, or a cut-short message. */
function advert(o: { priority: number; ttl?: number; badChecksum?: boolean; cut?: number; vrid?: number }): Uint8Array {
  const repr = new VrrpRepr({ vrid: o.vrid ?? VRID, priority: o.priority, maxAdverInterval: 100, addresses: [INSIDE.ip] });
  const vlen = repr.bufferLen();
  const ipr = new Ipv4Repr({ src: ip('10.201.0.9'), dst: VRRP_MULTICAST_IPV4, protocol: IpProtocol.Vrrp, payloadLen: vlen - (o.cut ?? 0), ttl: o.ttl ?? 255 });
  const f = new Uint8Array(ETHERNET_HEADER_LEN + ipr.bufferLen() + vlen);
  new EthernetRepr({ dst: VRRP_MULTICAST_MAC, src: 0x02_00_00_00_09_09, ethertype: EtherType.Ipv4 }).emit(EthernetPacket.newUnchecked(f));
  const v = VrrpPacket.newUnchecked(f, ETHERNET_HEADER_LEN + ipr.bufferLen(), vlen);
  repr.emit(v, ipr.src, VRRP_MULTICAST_IPV4);
  if (o.badChecksum) v.checksum = v.checksum ^ 0x0101;
  ipr.emit(Ipv4Packet.newUnchecked(f, ETHERNET_HEADER_LEN));
  return f.subarray(0, f.length - (o.cut ?? 0));
}

/** The priority of a VRRP advertisement frame, or null for any other frame. */
function advertPriority(f: Uint8Array): number | null {
  const eth = EthernetPacket.newUnchecked(f);
  if (eth.dst !== VRRP_MULTICAST_MAC || eth.ethertype !== EtherType.Ipv4) return null;
  const v4 = Ipv4Packet.newUnchecked(f, ETHERNET_HEADER_LEN);
  if (v4.protocol !== IpProtocol.Vrrp) return null;
  return VrrpPacket.newUnchecked(f, ETHERNET_HEADER_LEN + v4.headerLength, v4.payloadLength).priority;
}

/** Gratuitous ARP for `addr` from the virtual MAC, on a link's captured frames. */
function announced(frames: Uint8Array[], addr: number): boolean {
  return frames.some((f) => {
    const d = decode(f);
    return d.network.kind === 'arp' && d.ethernet.src === VMAC && d.network.arp.senderMac === VMAC
      && d.network.arp.senderIp === addr && d.network.arp.targetIp === addr && d.network.arp.operation === ArpOperation.Request;
  });
}

// ---------------------------------------------------------------- in this thread, on simulated time

interface Port { receive(f: Uint8Array, now: number): void }

/** A link every port hears (a switch before it learned the shared MAC, or a hub). Sends queue; pump() delivers. */
class Hub {
  readonly seen: Uint8Array[] = [];
  private readonly ports: Port[] = [];
  private readonly queue: { from: Port | null; f: Uint8Array }[] = [];
  attach(p: Port): (f: Uint8Array) => void {
    this.ports.push(p);
    return (f) => { this.queue.push({ from: p, f: f.slice() }); };
  }
  /** A frame from a test host that is not a port. */
  inject(f: Uint8Array): void { this.queue.push({ from: null, f: f.slice() }); }
  /** Delivers until nothing is queued; true when something was. */
  pump(now: number): boolean {
    const any = this.queue.length > 0;
    for (let m = this.queue.shift(); m !== undefined; m = this.queue.shift()) {
      this.seen.push(m.f);
      for (const p of this.ports) if (p !== m.from) p.receive(m.f.slice(), now);
    }
    return any;
  }
}

interface Node { name: string; router: Router; failover: Failover; up: boolean; log: ReturnType<typeof recorder> }

/** Two routers (or more) on the shared inside and outside hubs, driven on one simulated clock. */
class Pair {
  now = 0;
  readonly inside = new Hub();
  readonly outside = new Hub();
  readonly nodes: Node[] = [];

  add(name: string, priority: number): Node {
    const store = new Store([arpTable, natTable]);
    const tables = { arp: store.main.table(arpTable), nat: store.main.table(natTable) };
    let router: Router | null = null;
    const sendIn = this.inside.attach({ receive: (f, now) => { if (node.up) router!.receiveInside([f], now); } });
    const sendOut = this.outside.attach({ receive: (f, now) => { if (node.up) router!.receiveOutside([f], now); } });
    router = new Router({ inside: { ...INSIDE }, outside: { ...OUTSIDE } }, tables, sendIn, sendOut);
    const r = router;
    r.insideArp.cache.learn(CLIENT.ip, CLIENT.mac, 0);
    r.outsideArp.cache.learn(SERVER.ip, SERVER.mac, 0);
    const log = recorder();
    // What a packet actor does with a FailoverSend (router-worker.ts), here in the same thread.
    const failover = new Failover({ vrid: VRID, priority }, r.cfg.inside, async (adverts, announce) => {
      r.failoverSend(adverts, announce);
      return true;
    }, log, this.now, null);
    const cell = new Int32Array(failover.forwarding);
    r.failover = { active: () => Atomics.load(cell, 0) === 1, heard: (adv, now) => void failover.heard(adv, now) };
    const node: Node = { name, router: r, failover, up: true, log };
    this.nodes.push(node);
    return node;
  }

  async startup(): Promise<void> {
    for (const n of this.nodes) await n.failover.startup(this.now);
    await this.settle();
  }

  /** Runs the clock to `end`, firing each live router's VRRP timer when it is due and delivering what it sends. */
  async runTo(end: number): Promise<void> {
    for (;;) {
      await this.settle();
      const live = this.nodes.filter((n) => n.up);
      const next = Math.min(...live.map((n) => n.failover.nextDeadline()));
      if (next > end) { this.now = end; return; }
      this.now = Math.max(this.now, next);
      for (const n of live) if (n.failover.nextDeadline() <= this.now) await n.failover.poll(this.now);
    }
  }

  /** Delivers every queued frame and lets the failovers' sends settle. */
  async settle(): Promise<void> {
    do await new Promise((r) => setImmediate(r));
    while (this.inside.pump(this.now) || this.outside.pump(this.now));
  }
}

async function electedPair(): Promise<{ pair: Pair; a: Node; b: Node }> {
  const pair = new Pair();
  const a = pair.add('a', 200);
  const b = pair.add('b', 100);
  await pair.startup();
  await pair.runTo(5_000);
  return { pair, a, b };
}

const fromClient = (dstPort: number) => udpFrame({ srcMac: CLIENT.mac, dstMac: VMAC, src: CLIENT.ip, dst: SERVER.ip, srcPort: 40_000, dstPort, payload: new Uint8Array([1, 2]) });
const toServer = (frames: Uint8Array[]) => frames.filter((f) => { const d = decode(f); return d.network.kind === 'ipv4' && d.network.ipv4.dst === SERVER.ip; });

describe('failover in one thread, simulated time', () => {
  test('both start silent; the higher priority becomes master and announces both addresses, the other stays backup', async () => {
    const pair = new Pair();
    const a = pair.add('a', 200);
    const b = pair.add('b', 100);
    await pair.startup();
    assert.equal(a.failover.state, 'backup');
    assert.equal(b.failover.state, 'backup');
    assert.equal(pair.inside.seen.length + pair.outside.seen.length, 0, 'nothing sent before Master_Down_Interval');
    await pair.runTo(10_000);
    assert.equal(a.failover.state, 'master');
    assert.equal(b.failover.state, 'backup');
    assert.ok(announced(pair.inside.seen, INSIDE.ip), 'gratuitous ARP for the inside address');
    assert.ok(announced(pair.outside.seen, OUTSIDE.ip), 'gratuitous ARP for the outside address');
    const adverts = pair.inside.seen.map(advertPriority).filter((p) => p !== null);
    assert.ok(adverts.length >= 5 && adverts.every((p) => p === 200), 'only the master advertises, with its priority');
    assert.ok(b.router.counters.vrrpHeard >= 5, 'the backup hears every advertisement');
    const ra = a.failover.report();
    assert.equal(ra.state, 'master');
    assert.equal(ra.counters.becameMaster, 1);
    assert.equal(ra.counters.announcements, 1);
    assert.equal(ra.counters.sendLost, 0);
    assert.equal(b.failover.report().counters.becameMaster, 0);
    assert.ok(a.log.lines.some((l) => l.level === 'warn' && l.msg === 'failover: now master'));
    assert.ok(b.log.lines.some((l) => l.level === 'warn' && l.msg === 'failover: now backup'));
  });

  test('the backup answers no ARP, forwards nothing either way and answers no ping; the master does all three', async () => {
    const { pair, a, b } = await electedPair();
    pair.inside.seen.length = pair.outside.seen.length = 0;
    pair.inside.inject(arpFrame({ op: 'request', srcMac: CLIENT.mac, senderIp: CLIENT.ip, targetIp: INSIDE.ip }));
    pair.inside.inject(fromClient(5300));
    pair.outside.inject(echoRequestFrame({ srcMac: SERVER.mac, dstMac: VMAC, src: SERVER.ip, dst: OUTSIDE.ip, seq: 1 }));
    await pair.settle();
    const replies = pair.inside.seen.filter((f) => { const d = decode(f); return d.network.kind === 'arp' && d.network.arp.operation === ArpOperation.Reply; });
    assert.equal(replies.length, 1, 'one ARP reply, the master\'s');
    assert.equal(toServer(pair.outside.seen).length + 1, pair.outside.seen.length, 'one datagram forwarded and one echo reply, no more');
    assert.equal(a.router.counters.forwardedOut, 1);
    assert.equal(a.router.counters.echoAnswered, 1);
    assert.equal(b.router.counters.forwardedOut, 0);
    assert.equal(b.router.counters.echoAnswered, 0);
    assert.equal(b.router.counters.backupDropped, 2, 'the datagram and the ping, dropped by the backup');
    assert.equal(b.router.insideArp.counters.requestsAnswered, 0);
    assert.equal(b.router.insideArp.counters.silenced, 1);
    assert.equal(a.router.counters.backupDropped, 0);
  });

  test('the master stopping sends priority 0: the backup takes over after Skew_Time, announces from the virtual MAC, forwards', async () => {
    const { pair, a, b } = await electedPair();
    pair.inside.seen.length = pair.outside.seen.length = 0;
    const stoppedAt = pair.now;
    await a.failover.shutdown(pair.now);
    a.up = false;
    await pair.settle();
    assert.deepEqual(pair.inside.seen.map(advertPriority), [0], 'the leaving master said so');
    assert.equal(a.failover.state, 'initialize');
    assert.equal(a.router.active(), false, 'the stopped router is silent');
    // Skew_Time for priority 100 at 1 s: (256 - 100) × 1000 / 256 ms, not Master_Down_Interval (3 s more).
    const skew = ((256 - 100) * 1000) / 256;
    await pair.runTo(stoppedAt + skew - 1);
    assert.equal(b.failover.state, 'backup');
    await pair.runTo(stoppedAt + skew);
    assert.equal(b.failover.state, 'master');
    assert.ok(announced(pair.inside.seen, INSIDE.ip) && announced(pair.outside.seen, OUTSIDE.ip), 'gratuitous ARP for both addresses from the virtual MAC');
    assert.ok(b.log.lines.some((l) => l.msg === 'failover: now master'));
    pair.inside.inject(fromClient(5301));
    await pair.settle();
    assert.equal(toServer(pair.outside.seen).length, 1, 'the new master forwards');
    assert.equal(b.router.counters.forwardedOut, 1);
  });

  test('a bad advertisement (checksum, TTL, cut short, another VRID) is counted and changes nothing', async () => {
    const { pair, a, b } = await electedPair();
    const before = { a: a.failover.report().counters, b: b.failover.report().counters };
    pair.inside.inject(advert({ priority: 255, badChecksum: true }));
    pair.inside.inject(advert({ priority: 255, ttl: 254 }));
    pair.inside.inject(advert({ priority: 255, cut: 4 }));
    pair.inside.inject(advert({ priority: 255, vrid: 8 }));
    await pair.settle();
    for (const n of [a, b]) {
      assert.equal(n.router.counters.vrrpBadChecksum, 1, `${n.name}: bad checksum`);
      assert.equal(n.router.counters.vrrpMalformed, 1, `${n.name}: cut short`);
      const c = n.failover.report().counters;
      assert.equal(c.badTtl, 1, `${n.name}: TTL 254`);
      assert.equal(c.otherVrid, 1, `${n.name}: another VRID`);
    }
    await pair.runTo(pair.now + 5_000);
    assert.equal(a.failover.state, 'master');
    assert.equal(b.failover.state, 'backup');
    assert.equal(a.failover.report().counters.becameBackup, before.a.becameBackup);
    assert.equal(b.failover.report().counters.becameMaster, before.b.becameMaster);
    // A good advertisement with 255 does move the master: the bad ones were refused, not ignored by chance.
    pair.inside.inject(advert({ priority: 255 }));
    await pair.settle();
    assert.equal(a.failover.state, 'backup');
  });

  test('two routers with the same priority: both master (no tie to break), counted, logged once a minute', async () => {
    const pair = new Pair();
    const a = pair.add('a', 100);
    const b = pair.add('b', 100);
    await pair.startup();
    await pair.runTo(30_000);
    assert.equal(a.failover.state, 'master');
    assert.equal(b.failover.state, 'master');
    for (const n of [a, b]) {
      assert.ok(n.failover.report().counters.samePriority >= 20, `${n.name} counted the other's advertisements`);
      assert.equal(n.log.lines.filter((l) => l.level === 'error').length, 1, `${n.name} logged it once`);
    }
    await pair.runTo(100_000);
    assert.equal(a.log.lines.filter((l) => l.level === 'error').length, 2, 'and once more a minute later');
  });

  test('onMaster is called on taking over, with the time', async () => {
    const pair = new Pair();
    const a = pair.add('a', 100);
    const calls: number[] = [];
    a.failover.onMaster = (now) => calls.push(now);
    await pair.startup();
    await pair.runTo(10_000);
    assert.equal(calls.length, 1);
    assert.equal(calls[0], a.failover.report().since);
    assert.ok(calls[0] > 3_000 && calls[0] < 4_000, 'alone on the link: master after Master_Down_Interval (3 s and the skew)');
  });
});

// ---------------------------------------------------------------- two RouterActors on worker threads

/** A hub of ring links on this thread: each router's link is one port, test hosts see and send every frame. */
class RingHub {
  readonly seen: Uint8Array[] = [];
  private readonly ports: RingLink[] = [];
  private readonly hosts: ((f: Uint8Array) => void)[] = [];
  constructor(private readonly name: string) {}
  /** A router's end of a new port. */
  port(): RingLink {
    const [mine, theirs] = ringLinkPair(`${this.name}/${this.ports.length}`);
    const link = new RingLink(mine);
    link.onFrames((fs) => { for (const f of fs) this.deliver(f, link); });
    this.ports.push(link);
    return new RingLink(theirs);
  }
  host(receive: (f: Uint8Array) => void): (f: Uint8Array) => void {
    this.hosts.push(receive);
    return (f) => this.deliver(f, receive);
  }
  close(): void { for (const p of this.ports) p.close(); }
  private deliver(f: Uint8Array, from: RingLink | ((f: Uint8Array) => void)): void {
    const copy = f.slice();
    this.seen.push(copy);
    for (const p of this.ports) if (p !== from) p.send(copy);
    for (const h of this.hosts) if (h !== from) h(copy);
  }
}

/** Hubs inside and outside with a client (a test end that keeps the UDP it gets) and an echoing server; `router(priority)` adds one. */
function threadedLab(closers: (() => Promise<void> | void)[]) {
  const inside = new RingHub('inside');
  const outside = new RingHub('outside');
  closers.push(() => inside.close(), () => outside.close());
  const got: Uint8Array[] = [];
  let sendClient: (f: Uint8Array) => void = () => {};
  const clientStack = new HostStack(CLIENT, new Store([arpTable]).main.table(arpTable), (f) => sendClient(f));
  sendClient = inside.host((f) => {
    const d = decode(f);
    if (d.network.kind === 'ipv4' && d.network.ipv4.dst === CLIENT.ip && d.network.transport.kind === 'udp') got.push(f);
    clientStack.receiveOne(f, Date.now());
  });
  let sendServer: (f: Uint8Array) => void = () => {};
  const serverStack = new HostStack(SERVER, new Store([arpTable]).main.table(arpTable), (f) => sendServer(f));
  serverStack.onUdp = (src, sport, dport, payload, now) => serverStack.sendUdp(src, dport, sport, payload, now); // echo
  sendServer = outside.host((f) => serverStack.receiveOne(f, Date.now()));
  const poll = setInterval(() => serverStack.poll(Date.now()), 50);
  closers.push(() => clearInterval(poll));
  const router = (priority: number) => {
    const r = new RouterActors(inside.port(), outside.port(), {
      inside: INSIDE, outside: OUTSIDE, packetActors: 2, mergeIntervalMs: 30, failover: { vrid: VRID, priority, advertIntervalMs: 200 },
    });
    closers.push(() => r.stop());
    return r;
  };
  return { inside, outside, got, sendClient, router };
}

/** waitFor with an asynchronous condition (a stack's report), bounded the same way. */
async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 8_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A counter summed over a stack's packet actors. */
async function packetCounter(r: RouterActors, name: string): Promise<number> {
  return (await r.report(Date.now())).actors.filter((x) => x.kind === 'packet').reduce((s, x) => s + (x.counters[name] ?? 0), 0);
}

/** ARP replies for `addr` among captured frames. */
const arpReplies = (frames: Uint8Array[], addr: number) => frames.filter((f) => {
  const d = decode(f);
  return d.network.kind === 'arp' && d.network.arp.operation === ArpOperation.Reply && d.network.arp.senderIp === addr;
}).length;

describe('failover between two routers on worker threads', () => {
  const closers: (() => Promise<void> | void)[] = [];
  after(async () => { for (const c of closers.reverse()) await c(); });

  test('the master forwards, the backup drops; stopping the master hands over to the backup, which forwards', async () => {
    const { inside, outside, got, sendClient, router } = threadedLab(closers);
    const a = router(250);
    const b = router(50);
    await Promise.all([a.ready(), b.ready()]);
    await waitFor('a master, b backup', () => a.failover!.state === 'master' && b.failover!.state === 'backup');
    sendClient(fromClient(7));
    await waitFor('the echo through the master', () => got.length >= 1);
    sendClient(arpFrame({ op: 'request', srcMac: CLIENT.mac, senderIp: CLIENT.ip, targetIp: INSIDE.ip }));
    await until('the backup kept quiet about it', async () => await packetCounter(b, 'arp.silenced') >= 1);
    await waitFor('the master\'s ARP reply', () => arpReplies(inside.seen, INSIDE.ip) >= 1);
    assert.equal(arpReplies(inside.seen, INSIDE.ip), 1, 'one ARP reply, the master\'s');
    assert.ok(await packetCounter(b, 'backupDropped') >= 1, 'the backup dropped the datagram the hub gave it too');
    assert.equal(await packetCounter(b, 'forwardedOut'), 0);
    const rb = (await b.report(Date.now())).failover!;
    assert.equal(rb.state, 'backup');
    assert.equal(rb.vrid, VRID);
    assert.ok(rb.counters.received >= 1);

    const mark = inside.seen.length;
    const outMark = outside.seen.length;
    await a.stop();
    await waitFor('b master', () => b.failover!.state === 'master');
    assert.ok(inside.seen.slice(mark).some((f) => advertPriority(f) === 0), 'the stopping master sent priority 0');
    await waitFor('b announces both addresses', () => announced(inside.seen.slice(mark), INSIDE.ip) && announced(outside.seen.slice(outMark), OUTSIDE.ip));
    sendClient(fromClient(7));
    await waitFor('the echo through the new master', () => got.length >= 2);
    assert.ok(await packetCounter(b, 'forwardedOut') >= 1);
    const report = await b.report(Date.now());
    assert.equal(report.failover!.state, 'master');
    // Not exactly 1: a loaded machine may stall a thread past Master_Down_Interval, and the backup takes over for a while.
    assert.ok(report.failover!.counters.becameMaster >= 1);
    assert.equal(report.failover!.counters.sendLost, 0);
  });

  test('failover needs the virtual MAC on both interfaces', () => {
    const [x, y] = ringLinkPair('x');
    const [z, w] = ringLinkPair('z');
    assert.throws(() => new RouterActors(new RingLink(x), new RingLink(z), {
      inside: { ...INSIDE, mac: CLIENT.mac }, outside: OUTSIDE, failover: { vrid: VRID, priority: 100 },
    }), /virtual MAC of VRID 7/);
    for (const e of [x, y, z, w]) new RingLink(e).close();
  });
});
