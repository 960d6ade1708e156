// The API's view of the whole stack: `stats` with the stack's report (actors, tables, merges), `commits` (the
// primary's merges with their actors), `diff` between two commits and hello's interfaces — from a router on worker
// threads (no TAP needed), over the socket and over HTTP.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '../api/client.js';
import { BucketHistogram, quantile } from '../actors/runtime/histogram.js';
import { rig, waitFor } from './support/router-rig.js';
import { freePort } from './support/free-port.js';


const TOKEN = 'stack-test-token-0123456789';

describe('the stack through the API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-stack-'));
  const closers: (() => Promise<void> | void)[] = [];
  after(async () => { for (const c of closers.reverse()) await c(); rmSync(dir, { recursive: true, force: true }); });

  let n = 0;
  async function routerWithApi(): Promise<{ r: Awaited<ReturnType<typeof rig>>; api: Client; http: string }> {
    const sock = join(dir, `api-${n++}.sock`);
    const port = await freePort();
    const r = await rig('memory', { api: { unix: sock, http: { host: '127.0.0.1', port }, tokens: [{ name: 'ops', token: TOKEN, scopes: ['read:*'] }], role: 'router' } });
    closers.push(() => r.close());
    const api = await connect(`unix:${sock}`);
    closers.push(() => api.close());
    return { r, api, http: `http://127.0.0.1:${port}` };
  }

  test('stats carries the stack report: every actor, the tables with the NAT limit, merge durations', async () => {
    const { r, api } = await routerWithApi();
    for (let i = 0; i < 4; i++) r.send(41_000 + i, i);
    await waitFor('four echoes', () => r.replies().length === 4);
    let stats = await api.stats();
    for (let tries = 0; tries < 100 && (stats.stack?.tables.find((t) => t.name === 'nat')?.entries ?? 0) < 4; tries++) {
      await new Promise((res) => setTimeout(res, 50));
      stats = await api.stats();
    }
    const stack = stats.stack!;
    assert.equal(stack.role, 'router');
    // The rig's frames come through the main thread's dispatchers, which report as one more line.
    assert.deepEqual(stack.actors.map((a) => a.name).sort(), ['dispatcher', 'expiry', 'lookup', 'packet-0', 'packet-1']);
    assert.ok(stack.actors.find((a) => a.name === 'dispatcher')!.counters['inside.dispatched'] >= 4);
    const nat = stack.tables.find((t) => t.name === 'nat')!;
    assert.equal(nat.entries, 4);
    assert.equal(nat.limit, 65_536 * 2);
    assert.ok(stack.mergeMs.count > 0, 'merges were timed');
    assert.equal(stack.mergeMs.buckets.at(-1)![1] <= stack.mergeMs.count, true);
    assert.ok(stack.head >= 1 && stack.head <= (await api.commits(1)).head, 'the head the report names is the primary\'s (merges go on meanwhile)');
    assert.ok(stack.actors.some((a) => a.kind === 'packet' && Object.keys(a.counters).some((k) => k.startsWith('nat.'))));
    assert.deepEqual(Object.keys(stack.restarts).sort(), ['expiry', 'lookup', 'packet-0', 'packet-1']);
    const byOp = (await api.stats()).requestsByOp;
    assert.ok(byOp.stats >= 2 && byOp.commits === 1, JSON.stringify(byOp));
  });

  test('commits lists the primary\'s merges with their actors; diff shows what a flow changed', async () => {
    const { r, api } = await routerWithApi();
    const before = (await api.commits(1)).head;
    r.send(42_000, 1);
    await waitFor('the echo', () => r.replies().length === 1);
    let after = before;
    for (let i = 0; i < 100 && after === before; i++) { await new Promise((res) => setTimeout(res, 30)); after = (await api.commits(1)).head; }
    const log = await api.commits(50);
    assert.ok(log.commits.length > 0 && log.commits[0].seq === log.head);
    const merge = log.commits.find((c) => (c.kind === 'merge' || c.kind === 'fast-forward') && c.changes.nat);
    assert.ok(merge, `a merge that changed nat among ${JSON.stringify(log.commits.map((c) => [c.seq, c.kind, c.author]))}`);
    assert.match(merge.author, /^packet-\d#\d+$/);
    const d = await api.diff(before);
    const flow = d.changes.find((c) => c.table === 'nat');
    assert.ok(flow, 'the flow is in the diff');
    assert.equal(flow.before, null);
    assert.match(flow.key, /^udp:10\.201\.0\.2:42000:10\.202\.0\.2:7$/);
    await assert.rejects(api.diff(999_999_999), (e: Error & { code?: string }) => e.code === 'not-found');
    await assert.rejects(api.commits(0), (e: Error & { code?: string }) => e.code === 'bad-request');
  });

  test('hello reports the router\'s interfaces; HTTP serves stats, commits and diff with a token', async () => {
    const { api, http } = await routerWithApi();
    const hello = await api.hello();
    assert.deepEqual(hello.interfaces?.map((i) => [i.role, i.dev, i.ip]), [['inside', 'in', '10.201.0.1'], ['outside', 'out', '10.202.0.1']]);
    const get = async (path: string, token: string | null = TOKEN) => {
      const res = await fetch(http + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: res.status, body: await res.json() as Record<string, any> };
    };
    const stats = await get('/api/stats');
    assert.equal(stats.status, 200);
    assert.equal(stats.body.stack.role, 'router');
    const commits = await get('/api/commits?limit=5');
    assert.equal(commits.status, 200);
    assert.ok(commits.body.commits.length >= 1 && commits.body.commits.length <= 5);
    const diff = await get(`/api/diff?from=${commits.body.head}`);
    assert.deepEqual([diff.status, diff.body.changes], [200, []]);
    assert.equal((await get('/api/diff')).status, 400, 'from is required');
    assert.equal((await get('/api/stats', null)).status, 401);
    assert.equal((await get('/api/stats', 'not-a-token-at-all-000')).status, 401);
    assert.ok((await api.stats()).errorsByCode.unauthenticated >= 2, 'HTTP refusals are counted by code');
  });
});

describe('the merge-duration histogram', () => {
  test('cumulative buckets, and quantiles interpolated as histogram_quantile does', () => {
    const h = new BucketHistogram([1, 2, 4]);
    for (const v of [0.5, 0.5, 1.5, 3, 10]) h.record(v);
    const s = h.snapshot();
    assert.deepEqual(s.buckets, [[1, 2], [2, 3], [4, 4]]);
    assert.equal(s.count, 5);
    assert.equal(s.sum, 15.5);
    assert.equal(quantile(s, 0.4), 1); // rank 2: the top of the first bucket
    assert.equal(quantile(s, 0.5), 1.5); // rank 2.5: half-way through (1, 2]
    assert.equal(quantile(s, 1), 4); // rank 5 is past every finite bucket: its highest bound
    assert.equal(quantile(new BucketHistogram([1]).snapshot(), 0.5), undefined);
  });
});
