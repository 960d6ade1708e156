// The router's DHCP client (actors/dhcp/dhcp-client.ts) on a simulated clock against a tiny in-test
// DHCP server: DORA, renew at T1 (unicast), rebind at T2 (broadcast), expiry, NAK, address changes,
// INIT-REBOOT, §4.1 backoff; hostile replies counted; and the `dhcp-client` table's merge.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store } from '../store/index.js';
import { BootpOp, DhcpMessageType, DhcpPacket, DhcpRepr, parseIpv4, type DhcpOption } from '../wire/index.js';
import { prng } from '../actors/sim/prng.js';
import { DhcpClient, type DhcpDatagram } from '../actors/dhcp/dhcp-client.js';
import { clientLeaseTable, type ClientLease } from '../actors/dhcp/client-lease-table.js';

const ip = parseIpv4;
const MAC = 0x02_6e_00_00_01_02;
const SERVER = ip('10.202.0.254');
const BROADCAST = 0xffff_ffff;
const S = 1000;
const SEED = Number(process.env.NB_SEED ?? 15);

/** A DHCP server in a few lines: one address per client from `pool`, NAK for any other address. */
class TinyServer {
  leaseSeconds = 600;
  /** Drops everything (a server that went away). */
  silent = false;
  /** Drops unicast (the server moved: renewals to its old address go nowhere). */
  deafToUnicast = false;
  /** An ACK for a rebinding REQUEST names this address instead (a server that moves the client). */
  rebindTo = 0;
  readonly seen: { type: number; dst: number; src: number; ciaddr: number; requested?: number; server?: number; at: number }[] = [];
  private readonly given = new Map<number, number>();

  constructor(public pool: number[]) {}

  /** Another range (dnsmasq restarted with a new --dhcp-range): old leases are forgotten. */
  renumber(pool: number[]): void {
    this.pool = pool;
    this.given.clear();
  }

  answer(d: DhcpDatagram, at: number): Uint8Array[] {
    const m = DhcpRepr.parse(DhcpPacket.newChecked(d.payload));
    this.seen.push({ type: m.messageType!, dst: d.dst, src: d.src, ciaddr: m.ciaddr, requested: m.requestedIp, server: m.serverId, at });
    if (this.silent || (this.deafToUnicast && d.dst !== BROADCAST)) return [];
    if (m.serverId !== undefined && m.serverId !== SERVER) return [];
    const mine = this.given.get(m.clientMac) ?? this.pool[0];
    if (m.messageType === DhcpMessageType.Discover) return [this.reply(m, DhcpMessageType.Offer, mine)];
    if (m.messageType !== DhcpMessageType.Request) return [];
    const wanted = m.requestedIp ?? m.ciaddr;
    if (!this.pool.includes(wanted)) return [this.reply(m, DhcpMessageType.Nak, 0)];
    const to = this.rebindTo !== 0 && d.dst === BROADCAST && m.ciaddr !== 0 ? this.rebindTo : wanted;
    this.given.set(m.clientMac, to);
    return [this.reply(m, DhcpMessageType.Ack, to)];
  }

  private reply(m: DhcpRepr, type: number, yiaddr: number): Uint8Array {
    const options: DhcpOption[] = [{ kind: 'message-type', value: type }, { kind: 'server-id', address: SERVER }];
    if (type !== DhcpMessageType.Nak) {
      options.push({ kind: 'lease-time', seconds: this.leaseSeconds }, { kind: 'subnet-mask', mask: ip('255.255.255.0') });
      options.push({ kind: 'router', addresses: [SERVER] }, { kind: 'dns', addresses: [ip('10.202.0.53'), ip('10.202.0.54')] });
    }
    options.push({ kind: 'end' });
    const r = new DhcpRepr({ op: BootpOp.Reply, xid: m.xid, chaddr: m.chaddr, yiaddr, siaddr: SERVER, flags: m.flags, options });
    const out = new Uint8Array(r.bufferLen());
    r.emit(DhcpPacket.newUnchecked(out));
    return out;
  }
}

/** The client and the server on one simulated clock; datagrams arrive at once. */
function rig(pool = [ip('10.202.0.100')]) {
  const server = new TinyServer(pool);
  const events: string[] = [];
  const outbox: DhcpDatagram[] = [];
  const client = new DhcpClient({ mac: MAC, random: prng(SEED), send: (d) => outbox.push(d) });
  const show = (l: ClientLease) => parseIpv4Text(l.ip);
  client.onBound = (l) => events.push(`bound ${show(l)}`);
  client.onLost = (l) => events.push(`lost ${show(l)}`);
  client.onChanged = (o, n) => events.push(`changed ${show(o)} -> ${show(n)}`);
  const sim = {
    now: 0, client, server, events,
    deliver(): void {
      for (let guard = 0; outbox.length > 0 && guard < 100; guard++) {
        for (const reply of server.answer(outbox.shift()!, sim.now)) client.receive(reply, sim.now);
      }
    },
    /** Runs every timer due up to `until`. */
    runUntil(until: number): void {
      for (let guard = 0; client.nextDeadline() <= until && guard < 10_000; guard++) {
        sim.now = Math.max(sim.now, client.nextDeadline());
        client.poll(sim.now);
        sim.deliver();
      }
      sim.now = until;
    },
    start(stored?: ClientLease): void {
      client.start(sim.now, stored);
      sim.runUntil(sim.now);
    },
  };
  return sim;
}

function parseIpv4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const MSG = { 1: 'discover', 3: 'request', 7: 'release' } as Record<number, string>;
const kinds = (seen: TinyServer['seen']) => seen.map((s) => `${MSG[s.type] ?? s.type} ${s.dst === BROADCAST ? 'broadcast' : 'unicast'}`);

describe('DhcpClient on a simulated clock (seed NB_SEED=' + SEED + ')', () => {
  test('DORA binds the offered address: DISCOVER and REQUEST broadcast from 0.0.0.0, T1 = 0.5, T2 = 0.875 of the lease', () => {
    const s = rig();
    s.start();
    assert.equal(s.client.state, 'bound');
    assert.deepEqual(kinds(s.server.seen), ['discover broadcast', 'request broadcast']);
    assert.ok(s.server.seen.every((m) => m.src === 0));
    assert.equal(s.server.seen[1].requested, ip('10.202.0.100'));
    assert.equal(s.server.seen[1].server, SERVER);
    const l = s.client.lease!;
    assert.equal(l.ip, ip('10.202.0.100'));
    assert.equal(l.prefix, 24);
    assert.equal(l.gateway, SERVER);
    assert.deepEqual(l.dns, [ip('10.202.0.53'), ip('10.202.0.54')]);
    assert.equal(l.renewAt, 300 * S);
    assert.equal(l.rebindAt, 525 * S);
    assert.equal(l.expires, 600 * S);
    assert.deepEqual(s.events, ['bound 10.202.0.100']);
  });

  test('at T1 it renews by unicast to the server, ciaddr set, and the lease is extended from then', () => {
    const s = rig();
    s.start();
    s.runUntil(300 * S);
    assert.deepEqual(kinds(s.server.seen).slice(2), ['request unicast']);
    const renew = s.server.seen[2];
    assert.equal(renew.at, 300 * S);
    assert.equal(renew.dst, SERVER);
    assert.equal(renew.src, ip('10.202.0.100'));
    assert.equal(renew.ciaddr, ip('10.202.0.100'));
    assert.equal(renew.server, undefined);
    assert.equal(s.client.state, 'bound');
    assert.equal(s.client.lease!.expires, 900 * S);
    assert.deepEqual(s.events, ['bound 10.202.0.100', 'bound 10.202.0.100']);
  });

  test('with no answer to renewals it retries at half the time to T2 (at least 60 s), then rebinds by broadcast at T2', () => {
    const s = rig();
    s.start();
    s.server.deafToUnicast = true;
    s.runUntil(525 * S);
    const later = s.server.seen.slice(2);
    // T1 = 300 s, T2 = 525 s: retries at 300 + 112.5 = 412.5 s, then 412.5 + 60 = 472.5 s, then T2.
    assert.deepEqual(later.map((m) => m.at), [300 * S, 412.5 * S, 472.5 * S, 525 * S]);
    assert.deepEqual(kinds(later), ['request unicast', 'request unicast', 'request unicast', 'request broadcast']);
    assert.equal(later[3].ciaddr, ip('10.202.0.100'));
    assert.equal(s.client.state, 'bound'); // the broadcast reached the server, which answered
    assert.equal(s.client.lease!.expires, 525 * S + 600 * S);
  });

  test('a lease nobody renews expires: onLost, then INIT broadcasts a DISCOVER at once', () => {
    const s = rig();
    s.start();
    s.server.silent = true;
    s.runUntil(600 * S - 1);
    assert.equal(s.client.state, 'rebinding');
    s.runUntil(600 * S);
    assert.equal(s.client.state, 'selecting');
    assert.equal(s.client.lease, null);
    assert.equal(s.client.counters.expired, 1);
    assert.deepEqual(s.events, ['bound 10.202.0.100', 'lost 10.202.0.100']);
    const last = s.server.seen.at(-1)!;
    assert.equal(last.type, DhcpMessageType.Discover);
    assert.equal(last.at, 600 * S);
    assert.equal(last.dst, BROADCAST);
  });

  test('a NAK on renewal loses the lease; the new DORA on a new range reports the change old -> new', () => {
    const s = rig();
    s.start();
    s.server.renumber([ip('10.202.0.150')]);
    s.runUntil(300 * S);
    assert.equal(s.client.counters.naks, 1);
    assert.equal(s.client.state, 'bound');
    assert.equal(s.client.lease!.ip, ip('10.202.0.150'));
    assert.deepEqual(s.events, ['bound 10.202.0.100', 'lost 10.202.0.100', 'bound 10.202.0.150', 'changed 10.202.0.100 -> 10.202.0.150']);
    assert.deepEqual(kinds(s.server.seen).slice(2), ['request unicast', 'discover broadcast', 'request broadcast']);
  });

  test('an address change on rebind (the server moved: renewals unanswered, the broadcast NAKed) triggers onChanged', () => {
    const s = rig();
    s.start();
    s.server.deafToUnicast = true;
    s.server.renumber([ip('10.202.0.170')]);
    s.runUntil(525 * S);
    assert.equal(s.client.lease!.ip, ip('10.202.0.170'));
    assert.deepEqual(s.events.slice(1), ['lost 10.202.0.100', 'bound 10.202.0.170', 'changed 10.202.0.100 -> 10.202.0.170']);
    assert.equal(s.client.lease!.obtained, 525 * S);
  });

  test('an ACK to a rebinding request naming another address binds it and reports the change', () => {
    const s = rig([ip('10.202.0.100'), ip('10.202.0.180')]);
    s.start();
    s.server.deafToUnicast = true;
    s.server.rebindTo = ip('10.202.0.180');
    s.runUntil(525 * S);
    assert.equal(s.client.state, 'bound');
    assert.equal(s.client.lease!.ip, ip('10.202.0.180'));
    assert.deepEqual(s.events.slice(1), ['bound 10.202.0.180', 'changed 10.202.0.100 -> 10.202.0.180']);
  });

  test('DISCOVER retransmissions back off per RFC 2131 §4.1: 4, 8, 16, 32, 64, 64 s, each within ±1 s', () => {
    const s = rig();
    s.server.silent = true;
    s.start();
    s.runUntil(400 * S);
    const at = s.server.seen.map((m) => m.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    const base = [4, 8, 16, 32, 64, 64, 64];
    for (let i = 0; i < base.length; i++) assert.ok(Math.abs(gaps[i] - base[i] * S) <= S, `gap ${i}: ${gaps[i]} ms, expected ${base[i]} s ± 1 s`);
    assert.ok(s.server.seen.every((m) => m.type === DhcpMessageType.Discover));
    assert.equal(s.client.state, 'selecting');
  });

  test('a REQUEST nobody answers is retried 4 times, then the client starts over from INIT', () => {
    const s = rig();
    const answer = s.server.answer.bind(s.server);
    // Offers come, acknowledgements never (a server that lost its lease database mid-exchange).
    s.server.answer = (d, at) => (DhcpRepr.parse(DhcpPacket.newChecked(d.payload)).messageType === DhcpMessageType.Discover ? answer(d, at) : (s.server.seen.push({ type: 3, dst: d.dst, src: d.src, ciaddr: 0, at }), []));
    s.start();
    s.runUntil(140 * S); // 4 + 8 + 16 + 32 s of retries, then 64 s for the last answer, each ±1 s
    assert.deepEqual(kinds(s.server.seen).slice(0, 7), ['discover broadcast', 'request broadcast', 'request broadcast', 'request broadcast', 'request broadcast', 'request broadcast', 'discover broadcast']);
    assert.equal(s.client.lease, null);
  });

  test('INIT-REBOOT from a stored lease asks for its address by broadcast with no server id; the ACK binds it', () => {
    const first = rig();
    first.start();
    const stored = first.client.lease!;
    const s = rig();
    s.now = 100 * S;
    s.start(stored);
    assert.deepEqual(kinds(s.server.seen), ['request broadcast']);
    assert.equal(s.server.seen[0].requested, stored.ip);
    assert.equal(s.server.seen[0].server, undefined);
    assert.equal(s.server.seen[0].ciaddr, 0);
    assert.equal(s.client.state, 'bound');
    assert.deepEqual(s.events, ['bound 10.202.0.100']);
  });

  test('INIT-REBOOT NAKed (the network changed while we were down): lost, then DORA to a new address, reported as a change', () => {
    const first = rig();
    first.start();
    const s = rig([ip('10.202.0.190')]);
    s.start(first.client.lease!);
    assert.equal(s.client.lease!.ip, ip('10.202.0.190'));
    assert.deepEqual(s.events, ['lost 10.202.0.100', 'bound 10.202.0.190', 'changed 10.202.0.100 -> 10.202.0.190']);
  });

  test('release unicasts a RELEASE to the server and stops the client', () => {
    const s = rig();
    s.start();
    s.client.release(s.now);
    s.deliver();
    assert.deepEqual(kinds(s.server.seen).slice(2), ['release unicast']);
    assert.equal(s.client.state, 'init');
    assert.equal(s.client.nextDeadline(), Infinity);
  });
});

describe('DhcpClient: hostile and foreign replies', () => {
  test('foreign replies are counted by reason and change nothing', () => {
    const s = rig();
    s.server.silent = true;
    s.start();
    const good = (edit: (r: DhcpRepr) => void): Uint8Array => {
      const xid = s.client['xid'] as number;
      const r = new DhcpRepr({ op: BootpOp.Reply, xid, clientMac: MAC, yiaddr: ip('10.202.0.9'), options: [{ kind: 'message-type', value: DhcpMessageType.Offer }, { kind: 'server-id', address: SERVER }, { kind: 'end' }] });
      edit(r);
      const out = new Uint8Array(r.bufferLen());
      r.emit(DhcpPacket.newUnchecked(out));
      return out;
    };
    s.client.receive(new Uint8Array(100), s.now);
    s.client.receive(good((r) => { r.op = BootpOp.Request; }), s.now);
    s.client.receive(good((r) => { r.xid ^= 1; }), s.now);
    s.client.receive(good((r) => { r.chaddr = new Uint8Array(16); }), s.now);
    s.client.receive(good((r) => { r.options = [{ kind: 'end' }]; }), s.now);
    s.client.receive(good((r) => { r.options = [{ kind: 'message-type', value: DhcpMessageType.Offer }, { kind: 'end' }]; }), s.now);
    s.client.receive(good((r) => { r.options = [{ kind: 'message-type', value: DhcpMessageType.Ack }, { kind: 'end' }]; }), s.now);
    const truncated = good(() => {});
    truncated[truncated.length - 1] = 51; // the End option becomes a lease-time option with no length
    s.client.receive(truncated, s.now);
    const c = s.client.counters;
    assert.deepEqual([c.malformed, c.notReply, c.wrongXid, c.wrongClient, c.noMessageType, c.badOffer, c.unexpected], [2, 1, 1, 1, 1, 1, 1]);
    assert.equal(s.client.state, 'selecting');
  });

  test('random bytes never throw and never bind (2,000 cases)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 599 }), (bytes, at) => {
      const s = rig();
      s.server.silent = true;
      s.start();
      // Half the cases look like ours (op, hlen, xid, chaddr, cookie right) so the option parser is reached.
      if (bytes.length >= 240 && at % 2 === 0) {
        const p = DhcpPacket.newUnchecked(bytes);
        p.op = BootpOp.Reply; p.hlen = 6; p.xid = s.client['xid'] as number;
        bytes.set([0x02, 0x6e, 0x00, 0x00, 0x01, 0x02], 28);
        bytes.set([0x63, 0x82, 0x53, 0x63], 236);
      }
      s.client.receive(bytes, s.now);
      assert.notEqual(s.client.state, 'bound');
    }), { numRuns: 2000, seed: SEED });
  });
});

describe('the dhcp-client table', () => {
  const lease = (ip4: string, obtained: number): ClientLease => ({
    ip: ip(ip4), prefix: 24, gateway: SERVER, dns: [ip('10.202.0.53')], server: SERVER, leaseSeconds: 600,
    obtained, renewAt: obtained + 300 * S, rebindAt: obtained + 525 * S, expires: obtained + 600 * S, state: 'bound',
  });

  /** The row on two forks of main, merged back in `order`: what main holds after. */
  function race(edit: (b: ReturnType<Store['main']['fork']>, c: ReturnType<Store['main']['fork']>) => void, order: 0 | 1): ClientLease | undefined {
    const store = new Store([clientLeaseTable]);
    store.main.table(clientLeaseTable).set('tap-out', lease('10.202.0.100', 1000));
    store.main.commit({ message: 'lease' });
    const b = store.main.fork('b'), c = store.main.fork('c');
    edit(b, c);
    b.commit({ message: 'b' });
    c.commit({ message: 'c' });
    for (const x of order === 0 ? [b, c] : [c, b]) store.main.merge(x);
    return store.main.table(clientLeaseTable).get('tap-out');
  }

  test('the lease obtained later wins the merge in either order (an operator edit made now beats the client\'s older renewal)', () => {
    for (const order of [0, 1] as const) {
      const got = race((b, c) => {
        b.table(clientLeaseTable).set('tap-out', lease('10.202.0.100', 301_000)); // the client renewed
        c.table(clientLeaseTable).set('tap-out', lease('10.202.0.7', 400_000)); // the operator set an address later
      }, order);
      assert.equal(got!.ip, ip('10.202.0.7'), `order ${order}`);
    }
  });

  test('a deletion loses to a concurrent renewal; the row round-trips through its readable form', () => {
    for (const order of [0, 1] as const) {
      const got = race((b, c) => {
        b.table(clientLeaseTable).delete('tap-out');
        c.table(clientLeaseTable).set('tap-out', lease('10.202.0.100', 301_000));
      }, order);
      assert.equal(got?.obtained, 301_000, `order ${order}`);
    }
    const row = lease('10.202.0.100', 5);
    const shown = JSON.parse(JSON.stringify(clientLeaseTable.value.show!(row)));
    assert.equal(shown.ip, '10.202.0.100');
    assert.deepEqual(shown.dns, ['10.202.0.53']);
    assert.deepEqual(clientLeaseTable.value.decode(shown), row);
  });
});
