// The DHCP server (actors/dhcp/dhcp-server.ts) against clients built from wire/dhcpv4.ts's DhcpRepr, on a
// simulated clock, its leases on store branches: the exchanges of RFC 2131, where replies go (§4.1), the
// conflict probe, expiry, reservations, two branches racing for one address, and hostile messages
// (fast-check; DHCP_SERVER_SEED=n replays a run).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store, type Branch } from '../store/index.js';
import { BootpOp, DHCP_FLAG_BROADCAST, DhcpMessageType, DhcpPacket, DhcpRepr, type DhcpOption } from '../wire/dhcpv4.js';
import { BROADCAST_MAC } from '../wire/ethernet.js';
import { parseIpv4 } from '../wire/ipv4.js';
import { leasesTable, type LeaseEntry } from '../actors/dhcp/lease-table.js';
import { AddressPool } from '../actors/dhcp/address-pool.js';
import { DhcpServer, type DhcpDestination, type DhcpServerOptions, type ProbeResult } from '../actors/dhcp/dhcp-server.js';

const SEED = Number(process.env.DHCP_SERVER_SEED ?? Date.now() % 1_000_000);
console.log(`dhcp-server properties: seed ${SEED} (DHCP_SERVER_SEED=${SEED} replays it)`);

const ip = parseIpv4;
const SERVER = ip('10.201.0.1');
const HOUR = 3_600_000;
const MAC1 = 0x02_00_00_00_01_01, MAC2 = 0x02_00_00_00_01_02, MAC3 = 0x02_00_00_00_01_03;

interface Sent { reply: DhcpRepr; to: DhcpDestination; bytes: Uint8Array }

/** A server on `branch` (a fresh store's main by default), its replies collected in `sent`. */
function rig(over: Partial<DhcpServerOptions> & { range?: string; branch?: Branch } = {}) {
  const branch = over.branch ?? new Store([leasesTable]).main;
  const sent: Sent[] = [];
  const server = new DhcpServer(branch.table(leasesTable), (bytes, to) => {
    sent.push({ reply: DhcpRepr.parse(DhcpPacket.newChecked(bytes)), to, bytes });
  }, { address: SERVER, prefix: 24, pool: AddressPool.parse(over.range ?? '10.201.0.100-10.201.0.200'), ...over });
  const leases = branch.table(leasesTable);
  /** Sends one message at `now` and returns the reply, if any. */
  const send = (msg: Uint8Array, now: number): Sent | undefined => {
    const before = sent.length;
    server.receive(msg, now);
    assert.ok(sent.length - before <= 1, 'at most one reply per message');
    return sent.length > before ? sent[sent.length - 1] : undefined;
  };
  return { server, branch, sent, leases, send };
}

type Msg = { ciaddr?: number; giaddr?: number; flags?: number; xid?: number; options?: DhcpOption[] };

/** A client message of `type` from `mac`, with `extra` options after option 53. */
function msg(type: number, mac: number, m: Msg = {}): Uint8Array {
  const repr = new DhcpRepr({
    op: BootpOp.Request, xid: m.xid ?? mac % 0xffff_ffff, clientMac: mac, ciaddr: m.ciaddr, giaddr: m.giaddr, flags: m.flags,
    options: [{ kind: 'message-type', value: type }, ...(m.options ?? []), { kind: 'end' }],
  });
  const out = new Uint8Array(repr.bufferLen());
  repr.emit(DhcpPacket.newUnchecked(out));
  return out;
}

const sid = (a = SERVER): DhcpOption => ({ kind: 'server-id', address: a });
const want = (a: number): DhcpOption => ({ kind: 'requested-ip', address: a });
const raw = (code: number, text: string): DhcpOption => ({ kind: 'raw', code, data: Buffer.from(text, 'latin1') });
const HOSTNAME = (h: string) => raw(12, h);
const CLIENT_ID = { kind: 'raw', code: 61, data: Uint8Array.of(1, 2, 0, 0, 0, 1, 1) } as DhcpOption;

type Rig = ReturnType<typeof rig>;

/** DISCOVER, OFFER, REQUEST, ACK: the address the client got. */
function dora(r: Rig, mac: number, now: number, extra: DhcpOption[] = []): number {
  const offer = r.send(msg(DhcpMessageType.Discover, mac, { options: extra }), now);
  assert.equal(offer?.reply.messageType, DhcpMessageType.Offer, 'an OFFER');
  const addr = offer.reply.yiaddr;
  const ack = r.send(msg(DhcpMessageType.Request, mac, { options: [sid(), want(addr), ...extra] }), now);
  assert.equal(ack?.reply.messageType, DhcpMessageType.Ack, 'an ACK');
  assert.equal(ack.reply.yiaddr, addr);
  return addr;
}

const rawOf = (r: DhcpRepr, code: number) => r.options.find((o): o is Extract<DhcpOption, { kind: 'raw' }> => o.kind === 'raw' && o.code === code)?.data;
const u32 = (b: Uint8Array | undefined) => (b ? Buffer.from(b).readUInt32BE(0) : undefined);

describe('exchanges', () => {
  test('DORA: the first pool address, the router as gateway and DNS, lease time, T1 = 50 %, T2 = 87.5 %, a bound row', () => {
    const r = rig();
    const offer = r.send(msg(DhcpMessageType.Discover, MAC1, { options: [HOSTNAME('laptop'), CLIENT_ID] }), 1000)!;
    const o = offer.reply;
    assert.equal(o.op, BootpOp.Reply);
    assert.equal(o.messageType, DhcpMessageType.Offer);
    assert.equal(o.yiaddr, ip('10.201.0.100'));
    assert.equal(o.serverId, SERVER);
    assert.equal(o.subnetMask, ip('255.255.255.0'));
    assert.deepEqual(o.routers, [SERVER]);
    assert.deepEqual(o.dnsServers, [SERVER]);
    assert.equal(o.leaseTime, 3600);
    assert.equal(u32(rawOf(o, 58)), 1800);
    assert.equal(u32(rawOf(o, 59)), 3150);
    assert.deepEqual(rawOf(o, 61), Uint8Array.of(1, 2, 0, 0, 0, 1, 1), 'the client id echoed (RFC 6842)');
    assert.ok(offer.bytes.length >= 300, 'padded to BOOTP\'s 300 bytes');
    assert.equal(r.leases.get(ip('10.201.0.100'))?.state, 'offered');
    const ack = r.send(msg(DhcpMessageType.Request, MAC1, { options: [sid(), want(o.yiaddr), HOSTNAME('laptop'), CLIENT_ID] }), 1500)!;
    assert.equal(ack.reply.messageType, DhcpMessageType.Ack);
    assert.equal(ack.reply.yiaddr, ip('10.201.0.100'));
    assert.deepEqual(r.leases.get(ip('10.201.0.100')), {
      mac: MAC1, clientId: '01:02:00:00:00:01:01', hostname: 'laptop', expires: 1500 + HOUR, state: 'bound', kind: 'dynamic', created: 1000,
    });
    assert.deepEqual([r.server.counters.offers, r.server.counters.acks, r.server.counters.naks], [1, 1, 0]);
  });

  test('replies go where RFC 2131 §4.1 says: unicast to yiaddr at chaddr, broadcast on the flag, to ciaddr, to the relay; NAKs broadcast', () => {
    const r = rig();
    const uni = r.send(msg(DhcpMessageType.Discover, MAC1), 0)!;
    assert.deepEqual(uni.to, { ip: ip('10.201.0.100'), mac: MAC1, port: 68 });
    const bc = r.send(msg(DhcpMessageType.Discover, MAC2, { flags: DHCP_FLAG_BROADCAST }), 0)!;
    assert.deepEqual(bc.to, { ip: 0xffff_ffff, mac: BROADCAST_MAC, port: 68 });
    assert.equal(bc.reply.flags, DHCP_FLAG_BROADCAST);
    const relayed = r.send(msg(DhcpMessageType.Discover, MAC3, { giaddr: ip('10.9.0.1') }), 0)!;
    assert.deepEqual(relayed.to, { ip: ip('10.9.0.1'), mac: undefined, port: 67 });
    assert.equal(relayed.reply.giaddr, ip('10.9.0.1'));
    const bound = dora(r, MAC1, 0);
    const renew = r.send(msg(DhcpMessageType.Request, MAC1, { ciaddr: bound }), 1000)!;
    assert.deepEqual(renew.to, { ip: bound, mac: MAC1, port: 68 });
    assert.equal(renew.reply.ciaddr, bound);
    const nak = r.send(msg(DhcpMessageType.Request, MAC1, { options: [want(ip('192.168.1.5'))] }), 1000)!;
    assert.equal(nak.reply.messageType, DhcpMessageType.Nak);
    assert.deepEqual(nak.to, { ip: 0xffff_ffff, mac: BROADCAST_MAC, port: 68 });
  });

  test('renew (unicast, ciaddr) and rebind (broadcast, ciaddr) extend the lease and keep its created time', () => {
    const r = rig();
    const a = dora(r, MAC1, 0);
    const renew = r.send(msg(DhcpMessageType.Request, MAC1, { ciaddr: a }), HOUR / 2)!;
    assert.equal(renew.reply.messageType, DhcpMessageType.Ack);
    assert.equal(r.leases.get(a)?.expires, HOUR / 2 + HOUR);
    const rebind = r.send(msg(DhcpMessageType.Request, MAC1, { ciaddr: a, flags: DHCP_FLAG_BROADCAST }), HOUR)!;
    assert.equal(rebind.reply.messageType, DhcpMessageType.Ack);
    assert.deepEqual(r.leases.get(a), { mac: MAC1, clientId: '', hostname: '', expires: 2 * HOUR, state: 'bound', kind: 'dynamic', created: 0 });
  });

  test('DISCOVER again gives the client its current address; a requested free address is honoured', () => {
    const r = rig();
    const a = dora(r, MAC1, 0);
    assert.equal(r.send(msg(DhcpMessageType.Discover, MAC1), 10)!.reply.yiaddr, a);
    assert.equal(r.leases.get(a)?.state, 'bound', 'a bound lease is not downgraded by a new DISCOVER');
    assert.equal(r.send(msg(DhcpMessageType.Discover, MAC2, { options: [want(ip('10.201.0.150'))] }), 10)!.reply.yiaddr, ip('10.201.0.150'));
    assert.equal(r.send(msg(DhcpMessageType.Discover, MAC3, { options: [want(a)] }), 10)!.reply.yiaddr, ip('10.201.0.101'), 'a held address is not');
    const out = rig();
    assert.equal(out.send(msg(DhcpMessageType.Discover, MAC1, { options: [want(ip('10.201.0.20'))] }), 0)!.reply.yiaddr, ip('10.201.0.100'), 'nor one outside the range');
  });

  test('RELEASE frees the address for the next client; a RELEASE of someone else\'s address is ignored and counted', () => {
    const r = rig({ range: '10.201.0.100-10.201.0.100' });
    const a = dora(r, MAC1, 0);
    assert.equal(r.send(msg(DhcpMessageType.Release, MAC2, { ciaddr: a, options: [sid()] }), 5), undefined);
    assert.equal(r.server.counters.unknownLease, 1);
    assert.equal(r.leases.get(a)?.mac, MAC1);
    assert.equal(r.send(msg(DhcpMessageType.Release, MAC1, { ciaddr: a, options: [sid()] }), 10), undefined, 'no reply to a RELEASE');
    assert.equal(r.leases.get(a), undefined);
    assert.equal(dora(r, MAC2, 20), a);
  });

  test('DECLINE holds the address back for the decline hold: the client gets another, then it is reaped', () => {
    const r = rig({ declineHoldMs: 600_000 });
    const a = dora(r, MAC1, 0);
    assert.equal(r.send(msg(DhcpMessageType.Decline, MAC1, { options: [sid(), want(a)] }), 100), undefined);
    assert.deepEqual(r.leases.get(a), { mac: 0, clientId: '', hostname: '', expires: 600_100, state: 'declined', kind: 'dynamic', created: 100 });
    const b = dora(r, MAC1, 200);
    assert.notEqual(b, a);
    assert.notEqual(dora(r, MAC2, 300), a);
    r.server.poll(600_100);
    assert.equal(r.leases.get(a), undefined, 'reaped at the end of the hold');
  });

  test('INFORM: an ACK with the network\'s options, no lease and no address, to the client\'s ciaddr; nothing stored', () => {
    const r = rig();
    const at = ip('10.201.0.7');
    const ack = r.send(msg(DhcpMessageType.Inform, MAC1, { ciaddr: at }), 0)!;
    assert.equal(ack.reply.messageType, DhcpMessageType.Ack);
    assert.equal(ack.reply.yiaddr, 0);
    assert.equal(ack.reply.ciaddr, at);
    assert.equal(ack.reply.leaseTime, undefined);
    assert.deepEqual(ack.reply.routers, [SERVER]);
    assert.deepEqual(ack.to, { ip: at, mac: MAC1, port: 68 });
    assert.equal(r.leases.size, 0);
  });
});

describe('refusals', () => {
  test('NAK for an address off our subnet, one another client holds, or one outside the range with no reservation', () => {
    const r = rig();
    const a = dora(r, MAC1, 0);
    const cases: [Uint8Array, keyof DhcpServer['counters']][] = [
      [msg(DhcpMessageType.Request, MAC2, { options: [want(ip('192.168.7.9'))] }), 'nakWrongSubnet'],
      [msg(DhcpMessageType.Request, MAC2, { options: [want(a)] }), 'nakTaken'],
      [msg(DhcpMessageType.Request, MAC2, { ciaddr: a }), 'nakTaken'],
      [msg(DhcpMessageType.Request, MAC2, { options: [sid(), want(ip('10.201.0.20'))] }), 'nakNotLeasable'],
      [msg(DhcpMessageType.Request, MAC2, { options: [want(SERVER)] }), 'nakNotLeasable'],
    ];
    for (const [m, reason] of cases) {
      const before = r.server.counters[reason];
      const nak = r.send(m, 10)!;
      assert.equal(nak.reply.messageType, DhcpMessageType.Nak, reason);
      assert.equal(nak.reply.yiaddr, 0);
      assert.equal(nak.reply.serverId, SERVER);
      assert.equal(nak.reply.leaseTime, undefined);
      assert.equal(r.server.counters[reason], before + 1, reason);
    }
    assert.equal(r.leases.get(a)?.mac, MAC1, 'the holder keeps its lease');
  });

  test('a REQUEST naming another server id: no answer (RFC 2131 §4.3.2), our offer withdrawn, counted', () => {
    const r = rig();
    const offer = r.send(msg(DhcpMessageType.Discover, MAC1), 0)!;
    assert.equal(r.send(msg(DhcpMessageType.Request, MAC1, { options: [sid(ip('10.201.0.2')), want(offer.reply.yiaddr)] }), 10), undefined);
    assert.equal(r.server.counters.otherServer, 1);
    assert.equal(r.leases.get(offer.reply.yiaddr), undefined);
  });

  test('INIT-REBOOT for a free address in the range is ACKed (authoritative, as after a restart that lost nothing)', () => {
    const r = rig();
    const ack = r.send(msg(DhcpMessageType.Request, MAC1, { options: [want(ip('10.201.0.123'))] }), 0)!;
    assert.equal(ack.reply.messageType, DhcpMessageType.Ack);
    assert.equal(r.leases.get(ip('10.201.0.123'))?.state, 'bound');
  });

  test('pool exhaustion: no OFFER, counted; a lease freed by expiry is offered again', () => {
    const r = rig({ range: '10.201.0.100-10.201.0.101' });
    dora(r, MAC1, 0);
    dora(r, MAC2, 0);
    assert.equal(r.send(msg(DhcpMessageType.Discover, MAC3), 10), undefined);
    assert.equal(r.server.counters.poolExhausted, 1);
    r.server.poll(HOUR);
    assert.equal(r.server.counters.expired, 2);
    assert.equal(r.leases.size, 0);
    assert.ok(dora(r, MAC3, HOUR) >= ip('10.201.0.100'));
  });
});

describe('reservations', () => {
  const reserve = (mac: number, hostname = ''): LeaseEntry => ({ mac, clientId: '', hostname, expires: 0, state: 'reserved', kind: 'static', created: 0 });

  test('a reserved client gets its address (even one outside the range), others never do, and a RELEASE returns it to reserved', () => {
    const r = rig();
    r.leases.set(ip('10.201.0.150'), reserve(MAC1, 'printer'));
    r.leases.set(ip('10.201.0.50'), reserve(MAC2));
    const s = rig({ branch: r.branch }); // a server started after the reservations were written
    assert.equal(dora(s, MAC1, 0, [want(ip('10.201.0.120'))]), ip('10.201.0.150'), 'the reservation beats the requested address');
    assert.equal(dora(s, MAC2, 0), ip('10.201.0.50'));
    assert.deepEqual(s.leases.get(ip('10.201.0.150')), { ...reserve(MAC1, 'printer'), state: 'bound', expires: HOUR });
    const offered = new Set<number>();
    for (let i = 0; i < 101; i++) offered.add(s.send(msg(DhcpMessageType.Discover, 0x02_00_00_00_02_00 + i), 1)?.reply.yiaddr ?? 0);
    assert.equal(offered.size, 101, '100 distinct offers (the range less .150), then none (0)');
    assert.ok(offered.has(0) && !offered.has(ip('10.201.0.150')));
    assert.equal(s.server.counters.poolExhausted, 1);
    assert.equal(s.send(msg(DhcpMessageType.Request, MAC3, { options: [want(ip('10.201.0.150'))] }), 2)!.reply.messageType, DhcpMessageType.Nak);
    s.send(msg(DhcpMessageType.Release, MAC1, { ciaddr: ip('10.201.0.150'), options: [sid()] }), 3);
    assert.deepEqual(s.leases.get(ip('10.201.0.150')), reserve(MAC1, 'printer'));
  });

  test('a reservation written (or merged in) after the server started is honoured after the next scan', () => {
    const r = rig();
    r.leases.set(ip('10.201.0.160'), reserve(MAC1));
    r.server.poll(1000);
    assert.equal(dora(r, MAC1, 1000), ip('10.201.0.160'));
  });

  test('a reservation merged over a dynamic lease: the lease holder is NAKed on renew', () => {
    const store = new Store([leasesTable]);
    const a = rig({ branch: store.main.fork('server') });
    const addr = dora(a, MAC1, 0);
    const operator = store.main.fork('operator');
    operator.table(leasesTable).set(addr, reserve(MAC2));
    operator.commit({ author: 'operator', message: 'reserve' });
    a.branch.commit({ author: 'server' });
    store.main.merge(a.branch);
    store.main.merge(operator);
    a.branch.pull();
    assert.equal(a.send(msg(DhcpMessageType.Request, MAC1, { ciaddr: addr }), 10)!.reply.messageType, DhcpMessageType.Nak);
    a.server.poll(1000);
    assert.equal(dora(a, MAC2, 1000), addr);
  });
});

describe('conflict probe', () => {
  test('an address in use is marked declined and the next is offered', () => {
    const inUse = new Set([ip('10.201.0.100'), ip('10.201.0.101')]);
    const r = rig({ probe: (a) => (inUse.has(a) ? 'in-use' : 'free') });
    assert.equal(r.send(msg(DhcpMessageType.Discover, MAC1), 0)!.reply.yiaddr, ip('10.201.0.102'));
    assert.equal(r.server.counters.probeInUse, 2);
    assert.equal(r.leases.get(ip('10.201.0.100'))?.state, 'declined');
  });

  test('a pending probe holds the DISCOVER; poll offers once the probe says free, or tries the next when in use', () => {
    const answers = new Map<number, ProbeResult>([[ip('10.201.0.100'), 'pending']]);
    const r = rig({ probe: (a) => answers.get(a) ?? 'free', probeRetryMs: 100 });
    assert.equal(r.send(msg(DhcpMessageType.Discover, MAC1), 0), undefined);
    assert.equal(r.server.pending, 1);
    assert.equal(r.server.nextDeadline(), 100);
    assert.equal(r.send(msg(DhcpMessageType.Discover, MAC2), 10)!.reply.yiaddr, ip('10.201.0.101'), 'an address under probe is not offered to another');
    r.server.poll(100);
    assert.equal(r.sent.length, 1, 'still pending');
    answers.set(ip('10.201.0.100'), 'in-use');
    r.server.poll(200);
    assert.equal(r.sent.at(-1)!.reply.yiaddr, ip('10.201.0.102'));
    assert.equal(r.sent.at(-1)!.to.mac, MAC1);
    assert.equal(r.server.pending, 0);
  });

  test('a held DISCOVER keeps its own bytes: the lent buffer reused by another client does not change who is offered', () => {
    const answers = new Map<number, ProbeResult>([[ip('10.201.0.100'), 'pending']]);
    const r = rig({ probe: (a) => answers.get(a) ?? 'free', probeRetryMs: 100 });
    const lent = msg(DhcpMessageType.Discover, MAC1);
    assert.equal(r.server.receive(lent, 0), undefined);
    lent.set(msg(DhcpMessageType.Discover, MAC2)); // the link hands the same buffer to the next frame
    answers.set(ip('10.201.0.100'), 'free');
    r.server.poll(100);
    assert.equal(r.sent.at(-1)!.to.mac, MAC1, 'the offer goes to the client that asked');
    assert.equal(r.sent.at(-1)!.reply.clientMac, MAC1);
  });

  test('a probe that never answers gives up: the DISCOVER is dropped, counted (the client retransmits)', () => {
    const r = rig({ probe: () => 'pending', probeRetryMs: 100, probeGiveUpMs: 1000 });
    r.send(msg(DhcpMessageType.Discover, MAC1), 0);
    for (let t = 100; t <= 1100; t += 100) r.server.poll(t);
    assert.equal(r.server.counters.probeGaveUp, 1);
    assert.equal(r.server.pending, 0);
    assert.equal(r.sent.length, 0);
  });
});

describe('expiry on the clock', () => {
  test('an unanswered offer is reaped after the offer hold; a lease at its expiry; nextDeadline says when', () => {
    const r = rig({ offerHoldMs: 60_000, scanMs: 10 * HOUR });
    const offered = r.send(msg(DhcpMessageType.Discover, MAC1), 0)!.reply.yiaddr;
    const bound = dora(r, MAC2, 1000);
    assert.equal(r.server.nextDeadline(), 60_000);
    r.server.poll(59_999);
    assert.equal(r.leases.get(offered)?.state, 'offered');
    r.server.poll(60_000);
    assert.equal(r.leases.get(offered), undefined);
    assert.equal(r.server.nextDeadline(), 1000 + HOUR);
    r.server.poll(1000 + HOUR);
    assert.equal(r.leases.get(bound), undefined);
    assert.equal(r.server.counters.expired, 2);
  });

  test('a renewal after expiry but before the reap still succeeds when no one took the address', () => {
    const r = rig({ scanMs: 10 * HOUR });
    const a = dora(r, MAC1, 0);
    assert.equal(r.send(msg(DhcpMessageType.Request, MAC1, { ciaddr: a }), HOUR + 5)!.reply.messageType, DhcpMessageType.Ack);
  });
});

describe('two branches', () => {
  /** Two servers on forks of one primary, merged back and pulled as actors do. */
  function twoServers(range: string) {
    const store = new Store([leasesTable]);
    const a = rig({ range, branch: store.main.fork('dhcp-a') });
    const b = rig({ range, branch: store.main.fork('dhcp-b') });
    const sync = () => {
      for (const r of [a, b]) { r.branch.commit({ author: r.branch.name }); store.main.merge(r.branch); }
      a.branch.pull();
      b.branch.pull();
    };
    return { store, a, b, sync };
  }

  test('racing for the last address: after the merge one client holds it, the other is NAKed on renew and gets none', () => {
    const { store, a, b, sync } = twoServers('10.201.0.100-10.201.0.100');
    const addr = dora(a, MAC1, 1000);
    assert.equal(dora(b, MAC2, 2000), addr, 'both branches gave the last address');
    sync();
    assert.equal(store.main.table(leasesTable).get(addr)?.mac, MAC1, 'the earlier holder keeps it');
    const renew = b.send(msg(DhcpMessageType.Request, MAC2, { ciaddr: addr }), 3000)!;
    assert.equal(renew.reply.messageType, DhcpMessageType.Nak);
    assert.equal(b.server.counters.nakTaken, 1);
    assert.equal(b.send(msg(DhcpMessageType.Discover, MAC2), 3001), undefined, 'no address left');
    assert.equal(a.send(msg(DhcpMessageType.Request, MAC1, { ciaddr: addr }), 3000)!.reply.messageType, DhcpMessageType.Ack);
  });

  test('racing for one address with another free: the loser retries and both end with distinct addresses', () => {
    const { store, a, b, sync } = twoServers('10.201.0.100-10.201.0.101');
    const first = dora(a, MAC1, 1000);
    assert.equal(dora(b, MAC2, 1000), first);
    sync();
    const held = new Map<number, number>();
    for (const [r, mac] of [[a, MAC1], [b, MAC2]] as const) {
      const renew = r.send(msg(DhcpMessageType.Request, mac, { ciaddr: first }), 2000)!;
      held.set(mac, renew.reply.messageType === DhcpMessageType.Ack ? first : dora(r, mac, 2001));
    }
    sync();
    assert.notEqual(held.get(MAC1), held.get(MAC2));
    const rows = [...store.main.table(leasesTable).entries()].map(([k, v]) => [k, v.mac, v.state]);
    assert.deepEqual(rows.sort(), [[first, MAC1, 'bound'], [held.get(MAC2)!, MAC2, 'bound']].sort());
  });
});

describe('hostile messages', () => {
  const DROPS = ['truncated', 'notRequest', 'badHardware', 'badCookie', 'badOptions', 'noMessageType', 'badMessageType'] as const;
  const HANDLED = ['discovers', 'requests', 'releases', 'declines', 'informs'] as const;
  /** Every message lands in exactly one drop reason or one message kind. */
  const accounted = (s: DhcpServer) => [...DROPS, ...HANDLED].reduce((n, k) => n + s.counters[k], 0);

  test('crafted: short, a reply, not Ethernet, no cookie, option overflow, option without length, no type, a server\'s type', () => {
    const r = rig();
    const good = msg(DhcpMessageType.Discover, MAC1);
    const patch = (at: number, ...bytes: number[]) => { const m = good.slice(); m.set(bytes, at); return m; };
    const cases: [Uint8Array, (typeof DROPS)[number]][] = [
      [good.subarray(0, 235), 'truncated'],
      [new Uint8Array(0), 'truncated'],
      [patch(0, BootpOp.Reply), 'notRequest'],
      [patch(2, 16), 'badHardware'],
      [patch(1, 6), 'badHardware'],
      [good.subarray(0, 239), 'badCookie'],
      [patch(236, 0, 0, 0, 0), 'badCookie'],
      [Uint8Array.of(...good.subarray(0, 240), 53, 1, 1, 12, 200, 0x41, 0x41), 'badOptions'],
      [Uint8Array.of(...good.subarray(0, 240), 53, 1, 1, 12), 'badOptions'],
      [Uint8Array.of(...good.subarray(0, 240), 53, 200, 1), 'badOptions'],
      [Uint8Array.of(...good.subarray(0, 240), 255), 'noMessageType'],
      [Uint8Array.of(...good.subarray(0, 240), 53, 2, 1, 1, 255), 'noMessageType'],
      [msg(DhcpMessageType.Offer, MAC1), 'badMessageType'],
      [msg(99, MAC1), 'badMessageType'],
    ];
    for (const [m, reason] of cases) {
      const before = r.server.counters[reason];
      assert.equal(r.send(m, 0), undefined, reason);
      assert.equal(r.server.counters[reason], before + 1, reason);
    }
    assert.equal(accounted(r.server), r.server.counters.received);
    assert.equal(r.leases.size, 0);
  });

  test('option 52 (overload) is counted and the rest of the message served', () => {
    const r = rig();
    assert.ok(r.send(msg(DhcpMessageType.Discover, MAC1, { options: [{ kind: 'raw', code: 52, data: Uint8Array.of(3) }] }), 0));
    assert.equal(r.server.counters.overloadIgnored, 1);
  });

  test('random bytes, every truncation and random corruptions of valid messages never throw, and every one is counted', () => {
    const r = rig();
    const valid = [
      msg(DhcpMessageType.Discover, MAC1, { options: [HOSTNAME('x'.repeat(200)), CLIENT_ID] }),
      msg(DhcpMessageType.Request, MAC2, { options: [sid(), want(ip('10.201.0.100')), HOSTNAME('bad name\0')] }),
      msg(DhcpMessageType.Release, MAC1, { ciaddr: ip('10.201.0.100') }),
      msg(DhcpMessageType.Decline, MAC1, { options: [want(ip('10.201.0.100'))] }),
    ];
    for (const m of valid) for (let len = 0; len <= m.length; len++) r.server.receive(m.subarray(0, len), 0);
    const corrupt = fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(400), fc.nat(255)), { maxLength: 8 }))
      .map(([m, edits]) => { const c = m.slice(); for (const [at, v] of edits) if (at < c.length) c[at] = v; return c; });
    const header = fc.uint8Array({ minLength: 240, maxLength: 600 }).map((b) => { b.set([1, 1, 6], 0); b.set([0x63, 0x82, 0x53, 0x63], 236); return b; });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), corrupt, header), fc.nat(10 * HOUR), (bytes, now) => {
      r.server.receive(bytes, now);
      r.server.poll(now);
      assert.equal(accounted(r.server), r.server.counters.received);
    }), { seed: SEED, numRuns: 3000 });
    assert.ok(DROPS.every((k) => r.server.counters[k] > 0), `every drop reason was hit: ${JSON.stringify(r.server.counters)}`);
    for (const [, row] of r.leases.entries()) assert.ok(leasesTable.value.decode(leasesTable.value.show!(row)), 'rows stay valid for the codec');
  });
});
