import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newLinkCounters, type FrameBatchHandler, type Link } from '../wire/link/link.js';
import { MacTable, VirtualSwitch } from '../wire/link/virtual-switch.js';

/** A port whose traffic the test drives by hand: `inject` plays frames arriving, `sent` collects what the switch sent. */
class ScriptedLink implements Link {
  readonly counters = newLinkCounters();
  readonly sent: Uint8Array[] = [];
  handler: FrameBatchHandler | null = null;
  closed = false;
  constructor(readonly name: string) {}
  send(frame: Uint8Array): boolean {
    this.sent.push(frame.slice());
    this.counters.txFrames++;
    return true;
  }
  onFrames(handler: FrameBatchHandler | null): void {
    this.handler = handler;
  }
  close(): void {
    this.closed = true;
  }
  inject(...frames: Uint8Array[]): void {
    this.handler?.(frames);
  }
  take(): Uint8Array[] {
    return this.sent.splice(0);
  }
}

const BCAST = 'ff:ff:ff:ff:ff:ff';

function mac(n: number): string {
  return `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
}

function eth(dst: string, src: string, tag = 0): Uint8Array {
  const f = new Uint8Array(60);
  const put = (at: number, m: string) => m.split(':').forEach((h, i) => (f[at + i] = parseInt(h, 16)));
  put(0, dst);
  put(6, src);
  f[12] = 0x08;
  f[13] = 0x00;
  f[14] = tag;
  return f;
}

function setup(ports: number, agingMs = 1000) {
  let now = 0;
  const sw = new VirtualSwitch({ agingMs, clock: () => now });
  const links = Array.from({ length: ports }, (_, i) => new ScriptedLink(`p${i}`));
  for (const l of links) sw.attach(l);
  return { sw, links, setNow: (t: number) => (now = t) };
}

test('a broadcast is flooded to every port but the one it came in on', () => {
  const { sw, links } = setup(4);
  links[0].inject(eth(BCAST, mac(1)));
  assert.deepEqual(links.map((l) => l.take().length), [0, 1, 1, 1]);
  assert.equal(sw.counters.flooded, 1);
});

test('a multicast destination is flooded too, and a multicast source is never learned', () => {
  const { sw, links } = setup(3);
  links[0].inject(eth('01:00:5e:00:00:01', '01:00:5e:00:00:02'));
  assert.deepEqual(links.map((l) => l.take().length), [0, 1, 1]);
  assert.equal(sw.macTable.size, 0);
});

test('an unknown unicast destination is flooded; once it has spoken, it gets its frames alone', () => {
  const { sw, links } = setup(4);
  links[0].inject(eth(mac(2), mac(1), 1));
  assert.deepEqual(links.map((l) => l.take().length), [0, 1, 1, 1], 'mac 2 not yet known: flood');
  links[2].inject(eth(mac(1), mac(2), 2));
  assert.deepEqual(links.map((l) => l.take().map((f) => f[14])), [[2], [], [], []], 'mac 1 was learned on port 0');
  links[0].inject(eth(mac(2), mac(1), 3));
  assert.deepEqual(links.map((l) => l.take().map((f) => f[14])), [[], [], [3], []], 'mac 2 was learned on port 2');
  assert.equal(sw.counters.forwarded, 2);
  assert.equal(sw.counters.flooded, 1);
  assert.deepEqual(
    sw.macTable.snapshot().map((e) => [e.mac, e.port]).sort(),
    [[mac(1), 0], [mac(2), 2]],
  );
});

test('a frame for a host on the port it came from is filtered, not echoed back', () => {
  const { sw, links } = setup(3);
  links[1].inject(eth(BCAST, mac(5)));
  links.forEach((l) => l.take());
  links[1].inject(eth(mac(5), mac(6)));
  assert.deepEqual(links.map((l) => l.take().length), [0, 0, 0]);
  assert.equal(sw.counters.filtered, 1);
});

test('a host that moves to another port is followed there', () => {
  const { links } = setup(3);
  links[1].inject(eth(BCAST, mac(7)));
  links[2].inject(eth(BCAST, mac(7)));
  links.forEach((l) => l.take());
  links[0].inject(eth(mac(7), mac(1)));
  assert.deepEqual(links.map((l) => l.take().length), [0, 0, 1]);
});

test('a learned address ages out after agingMs of silence (simulated clock) and is flooded again', () => {
  const { sw, links, setNow } = setup(3, 1000);
  setNow(0);
  links[1].inject(eth(BCAST, mac(9)));
  links.forEach((l) => l.take());
  setNow(999);
  links[0].inject(eth(mac(9), mac(1)));
  assert.deepEqual(links.map((l) => l.take().length), [0, 1, 0], 'still fresh at 999 ms');
  setNow(1000);
  links[0].inject(eth(mac(9), mac(1)));
  assert.deepEqual(links.map((l) => l.take().length), [0, 1, 1], 'expired at 1000 ms: flooded');
  assert.equal(sw.macTable.lookup(9, 1000), undefined);
});

test('hearing from a host refreshes its entry; age(now) sweeps what went silent', () => {
  const table = new MacTable(1000, 100);
  table.learn(1, 0, 0);
  table.learn(2, 1, 0);
  table.learn(1, 0, 800); // refreshed
  assert.equal(table.expire(1500), 1, 'only mac 2 expired');
  assert.equal(table.lookup(1, 1500), 0);
  assert.equal(table.lookup(2, 1500), undefined);
  const { sw, links, setNow } = setup(2, 1000);
  links[0].inject(eth(BCAST, mac(1)));
  setNow(5000);
  assert.equal(sw.age(5000), 1);
  assert.equal(sw.macTable.size, 0);
});

test('a full table stops learning (and counts it) rather than evicting live entries', () => {
  const sw = new VirtualSwitch({ maxEntries: 2, clock: () => 0 });
  const a = new ScriptedLink('a');
  const b = new ScriptedLink('b');
  sw.attach(a);
  sw.attach(b);
  a.inject(eth(BCAST, mac(1)), eth(BCAST, mac(2)), eth(BCAST, mac(3)));
  assert.equal(sw.macTable.size, 2);
  assert.equal(sw.counters.tableFull, 1);
  assert.equal(b.take().length, 3, 'frames still flow');
});

test('runts are counted and dropped; a detached port gets nothing and its addresses are forgotten', () => {
  const { sw, links } = setup(3);
  links[0].inject(new Uint8Array(10));
  assert.equal(sw.counters.runts, 1);
  links[2].inject(eth(BCAST, mac(3)));
  links.forEach((l) => l.take());
  sw.detach(2);
  assert.equal(links[2].handler, null);
  assert.equal(links[2].closed, false, 'an attached link belongs to the caller');
  assert.equal(sw.macTable.size, 0);
  links[0].inject(eth(mac(3), mac(1)));
  assert.deepEqual(links.map((l) => l.take().length), [0, 1, 0]);
  assert.equal(sw.portCount, 2);
});

test('nodes on connect()ed ring ports talk through the switch on this thread', async () => {
  const sw = new VirtualSwitch();
  const a = sw.connect(65536);
  const b = sw.connect(65536);
  const c = sw.connect(65536);
  const got: Record<string, number[]> = { a: [], b: [], c: [] };
  const seen = new Promise<void>((resolve) => {
    b.onFrames((fs) => {
      for (const f of fs) got.b.push(f[14]);
      if (got.b.length === 2) resolve();
    });
  });
  a.onFrames((fs) => fs.forEach((f) => got.a.push(f[14])));
  c.onFrames((fs) => fs.forEach((f) => got.c.push(f[14])));
  b.send(eth(BCAST, mac(2), 1)); // b announces itself
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(a.send(eth(mac(2), mac(1), 7)), true);
  assert.equal(a.send(eth(mac(2), mac(1), 8)), true);
  await seen;
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, { a: [1], b: [7, 8], c: [1] });
  assert.equal(a.counters.txFrames, 2);
  assert.equal(b.counters.rxFrames, 2);
  sw.close();
  a.close();
  b.close();
  c.close();
});
