// Issue 17, partition and heal: two routers WITHOUT failover (active/active), each with its own client and
// server namespace, each reaching the shared `netbranch git-serve` through its own fault proxy. Both proxies
// are blackholed for 10 s while both routers take edits (API writes, one of them to the same key on both,
// and new UDP flows); after healing, every table listed through the API is the same on both, and each
// store's git history holds a merge commit whose parent is the peer's head carrying its partition edits.
// The time to converge is printed as a diagnostic (bench/ha-sync.ts measures it as ha.converge_ms).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HaPair, hasRow as has, noPair, sleep, staticArp as arp, type PairRouter, type Tables } from './support/ha-pair.js';
import { git, gitStatus } from './support/git-cli.js';

if (noPair) process.stdout.write(`# skipping ha-partition: ${noPair}\n`);

const SYNC_MS = 1000;
const PARTITION_MS = 10_000;
const CONVERGE_BOUND_MS = 60_000;

const valueOf = (t: Tables, table: string, key: string): unknown => t[table]?.find((e) => e.key === key)?.value;

/** The flows whose inside end is `r`'s client (the nat table's rows carry it readably). */
const flowsOf = (t: Tables, r: PairRouter): number => (t.nat ?? []).filter((e) => JSON.stringify(e.value).includes(`"${r.clientIp}"`)).length;

/** Merge commits on `main` of `r`'s store, each with its parents after the first. */
function merges(r: PairRouter): { commit: string; peers: string[] }[] {
  return git(r.store, 'log', '--merges', '--format=%H %P', 'main').trim().split('\n').filter(Boolean)
    .map((l) => { const [commit, , ...peers] = l.split(' '); return { commit, peers }; });
}

describe('a partition of 10 s with edits on both routers, then healing: identical tables, the merge in git', { skip: noPair }, () => {
  const pair = new HaPair(`nbp${process.pid % 1000}`);
  before(async () => { await pair.build(SYNC_MS); });
  after(async () => { await pair.teardown(); });

  it('both converge to the same tables, every table compared through the API', { timeout: 240_000 }, async () => {
    const { a, b } = pair;
    // Before: traffic through both (ARP and NAT rows), and a shared starting point.
    for (const r of pair.routers) {
      assert.ok(await r.forwards(), `router ${r.name} forwards before the partition:\n${r.lab.router?.err().slice(-2000)}`);
      await r.udpFlows(5);
    }
    assert.ok(await pair.converged(CONVERGE_BOUND_MS), 'the pair converges before the partition');

    for (const r of pair.routers) r.proxy.set({ kind: 'blackhole' });
    const cut = Date.now();
    await a.api.set('dnat', 'tcp:8081', a.forwardRule(8081, 5, 1));
    await b.api.set('dnat', 'tcp:8082', b.forwardRule(8082, 5, 1));
    await a.api.set('arp', `10.${a.net}.1.77`, arp('02:00:00:17:00:77'));
    await b.api.set('arp', `10.${b.net}.1.77`, arp('02:00:00:17:01:77'));
    // The same key written on both sides: the dnat merge keeps the later rule (larger `created`) on both.
    await a.api.set('dnat', 'tcp:8090', a.forwardRule(8090, 9, 2000));
    await b.api.set('dnat', 'tcp:8090', b.forwardRule(8090, 9, 1000));
    await a.udpFlows(20, 10);
    await b.udpFlows(20, 10);
    await sleep(Math.max(0, PARTITION_MS - (Date.now() - cut)));
    const apart = [await a.tables(), await b.tables()];
    assert.ok(!has(apart[0], 'dnat', 'tcp:8082') && !has(apart[1], 'dnat', 'tcp:8081'), 'neither saw the other\'s edit while apart');
    for (const r of pair.routers) assert.ok((await r.peers()).failingFor > 0, `router ${r.name} counts its failing syncs while apart`);

    for (const r of pair.routers) r.proxy.set({ kind: 'pass' });
    const healed = Date.now();
    const same = await pair.converged(CONVERGE_BOUND_MS);
    const convergeMs = Date.now() - healed;
    process.stdout.write(`# ha-partition: converged ${convergeMs} ms after healing a ${PARTITION_MS} ms partition (sync interval ${SYNC_MS} ms; diagnostic, not asserted)\n`);
    assert.ok(same, `identical tables on both within ${CONVERGE_BOUND_MS} ms of healing:\na: ${JSON.stringify(await a.tables())}\nb: ${JSON.stringify(await b.tables())}`);
    for (const key of ['tcp:8081', 'tcp:8082']) assert.ok(has(same, 'dnat', key), `dnat ${key} on both`);
    for (const r of pair.routers) assert.ok(has(same, 'arp', `10.${r.net}.1.77`), `router ${r.name}'s static ARP entry on both`);
    assert.equal((valueOf(same, 'dnat', 'tcp:8090') as { insideIp: string }).insideIp, `10.${a.net}.1.9`, 'the later rule won on both');
    for (const r of pair.routers) assert.ok(flowsOf(same, r) >= 20, `router ${r.name}'s flows on both (${flowsOf(same, r)})`);
    for (const r of pair.routers) assert.equal((await r.peers()).failingFor, 0, `router ${r.name} syncs again`);
  });

  it('each store\'s history shows a merge commit with the peer\'s partition head as a parent', { timeout: 60_000 }, async () => {
    for (const [r, peer, edit] of [[pair.a, pair.b, 'dnat/tcp:8082'], [pair.b, pair.a, 'dnat/tcp:8081']] as const) {
      const found = merges(r).find((m) => m.peers.some((p) =>
        gitStatus(r.store, 'merge-base', '--is-ancestor', p, `refs/peers/${peer.name}`).status === 0 && gitStatus(r.store, 'cat-file', '-e', `${p}:${edit}`).status === 0));
      assert.ok(found, `a merge on ${r.name}'s main has ${peer.name}'s head holding ${edit} as a parent:\n${git(r.store, 'log', '--merges', '--format=%H %P %s', 'main').slice(0, 3000)}`);
      const subject = git(r.store, 'log', '-1', '--format=%s%n%b', found.commit);
      assert.match(subject, new RegExp(`Merge peer ${peer.name} [0-9a-f]{12}`), subject);
    }
  });
});
