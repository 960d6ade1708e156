// The replica protocol in steps: the chunked record layout round-trips every message, a push encoded
// a chunk at a time and a head delta applied a chunk at a time give exactly what takeDelta/applyHead
// give, and a MergeCycle run in slices with edits between them loses no increment.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CHUNK, MergeCycle, Replica, ReplicaHost, Store, type DeltaMessage, type HeadDeltaMessage } from '../store/index.js';
import { allTables, counters, neighbours, plain } from './support/tables.js';

const key = fc.integer({ min: 0, max: 300 }).map((i) => `k${i}`);
/** An edit: a counter increment, a plain set or delete, a neighbour learned. */
const edit = fc.oneof(
  fc.record({ t: fc.constant('cnt' as const), k: key, n: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ t: fc.constant('def' as const), k: key, v: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }) }),
  fc.record({ t: fc.constant('arp' as const), k: fc.integer({ min: 0, max: 255 }).map((i) => `10.0.0.${i}`), e: fc.integer({ min: 1, max: 1000 }) }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function apply(r: Replica, e: Edit): void {
  if (e.t === 'cnt') r.table(counters).set(e.k, (r.table(counters).get(e.k) ?? 0) + e.n);
  else if (e.t === 'def') { if (e.v === undefined) r.table(plain).delete(e.k); else r.table(plain).set(e.k, e.v); }
  else r.table(neighbours).set(e.k, { mac: '02:00:00:00:00:01', expires: e.e, hits: 1 });
}

const view = (r: Replica) => r.tables.map((t) => [t.def.name, [...t.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])))]);

describe('replica deltas in steps', () => {
  test('the chunked layout round-trips deltas, head deltas and rejections', () => {
    const store = new Store(allTables, { clock: () => 0 });
    const host = new ReplicaHost(store.main);
    const r = new Replica(store.schema, host.attach('a'));
    for (let i = 0; i < 3 * CHUNK + 5; i++) r.table(counters).set(`c${i}`, i + 1);
    r.table(plain).set('x', 1);
    r.table(plain).delete('gone');
    const d = r.takeDelta()!;
    const back = host.codec.decode(host.codec.encode(d)) as DeltaMessage;
    assert.deepEqual(back.tables.map((t) => [t.table, t.set.length, t.del.length]), [['cnt', 3 * CHUNK + 5, 0], ['def', 1, 0]]);
    assert.deepEqual(back, d);
    const rej = { type: 'rejected' as const, replica: 'a', push: 3, code: 'codec', message: 'no' };
    assert.deepEqual(host.codec.decode(host.codec.encode(rej)), rej);
  });

  test('a push encoded in steps and a head applied in steps equal takeDelta and applyHead (property)', () => {
    fc.assert(fc.property(fc.array(edit, { maxLength: 300 }), fc.array(edit, { maxLength: 300 }), fc.array(edit, { maxLength: 50 }), (before, mine, others) => {
      const store = new Store(allTables, { clock: () => 0 });
      const host = new ReplicaHost(store.main);
      const seed = new Replica(store.schema, host.attach('seed'));
      for (const e of before) apply(seed, e);
      seed.applyHead(host.accept(seed.takeDelta()!));
      const whole = new Replica(store.schema, host.attach('whole'));
      const stepped = new Replica(store.schema, host.attach('stepped'));
      for (const e of mine) { apply(whole, e); apply(stepped, e); }
      const d = whole.takeDelta()!;
      const push = stepped.beginPush(host.codec)!;
      while (!push.step(7));
      // (takeDelta lists a table whose edits were all no-ops, with nothing in it; the bytes carry no such table.)
      assert.deepEqual(host.codec.decode(push.bytes()), { ...d, replica: 'stepped', tables: d.tables.filter((t) => t.set.length + t.del.length > 0) });
      // The primary moves on, then answers both with the same merge.
      for (const e of others) apply(seed, e);
      seed.applyHead(host.accept(seed.takeDelta()!));
      const answer = host.acceptBytes(push.bytes());
      const headW = host.codec.decode(answer) as HeadDeltaMessage;
      // Both started at the same base: the same answer, as a message and as bytes in steps.
      assert.equal(whole.applyHead({ ...headW, replica: 'whole', push: d.push }), true);
      const h = stepped.beginHead(host.codec.reader(answer))!;
      while (!h.step());
      assert.deepEqual(view(stepped), view(whole));
      assert.equal(stepped.base, whole.base);
      assert.equal(stepped.busy, false);
      assert.deepEqual(view(stepped), store.main.tables.map((t) => [t.name, [...t.committedEntries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])))]));
    }), { numRuns: 200 });
  });

  test('a merge cycle in slices, with edits between the slices, keeps every increment', () => {
    const store = new Store(allTables, { clock: () => 0 });
    const host = new ReplicaHost(store.main);
    const other = new Replica(store.schema, host.attach('other'));
    const r = new Replica(store.schema, host.attach('a'));
    let clock = 0;
    let outbox: Uint8Array | null = null;
    const cycle = new MergeCycle(r, host.codec, { send: (b) => { outbox = b; }, clock: () => (clock += 10) }, 30);
    let added = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 200; i++) { const k = `k${(round * 7 + i) % 150}`; r.table(counters).set(k, (r.table(counters).get(k) ?? 0) + 1); added++; }
      other.table(counters).set('k1', (other.table(counters).get('k1') ?? 0) + 1);
      other.applyHead(host.accept(other.takeDelta()!));
      assert.equal(cycle.begin(), true);
      for (let s = 0; s < 10_000 && !cycle.free; s++) {
        cycle.slice();
        assert.ok(cycle.maxSliceUs <= 60, `a slice ran ${cycle.maxSliceUs} clock units`);
        r.table(counters).set('k0', (r.table(counters).get('k0') ?? 0) + 1); // an edit between slices
        added++;
        if (outbox !== null) { const b: Uint8Array = outbox; outbox = null; assert.equal(cycle.answer(host.codec.reader(host.acceptBytes(b))), true); }
      }
      assert.equal(cycle.free, true);
    }
    while (r.pending > 0 || r.busy) r.applyHead(host.accept(r.takeDelta()!));
    other.applyHead(host.accept(other.takeDelta()!));
    let total = 0;
    for (const [, v] of store.main.table(counters).entries()) total += v;
    assert.equal(total, added + 40);
    assert.deepEqual(view(r), view(other));
  });
});
