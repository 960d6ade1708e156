// The NAT engine's typed flow storage: FlowSlots (open addressing on integer keys, backward-shift
// deletes, growth by rehash, a key limit) against a Map model, and FlowColumns' slots and write queue.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlowSlots } from '../actors/router/flow-slots.js';
import { DIRTY, FlowColumns, USED } from '../actors/router/flow-columns.js';

type Key = [number, number, number, number];
const name = (k: Key) => k.map((w) => w >>> 0).join(':');

/** Keys from a small space, so inserts, lookups and deletes of one key meet often; words span all 32 bits. */
const key = fc.tuple(
  fc.constantFrom(0, 1, (17 << 16) | 53, -1, 0x7fffffff),
  fc.integer({ min: 0, max: 7 }).map((x) => (0x0ac90000 + x) >>> 0),
  fc.constantFrom(0, 0xffffffff, 0xd8000000, 3),
  fc.integer({ min: 0, max: 3 }),
) as fc.Arbitrary<Key>;

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), k: key, v: fc.nat(1_000_000) }),
  fc.record({ kind: fc.constant('delete' as const), k: key }),
  fc.record({ kind: fc.constant('find' as const), k: key }),
);

/** Applies `ops` to the table and to a Map, checking each answer and, at the end, every key's value. */
function agrees(t: FlowSlots, list: { kind: 'set' | 'delete' | 'find'; k: Key; v?: number }[]): void {
  const model = new Map<string, number>();
  const seen = new Map<string, Key>();
  for (const o of list) {
    const n = name(o.k);
    seen.set(n, o.k);
    if (o.kind === 'set') {
      const fits = model.has(n) || model.size < t.limit;
      assert.equal(t.set(...o.k, o.v!), fits);
      if (fits) model.set(n, o.v!);
    } else if (o.kind === 'delete') {
      assert.equal(t.delete(...o.k), model.delete(n));
    } else {
      assert.equal(t.find(...o.k), model.get(n) ?? -1);
    }
    assert.equal(t.size, model.size);
  }
  for (const [n, k] of seen) assert.equal(t.find(...k), model.get(n) ?? -1, n);
}

describe('FlowSlots', () => {
  test('random inserts, lookups and deletes agree with a Map, through growth (1,000 cases)', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (list) => {
      agrees(new FlowSlots(1), list);
    }), { numRuns: 1_000 });
  });

  test('with a key limit, a new key past it is refused and present keys still update (500 cases)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 200 }), (limit, list) => {
      agrees(new FlowSlots(limit, limit), list);
    }), { numRuns: 500 });
  });

  test('deletes shift runs back: after heavy churn every live key is found and probes find the empty bucket', () => {
    // Keys that share a hash bucket's neighbourhood, deleted from the middle of their runs, many times over.
    const t = new FlowSlots(64);
    const live = new Map<number, number>();
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const k = x % 200;
      if (live.has(k) && (x & 1)) {
        assert.ok(t.delete(k, 7, 7, 7));
        live.delete(k);
      } else {
        t.set(k, 7, 7, 7, i);
        live.set(k, i);
      }
    }
    assert.equal(t.size, live.size);
    for (let k = 0; k < 200; k++) assert.equal(t.find(k, 7, 7, 7), live.get(k) ?? -1);
    assert.ok(t.capacity < 1024, `churn does not grow the table: capacity ${t.capacity}`);
  });

  test('a full table (at its limit) refuses new keys until one is deleted; clear empties it', () => {
    const t = new FlowSlots(4, 4);
    for (let i = 0; i < 4; i++) assert.ok(t.set(i, 0, 0, 0, i));
    assert.equal(t.set(9, 0, 0, 0, 9), false);
    assert.equal(t.find(9, 0, 0, 0), -1);
    assert.ok(t.set(2, 0, 0, 0, 22), 'a present key updates at the limit');
    assert.equal(t.find(2, 0, 0, 0), 22);
    assert.ok(t.delete(0, 0, 0, 0));
    assert.ok(t.set(9, 0, 0, 0, 9));
    assert.equal(t.size, 4);
    t.clear();
    assert.equal(t.size, 0);
    assert.equal(t.find(9, 0, 0, 0), -1);
  });

  test('grows by rehash past half full, keeping every key', () => {
    const t = new FlowSlots(8);
    const before = t.capacity;
    for (let i = 0; i < 10_000; i++) t.set(i, i * 7, -i, 53, i);
    assert.ok(t.capacity > before && t.capacity >= 10_000);
    for (let i = 0; i < 10_000; i++) assert.equal(t.find(i, i * 7, -i, 53), i);
  });
});

describe('FlowColumns', () => {
  test('slots are reused after release; the buffer doubles when every slot is used, keeping the columns', () => {
    const c = new FlowColumns(16);
    const slots = Array.from({ length: 16 }, () => c.alloc());
    slots.forEach((s, i) => { c.insideIp[s] = 0xc0a80000 + i; c.lastSeen[s] = i * 1.5; });
    assert.equal(c.capacity, 16);
    const s17 = c.alloc();
    assert.equal(c.capacity, 32);
    assert.ok(!slots.includes(s17));
    slots.forEach((s, i) => { assert.equal(c.insideIp[s], 0xc0a80000 + i); assert.equal(c.lastSeen[s], i * 1.5); });
    c.release(slots[3]);
    assert.equal(c.alloc(), slots[3]);
    assert.ok(c.has(slots[3], USED));
  });

  test('the write queue holds each dirty slot once, in order, across growth; a released slot is found clean (500 cases)', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.constant(-1), fc.constant(-2), fc.nat(40)), { maxLength: 200 }), (list) => {
      const c = new FlowColumns(16);
      const live: number[] = [];
      const dirty = new Set<number>();
      for (const x of list) {
        if (x === -1) live.push(c.alloc());
        else if (x === -2 && live.length > 0) { const s = live.shift()!; c.release(s); dirty.delete(s); }
        else if (live.length > 0) {
          const s = live[x % live.length];
          c.markDirty(s);
          c.pktsOut[s]++;
          dirty.add(s);
        }
        assert.equal(c.dirtyCount, dirty.size);
      }
      const written = new Set<number>();
      for (let s = c.nextQueued(); s >= 0; s = c.nextQueued()) {
        if (!c.has(s, DIRTY)) continue;
        assert.ok(!written.has(s), `slot ${s} queued twice`);
        assert.ok(c.pktsOut[s] > 0);
        written.add(s);
        c.clean(s);
        assert.equal(c.pktsOut[s], 0);
      }
      assert.deepEqual([...written].sort(), [...dirty].sort());
      assert.equal(c.dirtyCount, 0);
    }), { numRuns: 500 });
  });
});
