import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Conflict, Store, deepEqual, settle, resolveByOrder } from '../store/index.js';
import { ArpOperation, BROADCAST_MAC, parseIpv4 } from '../wire/index.js';
import { arpTable, type ArpEntry } from '../actors/iface/arp-table.js';
import { ArpCache } from '../actors/iface/arp-cache.js';
import { HostStack } from '../actors/host/host-stack.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { arpFrame, decode, echoRequestFrame } from './support/frames.js';

const ip = parseIpv4;
const ME: NetInterface = { name: 'eth0', mac: localMac(1), ip: ip('10.9.0.1'), prefix: 24 };
const PEER_MAC = 0x02_00_00_00_00_99;
const PEER = ip('10.9.0.2');

function stackOn(opts: ConstructorParameters<typeof HostStack>[3] = {}) {
  const store = new Store([arpTable]);
  const sent: Uint8Array[] = [];
  const stack = new HostStack(ME, store.main.table(arpTable), (f) => sent.push(f.slice()), opts);
  return { store, stack, sent, table: store.main.table(arpTable) };
}

// ---------------------------------------------------------------- merge properties
const entryArb: fc.Arbitrary<ArpEntry> = fc.record({
  mac: fc.constantFrom(1, 2, 3),
  expires: fc.integer({ min: 0, max: 4 }).map((x) => x * 1000),
  kind: fc.constantFrom('dynamic' as const, 'static' as const),
});
const optEntry = fc.option(entryArb, { nil: undefined });

describe('the arp merge', () => {
  test('is commutative (1,000 cases), deletion included', () => {
    fc.assert(fc.property(optEntry, optEntry, optEntry, (o, a, b) => {
      const m = arpTable.merge;
      const ab = m(() => o, a, b);
      const ba = m(() => o, b, a);
      const s = (r: typeof ab, x: typeof a, y: typeof b) => (r instanceof Conflict ? settle(r, o, x, y, resolveByOrder) : r);
      assert.ok(deepEqual(s(ab, a, b), s(ba, b, a)));
    }), { numRuns: 1000 });
  });

  test('three branches merged in every order give the same table (1,000 cases)', () => {
    const edit = fc.record({ key: fc.constantFrom(1, 2, 3), value: optEntry });
    fc.assert(fc.property(fc.array(edit, { maxLength: 4 }), fc.array(fc.array(edit, { maxLength: 4 }), { minLength: 3, maxLength: 3 }), (initial, branches) => {
      const results = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]].map((order) => {
        const s = new Store([arpTable]);
        const t = s.main.table(arpTable);
        for (const e of initial) e.value ? t.set(e.key, e.value) : t.delete(e.key);
        s.main.commit();
        const forks = branches.map((edits) => {
          const f = s.main.fork();
          const ft = f.table(arpTable);
          for (const e of edits) e.value ? ft.set(e.key, e.value) : ft.delete(e.key);
          f.commit();
          return f;
        });
        for (const i of order) s.main.merge(forks[i]);
        return [...t.entries()].sort((x, y) => x[0] - y[0]);
      });
      for (const r of results.slice(1)) assert.ok(deepEqual(r, results[0]));
    }), { numRuns: 1000 });
  });

  test('static beats dynamic, a later expiry wins, the MAC breaks ties', () => {
    const m = arpTable.merge;
    const d = (mac: number, expires: number): ArpEntry => ({ mac, expires, kind: 'dynamic' });
    assert.deepEqual(m(() => undefined, d(1, 9000), { mac: 2, expires: 0, kind: 'static' }), { mac: 2, expires: 0, kind: 'static' });
    assert.deepEqual(m(() => undefined, d(1, 9000), d(2, 5000)), d(1, 9000));
    assert.deepEqual(m(() => undefined, d(1, 5000), d(2, 5000)), d(2, 5000));
  });

  test('a refresh beats a concurrent expiry; an expiry wins where nobody refreshed', () => {
    const old = { mac: 1, expires: 1000, kind: 'dynamic' as const };
    const refreshed = { mac: 1, expires: 61_000, kind: 'dynamic' as const };
    assert.deepEqual(arpTable.merge(() => old, undefined, refreshed), refreshed);
    assert.equal(arpTable.merge(() => old, undefined, old), undefined);
  });
});

// ---------------------------------------------------------------- the cache on a simulated clock
describe('ArpCache', () => {
  test('entries expire after 60 s on a simulated clock', () => {
    const s = new Store([arpTable]);
    const c = new ArpCache(s.main.table(arpTable));
    c.learn(PEER, PEER_MAC, 1_000);
    assert.equal(c.lookup(PEER, 60_999), PEER_MAC);
    assert.equal(c.lookup(PEER, 61_000), undefined);
    assert.equal(c.expire(60_000), 0);
    assert.equal(c.expire(61_000), 1);
    assert.equal(c.size, 0);
  });

  test('learning never overwrites a static entry, and refreshes are coalesced', () => {
    const s = new Store([arpTable]);
    const t = s.main.table(arpTable);
    const c = new ArpCache(t);
    c.setStatic(PEER, 0x02_00_00_00_00_01);
    assert.equal(c.learn(PEER, PEER_MAC, 0), false);
    assert.equal(c.lookup(PEER, 10 ** 9), 0x02_00_00_00_00_01);
    c.learn(ip('10.9.0.3'), PEER_MAC, 0);
    s.main.commit();
    c.learn(ip('10.9.0.3'), PEER_MAC, 500); // within the refresh slack: no write
    assert.equal(t.work.size, 0);
    c.learn(ip('10.9.0.3'), PEER_MAC, 5_000);
    assert.equal(t.work.size, 1);
  });

  test('a flood of senders stops at the entry cap, counted', () => {
    const s = new Store([arpTable]);
    const c = new ArpCache(s.main.table(arpTable), { maxEntries: 100 });
    for (let i = 0; i < 1000; i++) c.learn(ip('10.8.0.0') + i, PEER_MAC, 0);
    assert.equal(c.size, 100);
    assert.equal(c.counters.capDropped, 900);
  });
});

// ---------------------------------------------------------------- the host behaviour
describe('ARP as a host does it', () => {
  test('answers a broadcast request for our address and learns the asker', () => {
    const { stack, sent, table } = stackOn();
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: ME.ip })], 1000);
    assert.equal(sent.length, 1);
    const r = decode(sent[0]);
    assert.equal(r.ethernet.dst, PEER_MAC);
    assert.ok(r.network.kind === 'arp');
    assert.equal(r.network.arp.operation, ArpOperation.Reply);
    assert.equal(r.network.arp.senderMac, ME.mac);
    assert.equal(r.network.arp.senderIp, ME.ip);
    assert.equal(r.network.arp.targetIp, PEER);
    assert.equal(table.get(PEER)?.mac, PEER_MAC);
  });

  test('answers a unicast re-probe (what the kernel sends a stale neighbour)', () => {
    const { stack, sent } = stackOn();
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: ME.ip, dst: ME.mac, targetMac: ME.mac })], 0);
    assert.equal(sent.length, 1);
    assert.equal(stack.arp.counters.requestsAnswered, 1);
  });

  test('ignores requests for other addresses, but lets them update a known entry', () => {
    const { stack, sent, table } = stackOn();
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: ip('10.9.0.77') })], 0);
    assert.equal(sent.length, 0);
    assert.equal(table.get(PEER), undefined);
    stack.cache.learn(PEER, 0x02_00_00_00_00_01, 0);
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: ip('10.9.0.77') })], 5000);
    assert.equal(table.get(PEER)?.mac, PEER_MAC);
  });

  test('accepts gratuitous ARP for known neighbours, sends its own announcement', () => {
    const { stack, sent, table } = stackOn();
    stack.cache.learn(PEER, 0x02_00_00_00_00_01, 0);
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: PEER })], 10);
    assert.equal(table.get(PEER)?.mac, PEER_MAC);
    assert.equal(stack.arp.counters.gratuitous, 1);
    stack.arp.announce();
    const a = decode(sent[0]);
    assert.equal(a.ethernet.dst, BROADCAST_MAC);
    assert.ok(a.network.kind === 'arp' && a.network.arp.senderIp === ME.ip && a.network.arp.targetIp === ME.ip);
  });

  test('while not active (a failover backup): answers no request or probe, sends no request or announcement, still learns', () => {
    const { stack, sent, table } = stackOn();
    let active = false;
    stack.arp.active = () => active;
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: ME.ip })], 0);
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: 0, targetIp: ME.ip })], 0);
    stack.arp.sendRequest(ip('10.9.0.50'));
    stack.arp.announce();
    assert.equal(sent.length, 0);
    assert.equal(table.get(PEER)?.mac, PEER_MAC, 'the request taught it the sender');
    assert.equal(stack.arp.counters.silenced, 4);
    assert.equal(stack.arp.counters.requestsAnswered + stack.arp.counters.probesAnswered + stack.arp.counters.requestsSent + stack.arp.counters.announcements, 0);
    active = true;
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: ME.ip })], 10);
    assert.equal(sent.length, 1);
    assert.equal(stack.arp.counters.requestsAnswered, 1);
  });

  test('answers an address probe (sender 0.0.0.0) without learning', () => {
    const { stack, sent, table } = stackOn();
    stack.receive([arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: 0, targetIp: ME.ip })], 0);
    assert.equal(sent.length, 1);
    assert.equal(table.size, 0);
  });

  test('resolves a next hop: queues, retries at 1 s, sends on reply', () => {
    const { stack, sent } = stackOn();
    stack.sendUdp(PEER, 5000, 6000, new Uint8Array([1, 2, 3]), 0);
    stack.sendUdp(PEER, 5000, 6000, new Uint8Array([4]), 10);
    assert.equal(sent.length, 1); // one request for both
    stack.poll(999);
    assert.equal(sent.length, 1);
    stack.poll(1000);
    assert.equal(sent.length, 2); // retried
    stack.receive([arpFrame({ op: 'reply', srcMac: PEER_MAC, senderIp: PEER, targetIp: ME.ip, targetMac: ME.mac })], 1200);
    assert.equal(sent.length, 4);
    const udp = decode(sent[2]);
    assert.equal(udp.ethernet.dst, PEER_MAC);
    assert.ok(udp.network.kind === 'ipv4' && udp.network.transport.kind === 'udp');
    assert.equal(stack.arp.counters.repliesLearned, 1);
  });

  test('a next hop that never answers fails after bounded retries and hands its frames back', () => {
    const { stack, sent } = stackOn({ resolver: { maxTries: 3, retryMs: 1000 } });
    const failed: number[] = [];
    stack.arp.onUnreachable = (addr, frames) => failed.push(addr, frames.length);
    stack.sendUdp(PEER, 1, 2, new Uint8Array(1), 0);
    for (let t = 0; t <= 5000; t += 100) stack.poll(t);
    assert.equal(sent.length, 3);
    assert.deepEqual(failed, [PEER, 1]);
    assert.equal(stack.arp.resolver.counters.failed, 1);
  });

  test('pending resolutions are capped, counted', () => {
    const { stack } = stackOn({ resolver: { maxPending: 4 } });
    for (let i = 0; i < 10; i++) stack.sendUdp(ip('10.9.0.100') + i, 1, 2, new Uint8Array(1), 0);
    assert.equal(stack.arp.resolver.pendingCount, 4);
    assert.equal(stack.arp.resolver.counters.pendingRefused, 6);
  });

  test('malformed ARP is counted, never thrown', () => {
    const { stack } = stackOn();
    const f = arpFrame({ op: 'request', srcMac: PEER_MAC, senderIp: PEER, targetIp: ME.ip });
    stack.receive([f.subarray(0, 20), f.subarray(0, 14)], 0);
    assert.equal(stack.arp.counters.malformed, 2);
  });

  test('answers a broadcast ping from its own address, checksums right', () => {
    const { stack, sent } = stackOn();
    stack.receive([echoRequestFrame({ srcMac: PEER_MAC, dstMac: BROADCAST_MAC, src: PEER, dst: 0xffff_ffff, seq: 9 })], 0);
    assert.equal(sent.length, 1);
    const r = decode(sent[0]); // decode verifies every checksum
    assert.ok(r.network.kind === 'ipv4');
    assert.equal(r.network.ipv4.src, ME.ip);
    assert.equal(r.network.ipv4.dst, PEER);
  });

  test('answers ping in place with correct checksums', () => {
    const { stack, sent } = stackOn();
    stack.receive([echoRequestFrame({ srcMac: PEER_MAC, dstMac: ME.mac, src: PEER, dst: ME.ip, seq: 5 })], 0);
    assert.equal(sent.length, 1);
    const r = decode(sent[0]);
    assert.ok(r.network.kind === 'ipv4' && r.network.transport.kind === 'icmpv4');
    assert.equal(r.network.ipv4.dst, PEER);
    assert.equal(r.network.transport.icmp.type, 0);
    assert.equal(r.ethernet.dst, PEER_MAC);
  });
});
