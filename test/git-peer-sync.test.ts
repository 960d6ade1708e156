// Issue 17: GitStore's own peer sync (GitStoreOptions.remote) between routers through a real git
// server. Each merge of a peer is recorded as a parent of our next commit, so the merge base moves
// past it: counters are not counted twice and deletions do not come back, over many rounds, after a
// partition, and in any order of syncs (criss-cross merges included).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Store, type Branch } from '../store/index.js';
import { GitStore, type SyncOutcome } from '../store/git/index.js';
import { counters, maxima, stamped, members, tallies } from './support/tables.js';
import { git } from './support/git-cli.js';
import { initBareRepo, startGitHttpServer, type GitHttpServer } from './support/git-http-server.js';

const tmp = mkdtempSync(join(tmpdir(), `nb-git-peer-sync-${process.pid}-`));
const serverRoot = join(tmp, 'server');
let server: GitHttpServer;
let repos = 0;

before(async () => {
  mkdirSync(serverRoot);
  server = await startGitHttpServer(serverRoot);
});
after(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

// Tables whose rules commute: counters add, max, last-writer-wins by stamp, set union, maps of counters.
const tables = [counters, maxima, stamped, members, tallies];

interface Router {
  name: string;
  store: Store;
  gs: GitStore;
  clock: { now: number };
  errors: string[];
}

/** A new repository on the server, HEAD on `routers/a` (as `netbranch git-serve --init` makes it). */
function newServerRepo(): string {
  const name = `tables-${++repos}.git`;
  initBareRepo(serverRoot, name, 'routers/a');
  return `${server.url}/${name}`;
}

async function router(name: string, url: string, thread = false, historyCommits?: number): Promise<Router> {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const store = new Store(tables, { clock: () => clock.now });
  const errors: string[] = [];
  const logger = { info() {}, warn() {}, error(_o: unknown, msg: string) { errors.push(msg); } };
  const gs = await GitStore.open(join(tmp, `${name}-${repos}`), store.main, { thread, historyCommits, pruneGraceMs: 0, logger, remote: { url, name, timeoutMs: 10_000, syncMs: 1_000 } });
  return { name, store, gs, clock, errors };
}

/** An actor's commit merged into the primary: what a router does between syncs. */
function write(r: Router, edit: (b: Branch) => void): void {
  const b = r.store.main.fork('worker');
  edit(b);
  b.commit({ author: 'worker' });
  r.store.main.merge(b);
  b.close();
}

function bump(b: Branch, key: string, by: number): void {
  b.table(counters).set(key, (b.table(counters).get(key) ?? 0) + by);
}

async function sync(r: Router): Promise<SyncOutcome> {
  const out = await r.gs.syncNow((r.clock.now += 1000));
  assert.ok(out, 'a sync ran');
  assert.equal(out.failed, null, out.failed ? `${r.name}: ${out.failed.step} ${out.failed.message}` : '');
  return out;
}

/** Every table of the primary, as sorted [key, value] rows. */
function dump(r: Router): Record<string, [unknown, unknown][]> {
  const out: Record<string, [unknown, unknown][]> = {};
  for (const t of r.store.main.tables) out[t.def.name] = [...t.committedEntries()].sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1));
  return out;
}

async function close(...rs: Router[]): Promise<void> {
  for (const r of rs) await r.gs.close((r.clock.now += 1000));
}

test('counters and deletions over many rounds: no double counting, no resurrection, same tables on both', async () => {
  const url = newServerRepo();
  const a = await router('a', url, true); // on the worker, as a router runs it
  const b = await router('b', url, true);
  try {
    write(a, (br) => { br.table(maxima).set('gone', 3); br.table(maxima).set('kept', 1); });
    await sync(a);
    await sync(b);
    assert.equal(b.store.main.table(maxima).get('gone'), 3);
    write(b, (br) => br.table(maxima).delete('gone'));
    for (let round = 1; round <= 5; round++) {
      write(a, (br) => { bump(br, 'x', 1); br.table(tallies).set('t', { a: round }); });
      write(b, (br) => bump(br, 'x', 2));
      await sync(a);
      await sync(b);
    }
    await sync(a);
    await sync(b);
    assert.deepEqual(dump(a), dump(b));
    assert.equal(a.store.main.table(counters).get('x'), 15, 'five rounds of +1 and +2, each counted once');
    assert.equal(a.store.main.table(maxima).get('gone'), undefined, 'the deletion holds');
    assert.equal(a.store.main.table(maxima).get('kept'), 1);
    assert.ok(a.gs.stats.peerMerges > 0 && a.gs.stats.peerEntriesApplied > 0);
    assert.equal(a.gs.stats.peerSyncErrors, 0);
    const status = await a.gs.syncStatus(a.clock.now);
    assert.deepEqual(status.peers.map((p) => p.name), ['b']);
    assert.equal(status.failingFor, 0);
    assert.ok(status.remote && status.remote.pushes >= 7 && status.remote.fetches >= 7);
    assert.equal(status.remote?.lastFetchAt, a.clock.now);
    // Quiet routers stop making commits: a merge that brings nothing new is not recorded.
    await sync(a);
    await sync(b);
    const head = a.gs.head;
    await sync(a);
    await sync(b);
    await sync(a);
    assert.equal(a.gs.head, head);
  } finally {
    await close(a, b);
  }
});

test('tick(now) syncs every syncMs, and syncNow waits for a sync under way', async () => {
  const url = newServerRepo();
  const a = await router('a', url);
  const b = await router('b', url);
  try {
    write(a, (br) => br.table(maxima).set('ticked', 1));
    const t0 = a.clock.now;
    a.gs.tick(t0); // due at once: flush, push, fetch
    await a.gs.syncNow(t0); // waits for the tick's sync, then runs its own
    assert.equal(a.gs.stats.peerSyncs, 2);
    a.gs.tick(t0 + 999);
    await a.gs.syncNow(t0 + 999);
    assert.equal(a.gs.stats.peerSyncs, 3, 'not due yet: the tick started none');
    a.gs.tick(t0 + 1000);
    await a.gs.syncNow(t0 + 1000);
    assert.equal(a.gs.stats.peerSyncs, 5);
    b.gs.tick(b.clock.now);
    await b.gs.syncNow(b.clock.now);
    assert.equal(b.store.main.table(maxima).get('ticked'), 1);
  } finally {
    await close(a, b);
  }
});

test('a partition: both edit apart, syncs fail loudly with their reason, and after healing both hold the same tables', async () => {
  const url = newServerRepo();
  const a = await router('a', url);
  const b = await router('b', url);
  try {
    write(a, (br) => { bump(br, 'n', 10); br.table(maxima).set('m', 1); br.table(members).set('s', [1]); });
    await sync(a);
    await sync(b);
    await sync(a);
    const port = server.port;
    await server.stop();
    write(a, (br) => { bump(br, 'n', 1); br.table(maxima).set('m', 5); br.table(stamped).set('w', { t: 2, v: 'a' }); br.table(members).set('s', [1, 2]); });
    write(b, (br) => { bump(br, 'n', 4); br.table(maxima).set('m', 3); br.table(stamped).set('w', { t: 1, v: 'b' }); br.table(members).delete('s'); });
    const failed = await a.gs.syncNow((a.clock.now += 1000));
    assert.equal(failed?.failed?.step, 'push');
    assert.equal(failed?.failed?.reason, 'connect');
    assert.equal((await b.gs.syncNow((b.clock.now += 1000)))?.failed?.reason, 'connect');
    assert.equal(a.gs.stats.peerSyncErrors, 1);
    assert.equal((await a.gs.syncStatus(a.clock.now)).failingFor, 1);
    assert.equal((await a.gs.syncStatus(a.clock.now)).remote?.failures.connect, 1);
    assert.match(a.errors.join('\n'), /peer sync failed at push \(connect\)/);
    server = await startGitHttpServer(serverRoot, port);
    await sync(a);
    await sync(b);
    await sync(a);
    await sync(b);
    assert.deepEqual(dump(a), dump(b));
    assert.equal(a.store.main.table(counters).get('n'), 15);
    assert.equal(a.store.main.table(maxima).get('m'), 5);
    assert.deepEqual(a.store.main.table(stamped).get('w'), { t: 2, v: 'a' });
    assert.equal((await a.gs.syncStatus(a.clock.now)).failingFor, 0);
    // The history shows it: a merge commit on main with b's head as a parent, its note naming the peer.
    const merges = git(tmp, '--git-dir', join(tmp, `b-${repos}`), 'log', '--merges', '--format=%P%x09%s%x09%b', 'main');
    assert.match(merges, /Merge peer a [0-9a-f]{12}: \d+ applied/);
    const log = git(tmp, '--git-dir', join(tmp, `a-${repos}`), 'log', '--merges', '--format=%P', 'main').trim().split('\n');
    const bHead = git(tmp, '--git-dir', join(tmp, `a-${repos}`), 'rev-parse', 'refs/peers/b').trim();
    assert.ok(log.some((parents) => parents.split(' ').includes(bHead)), 'a merge commit on a has b\'s head as a parent');
  } finally {
    await close(a, b);
  }
});

test('property: random edits on both sides in random sync orders converge, counters counted once, across history cuts', async () => {
  let squashed = 0;
  const step = fc.record({ who: fc.constantFrom(0 as const, 1 as const), op: fc.constantFrom('bump' as const, 'max' as const, 'del' as const, 'set' as const, 'sync' as const), key: fc.integer({ min: 0, max: 2 }), n: fc.integer({ min: 1, max: 9 }) });
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
      const url = newServerRepo();
      // The shortest history there is: cuts happen every few flushes, and must keep every peer's merge base.
      const rs = [await router('a', url, false, 2), await router('b', url, false, 2)];
      try {
        write(rs[0], (br) => br.table(maxima).set('start', 1));
        await sync(rs[0]); // a's branch first
        const bumped = new Map<string, number>();
        for (const s of steps) {
          const r = rs[s.who];
          const key = `k${s.key}`;
          if (s.op === 'sync') await sync(r);
          else write(r, (br) => {
            if (s.op === 'bump') { bump(br, key, s.n); bumped.set(key, (bumped.get(key) ?? 0) + s.n); }
            if (s.op === 'max') br.table(maxima).set(key, s.n);
            if (s.op === 'del') br.table(maxima).delete(key);
            if (s.op === 'set') br.table(members).set(key, [...(br.table(members).get(key) ?? []), s.n * 10 + s.who]);
          });
        }
        for (let i = 0; i < 2; i++) for (const r of rs) await sync(r);
        assert.deepEqual(dump(rs[0]), dump(rs[1]));
        for (const [key, n] of bumped) assert.equal(rs[0].store.main.table(counters).get(key), n, `counter ${key}`);
        squashed += rs[0].gs.stats.squashedCommits + rs[1].gs.stats.squashedCommits;
      } finally {
        await close(...rs);
      }
    }),
    { numRuns: 12, seed: 20261207, endOnFailure: true },
  );
  assert.ok(squashed > 0, 'some runs cut history');
});
