// `netbranch stress`: concurrent branches on worker threads merging into one primary, checked by an
// oracle; and proof that the oracle does catch a wrong primary, a wrong delta log or a wrong view.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runStress, type StressResult } from '../actors/stress/stress.js';
import { checkStress, type StressEvidence } from '../actors/stress/stress-oracle.js';
import { OP_KINDS } from '../actors/stress/stress-edits.js';
import { stressCounters, stressTables } from '../actors/stress/stress-schema.js';
import { Replica, ReplicaHost, Store } from '../store/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run { code: number; stdout: string; stderr: string }

/** Runs `netbranch stress ...args` from the sources, as a user would. */
function stress(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'stress', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const noStackTrace = (text: string): boolean => !/^\s+at /m.test(text);

describe('netbranch stress', () => {
  let run: StressResult;
  before(async () => {
    run = await runStress({ branches: 4, ops: 4 * 10_000, seed: 7, mergeProbability: 0.05, keepEvidence: true, timeoutMs: 60_000 });
  });

  test('4 branches × 10,000 edits on worker threads agree with the oracle', () => {
    assert.equal(run.verdict, 'agree', run.divergences.join('\n') + (run.error ?? ''));
    assert.equal(run.ok, true);
    assert.equal(run.ops, 40_000);
    assert.deepEqual(run.divergences, []);
    assert.ok(run.merges >= 4, `only ${run.merges} merges`);
    assert.equal(run.pulls, 4, 'one final pull per branch');
    assert.equal(run.rejected, 0);
    assert.equal(run.conflicts, run.modelConflicts);
    for (const k of OP_KINDS) assert.ok(run.opCounts[k] > 0, `no '${k}' edit was made`);
    assert.ok(run.opsPerSec > 0 && run.mergesPerSec > 0);
    const ev = run.evidence!;
    assert.equal(ev.branches.length, 4);
    assert.ok(ev.log.filter((e) => e.delta.tables.length).length === run.merges, 'every merge is in the log');
  });

  test('the branches really collided: keys changed by several branches, counters incremented by all', () => {
    const ev = run.evidence!;
    const writers = new Map<string, Set<string>>();
    for (const { delta } of ev.log) {
      for (const tc of delta.tables) for (const k of [...tc.set.map(([key]) => key), ...tc.del]) {
        const w = writers.get(`${tc.table}/${k}`) ?? new Set();
        w.add(delta.replica);
        writers.set(`${tc.table}/${k}`, w);
      }
    }
    const shared = [...writers.values()].filter((w) => w.size >= 2).length;
    assert.ok(shared >= 16, `only ${shared} keys were written by two branches or more`);
    for (const b of ev.branches) assert.ok(Object.keys(b.increments).length === 16, `${b.replica} did not touch every counter`);
  });

  test('the oracle agrees on the untouched evidence', () => {
    const c = checkStress(stressTables, run.evidence!);
    assert.deepEqual(c.divergences, []);
    assert.equal(c.ok, true);
  });

  test('the oracle catches a corrupted primary', () => {
    const ev: StressEvidence = structuredClone(run.evidence!);
    const counters = ev.primary.counters;
    counters[0] = [counters[0][0], (counters[0][1] as number) + 1];
    const arp = ev.primary.arp;
    assert.ok(arp.length > 0);
    arp.splice(0, 1); // an entry the primary should hold is gone
    const c = checkStress(stressTables, ev);
    assert.equal(c.ok, false);
    const text = c.divergences.join('\n');
    assert.match(text, new RegExp(`primary vs model: counters/${counters[0][0]}: `));
    assert.match(text, new RegExp(`counter ${counters[0][0]}: primary \\d+, sum of increments \\d+`));
    assert.match(text, /primary vs model: arp\/\d+: primary \(absent\), model \{/);
  });

  test('the oracle catches a delta log with one change altered', () => {
    const ev: StressEvidence = structuredClone(run.evidence!);
    // The last delta that sets a counter: no later delta overwrites that counter, so the model must differ.
    const last = ev.log.findLast(({ delta }) => delta.tables.some((tc) => tc.table === 'counters' && tc.set.length > 0));
    assert.ok(last);
    const entry = last.delta.tables.find((tc) => tc.table === 'counters' && tc.set.length > 0)!.set[0];
    entry[1] = (entry[1] as number) + 1000;
    const c = checkStress(stressTables, ev);
    assert.equal(c.ok, false);
    assert.match(c.divergences.join('\n'), new RegExp(`primary vs model: counters/${entry[0]}: primary \\d+, model \\d+`));
  });

  test('the oracle catches a dropped delta', () => {
    const ev: StressEvidence = structuredClone(run.evidence!);
    const dropped = ev.log.findIndex((e) => e.delta.tables.length > 0);
    ev.log.splice(dropped, 1);
    const c = checkStress(stressTables, ev);
    assert.equal(c.ok, false);
    // The delta that now stands in its place is caught, whichever way the schedule makes it differ: its base is the
    // commit the dropped one made (when the same branch pushed next), or the head after it is one short.
    assert.match(c.divergences[0], new RegExp(`^delta #${dropped} \\(branch-\\d+\\)(: primary head is \\d+ after it, the model's \\d+| is based on commit \\d+, which the model never reached)`));
  });

  test('the oracle catches a branch whose final view differs from the primary', () => {
    const ev: StressEvidence = structuredClone(run.evidence!);
    ev.branches[1].view.counters[0][1] += 1;
    const c = checkStress(stressTables, ev);
    assert.equal(c.ok, false);
    assert.match(c.divergences.join('\n'), /^branch-1's final view: counters\/c\d+: branch \d+, primary \d+$/m);
  });

});

describe('netbranch stress (CLI)', () => {
  // Child processes, started together: each spends most of its time starting tsx.
  const bad = [[['--branches', '0'], '--branches'], [['--ops', 'x'], '--ops'], [['--merge-probability', '1.5'], '--merge-probability']] as const;
  let plain: Promise<Run>;
  let json: Promise<Run>;
  let refused: Promise<Run>[];
  before(() => {
    plain = stress('--branches', '2', '--ops', '2000', '--seed', '3');
    json = stress('--branches', '2', '--ops', '1000', '--json');
    refused = bad.map(([args]) => stress(...args));
  });

  test('2 branches × 1,000 edits: prints the verdict and exits 0', async () => {
    const r = await plain;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^stress: 2 branches, 2,000 edits \(seed 3/m);
    assert.match(r.stdout, /edits\/s, \d+ merges .* merges\/s/);
    assert.match(r.stdout, /^verdict: agree/m);
    assert.ok(noStackTrace(r.stderr), r.stderr);
  });

  test('--json prints one JSON line', async () => {
    const r = await json;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]) as StressResult;
    assert.equal(j.verdict, 'agree');
    assert.equal(j.ops, 1000);
    assert.equal(typeof j.mergesPerSec, 'number');
    assert.equal(j.evidence, undefined);
  });

  test('bad flags: one line on stderr and exit 2', async () => {
    const runs = await Promise.all(refused);
    runs.forEach((r, i) => {
      const [args, flag] = bad[i];
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^netbranch stress: ${flag} must be`));
      assert.equal(r.stdout, '');
    });
  });
});

// A store bug the stress run found: a replica that lost its base kept its unpushed edits through
// Replica.resync() without rebasing them over the snapshot, so an edit computed from the old base
// (a counter's value + its increments) overwrote what other replicas merged meanwhile.
describe('replica resync after losing its base', () => {
  test('a counter keeps the increments other replicas merged while it lagged', () => {
    const store = new Store(stressTables, { clock: () => 0, retention: 2 });
    const host = new ReplicaHost(store.main, { maxLag: 1 });
    const a = new Replica(store.schema, host.attach('a'));
    const b = new Replica(store.schema, host.attach('b'));
    a.table(stressCounters).set('k', 1); // a: +1, not pushed yet
    for (let i = 0; i < 3; i++) { // b: +3, merged one by one; a falls behind and its base is released
      b.table(stressCounters).set('k', (b.table(stressCounters).get('k') ?? 0) + 1);
      b.applyHead(host.accept(b.takeDelta()!));
    }
    const answer = host.codec.decode(host.acceptBytes(host.codec.encode(a.takeDelta()!)));
    assert.equal(answer.type, 'rejected');
    assert.equal(answer.type === 'rejected' && answer.code, 'base-released');
    a.applyRejected();
    a.resync(host.attach('a'));
    a.applyHead(host.accept(a.takeDelta()!));
    assert.equal(store.main.table(stressCounters).get('k'), 4); // before the fix: 1, b's three increments were lost
  });
});
