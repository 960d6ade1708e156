// Issue 17's groundwork: two routers sharing their tables through a real git server (git's own
// http-backend over smart HTTP). Each pushes its `main` to `routers/<name>`, fetches the other's,
// and merges what the other changed with the tables' own rules (git-peer.ts); after both have
// synced, both primaries hold the same tables. The server going away is a counted failure, not an
// exception, and a malformed file pushed by someone else is rejected on its own.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, type Branch } from '../store/index.js';
import { GitStore } from '../store/git/index.js';
import { GitRemote } from '../store/git/git-remote.js';
import { peerChanges, readPeer } from '../store/git/git-peer.js';
import { maxima, stamped, members } from './support/tables.js';
import { git, gitAsync } from './support/git-cli.js';
import { initBareRepo, startGitHttpServer, type GitHttpServer } from './support/git-http-server.js';

const tmp = mkdtempSync(join(tmpdir(), `nb-git-remote-${process.pid}-`));
const serverRoot = join(tmp, 'server');
let server: GitHttpServer;
let url: string;

before(async () => {
  mkdirSync(serverRoot);
  initBareRepo(serverRoot, 'tables.git', 'routers/a'); // as `netbranch git-serve --init` makes it
  server = await startGitHttpServer(serverRoot);
  url = `${server.url}/tables.git`;
});
after(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

// Tables whose rules settle concurrent writes: max, last-writer-wins by stamp, set union.
const tables = [maxima, stamped, members];

interface Router {
  name: string;
  store: Store;
  gs: GitStore;
  remote: GitRemote;
  clock: { now: number };
  rejected: { path: string; reason: string }[];
}

async function router(name: string): Promise<Router> {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const store = new Store(tables, { clock: () => clock.now });
  const gs = await GitStore.open(join(tmp, name), store.main, { thread: false, pruneGraceMs: 0 });
  return { name, store, gs, remote: new GitRemote(join(tmp, name), { url, name, timeoutMs: 10_000 }), clock, rejected: [] };
}

/** An actor's commit merged into the primary, then flushed: what a router does between syncs. */
async function write(r: Router, edit: (b: Branch) => void): Promise<void> {
  const b = r.store.main.fork('worker');
  edit(b);
  b.commit({ author: 'worker' });
  r.store.main.merge(b);
  b.close();
  await r.gs.flush((r.clock.now += 1000));
}

/** One sync: push ours, fetch theirs, merge each peer's changes into the primary, flush. */
async function sync(r: Router): Promise<{ applied: number; rejected: number }> {
  const now = (r.clock.now += 1000);
  const pushed = await r.remote.push(now);
  assert.ok(pushed.ok, pushed.ok ? '' : pushed.message);
  const fetched = await r.remote.fetch(now);
  assert.ok(fetched.ok, fetched.ok ? '' : fetched.message);
  let applied = 0;
  let rejected = 0;
  for (const [peer, head] of fetched.value) {
    const diff = await readPeer(r.gs.dir, head, r.gs.head);
    if (!diff) continue;
    const { changes, rejected: bad } = peerChanges(r.store.schema, diff);
    r.rejected.push(...bad);
    rejected += bad.length;
    const m = r.store.main.mergeWithAncestors(changes, { author: `peer ${peer}`, message: `merge ${peer} ${head.slice(0, 12)}` });
    applied += m.commit ? changes.length : 0;
  }
  await r.gs.flush((r.clock.now += 1000));
  return { applied, rejected };
}

/** Every table of the primary, as sorted [key, value] rows. */
function dump(r: Router): Record<string, [unknown, unknown][]> {
  const out: Record<string, [unknown, unknown][]> = {};
  for (const t of r.store.main.tables) out[t.def.name] = [...t.committedEntries()].sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
  return out;
}

let a: Router;
let b: Router;

test('two routers sync through the server: same tables on both, concurrent edits settled alike', async () => {
  a = await router('a');
  b = await router('b');
  await write(a, (br) => {
    br.table(maxima).set('both', 5);
    br.table(maxima).set('only-a', 1);
    br.table(stamped).set('x', { t: 2, v: 'from a' });
    br.table(members).set('s', [1, 3]);
  });
  await write(b, (br) => {
    br.table(maxima).set('both', 7);
    br.table(maxima).set('only-b', 2);
    br.table(stamped).set('x', { t: 1, v: 'from b' });
    br.table(members).set('s', [2, 3]);
  });
  await sync(a); // pushes a; b is not there yet
  await sync(b); // pushes b, merges a
  await sync(a); // merges b (which now holds a's too)
  await sync(b); // a's merge result back to b: nothing new for b
  assert.deepEqual(dump(a), dump(b));
  assert.equal(a.store.main.table(maxima).get('both'), 7);
  assert.deepEqual(a.store.main.table(stamped).get('x'), { t: 2, v: 'from a' });
  assert.deepEqual(a.store.main.table(members).get('s'), [1, 2, 3]);
  assert.equal(b.store.main.table(maxima).get('only-a'), 1);
  assert.equal(a.store.main.table(maxima).get('only-b'), 2);
  assert.equal(a.remote.stats.pushes, 2);
  assert.equal(a.remote.stats.fetches, 2);
  assert.ok(a.remote.stats.bytesSent > 0 && a.remote.stats.bytesReceived > 0);
  const pushed = await a.remote.push((a.clock.now += 1000));
  assert.equal(git(serverRoot, '--git-dir', 'tables.git', 'rev-parse', 'routers/a').trim(), pushed.ok ? pushed.value : 'failed');
});

test('the server gone: a counted failure with its reason, then recovery once it is back', async () => {
  const port = server.port;
  await server.stop();
  const r = await a.remote.push((a.clock.now += 1000));
  assert.equal(r.ok, false);
  assert.equal(r.ok ? null : r.reason, 'connect');
  const f = await a.remote.fetch((a.clock.now += 1000));
  assert.equal(f.ok ? null : f.reason, 'connect');
  assert.equal(a.remote.stats.failures.connect, 2);
  assert.match(a.remote.stats.lastError ?? '', /ECONNREFUSED/);
  const lastOk = a.remote.stats.lastPushAt;
  server = await startGitHttpServer(serverRoot, port);
  await write(a, (br) => br.table(maxima).set('after-outage', 4));
  await sync(a);
  await sync(b);
  assert.ok(a.remote.stats.lastPushAt > lastOk);
  assert.equal(b.store.main.table(maxima).get('after-outage'), 4);
  assert.deepEqual(dump(a), dump(b));
});

test('a server that never answers: the call ends at its deadline, counted as a timeout', async () => {
  const held = new Set<Socket>();
  const silent = createServer((s) => { held.add(s); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  try {
    const port = (silent.address() as { port: number }).port;
    const r = new GitRemote(join(tmp, 'a'), { url: `http://127.0.0.1:${port}/tables.git`, name: 'a', timeoutMs: 300 });
    const out = await r.push(0);
    assert.equal(out.ok ? null : out.reason, 'timeout');
    assert.equal(r.stats.failures.timeout, 1);
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('garbage pushed to routers/a by a third party: its bad file is rejected, the rest merges, nothing is lost', async () => {
  const before = dump(b);
  const work = join(tmp, 'intruder');
  // Plain git against our own server: asynchronously, so this thread keeps serving it.
  const ok = async (...args: Parameters<typeof gitAsync>) => { const r = await gitAsync(...args); assert.equal(r.status, 0, r.out); };
  await ok(tmp, 'clone', '-q', '-b', 'routers/a', url, work);
  writeFileSync(join(work, 'max', 'broken'), 'this is not json\n');
  writeFileSync(join(work, 'max', 'planted'), '9\n');
  await ok(work, 'add', '-A');
  await ok(work, 'commit', '-q', '-m', 'a third party');
  await ok(work, 'push', '-q', 'origin', 'HEAD:routers/a');
  const out = await sync(b);
  assert.equal(out.rejected, 1);
  assert.equal(b.rejected.at(-1)?.path, 'max/broken');
  assert.match(b.rejected.at(-1)?.reason ?? '', /not valid JSON/);
  assert.equal(b.store.main.table(maxima).get('planted'), 9);
  const now = dump(b);
  for (const [name, rows] of Object.entries(before)) {
    for (const row of rows) assert.ok(now[name].some((r) => JSON.stringify(r) === JSON.stringify(row)), `${name} kept ${JSON.stringify(row)}`);
  }
  // a's next push takes its branch back; the planted entry, merged by b, reaches a once b has pushed it.
  await sync(a);
  await sync(b);
  await sync(a);
  assert.deepEqual(dump(a), dump(b));
  await a.gs.close((a.clock.now += 1000));
  await b.gs.close((b.clock.now += 1000));
});
