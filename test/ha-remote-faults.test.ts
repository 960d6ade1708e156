// Issue 17, remote faults: two routers sharing their tables through `netbranch git-serve`, each through its
// own fault proxy. The git server killed, slow (each chunk held past the sync's deadline) and answering
// 500s: both routers keep forwarding, count the failures by reason in `stack.peers.failures`, log them at
// error level, and resync once the server is back (failingFor 0, a peer's edit made during the fault
// arrives). A third party's pushes: a pack with a corrupt object is refused by the server
// (receive.fsckObjects); a well-formed branch `routers/evil` of garbage table files is read by both
// routers, its files rejected and counted (peerFilesRejected), neither router's tables damaged.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HaPair, hasRow, noPair, poll, pushCorruptCommit, pushTableFiles, type PairRouter, type Tables } from './support/ha-pair.js';
import { gitStatus } from './support/git-cli.js';
import type { FaultMode } from './support/fault-proxy.js';

if (noPair) process.stdout.write(`# skipping ha-remote-faults: ${noPair}\n`);

const SYNC_MS = 1000;
/** The router's deadline for a push or fetch at this sync interval: max(5 s, 2 × interval) (cli/pair.ts). */
const DEADLINE_MS = 5_000;
const BOUND_MS = 40_000;

type Reason = 'connect' | 'timeout' | 'http';

describe('the git server killed, slow, answering errors; a third party\'s bad pushes', { skip: noPair }, () => {
  const pair = new HaPair(`nbf${process.pid % 1000}`);
  before(async () => {
    await pair.build(SYNC_MS);
    for (const r of pair.routers) assert.ok(await r.forwards(), `router ${r.name} forwards:\n${r.lab.router?.err().slice(-2000)}`);
    assert.ok(await pair.converged(BOUND_MS), 'the pair converges before any fault');
  });
  after(async () => { await pair.teardown(); });

  const failures = async (r: PairRouter, reason: Reason): Promise<number> => (await r.peers()).failures[reason] ?? 0;
  /** Both routers synced since `since` and are not failing: resolves true, or false after the bound. */
  const resynced = async (since: number): Promise<boolean> => (await poll(async () => {
    for (const r of pair.routers) { const p = await r.peers(); if (p.failingFor !== 0 || p.lastFetchAt < since) return undefined; }
    return true;
  }, BOUND_MS)) ?? false;

  /**
   * One fault: both routers' syncs fail with `reason`, counted and logged at error level, while both
   * forward; b takes an edit; after `heal`, both sync again and a has b's edit.
   */
  async function survive(reason: Reason, port: number, fault: () => Promise<void>, heal: () => Promise<void>): Promise<void> {
    const { a, b } = pair;
    const counted = [await failures(a, reason), await failures(b, reason)];
    const logFrom = pair.routers.map((r) => r.lab.router!.err().length);
    await fault();
    try {
      await b.api.set('dnat', `tcp:${port}`, b.forwardRule(port, 6, 1));
      const seen = await poll(async () => ((await failures(a, reason)) > counted[0] && (await failures(b, reason)) > counted[1] ? true : undefined), BOUND_MS);
      assert.ok(seen, `both count a ${reason} failure: a ${JSON.stringify((await a.peers()).failures)}, b ${JSON.stringify((await b.peers()).failures)}`);
      for (const [i, r] of pair.routers.entries()) {
        assert.ok((await r.peers()).failingFor > 0, `router ${r.name}: failingFor > 0 during the fault`);
        // The line follows the count by a moment, through the router's stderr pipe.
        const logged = (l: string) => l.includes('peer sync failed at') && l.includes(`(${reason})`);
        const line = await poll(() => (r.errorLines(logFrom[i]).some(logged) ? true : undefined), 10_000, 100);
        assert.ok(line, `router ${r.name} logs the ${reason} failure at error level:\n${r.errorLines(logFrom[i]).join('\n').slice(0, 2000)}`);
        assert.ok(await r.forwards(), `router ${r.name} forwards during the ${reason} fault`);
      }
      assert.ok(!hasRow(await a.tables(), 'dnat', `tcp:${port}`), 'b\'s edit cannot have reached a during the fault');
    } finally {
      await heal(); // the next fault starts from a working server, whatever failed here
    }
    const healed = Date.now();
    assert.ok(await resynced(healed), `both sync again after the ${reason} fault: a ${JSON.stringify(await a.peers())}\nb ${JSON.stringify(await b.peers())}`);
    assert.ok(await poll(async () => (hasRow(await a.tables(), 'dnat', `tcp:${port}`) ? true : undefined), BOUND_MS), `b's edit made during the ${reason} fault reaches a`);
  }

  const proxies = (mode: FaultMode) => async () => { for (const r of pair.routers) r.proxy.set(mode); };

  it('the git server killed: connect failures, forwarding goes on, resync once it is back', { timeout: 180_000 }, async () => {
    await survive('connect', 8101, () => pair.killGitServer(), () => pair.startGitServer());
  });

  it(`the git server slow (every chunk held ${DEADLINE_MS + 1000} ms, past the sync's deadline): timeouts, then resync`, { timeout: 180_000 }, async () => {
    await survive('timeout', 8102, proxies({ kind: 'delay', ms: DEADLINE_MS + 1000 }), proxies({ kind: 'pass' }));
  });

  it('the git server answering 500: http failures, then resync', { timeout: 180_000 }, async () => {
    await survive('http', 8103, proxies({ kind: 'error' }), proxies({ kind: 'pass' }));
    assert.ok(pair.routers.every((r) => r.proxy.counts.errorsAnswered > 0), 'the proxies answered the 500s');
  });

  it('a third party\'s pack with a corrupt object: refused by the server, no branch made, both keep syncing', { timeout: 120_000 }, async () => {
    const push = await pushCorruptCommit(join(pair.a.lab.dir, 'intruder-1'), pair.repoUrl, 'refs/heads/routers/evil');
    assert.notEqual(push.status, 0, push.out);
    assert.match(push.out, /missingEmail|fsck error/, push.out);
    assert.equal(gitStatus(pair.gitRoot, '--git-dir', 'tables.git', 'rev-parse', '--verify', '-q', 'routers/evil').status, 1, 'no routers/evil on the server');
    assert.ok(await resynced(Date.now()), 'both sync on');
  });

  it('a well-formed routers/evil of garbage table files: rejected and counted by both, no table damaged, both keep syncing', { timeout: 120_000 }, async () => {
    const { a, b } = pair;
    // What an earlier test edited has arrived everywhere before "as they were" is taken.
    assert.ok(await pair.converged(BOUND_MS), 'the pair holds the same tables before the intruder pushes');
    const rejectedBefore = await Promise.all(pair.routers.map(async (r) => (await r.stack()).git?.peerFilesRejected ?? 0));
    const before: Tables[] = await Promise.all(pair.routers.map((r) => r.tables()));
    await pushTableFiles(join(a.lab.dir, 'intruder-2'), pair.repoUrl, 'routers/a', 'routers/evil', {
      'dnat/tcp:9999': 'this is not json\n',
      'dnat/tcp:9998': '{"proto": "tcp"}\n',
      'dnat/not-a-key': '{"proto": "tcp", "port": 1, "insideIp": "10.171.1.5", "insidePort": 80, "created": 1}\n',
    });
    const counted = await poll(async () => {
      const now = await Promise.all(pair.routers.map(async (r) => (await r.stack()).git?.peerFilesRejected ?? 0));
      return now.every((n, i) => n >= rejectedBefore[i] + 3) ? now : undefined;
    }, BOUND_MS);
    assert.ok(counted, `both routers reject the three files: ${JSON.stringify(await Promise.all(pair.routers.map(async (r) => (await r.stack()).git)))}`);
    for (const [i, r] of pair.routers.entries()) {
      const now = await r.tables();
      assert.deepEqual(now.dnat, before[i].dnat, `router ${r.name}'s port forwards are as they were`);
      for (const t of Object.keys(before[i])) assert.ok(now[t] !== undefined, `router ${r.name} still serves ${t}`);
      assert.ok(await r.forwards(), `router ${r.name} forwards`);
    }
    await b.api.set('dnat', 'tcp:8104', b.forwardRule(8104, 6, 1));
    assert.ok(await poll(async () => (hasRow(await a.tables(), 'dnat', 'tcp:8104') ? true : undefined), BOUND_MS), 'a later edit on b still reaches a');
    assert.ok(await resynced(Date.now()), 'both sync on');
    assert.ok(await pair.converged(BOUND_MS), 'and hold the same tables');
  });
});
