import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  BaseReleasedError, CodecError, Replica, ReplicaHost, Store, StoreError, UnknownReplicaError, UnknownTableError,
  startThread, type DeltaMessage, type HeadDeltaMessage, type StoreOptions,
} from '../store/index.js';
import { allTables, counters, neighbours, plain } from './support/tables.js';
import { BACKENDS, useBackend } from './support/backends.js';

function snapshotOf(main: Store['main']) {
  return main.tables.map((t) => [t.name, [...t.committedEntries()].sort()]);
}

for (const backend of BACKENDS) describe(`store replicas [${backend}]`, () => {
  const persisted = useBackend(backend);

  /** A store with the backend attached to its primary (verified after the test). */
  async function newStore(opts: StoreOptions) {
    const store = new Store(allTables, opts);
    await persisted.attach(store);
    return store;
  }

  async function setup(retention = 64) {
    const store = await newStore({ clock: () => 0, retention });
    const host = new ReplicaHost(store.main);
    return { store, main: store.main, host, codec: host.codec };
  }

  describe('replica protocol (in one thread)', () => {
    test('a replica starts from a snapshot, pushes a delta, and rebases on the head delta', async () => {
      const { main, host, codec } = await setup();
      main.table(counters).set('rx', 1);
      main.commit();
      const r = new Replica(main.store.schema, codec.decode(codec.encode(host.attach('packet-0'))) as never);
      assert.equal(r.table(counters).get('rx'), 1);
      r.table(counters).set('rx', 5);
      const delta = r.takeDelta()!;
      // The primary moves on meanwhile, and the replica keeps editing while its push is in flight.
      main.table(counters).set('rx', 3);
      main.table(plain).set('p', 7);
      main.commit();
      r.table(counters).set('tx', 1);
      const head = codec.decode(host.acceptBytes(codec.encode(delta))) as HeadDeltaMessage;
      assert.equal(head.type, 'head');
      r.applyHead(head);
      assert.equal(main.table(counters).get('rx'), 7); // 1 + (5−1) + (3−1)
      assert.equal(r.table(counters).get('rx'), 7);
      assert.equal(r.table(plain).get('p'), 7);
      assert.equal(r.table(counters).get('tx'), 1); // the edit made meanwhile survived the rebase
      assert.equal(r.base, main.headSeq);
      assert.equal(main.log(1)[0].author, 'packet-0');
    });

    test('a delta carries only changed keys, encoded compactly with shared structures', async () => {
      const { main, host, codec } = await setup();
      for (let i = 0; i < 1000; i++) main.table(neighbours).set(`10.0.${i >> 8}.${i & 255}`, { mac: '02:00:00:00:00:01', expires: 1, hits: 0 });
      main.commit();
      const r = new Replica(main.store.schema, host.attach('a'));
      r.table(neighbours).set('10.0.0.1', { mac: '02:00:00:00:00:02', expires: 2, hits: 1 });
      const bytes = codec.encode(r.takeDelta()!);
      assert.ok(bytes.length < 80, `delta of one entry is ${bytes.length} bytes`);
    });

    test('an answer to a push that is no longer in flight is ignored', async () => {
      const { main, host } = await setup();
      const r = new Replica(main.store.schema, host.attach('a'));
      r.table(counters).set('x', 1);
      const d1 = r.takeDelta()!;
      const head = host.accept(d1);
      assert.equal(r.applyRejected(d1.push + 1), false, 'a refusal of another push');
      assert.equal(r.applyHead({ ...head, push: d1.push + 7 }), false, 'a head for another push');
      assert.equal(r.busy, true);
      assert.equal(r.applyHead(head), true);
      assert.equal(main.table(counters).get('x'), 1);
    });

    test('a replica that lost its pin is merged once, never merged and then refused', async () => {
      // Retention 4: the slow replica's base (the root) is still kept, until its own merge commit would release it.
      const store = await newStore({ clock: () => 0, retention: 4 });
      const host = new ReplicaHost(store.main, { maxLag: 1 });
      const slow = new Replica(store.schema, host.attach('slow'));
      const fast = new Replica(store.schema, host.attach('fast'));
      slow.table(counters).set('x', 1);
      for (let i = 0; i < 3; i++) { // slow lags and loses its pin, its base still kept
        fast.table(counters).set('y', i + 1);
        fast.applyHead(host.accept(fast.takeDelta()!));
      }
      const d = slow.takeDelta()!;
      assert.equal(store.main.replicaBases.has('slow'), false, 'the pin is gone');
      assert.ok(d.base >= store.main.horizon, 'its base is still kept');
      const answer = host.codec.decode(host.acceptBytes(host.codec.encode(d)));
      assert.equal(answer.type, 'head', 'merged and answered, not merged and then refused');
      assert.equal(store.main.table(counters).get('x'), 1);
    });

    test('one push in flight at a time; a refused push goes back to the overlay', async () => {
      const { main, host } = await setup();
      const r = new Replica(main.store.schema, host.attach('a'));
      r.table(counters).set('x', 1);
      const d = r.takeDelta()!;
      assert.equal(r.takeDelta(), null);
      r.table(counters).set('y', 2);
      r.applyRejected();
      assert.equal(r.pending, 2);
      assert.ok(d.tables.length === 1);
    });
  });

  describe('bad deltas leave the primary unchanged', () => {
    async function expectRefused(mutate: (d: DeltaMessage) => unknown, check: (e: unknown) => boolean) {
      const { main, host } = await setup();
      main.table(plain).set('a', 1);
      main.commit();
      const r = new Replica(main.store.schema, host.attach('a'));
      r.table(plain).set('a', 2);
      r.table(plain).set('b', 3);
      const d = r.takeDelta()!;
      const before = { head: main.headSeq, snap: snapshotOf(main) };
      const bad = mutate(structuredClone(d)) as DeltaMessage;
      assert.throws(() => host.accept(bad), check);
      assert.equal(main.headSeq, before.head);
      assert.deepEqual(snapshotOf(main), before.snap);
      // acceptBytes answers with a typed 'rejected' message instead of throwing.
      const answer = host.codec.decode(host.acceptBytes(host.codec.encode(bad)));
      assert.equal(answer.type, 'rejected');
      assert.equal(main.store.stats.rejectedDeltas, 1);
    }

    test('an unknown table', () => expectRefused((d) => { d.tables[0].table = 'nat'; return d; }, (e) => e instanceof UnknownTableError && /'nat'/.test((e as Error).message)));
    test('a value that fails its codec names the path', () =>
      expectRefused((d) => { d.tables[0].set[1][1] = 'three'; return d; }, (e) => e instanceof CodecError && (e as CodecError).path === 'def/b'));
    test('a key that fails its codec names the path', () =>
      expectRefused((d) => { d.tables[0].set[1][0] = 'a/b'; return d; }, (e) => e instanceof CodecError && /def\/a\/b/.test((e as Error).message)));
    test('a delta from an unknown replica', () => expectRefused((d) => { d.replica = 'ghost'; return d; }, (e) => e instanceof UnknownReplicaError));
    test('a delta based on a commit from the future', () => expectRefused((d) => { d.base = 999; return d; }, (e) => e instanceof StoreError && e.code === 'unknown-commit'));

    test('a delta whose base commit was released', async () => {
      const { main, host } = await setup(4);
      const r = new Replica(main.store.schema, host.attach('a'));
      host.detach('a'); // releases its pin...
      host.attach('b');
      host.detach('b');
      for (let i = 0; i < 20; i++) { main.table(counters).set('k', i); main.commit(); }
      (host as unknown as { known: Set<string> }).known.add('a'); // ...as a replica evicted for lagging would be
      r.table(counters).set('k', 100);
      const head = main.headSeq;
      assert.throws(() => host.accept(r.takeDelta()!), (e: unknown) => e instanceof BaseReleasedError && /released/.test((e as Error).message));
      assert.equal(main.headSeq, head);
    });

    test('garbage bytes are answered with a rejected message', async () => {
      const { host } = await setup();
      const answer = host.codec.decode(host.acceptBytes(new Uint8Array([0xc1, 0xff, 0x00])));
      assert.equal(answer.type, 'rejected');
    });

    test('a lagging replica loses its pin, so history stays bounded', async () => {
      const store = await newStore({ clock: () => 0, retention: 4 });
      const host = new ReplicaHost(store.main, { maxLag: 10 });
      host.attach('slow');
      const fast = new Replica(store.schema, host.attach('fast'));
      for (let i = 0; i < 30; i++) {
        fast.table(counters).set('k', i);
        fast.applyHead(host.accept(fast.takeDelta()!));
      }
      assert.equal(host.evictions, 1);
      assert.ok(store.main.commits.length <= 5, `kept ${store.main.commits.length} commits`);
    });
  });

  describe('replicas on real worker threads', () => {
    test('concurrent replicas merging at random moments end with every increment and every element', async () => {
      const store = new Store(allTables, { retention: 256 });
      // Under git, flushes run every few ms on the real clock while the deltas are being merged.
      (await persisted.attach(store, { flushIntervalMs: 20 })).git?.start(5);
      const host = new ReplicaHost(store.main);
      const N = 3;
      const workers = Array.from({ length: N }, (_, i) =>
        startThread(new URL('./support/replica-worker.ts', import.meta.url), { workerData: { seed: 1000 + i, ops: 3000, keys: 8 } }),
      );
      try {
        const reports = workers.map((w, i) => {
          w.on('message', (m: unknown) => { if (m instanceof Uint8Array) w.postMessage(host.acceptBytes(m)); });
          w.postMessage(host.codec.encode(host.attach(`packet-${i}`)));
          return new Promise<{ added: Record<string, number>; chosen: number[] }>((resolve, reject) => {
            w.on('message', (m: { done?: boolean; added: Record<string, number>; chosen: number[] }) => { if (m && (m as { done?: boolean }).done) resolve(m); });
            w.on('error', reject);
          });
        });
        const done = await Promise.all(reports);
        const expected: Record<string, number> = {};
        for (const r of done) for (const [k, v] of Object.entries(r.added)) expected[k] = (expected[k] ?? 0) + v;
        assert.deepEqual(Object.fromEntries([...store.main.table(counters).entries()].sort()), Object.fromEntries(Object.entries(expected).sort()));
        const union = [...new Set(done.flatMap((r) => r.chosen))].sort((a, b) => a - b);
        assert.deepEqual(store.main.tables[store.schema.index('set')].get('seen'), union);
        assert.ok(store.stats.merges >= N * 5, `only ${store.stats.merges} merges`);
        // After a final pull every replica sees exactly the primary.
        const views = await Promise.all(workers.map(async (w) => {
          const got = new Promise<{ view: [string, number][] }>((resolve) => w.on('message', (m: { view?: [string, number][] }) => { if (m && m.view) resolve(m as { view: [string, number][] }); }));
          w.postMessage({ cmd: 'pull' });
          return (await got).view;
        }));
        for (const v of views) assert.deepEqual(v, [...store.main.table(counters).entries()].sort());
      } finally {
        await Promise.all(workers.map((w) => w.terminate()));
      }
    });
  });
});
