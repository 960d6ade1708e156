import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualRouter, type VirtualRouterAction, type VirtualRouterConfig } from '../actors/router/virtual-router.js';
import { VrrpRepr } from '../wire/vrrp.js';

const VIP = 0x0a0000fe; // 10.0.0.254, the shared address
const A_IP = 0x0a000001; // 10.0.0.1
const B_IP = 0x0a000002; // 10.0.0.2

function router(init: Partial<VirtualRouterConfig> = {}): VirtualRouter {
  return new VirtualRouter({ vrid: 7, priority: 100, addresses: [VIP], primaryIp: A_IP, ...init });
}

/** An advertisement as it arrives from `src` (TTL 255 unless told). */
function advert(priority: number, src = B_IP, init: { interval?: number; ttl?: number; vrid?: number } = {}) {
  return { repr: new VrrpRepr({ vrid: init.vrid ?? 7, priority, maxAdverInterval: init.interval ?? 100, addresses: [VIP] }), src, ttl: init.ttl ?? 255 };
}

const kinds = (actions: VirtualRouterAction[]): string[] => actions.map((a) => a.kind);
const advertised = (actions: VirtualRouterAction[]): number[] =>
  actions.flatMap((a) => (a.kind === 'advertise' ? [a.repr.priority] : []));

/**
 * Routers sharing one link on a simulated clock: each step runs to the earliest deadline, polls every router, and hands
 * each advertisement to the others with the sender's primary address. Bounded by `until` and a step cap.
 */
function runLink(routers: { r: VirtualRouter; ip: number; up: boolean }[], from: number, until: number): number {
  let now = from;
  for (let steps = 0; steps < 10_000; steps++) {
    const next = Math.min(...routers.filter((x) => x.up).map((x) => x.r.nextDeadline()));
    if (!(next <= until)) return until;
    now = next;
    for (const sender of routers) {
      if (!sender.up) continue;
      for (const a of sender.r.poll(now)) {
        if (a.kind !== 'advertise') continue;
        for (const other of routers) if (other !== sender && other.up) other.r.receive({ repr: a.repr, src: sender.ip, ttl: 255 }, now);
      }
    }
  }
  throw new Error('link ran more than 10000 steps');
}

describe('VRRP virtual router (RFC 5798 §6.4)', () => {
  test('the timers follow §6.1: Skew_Time and Master_Down_Interval from priority and interval', () => {
    const r = router({ priority: 100 });
    assert.equal(r.skewTime, (156 * 100 * 10) / 256); // 609.375 ms
    assert.equal(r.masterDownInterval, 3000 + 609.375);
    assert.equal(router({ priority: 254 }).skewTime, (2 * 1000) / 256);
  });

  test('the address owner becomes master at startup and advertises every interval', () => {
    const r = router({ priority: 255 });
    const first = r.startup(0);
    assert.deepEqual(kinds(first), ['advertise', 'master']);
    assert.deepEqual(first[1], { kind: 'master', announce: [VIP] });
    assert.equal(r.state, 'master');
    const times: number[] = [];
    for (let now = 0; now <= 5000; now += 50) {
      const out = r.poll(now);
      if (out.length > 0) { assert.deepEqual(advertised(out), [255]); times.push(now); }
    }
    assert.deepEqual(times, [1000, 2000, 3000, 4000, 5000]);
  });

  test('the advertisement carries the VRID, priority, interval and addresses', () => {
    const r = router({ priority: 255, advertisementInterval: 50 });
    const a = r.startup(0)[0];
    assert.ok(a.kind === 'advertise');
    assert.deepEqual(a.repr, new VrrpRepr({ vrid: 7, priority: 255, maxAdverInterval: 50, addresses: [VIP] }));
    assert.equal(r.nextDeadline(), 500);
  });

  test('a backup takes over after Master_Down_Interval without adverts, and not before', () => {
    const r = router({ priority: 100 });
    assert.deepEqual(kinds(r.startup(0)), ['backup']);
    assert.equal(r.nextDeadline(), 3609.375);
    assert.deepEqual(r.poll(3609), []);
    assert.equal(r.state, 'backup');
    const out = r.poll(3609.375);
    assert.deepEqual(kinds(out), ['advertise', 'master']);
    assert.deepEqual(out[1], { kind: 'master', announce: [VIP] });
    assert.equal(r.state, 'master');
    assert.equal(r.nextDeadline(), 3609.375 + 1000);
  });

  test('adverts from a master keep a backup down; it takes over Master_Down_Interval after the last one', () => {
    const r = router({ priority: 100 });
    r.startup(0);
    for (let now = 1000; now <= 10_000; now += 1000) {
      assert.deepEqual(r.poll(now), []);
      r.receive(advert(150), now);
    }
    assert.equal(r.state, 'backup');
    assert.deepEqual(r.poll(10_000 + 3609), []);
    assert.deepEqual(kinds(r.poll(10_000 + 3609.375)), ['advertise', 'master']);
  });

  test("a backup times the master by the master's interval", () => {
    const r = router({ priority: 100, advertisementInterval: 100 });
    r.startup(0);
    r.receive(advert(150, B_IP, { interval: 20 }), 0);
    assert.equal(r.nextDeadline(), 3 * 200 + (156 * 200) / 256);
  });

  test('an advertisement with TTL other than 255, or for another VRID, is dropped and counted', () => {
    const r = router({ priority: 100 });
    r.startup(0);
    r.receive(advert(150, B_IP, { ttl: 254 }), 3000);
    r.receive(advert(150, B_IP, { vrid: 8 }), 3000);
    assert.equal(r.counters.badTtl, 1);
    assert.equal(r.counters.otherVrid, 1);
    assert.equal(r.nextDeadline(), 3609.375, 'neither restarted the Master_Down_Timer');
  });

  test('with preemption a higher-priority backup takes over from a lower-priority master', () => {
    const low = router({ priority: 100, primaryIp: A_IP });
    const high = router({ priority: 200, primaryIp: B_IP, preempt: true });
    const link = [{ r: low, ip: A_IP, up: true }, { r: high, ip: B_IP, up: false }];
    low.startup(0);
    runLink(link, 0, 10_000);
    assert.equal(low.state, 'master');
    link[1].up = true;
    high.startup(10_000);
    runLink(link, 10_000, 30_000);
    assert.equal(high.state, 'master');
    assert.equal(low.state, 'backup');
    assert.ok(high.counters.ignored >= 3, 'the low master was heard and ignored');
  });

  test('without preemption a higher-priority backup stays backup', () => {
    const low = router({ priority: 100, primaryIp: A_IP });
    const high = router({ priority: 200, primaryIp: B_IP, preempt: false });
    const link = [{ r: low, ip: A_IP, up: true }, { r: high, ip: B_IP, up: false }];
    low.startup(0);
    runLink(link, 0, 10_000);
    link[1].up = true;
    high.startup(10_000);
    runLink(link, 10_000, 30_000);
    assert.equal(low.state, 'master');
    assert.equal(high.state, 'backup');
    assert.equal(high.counters.becameMaster, 0);
  });

  test('the backup takes over when the master dies, and the master can come back as backup', () => {
    const a = router({ priority: 200, primaryIp: A_IP, preempt: false });
    const b = router({ priority: 100, primaryIp: B_IP });
    const link = [{ r: a, ip: A_IP, up: true }, { r: b, ip: B_IP, up: true }];
    a.startup(0);
    runLink(link, 0, 4000); // a's Master_Down_Interval (3 218.75 ms) passes alone: a is master and advertises from then
    b.startup(4000);
    runLink(link, 4000, 20_000);
    assert.deepEqual([a.state, b.state], ['master', 'backup']);
    link[0].up = false; // a dies without a word: its last advert was at 19 218.75 ms (every 1 s from 3 218.75)
    assert.equal(b.nextDeadline(), 19_218.75 + 3000 + 609.375);
    runLink(link, 20_000, 30_000);
    assert.equal(b.state, 'master');
    // a restarts: without preemption it hears b and stays backup.
    link[0].up = true;
    assert.deepEqual(kinds(a.shutdown()), ['advertise', 'backup']); // the state a died in is dropped
    a.startup(30_000);
    runLink(link, 30_000, 60_000);
    assert.deepEqual([a.state, b.state], ['backup', 'master']);
  });

  test('priority 0 from a master makes the backup take over after Skew_Time', () => {
    const master = router({ priority: 255, primaryIp: A_IP });
    const backup = router({ priority: 100, primaryIp: B_IP });
    master.startup(0);
    backup.startup(0);
    backup.receive(advert(255, A_IP), 0);
    const leaving = master.shutdown();
    assert.deepEqual(advertised(leaving), [0]);
    assert.deepEqual(kinds(leaving), ['advertise', 'backup']);
    assert.equal(master.state, 'initialize');
    assert.equal(master.nextDeadline(), Infinity);
    const at = 5000;
    backup.receive(advert(0, A_IP), at);
    assert.deepEqual(backup.poll(at + 609), []);
    assert.deepEqual(kinds(backup.poll(at + 609.375)), ['advertise', 'master']);
  });

  test('a master that hears another leaving advertises at once', () => {
    const r = router({ priority: 255 });
    r.startup(0);
    assert.deepEqual(advertised(r.receive(advert(0), 400)), [255]);
    assert.equal(r.nextDeadline(), 1400);
  });

  test('two masters meeting: the higher priority stays master', () => {
    const a = router({ priority: 150, primaryIp: A_IP });
    const b = router({ priority: 120, primaryIp: B_IP });
    for (const r of [a, b]) { r.startup(0); r.poll(r.nextDeadline()); }
    assert.deepEqual([a.state, b.state], ['master', 'master']);
    assert.deepEqual(a.receive(advert(120, B_IP), 5000), []);
    assert.deepEqual(kinds(b.receive(advert(150, A_IP), 5000)), ['backup']);
    assert.deepEqual([a.state, b.state], ['master', 'backup']);
  });

  test('two masters of equal priority: the higher primary address stays master', () => {
    const a = router({ priority: 150, primaryIp: A_IP });
    const b = router({ priority: 150, primaryIp: B_IP });
    for (const r of [a, b]) { r.startup(0); r.poll(r.nextDeadline()); }
    assert.deepEqual(kinds(a.receive(advert(150, B_IP), 5000)), ['backup']);
    assert.deepEqual(b.receive(advert(150, A_IP), 5000), []);
    assert.deepEqual([a.state, b.state], ['backup', 'master']);
    // Compared unsigned: 200.0.0.1 is above 10.0.0.2.
    const high = router({ priority: 150, primaryIp: 0xc8000001 });
    high.startup(0);
    high.poll(high.nextDeadline());
    assert.deepEqual(high.receive(advert(150, B_IP), 5000), []);
    assert.equal(high.state, 'master');
  });

  test('a configuration the wire cannot carry fails at construction', () => {
    assert.throws(() => router({ priority: 0 }), /priority 0/);
    assert.throws(() => router({ vrid: 0 }), /vrrp vrid: bad value/);
    assert.throws(() => router({ advertisementInterval: 5000 }), /max advertise interval: bad value/);
  });
});
