import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Conflict, counter, custom, defaultMerge, deepEqual, idempotent, like, lww, map, max, min, option, pair, record, resolveByOrder,
  seq, set, settle, sparseCounter, Store, type Merge,
} from '../store/index.js';
import { allTables } from './support/tables.js';
import { BACKENDS, useBackend } from './support/backends.js';

const RUNS = 1000;

/** A merge's outcome as data: conflicts compare by their resolution, not their wording. */
function outcome<T>(r: T | Conflict): unknown {
  return r instanceof Conflict ? { conflict: true, resolution: r.resolution?.[0] } : { value: r };
}

function assertCommutative<T>(name: string, m: Merge<T>, arb: fc.Arbitrary<T>, oldArb: fc.Arbitrary<T | undefined> = fc.option(arb, { nil: undefined })): void {
  test(`${name} is commutative: merge(o, a, b) = merge(o, b, a)`, () => {
    fc.assert(
      fc.property(oldArb, arb, arb, (o, a, b) => {
        const ab = m(() => o, a, b);
        const ba = m(() => o, b, a);
        assert.ok(deepEqual(outcome(ab), outcome(ba)), `${JSON.stringify(outcome(ab))} vs ${JSON.stringify(outcome(ba))}`);
        // Settled by the table's resolver, the result is commutative too.
        const sab = ab instanceof Conflict ? settle(ab, o, a, b, resolveByOrder) : ab;
        const sba = ba instanceof Conflict ? settle(ba, o, b, a, resolveByOrder) : ba;
        assert.ok(deepEqual(sab, sba));
      }),
      { numRuns: RUNS },
    );
  });
}

const small = fc.integer({ min: -5, max: 5 });
const sortedSet = fc.uniqueArray(fc.integer({ min: 0, max: 8 }), { maxLength: 6 }).map((xs) => xs.sort((a, b) => a - b));
const stampedValue = fc.record({ t: fc.integer({ min: 0, max: 3 }), v: fc.constantFrom('a', 'b', 'c') });
const tally = fc.dictionary(fc.constantFrom('x', 'y', 'z'), small, { maxKeys: 3 });
// A sparse counter map never holds an explicit 0 (absent is 0): its values in canonical form.
const sparseTally = fc.dictionary(fc.constantFrom('x', 'y', 'z'), small.filter((x) => x !== 0), { maxKeys: 3 });
const neighbour = fc.record({ mac: fc.constantFrom('02:00:00:00:00:01', '02:00:00:00:00:02'), expires: fc.nat(5), hits: fc.nat(5) });

describe('merge combinators', () => {
  assertCommutative('defaultMerge', defaultMerge<number>(), small);
  assertCommutative('idempotent', idempotent<number>(), small);
  assertCommutative('counter', counter(), small);
  assertCommutative('max', max<number>(), small);
  assertCommutative('min', min<number>(), small);
  assertCommutative('lww', lww((x: { t: number; v: string }) => x.t), stampedValue);
  assertCommutative('set', set<number>((a, b) => a - b), sortedSet);
  assertCommutative('map of counters', map(option(counter(), { onDeleteModify: 'keep' })), tally);
  assertCommutative('sparseCounter', sparseCounter(), fc.option(small, { nil: undefined }));
  assertCommutative('map of sparse counters', map(sparseCounter()), tally);

  test('a map of option(counter) is commutative but not order-independent: a count back at its old value looks unchanged', () => {
    // The counterexample fast-check found: why maps of counters use sparseCounter.
    const m = map(option(counter(), { onDeleteModify: 'keep' }));
    const o = () => ({ y: 0 });
    const via = (first: Record<string, number>, second: Record<string, number>, third: Record<string, number>) => {
      const r1 = m(o, first, second) as Record<string, number>;
      return m(o, r1, third);
    };
    assert.notDeepEqual(via({ y: 2 }, {}, { y: -2 }), via({ y: 2 }, { y: -2 }, {}));
    const s = map(sparseCounter());
    const viaS = (first: Record<string, number>, second: Record<string, number>, third: Record<string, number>) =>
      s(o, s(o, first, second) as Record<string, number>, third);
    assert.deepEqual(viaS({ y: 2 }, {}, { y: -2 }), viaS({ y: 2 }, { y: -2 }, {}));
  });
  assertCommutative('record (default, max, counter)', record({ mac: defaultMerge<string>(), expires: max<number>(), hits: counter() }), neighbour);
  assertCommutative('pair (default, counter)', pair(defaultMerge<number>(), counter()), fc.tuple(small, small));
  assertCommutative('seq (idempotent, then max)', seq(idempotent<number>(), max<number>()), small);
  assertCommutative('like (max through negation = min)', like(max<number>(), (x: number) => -x, (y: number) => -y), small);
  assertCommutative('custom (larger absolute value)', custom<number>((_o, a, b) => (Math.abs(a) !== Math.abs(b) ? (Math.abs(a) > Math.abs(b) ? a : b) : Math.max(a, b))), small);
  for (const rule of ['conflict', 'keep', 'delete'] as const) {
    assertCommutative(`option(defaultMerge, ${rule})`, option(defaultMerge<number>(), { onDeleteModify: rule }), fc.option(small, { nil: undefined }));
    assertCommutative(`option(counter, ${rule})`, option(counter(), { onDeleteModify: rule }), fc.option(small, { nil: undefined }));
  }

  test('counter adds both sides\' increments', () => {
    assert.equal(counter()(() => 10, 13, 15), 18);
    assert.equal(counter()(() => undefined, 2, 3), 5);
  });

  test('set keeps old − removed ∪ added', () => {
    assert.deepEqual(set<number>((a, b) => a - b)(() => [1, 2, 3], [1, 2, 4], [2, 3, 5]), [2, 4, 5]);
  });

  test('a deletion wins only where the other side left the entry unchanged', () => {
    const m = option(defaultMerge<number>(), { onDeleteModify: 'keep' });
    assert.equal(m(() => 1, undefined, 1), undefined);
    assert.equal(m(() => 1, undefined, 2), 2);
    assert.ok(option(defaultMerge<number>())(() => 1, undefined, 2) instanceof Conflict);
  });

  test('a record resolves a conflicting field on its own and still adds up the counter field', () => {
    const m = record({ mac: defaultMerge<string>(), hits: counter() });
    const r = m(() => ({ mac: 'a', hits: 1 }), { mac: 'b', hits: 2 }, { mac: 'c', hits: 4 });
    assert.ok(r instanceof Conflict);
    assert.deepEqual(r.resolution?.[0], { mac: 'c', hits: 5 });
  });

  test('lww breaks equal timestamps the same way whichever side is ours', () => {
    const m = lww((x: { t: number; v: string }) => x.t);
    assert.deepEqual(m(() => undefined, { t: 1, v: 'a' }, { t: 1, v: 'b' }), { t: 1, v: 'b' });
    assert.deepEqual(m(() => undefined, { t: 1, v: 'b' }, { t: 1, v: 'a' }), { t: 1, v: 'b' });
  });
});

// ---------------------------------------------------------------- order independence
type Op = { table: number; key: string; value: unknown | undefined };

const keysFor = (ti: number) => (allTables[ti].name === 'rec' ? fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3') : fc.constantFrom('k1', 'k2', 'k3'));
const valueFor = (ti: number): fc.Arbitrary<unknown> => {
  switch (allTables[ti].name) {
    case 'lww': return stampedValue;
    case 'set': return sortedSet;
    case 'rec': return neighbour;
    case 'map': return sparseTally;
    case 'cnt': return small.filter((x) => x !== 0); // sparse: absent is 0
    default: return small;
  }
};
const opArb: fc.Arbitrary<Op> = fc.integer({ min: 0, max: allTables.length - 1 }).chain((ti) =>
  fc.record({ table: fc.constant(ti), key: keysFor(ti), value: fc.option(valueFor(ti), { nil: undefined, freq: 4 }) }),
);

function apply(b: ReturnType<Store['main']['fork']>, ops: Op[]): void {
  for (const op of ops) {
    const t = b.tables[op.table];
    if (op.value === undefined) t.delete(op.key);
    else t.set(op.key, op.value);
  }
}

type Entries = [string | number, unknown][][];

function mergedInOrder(initial: Op[], branches: Op[][], order: number[]): Entries {
  const store = new Store(allTables, { clock: () => 0 });
  apply(store.main, initial);
  store.main.commit();
  const forks = branches.map((ops, i) => {
    const f = store.main.fork(`b${i}`);
    apply(f, ops);
    f.commit();
    return f;
  });
  for (const i of order) store.main.merge(forks[i]);
  return store.main.tables.map((t) => [...t.entries()].sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1)));
}

const ORDERS = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

/** Makes a primary hold exactly `state` (another primary's entries, per table) and commits it. */
function mirror(main: Store['main'], state: Entries): void {
  main.tables.forEach((t, i) => {
    const want = new Map(state[i]);
    for (const k of [...t.keys()]) if (!want.has(k)) t.delete(k);
    for (const [k, v] of want) t.set(k, v);
  });
  main.commit({ author: 'order-property' });
}

for (const backend of BACKENDS) describe(`order independence [${backend}]`, () => {
  const persisted = useBackend(backend);

  // Each case builds fresh stores, so the backend is attached once per test, not per case: every
  // case's merged primary is mirrored into one persisted primary, flushed (git) every 10 cases;
  // git keeps 10 commits of history, so history is cut and dead objects pruned all along. The
  // repository is reloaded and compared with the primary every 100 cases and after the test.
  test('three branches forked from one commit, merged in every order, give the same primary', async () => {
    const sink = await persisted.open(allTables, { clock: () => 0 }, { historyCommits: 10 });
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), fc.tuple(fc.array(opArb, { maxLength: 8 }), fc.array(opArb, { maxLength: 8 }), fc.array(opArb, { maxLength: 8 })), async (initial, branches) => {
        const first = mergedInOrder(initial, branches, ORDERS[0]);
        for (const order of ORDERS.slice(1)) {
          const other = mergedInOrder(initial, branches, order);
          assert.ok(deepEqual(first, other), `order ${order} differs:\n${JSON.stringify(first)}\n${JSON.stringify(other)}`);
        }
        mirror(sink.store.main, first);
        if (++cases % 10 === 0) await sink.flush();
        if (cases % 100 === 0) await sink.verify();
      }),
      { numRuns: RUNS },
    );
  });
});
