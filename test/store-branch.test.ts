import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Store, StoreError, UnknownCommitError, UnknownTableError, type WatchEvent } from '../store/index.js';
import { allTables, counters, neighbours, plain } from './support/tables.js';
import { BACKENDS, useBackend } from './support/backends.js';

const n = (mac: string, expires: number, hits = 0) => ({ mac, expires, hits });

for (const backend of BACKENDS) describe(`store branches [${backend}]`, () => {
  const persisted = useBackend(backend);

  /** A store on a simulated clock, with the backend attached to its primary (verified after the test). */
  async function newStore(opts: { retention?: number } = {}) {
    let now = 1000;
    const store = new Store(allTables, { clock: () => now, ...opts });
    await persisted.attach(store);
    return { store, main: store.main, tick: (ms = 1) => (now += ms) };
  }

  describe('branch basics', () => {
    test('get, set, delete, has, entries and size see uncommitted edits', async () => {
      const { main } = await newStore();
      const t = main.table(plain);
      t.set('a', 1);
      t.set('b', 2);
      t.delete('a');
      assert.equal(t.get('a'), undefined);
      assert.equal(t.has('b'), true);
      assert.equal(t.size, 1);
      assert.deepEqual([...t.entries()], [['b', 2]]);
      main.commit();
      assert.equal(t.size, 1);
      assert.equal(t.get('b'), 2);
    });

    test('a commit records parents, author, time and message; log lists newest first', async () => {
      const { main, tick } = await newStore();
      main.table(plain).set('a', 1);
      tick(5);
      const c1 = main.commit({ author: 'packet-0', message: 'learn a' })!;
      main.table(plain).set('a', 2);
      const c2 = main.commit({ author: 'packet-1', message: 'update a' })!;
      assert.deepEqual(c2.parents, [c1.seq]);
      assert.equal(c1.author, 'packet-0');
      assert.equal(c1.time, 1005);
      assert.equal(c1.message, 'learn a');
      assert.deepEqual(main.log().map((c) => c.seq), [c2.seq, c1.seq, 0]);
    });

    test('a commit that changes nothing is not made', async () => {
      const { main } = await newStore();
      main.table(plain).set('a', 1);
      main.commit();
      main.table(plain).set('a', 1);
      assert.equal(main.commit(), null);
    });

    test('an unknown table is a typed error naming it', async () => {
      const { main } = await newStore();
      assert.throws(() => main.tableByName('nat'), (e: unknown) => e instanceof UnknownTableError && /unknown table 'nat'/.test(e.message));
    });
  });

  describe('forks', () => {
    test('a fork sees the head commit, not uncommitted edits, and is isolated both ways', async () => {
      const { main } = await newStore();
      const t = main.table(plain);
      t.set('a', 1);
      main.commit();
      t.set('b', 2); // uncommitted
      const f = main.fork('f');
      const ft = f.table(plain);
      assert.equal(ft.get('a'), 1);
      assert.equal(ft.get('b'), undefined);
      ft.set('a', 10);
      f.commit();
      assert.equal(t.get('a'), 1);
      t.set('a', 5);
      main.commit();
      assert.equal(ft.get('a'), 10);
      ft.delete('a');
      f.commit();
      assert.equal(ft.get('a'), undefined);
      assert.equal(t.get('a'), 5);
    });

    test('a fork keeps reading its base while the parent moves on', async () => {
      const { main } = await newStore();
      const t = main.table(plain);
      t.set('x', 1);
      t.set('y', 1);
      main.commit();
      const f = main.fork();
      t.set('x', 2);
      t.delete('y');
      t.set('z', 3);
      main.commit();
      const ft = f.table(plain);
      assert.equal(ft.get('x'), 1);
      assert.equal(ft.get('y'), 1);
      assert.equal(ft.get('z'), undefined);
      assert.deepEqual([...ft.entries()].sort(), [['x', 1], ['y', 1]]);
      assert.equal(ft.size, 2);
    });

    test('a fork of a fork reads through both', async () => {
      const { main } = await newStore();
      main.table(plain).set('a', 1);
      main.commit();
      const f = main.fork();
      f.table(plain).set('b', 2);
      f.commit();
      const g = f.fork();
      assert.deepEqual([...g.table(plain).entries()].sort(), [['a', 1], ['b', 2]]);
    });
  });

  describe('merges', () => {
    test('merging into a primary that has not moved is a fast-forward', async () => {
      const { main } = await newStore();
      const f = main.fork('f');
      f.table(plain).set('a', 1);
      f.commit();
      const out = main.merge(f);
      assert.equal(out.fastForward, true);
      assert.equal(out.commit?.kind, 'fast-forward');
      assert.equal(main.table(plain).get('a'), 1);
    });

    test('a merge is three-way per key, with two parents, and concurrent counters add up', async () => {
      const { main } = await newStore();
      main.table(counters).set('rx', 10);
      main.commit();
      const a = main.fork('a');
      const b = main.fork('b');
      a.table(counters).set('rx', 13);
      a.commit();
      b.table(counters).set('rx', 15);
      b.commit();
      main.merge(a);
      const out = main.merge(b);
      assert.equal(out.fastForward, false);
      assert.equal(out.commit?.parents.length, 2);
      assert.equal(main.table(counters).get('rx'), 18);
    });

    test('a conflict never throws: it is resolved deterministically, counted and recorded', async () => {
      const { store, main } = await newStore();
      main.table(plain).set('k', 1);
      main.commit();
      const a = main.fork('a');
      const b = main.fork('b');
      a.table(plain).set('k', 2);
      a.commit();
      b.table(plain).set('k', 3);
      b.commit();
      main.merge(a);
      const out = main.merge(b);
      assert.equal(out.conflicts, 1);
      assert.deepEqual(out.commit?.conflicts.map((c) => [c.table, c.key]), [['def', 'k']]);
      assert.equal(main.table(plain).get('k'), 3);
      assert.equal(store.stats.conflicts, 1);
    });

    test('a refresh beats a concurrent expiry (delete loses to a change)', async () => {
      const { main } = await newStore();
      main.table(neighbours).set('10.0.0.2', n('02:00:00:00:00:02', 100));
      main.commit();
      const expiry = main.fork('arp-expiry');
      const packets = main.fork('packet-0');
      expiry.table(neighbours).delete('10.0.0.2');
      expiry.commit();
      packets.table(neighbours).set('10.0.0.2', n('02:00:00:00:00:02', 200, 1));
      packets.commit();
      main.merge(expiry);
      main.merge(packets);
      assert.deepEqual(main.table(neighbours).get('10.0.0.2'), n('02:00:00:00:00:02', 200, 1));
    });

    test('an expiry wins where nobody touched the entry', async () => {
      const { main } = await newStore();
      main.table(neighbours).set('10.0.0.3', n('02:00:00:00:00:03', 100));
      main.commit();
      const expiry = main.fork('arp-expiry');
      const packets = main.fork('packet-0');
      expiry.table(neighbours).delete('10.0.0.3');
      expiry.commit();
      packets.table(neighbours).set('10.0.0.9', n('02:00:00:00:00:09', 100));
      packets.commit();
      main.merge(packets);
      main.merge(expiry);
      assert.equal(main.table(neighbours).get('10.0.0.3'), undefined);
      assert.ok(main.table(neighbours).get('10.0.0.9'));
    });

    test('after a merge the fork is synced onto the new head and keeps working', async () => {
      const { main } = await newStore();
      const f = main.fork('f');
      f.table(counters).set('n', 1);
      f.commit();
      main.table(counters).set('m', 5);
      main.commit();
      main.merge(f);
      assert.equal(f.baseSeq, main.headSeq);
      assert.equal(f.table(counters).get('m'), 5);
      f.table(counters).set('n', 2);
      f.commit();
      main.merge(f);
      assert.equal(main.table(counters).get('n'), 2);
    });

    test('uncommitted edits of a fork are re-merged over the new base when it syncs', async () => {
      const { main } = await newStore();
      main.table(counters).set('c', 10);
      main.commit();
      const f = main.fork('f');
      f.table(counters).set('c', 12); // +2, committed and merged below
      f.commit();
      main.table(counters).set('c', 20); // +10 on main meanwhile
      main.commit();
      f.table(counters).set('c', 13); // +1 more, not committed yet
      main.merge(f);
      assert.equal(main.table(counters).get('c'), 22);
      assert.equal(f.table(counters).get('c'), 23); // 22 + the uncommitted +1
      f.commit();
      main.merge(f);
      assert.equal(main.table(counters).get('c'), 23);
    });

    test('pull rebases a fork\'s own edits over the parent\'s newer values', async () => {
      const { main } = await newStore();
      main.table(counters).set('c', 10);
      main.commit();
      const f = main.fork('f');
      f.table(counters).set('c', 11); // +1
      f.commit();
      main.table(counters).set('c', 20); // +10 on main
      main.commit();
      f.pull();
      assert.equal(f.table(counters).get('c'), 21);
      main.merge(f);
      assert.equal(main.table(counters).get('c'), 21);
    });

    test('pull keeps both committed and uncommitted edits of a counter', async () => {
      const { main } = await newStore();
      main.table(counters).set('c', 0);
      main.commit();
      const f = main.fork('f');
      f.table(counters).set('c', 5); // +5, committed
      f.commit();
      f.table(counters).set('c', 7); // +2 more, not committed
      main.table(counters).set('c', 3); // +3 on main
      main.commit();
      f.pull();
      assert.equal(f.table(counters).get('c'), 10);
      f.commit();
      main.merge(f);
      assert.equal(main.table(counters).get('c'), 10);
    });

    test('only a fork can be merged into its parent', async () => {
      const { main } = await newStore();
      const a = main.fork('a');
      const b = a.fork('b');
      assert.throws(() => main.merge(b), (e: unknown) => e instanceof StoreError && e.code === 'not-a-child');
    });
  });

  describe('history', () => {
    test('diff lists entries that differ between two commits', async () => {
      const { main } = await newStore();
      const t = main.table(plain);
      t.set('a', 1);
      t.set('b', 1);
      const c1 = main.commit()!;
      t.set('a', 2);
      t.delete('b');
      t.set('c', 3);
      main.commit();
      t.set('c', 4);
      const c3 = main.commit()!;
      assert.deepEqual(main.diff(c1.seq, c3.seq), [
        { table: 'def', key: 'a', before: 1, after: 2 },
        { table: 'def', key: 'b', before: 1, after: undefined },
        { table: 'def', key: 'c', before: undefined, after: 4 },
      ]);
    });

    test('revert puts every entry back to its value at a commit', async () => {
      const { main } = await newStore();
      const t = main.table(plain);
      t.set('a', 1);
      const c1 = main.commit()!;
      t.set('a', 2);
      t.set('b', 2);
      main.commit();
      const r = main.revert(c1.seq)!;
      assert.equal(r.kind, 'revert');
      assert.deepEqual([...t.entries()], [['a', 1]]);
    });

    test('watch is called with the changed keys after each commit and merge', async () => {
      const { main } = await newStore();
      const events: WatchEvent[] = [];
      const stop = main.watch((e) => events.push(e));
      main.table(plain).set('a', 1);
      main.commit();
      const f = main.fork();
      f.table(counters).set('x', 1);
      f.commit();
      main.merge(f);
      stop();
      main.table(plain).set('a', 2);
      main.commit();
      assert.deepEqual(events.map((e) => e.changes), [[{ table: 'def', key: 'a' }], [{ table: 'cnt', key: 'x' }]]);
    });

    test('a throwing watcher does not break the commit, and is counted', async () => {
      const { store, main } = await newStore();
      main.watch(() => { throw new Error('boom'); });
      main.table(plain).set('a', 1);
      assert.ok(main.commit());
      assert.equal(store.stats.watchErrors, 1);
    });

    test('history is bounded: commits beyond retention that no branch is based on are released', async () => {
      const { store, main } = await newStore({ retention: 8 });
      const t = main.table(counters);
      for (let i = 0; i < 100; i++) {
        t.set('k', i);
        t.set(`k${i % 5}`, i);
        main.commit();
      }
      assert.equal(main.commits.length, 8);
      assert.ok(main.historySize() <= 8 * 2, `history records: ${main.historySize()}`);
      assert.ok(store.stats.released >= 90);
      assert.throws(() => main.diff(5), UnknownCommitError);
    });

    test('a live fork pins its base until it is closed', async () => {
      const { main } = await newStore({ retention: 4 });
      const t = main.table(counters);
      t.set('k', 0);
      main.commit();
      const f = main.fork();
      const base = f.baseSeq;
      for (let i = 1; i <= 50; i++) {
        t.set('k', i);
        main.commit();
      }
      assert.ok(main.horizon <= base);
      assert.equal(f.table(counters).get('k'), 0); // still readable at its base
      f.close();
      assert.equal(main.commits.length, 4);
      assert.ok(main.horizon > base);
    });

    test('a closed branch refuses writes that would be lost', async () => {
      const { main } = await newStore();
      const f = main.fork();
      f.close();
      assert.throws(() => f.commit(), (e: unknown) => e instanceof StoreError && e.code === 'branch-closed');
    });
  });
});
