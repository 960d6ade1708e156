// The git backend, checked with the real git CLI: what `git log -p` and `git show` print, `git fsck
// --full --strict` after every kind of write, edits pushed with plain git (in-process and to a
// running `netbranch sim`), kill -9 crash recovery, bounded history, and bad input.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store, type Branch } from '../store/index.js';
import { GitStore } from '../store/git/index.js';
import { routerTables } from '../actors/router/router-schema.js';
import { arpTable, type ArpEntry } from '../actors/iface/arp-table.js';
import { natFlowKey, natKey, natTable, type NatEntry } from '../actors/router/nat-table.js';
import { assertFsck, fsckProblems, git, gitAsync, gitStatus } from './support/git-cli.js';
import type { Logger } from '../store/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs `fn` over `items`, `limit` at a time. */
async function inParallel<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

const tmpDirs: string[] = [];
function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `nb-git-${tag}-`));
  tmpDirs.push(d);
  return d;
}

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A deadline for Promise.race that does not keep the process alive once the race is decided. */
const deadline = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms).unref());

/** Polls `fn` until it returns something other than undefined/false: bounded in time and in tries. */
async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs: number, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; i <= Math.ceil(timeoutMs / everyMs) + 1; i++) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const ip = (s: string) => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
const mac = (s: string) => parseInt(s.replace(/:/g, ''), 16);
const arp = (m: string, expires: number, kind: ArpEntry['kind'] = 'dynamic'): ArpEntry => ({ mac: mac(m), expires, kind });

const FLOW_A = natKey('udp', ip('10.201.0.2'), 40000, ip('10.202.0.2'), 53);
const FLOW_B = natKey('tcp', ip('10.201.0.3'), 41234, ip('10.202.0.9'), 443);
const FLOW_A_PATH = 'nat/udp/10.201.0.2/40000-40999/udp:10.201.0.2:40000:10.202.0.2:53';
const FLOW_B_PATH = 'nat/tcp/10.201.0.3/41000-41999/tcp:10.201.0.3:41234:10.202.0.9:443';

function flow(key: string, outPort: number, t: number): NatEntry {
  const [p, inIp, inPort, remIp, remPort] = natFlowKey.encode(key).split(':');
  const proto = p === 'tcp' ? 'tcp' : 'udp';
  return {
    proto, insideIp: ip(inIp), insidePort: Number(inPort), remoteIp: ip(remIp), remotePort: Number(remPort),
    outPort, state: proto === 'tcp' ? 'established' : 'udp-new', created: t, lastSeen: t, pktsOut: 1, pktsIn: 0, bytesOut: 60, bytesIn: 0,
  };
}

/** A logger that remembers every call. */
function recordingLogger(): Logger & { calls: { level: string; obj: Record<string, unknown>; msg: string }[] } {
  const calls: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => { calls.push({ level, obj: obj as Record<string, unknown>, msg }); };
  return { calls, info: at('info'), warn: at('warn'), error: at('error') };
}

/** A fork that changes the primary as an actor would, merged back. */
function actor(main: Branch, name: string, edit: (b: Branch) => void): void {
  const b = main.fork(name);
  edit(b);
  b.commit({ author: name });
  main.merge(b);
  b.close();
}

function arpEntries(main: Branch): [number, ArpEntry][] {
  return [...main.table(arpTable).entries()].sort((a, b) => a[0] - b[0]);
}

function writeFile(repo: string, path: string, text: string): void {
  mkdirSync(dirname(join(repo, path)), { recursive: true });
  writeFileSync(join(repo, path), text);
}

/** A working clone of `dir` on a new `edits` branch. */
function cloneForEdits(dir: string, work: string): void {
  git(tmpdir(), 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
}

function commitAndPush(work: string, subject: string): string {
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', subject);
  git(work, 'push', '-q', 'origin', 'edits');
  return git(work, 'rev-parse', 'HEAD').trim();
}

const looseObjects = (dir: string): number =>
  readdirSync(join(dir, 'objects')).filter((d) => /^[0-9a-f]{2}$/.test(d)).reduce((n, d) => n + readdirSync(join(dir, 'objects', d)).length, 0);

function tmpObjects(dir: string): string[] {
  const objs = join(dir, 'objects');
  return existsSync(objs) ? readdirSync(objs).filter((f) => f.startsWith('tmp_obj_')) : [];
}

describe('git store, in-process', () => {
  test('merged forks become readable entry files; messages name the actors and the resolved conflicts; fsck is clean after every flush', async () => {
    const dir = tempDir('log');
    let now = Date.UTC(2026, 0, 1);
    const store = new Store(routerTables, { clock: () => now });
    const gs = await GitStore.open(dir, store.main, { thread: false });
    assert.equal(gs.head, null);

    // Flush 1: packet-0 learns two neighbours and opens a flow; packet-1 binds the same flow to another port.
    actor(store.main, 'packet-0', (b) => {
      b.table(arpTable).set(ip('10.0.0.2'), arp('02:00:00:00:00:02', 5000));
      b.table(arpTable).set(ip('10.0.0.3'), arp('02:00:00:00:00:03', 6000));
    });
    const p0 = store.main.fork('packet-0');
    const p1 = store.main.fork('packet-1');
    p0.table(natTable).set(FLOW_A, flow(FLOW_A, 61001, 1));
    p1.table(natTable).set(FLOW_A, flow(FLOW_A, 61000, 2));
    p0.commit();
    p1.commit();
    store.main.merge(p0);
    assert.equal(store.main.merge(p1).conflicts, 1);
    p0.close();
    p1.close();
    const r1 = await gs.flush((now += 1000));
    assert.ok(r1?.oid);
    assert.equal(git(dir, 'rev-parse', 'main').trim(), r1.oid);
    assertFsck(dir, 'after flush 1');

    // Flush 2: a refresh (later expiry), a deletion, a second flow.
    actor(store.main, 'packet-0', (b) => {
      b.table(arpTable).set(ip('10.0.0.2'), arp('02:00:00:00:00:02', 9000));
      b.table(natTable).set(FLOW_B, flow(FLOW_B, 61002, 3));
    });
    actor(store.main, 'arp-expiry', (b) => b.table(arpTable).delete(ip('10.0.0.3')));
    const r2 = await gs.flush((now += 1000));
    assert.ok(r2?.oid);
    assertFsck(dir, 'after flush 2');

    // Flush 3: nothing changed, nothing written; flush 4: a MAC moves.
    assert.equal(await gs.flush((now += 1000)), null);
    actor(store.main, 'packet-1', (b) => b.table(arpTable).set(ip('10.0.0.4'), arp('02:00:00:00:00:04', 7000)));
    const r4 = await gs.flush((now += 1000));
    assert.ok(r4?.oid);
    assertFsck(dir, 'after flush 4', { dangling: false });
    assert.equal(git(dir, 'rev-list', '--count', 'main').trim(), '3');

    // `git log -p -- arp/`: the entry files with readable MACs, added, changed and deleted.
    const log = git(dir, 'log', '-p', 'main', '--', 'arp/');
    assert.match(log, /^\+\+\+ b\/arp\/10\.0\.0\/10\.0\.0\.2$/m);
    assert.match(log, /^\+ {2}"mac": "02:00:00:00:00:02",$/m);
    assert.match(log, /^- {2}"expires": 5000,$/m);
    assert.match(log, /^\+ {2}"expires": 9000,$/m);
    assert.match(log, /^deleted file mode 100644\n.*\n--- a\/arp\/10\.0\.0\/10\.0\.0\.3$/m);
    assert.match(log, /^\+ {2}"mac": "02:00:00:00:00:04",$/m);

    // The messages name the actors, and the conflict by the entry's path (never a packed key).
    const messages = git(dir, 'log', '--format=%B%x00', 'main').split('\0').map((m) => m.trim()).filter(Boolean).reverse();
    assert.equal(messages.length, 3);
    assert.match(messages[0], /^netbranch: 3 entries from 3 commits \(packet-0 ×2, packet-1 ×1\)/);
    assert.match(messages[0], /Conflicts resolved: 1/);
    assert.ok(messages[0].includes(`  ${FLOW_A_PATH}: field outPort: two bindings for one flow (merging packet-1)`), messages[0]);
    assert.match(messages[1], /\(arp-expiry ×1, packet-0 ×1\)/);
    assert.doesNotMatch(messages[1], /Conflicts/);
    assert.match(messages[2], /packet-1 ×1/);
    for (const m of messages) assert.doesNotMatch(m, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no control characters in commit messages');

    // `git show HEAD:path` is plain JSON with the value's readable fields.
    assert.deepEqual(JSON.parse(git(dir, 'show', 'HEAD:arp/10.0.0/10.0.0.2')), { mac: '02:00:00:00:00:02', expires: 9000, kind: 'dynamic' });
    const nat = JSON.parse(git(dir, 'show', `HEAD:${FLOW_A_PATH}`));
    assert.equal(nat.outPort, 61000, 'the conflict went to the lower port');
    assert.equal(nat.insideIp, '10.201.0.2');
    assert.equal(nat.remoteIp, '10.202.0.2');
    assert.equal(nat.pktsOut, 2, 'counters add');
    assert.deepEqual(git(dir, 'ls-tree', '-r', '--name-only', 'main').trim().split('\n').sort(), [
      'arp/10.0.0/10.0.0.2', 'arp/10.0.0/10.0.0.4', FLOW_B_PATH, FLOW_A_PATH,
    ].sort());

    await gs.close((now += 1000));
    // Reloaded into a fresh primary: the same entries.
    const again = new Store(routerTables);
    const gs2 = await GitStore.open(dir, again.main, { thread: false });
    assert.equal(gs2.head, r4.oid);
    assert.deepEqual(arpEntries(again.main), arpEntries(store.main));
    assert.deepEqual(again.main.table(natTable).get(FLOW_A), store.main.table(natTable).get(FLOW_A));
    assert.deepEqual(again.main.table(natTable).get(FLOW_B), store.main.table(natTable).get(FLOW_B));
    assert.equal(await gs2.close(), null, 'loading is not a change');
    assert.equal(git(dir, 'rev-parse', 'main').trim(), r4.oid);
  });

  test('on its worker thread (the default) too: flush, close, reload gives the same entries', async () => {
    const dir = tempDir('worker');
    let now = Date.UTC(2026, 0, 1);
    const store = new Store(routerTables, { clock: () => now });
    const gs = await GitStore.open(dir, store.main);
    for (let round = 0; round < 3; round++) {
      actor(store.main, `packet-${round}`, (b) => {
        for (let i = 1; i <= 50; i++) b.table(arpTable).set(ip(`10.0.${round}.${i}`), arp(`02:00:00:00:${round.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}`, 1000 * i + round));
        if (round > 0) for (let i = 1; i <= 10; i++) b.table(arpTable).delete(ip(`10.0.${round - 1}.${i}`));
        b.table(natTable).set(natKey('udp', ip('10.201.0.2'), 40000 + round, ip('10.202.0.2'), 53), flow(natKey('udp', ip('10.201.0.2'), 40000 + round, ip('10.202.0.2'), 53), 61000 + round, round));
      });
      const r = await gs.flush((now += 1000));
      assert.ok(r?.oid, `flush ${round} wrote a commit`);
      assert.equal(git(dir, 'rev-parse', 'main').trim(), r.oid);
      assertFsck(dir, `after worker flush ${round}`);
    }
    assert.equal(gs.stats.flushes, 3);
    assert.equal(git(dir, 'ls-tree', '-r', '--name-only', 'main', '--', 'arp/').trim().split('\n').length, 130);
    const head = gs.head;
    await gs.close((now += 1000));

    const again = new Store(routerTables);
    const gs2 = await GitStore.open(dir, again.main);
    assert.equal(gs2.head, head);
    assert.equal(again.main.table(arpTable).size, 130);
    assert.deepEqual(arpEntries(again.main), arpEntries(store.main));
    assert.deepEqual([...again.main.table(natTable).entries()].sort(), [...store.main.table(natTable).entries()].sort());
    await gs2.close();
  });

  test('edits pushed with plain git: good files merge, malformed ones are rejected by path and reason, edits is fast-forwarded', async () => {
    const dir = tempDir('edits');
    const work = join(tempDir('edits-work'), 'w');
    let now = Date.UTC(2026, 0, 1);
    const store = new Store(routerTables, { clock: () => now });
    const logger = recordingLogger();
    const gs = await GitStore.open(dir, store.main, { thread: false, logger });
    actor(store.main, 'packet-0', (b) => {
      b.table(arpTable).set(ip('10.0.0.2'), arp('02:00:00:00:00:02', 5000));
      b.table(arpTable).set(ip('10.0.0.3'), arp('02:00:00:00:00:03', 6000));
      b.table(natTable).set(FLOW_A, flow(FLOW_A, 61000, 1));
      b.table(natTable).set(FLOW_B, flow(FLOW_B, 61001, 1));
    });
    const base = (await gs.flush((now += 1000)))!.oid!;

    cloneForEdits(dir, work);
    writeFile(work, 'arp/10.0.0/10.0.0.9', '{"mac": "02:AA:BB:CC:DD:09", "expires": 0, "kind": "static"}\n');
    git(work, 'rm', '-q', FLOW_B_PATH);
    writeFile(work, 'arp/10.0.0/10.0.0.3', JSON.stringify({ mac: '02:00:00:00:00:33', expires: 6500, kind: 'dynamic' }, null, 2));
    writeFile(work, 'arp/10.0.0/10.0.0.10', '{ "mac": "02:00:00:00:00:10", "expires": ');
    writeFile(work, 'arp/10.0.1/10.0.0.11', '{"mac": "02:00:00:00:00:11", "expires": 0, "kind": "static"}');
    writeFile(work, 'arp/10.0.0/10.0.0.12', '{"mac": "not-a-mac", "expires": 0, "kind": "static"}');
    const edit = commitAndPush(work, 'pin 10.0.0.9, drop a flow, fix 10.0.0.3');

    const out = await gs.pollEdits((now += 1000));
    assert.ok(out);
    assert.equal(out.head, edit);
    assert.equal(out.applied, 3);
    assert.equal(out.conflicts, 0);
    const rejected = new Map(out.rejected.map((r) => [r.path, r.reason]));
    assert.deepEqual([...rejected.keys()].sort(), ['arp/10.0.0/10.0.0.10', 'arp/10.0.0/10.0.0.12', 'arp/10.0.1/10.0.0.11']);
    assert.match(rejected.get('arp/10.0.0/10.0.0.10')!, /not valid JSON/);
    assert.match(rejected.get('arp/10.0.1/10.0.0.11')!, /belongs at arp\/10\.0\.0\/10\.0\.0\.11/);
    assert.match(rejected.get('arp/10.0.0/10.0.0.12')!, /MAC/);
    const logged = logger.calls.filter((c) => c.level === 'error' && c.msg === 'git: edit rejected');
    assert.deepEqual(logged.map((c) => c.obj.path).sort(), [...rejected.keys()].sort());
    for (const c of logged) {
      assert.equal(c.obj.reason, rejected.get(c.obj.path as string));
      assert.equal(c.obj.edit, edit);
    }

    // The good changes are in the primary, the bad ones nowhere.
    const t = store.main.table(arpTable);
    assert.deepEqual(t.get(ip('10.0.0.9')), arp('02:aa:bb:cc:dd:09', 0, 'static'));
    assert.deepEqual(t.get(ip('10.0.0.3')), arp('02:00:00:00:00:33', 6500));
    assert.deepEqual(t.get(ip('10.0.0.2')), arp('02:00:00:00:00:02', 5000));
    assert.equal(t.get(ip('10.0.0.10')), undefined);
    assert.equal(t.get(ip('10.0.0.11')), undefined);
    assert.equal(t.get(ip('10.0.0.12')), undefined);
    assert.equal(store.main.table(natTable).get(FLOW_B), undefined);
    assert.ok(store.main.table(natTable).get(FLOW_A));

    // The merge commit was written by the poll itself (wait for it), with the edit as second parent.
    await gs.flush(now);
    const merge = git(dir, 'rev-parse', 'main').trim();
    assert.equal(gs.head, merge);
    assert.deepEqual(git(dir, 'log', '-1', '--format=%P', 'main').trim().split(' '), [base, edit]);
    assert.equal(git(dir, 'rev-parse', 'edits').trim(), merge, 'edits was fast-forwarded to the merge');
    const msg = git(dir, 'log', '-1', '--format=%B', 'main');
    assert.match(msg, new RegExp(`Merge edits ${edit.slice(0, 12)} \\(Edith Editor <edith@example.net>: pin 10\\.0\\.0\\.9, drop a flow, fix 10\\.0\\.0\\.3\\): 3 applied, 0 unchanged, 3 rejected`));
    assert.match(msg, /rejected arp\/10\.0\.0\/10\.0\.0\.10: not valid JSON/);
    const files = git(dir, 'ls-tree', '-r', '--name-only', 'main').trim().split('\n');
    assert.deepEqual(files.sort(), ['arp/10.0.0/10.0.0.2', 'arp/10.0.0/10.0.0.3', 'arp/10.0.0/10.0.0.9', FLOW_A_PATH].sort());
    assert.deepEqual(JSON.parse(git(dir, 'show', 'main:arp/10.0.0/10.0.0.9')), { mac: '02:aa:bb:cc:dd:09', expires: 0, kind: 'static' });
    assertFsck(dir, 'after merging an edit');
    assert.equal(await gs.pollEdits((now += 1000)), null, 'the same edit is not merged twice');

    // The editor's clone fast-forwards to the merge, and can edit again.
    git(work, 'pull', '-q', '--ff-only', 'origin', 'edits');
    assert.equal(git(work, 'rev-parse', 'HEAD').trim(), merge);

    // Three-way, per entry, with the table's merge rule: the primary moved 10.0.0.2 and 10.0.0.3 on
    // (later expiries) after the edit's base; the edit changed them too.
    actor(store.main, 'packet-1', (b) => {
      b.table(arpTable).set(ip('10.0.0.2'), arp('02:00:00:00:00:02', 9000));
      b.table(arpTable).set(ip('10.0.0.3'), arp('02:00:00:00:00:33', 9000));
      b.table(arpTable).set(ip('10.0.0.9'), arp('02:aa:bb:cc:dd:09', 0, 'static')); // unchanged
    });
    actor(store.main, 'packet-1', (b) => b.table(arpTable).set(ip('10.0.0.4'), arp('02:00:00:00:00:04', 9000)));
    const ours = (await gs.flush((now += 1000)))!.oid!;
    writeFile(work, 'arp/10.0.0/10.0.0.2', JSON.stringify({ mac: '02:00:00:00:00:22', expires: 7000, kind: 'dynamic' })); // earlier expiry: loses
    writeFile(work, 'arp/10.0.0/10.0.0.3', JSON.stringify({ mac: '02:00:00:00:03:33', expires: 0, kind: 'static' })); // static: wins
    writeFile(work, 'arp/10.0.0/10.0.0.5', JSON.stringify({ mac: '02:00:00:00:00:05', expires: 8000, kind: 'dynamic' })); // new: added
    const edit2 = commitAndPush(work, 'concurrent edit');
    const out2 = await gs.pollEdits((now += 1000));
    assert.ok(out2);
    assert.deepEqual({ applied: out2.applied, unchanged: out2.unchanged, rejected: out2.rejected }, { applied: 2, unchanged: 1, rejected: [] });
    assert.deepEqual(t.get(ip('10.0.0.2')), arp('02:00:00:00:00:02', 9000), 'the later expiry (ours) won');
    assert.deepEqual(t.get(ip('10.0.0.3')), arp('02:00:00:00:03:33', 0, 'static'), 'static (theirs) beat dynamic');
    assert.deepEqual(t.get(ip('10.0.0.5')), arp('02:00:00:00:00:05', 8000));
    assert.deepEqual(t.get(ip('10.0.0.4')), arp('02:00:00:00:00:04', 9000), 'what only the primary changed stays');
    await gs.flush(now);
    assert.deepEqual(git(dir, 'log', '-1', '--format=%P', 'main').trim().split(' '), [ours, edit2]);
    assert.equal(git(dir, 'rev-parse', 'edits').trim(), git(dir, 'rev-parse', 'main').trim());
    assert.deepEqual(JSON.parse(git(dir, 'show', 'main:arp/10.0.0/10.0.0.2')), { mac: '02:00:00:00:00:02', expires: 9000, kind: 'dynamic' });
    assert.deepEqual(JSON.parse(git(dir, 'show', 'main:arp/10.0.0/10.0.0.3')), { mac: '02:00:00:00:03:33', expires: 0, kind: 'static' });
    assertFsck(dir, 'after the three-way merge', { dangling: false });
    await gs.close((now += 1000));
  });

  test('bounded history: the first-parent log stays short, old objects are deleted, fsck stays clean, across a restart and an edit', async () => {
    const dir = tempDir('history');
    const work = join(tempDir('history-work'), 'w');
    const keep = 5;
    const slack = Math.max(1, keep >> 2); // git-repo.ts trimHistory: trims once the chain exceeds keep + keep/4
    let now = Date.UTC(2026, 0, 1);
    let store = new Store(routerTables, { clock: () => now });
    let gs = await GitStore.open(dir, store.main, { thread: false, historyCommits: keep, pruneGraceMs: 0 });
    let maxObjectsPerFlush = 0;
    let step = 0;
    /** One flush: refresh some entries, delete some, add some, move a flow; checks the bounds. */
    const flushOnce = async (label: string) => {
      step++;
      actor(store.main, `packet-${step % 2}`, (b) => {
        const t = b.table(arpTable);
        for (let i = 0; i < 6; i++) t.set(ip(`10.0.0.${1 + ((step * 3 + i) % 30)}`), arp(`02:00:00:00:01:${(step % 256).toString(16).padStart(2, '0')}`, 1000 * step + i));
        for (let i = 0; i < 2; i++) t.delete(ip(`10.0.0.${1 + ((step * 5 + i) % 30)}`));
        b.table(natTable).set(FLOW_A, flow(FLOW_A, 61000, step));
      });
      const r = await gs.flush((now += 1000));
      assert.ok(r?.oid, `${label}: flush ${step} wrote a commit`);
      maxObjectsPerFlush = Math.max(maxObjectsPerFlush, r.objects);
      const firstParents = Number(git(dir, 'rev-list', '--first-parent', '--count', 'main').trim());
      assert.ok(firstParents <= keep + slack, `${label}: ${firstParents} first-parent commits after flush ${step}`);
      return r;
    };

    const counts: number[] = [];
    for (let i = 0; i < 40; i++) {
      await flushOnce('first run');
      counts.push(looseObjects(dir));
      if (i % 8 === 7) assertFsck(dir, `first run, flush ${step}`, { dangling: false, quiet: true });
    }
    assert.ok(existsSync(join(dir, 'shallow')), 'the cut-off is recorded in git\'s shallow file');
    assert.ok(gs.stats.squashedCommits >= 40 - keep - slack && gs.stats.prunedObjects > 0);
    // Everything kept is reachable from `keep + slack` commits, each of which wrote at most
    // maxObjectsPerFlush objects, plus the tree those started from.
    const reachable = git(dir, 'rev-list', '--objects', '--all').trim().split('\n').length;
    const bound = (keep + slack + 1) * maxObjectsPerFlush + 60;
    assert.ok(Math.max(...counts.slice(10)) <= bound, `loose objects ${Math.max(...counts.slice(10))} > ${bound}`);
    assert.ok(counts[39] <= Math.max(...counts.slice(8, 16)) + maxObjectsPerFlush, `loose objects grew: ${counts.join(' ')}`);
    assert.equal(looseObjects(dir), reachable, 'every loose object is reachable from the kept history');

    // An edit made on a clone of the cut-off repository merges, and the history stays bounded and clean.
    cloneForEdits(dir, work);
    writeFile(work, 'arp/10.0.0/10.0.0.99', '{"mac": "02:00:00:00:00:99", "expires": 0, "kind": "static"}\n');
    const edit = commitAndPush(work, 'pin 10.0.0.99');
    await flushOnce('clone made');
    const out = await gs.pollEdits((now += 1000));
    assert.equal(out?.applied, 1);
    await gs.flush(now);
    assert.equal(git(dir, 'rev-parse', 'main^2').trim(), edit);
    assertFsck(dir, 'after the edit merged');
    for (let i = 0; i < 12; i++) {
      await flushOnce('after the edit');
      assertFsck(dir, `${i + 1} flushes after the edit merged`);
    }
    assert.equal(gitStatus(dir, 'rev-parse', '--verify', '-q', 'edits^{commit}').status, 0, 'edits names a commit that exists');
    assert.equal(gitStatus(dir, 'merge-base', '--is-ancestor', 'edits', 'main').status, 0, 'edits is behind main, not off it');
    assertFsck(dir, 'after the edit left the kept history', { dangling: false, quiet: true });
    assert.equal(looseObjects(dir), git(dir, 'rev-list', '--objects', '--all').trim().split('\n').length, 'the edit\'s objects went with it');

    // Restart: the same entries, and still bounded and clean with more flushes.
    const before = arpEntries(store.main);
    const head = gs.head;
    await gs.close((now += 1000));
    store = new Store(routerTables, { clock: () => now });
    gs = await GitStore.open(dir, store.main, { thread: false, historyCommits: keep, pruneGraceMs: 0 });
    assert.equal(gs.head, head);
    assert.deepEqual(arpEntries(store.main), before);
    assert.deepEqual(store.main.table(arpTable).get(ip('10.0.0.99')), arp('02:00:00:00:00:99', 0, 'static'));
    assertFsck(dir, 'after reopening', { dangling: false });
    for (let i = 0; i < 20; i++) {
      await flushOnce('after restart');
      assert.ok(looseObjects(dir) <= bound, `after restart: loose objects ${looseObjects(dir)} > ${bound}`);
    }
    assertFsck(dir, 'after 20 more flushes', { dangling: false, quiet: true });
    assert.equal(looseObjects(dir), git(dir, 'rev-list', '--objects', '--all').trim().split('\n').length, 'no unreachable loose object after the restart either');
    assert.ok(Number(git(dir, 'rev-list', '--count', 'main').trim()) <= keep + slack + 1);
    await gs.close((now += 1000));
  });

  test('bad input: a directory of other things is refused; a corrupt file pushed to main is logged and skipped at load', async () => {
    const junk = tempDir('junk');
    writeFileSync(join(junk, 'notes.txt'), 'my notes\n');
    for (const thread of [false, true]) {
      await assert.rejects(GitStore.open(junk, new Store(routerTables).main, { thread }), (err: Error) => {
        assert.match(err.message, /is neither a git repository nor empty/);
        assert.ok(err.message.includes(junk));
        return true;
      });
    }
    assert.deepEqual(readdirSync(junk), ['notes.txt'], 'nothing was written into it');
    assert.equal(readFileSync(join(junk, 'notes.txt'), 'utf8'), 'my notes\n');

    // The CLI: one line, exit 2, no stack trace.
    const parent = tempDir('junk-cli');
    mkdirSync(join(parent, 'node0'));
    writeFileSync(join(parent, 'node0', 'notes.txt'), 'x');
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'sim', '--nodes', '2', '--seconds', '1', '--store', `git:${parent}`], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 2, cli.stderr);
    assert.match(cli.stderr, /neither a git repository nor empty/);
    assert.doesNotMatch(cli.stderr, /^\s+at /m);
    assert.deepEqual(readdirSync(join(parent, 'node0')), ['notes.txt']);

    // Someone pushes straight to main: a bad file, a file in the wrong place, a file of no table.
    const dir = tempDir('corrupt');
    let now = Date.UTC(2026, 0, 1);
    const store = new Store(routerTables, { clock: () => now });
    const gs = await GitStore.open(dir, store.main, { thread: false });
    actor(store.main, 'packet-0', (b) => {
      b.table(arpTable).set(ip('10.0.0.2'), arp('02:00:00:00:00:02', 5000));
      b.table(natTable).set(FLOW_A, flow(FLOW_A, 61000, 1));
    });
    await gs.close((now += 1000));
    const work = join(tempDir('corrupt-work'), 'w');
    git(tmpdir(), 'clone', '-q', dir, work);
    writeFile(work, 'arp/10.0.0/10.0.0.50', '{"mac": "02:00:00:00:00:50", "expires": 1');
    writeFile(work, 'arp/10.9.9/10.0.0.51', '{"mac": "02:00:00:00:00:51", "expires": 0, "kind": "static"}');
    writeFile(work, 'neighbours/10.0.0.52', '{}');
    writeFile(work, 'arp/10.0.0/10.0.0.53', '{"mac": "02:00:00:00:00:53", "expires": 0, "kind": "static"}');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'by hand, straight to main');
    git(work, 'push', '-q', 'origin', 'main');
    const pushed = git(work, 'rev-parse', 'HEAD').trim();

    const logger = recordingLogger();
    const again = new Store(routerTables, { clock: () => now });
    const gs2 = await GitStore.open(dir, again.main, { thread: false, logger });
    assert.equal(gs2.head, pushed);
    const bad = logger.calls.filter((c) => c.level === 'error');
    assert.deepEqual(bad.map((c) => c.obj.path).sort(), ['arp/10.0.0/10.0.0.50', 'arp/10.9.9/10.0.0.51', 'neighbours/10.0.0.52']);
    for (const c of bad) {
      assert.match(c.msg, /cannot be read/);
      assert.ok(typeof c.obj.reason === 'string' && c.obj.reason.length > 5, `a reason for ${c.obj.path}`);
    }
    assert.match(String(bad.find((c) => c.obj.path === 'arp/10.0.0/10.0.0.50')!.obj.reason), /JSON/);
    assert.match(String(bad.find((c) => c.obj.path === 'neighbours/10.0.0.52')!.obj.reason), /not a table/);
    assert.deepEqual(arpEntries(again.main), [[ip('10.0.0.2'), arp('02:00:00:00:00:02', 5000)], [ip('10.0.0.53'), arp('02:00:00:00:00:53', 0, 'static')]]);
    assert.ok(again.main.table(natTable).get(FLOW_A));
    // It keeps working on top of that commit.
    actor(again.main, 'packet-0', (b) => b.table(arpTable).set(ip('10.0.0.2'), arp('02:00:00:00:00:02', 6000)));
    const r = await gs2.flush((now += 1000));
    assert.deepEqual(git(dir, 'log', '-1', '--format=%P', 'main').trim(), pushed);
    assert.equal(r?.oid, git(dir, 'rev-parse', 'main').trim());
    assertFsck(dir, 'after loading past corrupt files');
    await gs2.close((now += 1000));
  });
});

interface SimChild {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `netbranch sim ...args`, from the sources, as a child this file alone started (and kills). */
function startSim(args: string[]): SimChild {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'sim', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); });
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function kill9(sim: SimChild): Promise<void> {
  if (sim.child.exitCode !== null || sim.child.signalCode !== null) return;
  sim.child.kill('SIGKILL');
  const r = await Promise.race([sim.exited, deadline(10_000)]);
  assert.ok(r, 'the child died within 10 s of SIGKILL');
}

/** The pino lines a child wrote to stderr. */
function logLines(stderr: string): Record<string, unknown>[] {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } });
}

/** `git: node<i> loaded <oid|(new repository)> with <n> entries from <repo>` lines, by node. */
function loadedLines(stdout: string): Map<number, { head: string; entries: number; repo: string }> {
  const m = new Map<number, { head: string; entries: number; repo: string }>();
  for (const x of stdout.matchAll(/^git: node(\d+) loaded (\S+|\(new repository\)) with (\d+) entries from (.+)$/gm)) {
    m.set(Number(x[1]), { head: x[2], entries: Number(x[3]), repo: x[4] });
  }
  return m;
}

describe('git store, under a running netbranch sim', () => {
  test('an edit pushed to a running sim is merged within 2 s; a malformed one is logged by path and the sim keeps running', async (t) => {
    const parent = tempDir('live');
    const repo = join(parent, 'node0');
    const work = join(tempDir('live-work'), 'w');
    const sim = startSim(['--store', `git:${parent}`, '--nodes', '3', '--seconds', '60', '--speed', '1', '--flush-interval', '200']);
    try {
      await waitFor('the first commit in node0', () => gitStatus(repo, 'rev-parse', '--verify', '-q', 'main').status === 0 || (sim.child.exitCode !== null && assert.fail(`sim exited: ${sim.stderr()}`)), 30_000, 100);
      assert.match(sim.stdout(), /^git: node0 loaded \(new repository\) with 0 entries from /m);

      cloneForEdits(repo, work);
      writeFile(work, 'arp/10.0.0/10.0.0.200', '{"mac": "02:00:00:00:c8:00", "expires": 0, "kind": "static"}\n');
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', 'pin 10.0.0.200');
      const edit = git(work, 'rev-parse', 'HEAD').trim();
      git(work, 'push', '-q', 'origin', 'edits');
      const pushed = performance.now();
      // The merge commit: on main, with the edit as a parent and the file in its tree.
      const merge = await waitFor('the edit merged into main', () => {
        const log = gitStatus(repo, 'log', '--format=%H %P', '-n', '50', 'main');
        if (log.status !== 0) return undefined;
        const line = log.out.split('\n').find((l) => l.split(' ').slice(1).includes(edit));
        return line?.split(' ')[0];
      }, 5_000, 20);
      const elapsed = performance.now() - pushed;
      t.diagnostic(`the edit was merged ${Math.round(elapsed)} ms after \`git push\` returned`);
      assert.ok(elapsed <= 2_000, `the edit was merged ${Math.round(elapsed)} ms after the push (at most 2000 allowed)`);
      assert.deepEqual(JSON.parse(git(repo, 'show', `${merge}:arp/10.0.0/10.0.0.200`)), { mac: '02:00:00:00:c8:00', expires: 0, kind: 'static' });
      assert.equal(git(repo, 'log', '-1', '--format=%P', merge).trim().split(' ')[1], edit, 'the edit is the second parent');
      assert.match(git(repo, 'log', '-1', '--format=%B', merge), /Merge edits .*: 1 applied, 0 unchanged, 0 rejected/);
      // The sim's later flushes keep the entry (static entries do not expire).
      await sleep(500);
      assert.equal(gitStatus(repo, 'cat-file', '-e', 'main:arp/10.0.0/10.0.0.200').status, 0);

      // A malformed edit, on top of the fast-forwarded edits branch.
      await waitFor('edits fast-forwarded to the merge', () => gitStatus(repo, 'merge-base', '--is-ancestor', merge, 'edits').status === 0, 5_000);
      git(work, 'pull', '-q', '--ff-only', 'origin', 'edits');
      writeFile(work, 'arp/10.0.0/10.0.0.201', 'this is not JSON\n');
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', 'a typo');
      const bad = git(work, 'rev-parse', 'HEAD').trim();
      git(work, 'push', '-q', 'origin', 'edits');
      const line = await waitFor('a log line for the rejected file', () => logLines(sim.stderr()).find((l) => l.msg === 'git: edit rejected'), 5_000);
      assert.equal(line.path, 'arp/10.0.0/10.0.0.201');
      assert.match(String(line.reason), /not valid JSON/);
      assert.equal(line.edit, bad);
      assert.equal(line.level, 50, 'logged as an error');
      const badMerge = await waitFor('the rejected edit recorded as merged', () => {
        const log = gitStatus(repo, 'log', '--format=%H %P', '-n', '50', 'main');
        return log.out.split('\n').find((l) => l.split(' ').slice(1).includes(bad))?.split(' ')[0];
      }, 5_000);
      assert.match(git(repo, 'log', '-1', '--format=%B', badMerge), /: 0 applied, 0 unchanged, 1 rejected, 0 conflicts\n {2}rejected arp\/10\.0\.0\/10\.0\.0\.201: not valid JSON/);
      assert.notEqual(gitStatus(repo, 'cat-file', '-e', `${badMerge}:arp/10.0.0/10.0.0.201`).status, 0, 'the malformed file is not in main');

      // Still running, and still taking edits.
      await sleep(300);
      assert.equal(sim.child.exitCode, null, `the sim is still running: ${sim.stderr().slice(-500)}`);
      assert.equal(sim.child.signalCode, null);
      await waitFor('edits fast-forwarded to the rejected edit\'s merge', () => gitStatus(repo, 'merge-base', '--is-ancestor', badMerge, 'edits').status === 0, 5_000);
      git(work, 'pull', '-q', '--ff-only', 'origin', 'edits');
      assert.ok(!existsSync(join(work, 'arp/10.0.0/10.0.0.201')), 'pulling the merge drops the rejected file from the clone');
      writeFile(work, 'arp/10.0.0/10.0.0.202', '{"mac": "02:00:00:00:c8:02", "expires": 0, "kind": "static"}\n');
      const fixed = commitAndPush(work, 'pin 10.0.0.202 too');
      const fixedMerge = await waitFor('the next edit merged', () => {
        const log = gitStatus(repo, 'log', '--format=%H %P', '-n', '50', 'main');
        return log.out.split('\n').find((l) => l.split(' ').slice(1).includes(fixed))?.split(' ')[0];
      }, 5_000);
      assert.equal(gitStatus(repo, 'cat-file', '-e', `${fixedMerge}:arp/10.0.0/10.0.0.202`).status, 0);
      assert.equal(gitStatus(repo, 'cat-file', '-e', `${fixedMerge}:arp/10.0.0/10.0.0.200`).status, 0);
      assert.equal(sim.child.exitCode, null, 'the sim is still running');
      assertFsck(repo, 'under a running sim');
    } finally {
      await kill9(sim);
    }
  });

  test('kill -9 mid-run, three times: every repository passes fsck, and a restart loads exactly the last commit', async (t) => {
    const parent = tempDir('crash');
    const nodes = 20;
    const repos = Array.from({ length: nodes }, (_, i) => join(parent, `node${i}`));
    // A short history (5 commits, cut when there are 7) so kills also land in the middle of cutting it.
    const common = ['--store', `git:${parent}`, '--nodes', String(nodes), '--git-history', '5'];
    const heavy = [...common, '--seconds', '86400', '--speed', '50', '--flush-interval', '100'];
    /** Each node's `main` and its arp file count, read from git while nothing runs. */
    const snapshot = () => inParallel(repos, 4, async (repo) => {
      const head = await gitAsync(repo, 'rev-parse', '--verify', '-q', 'main');
      if (head.status !== 0) return { head: '(new repository)', arp: 0 };
      const files = await gitAsync(repo, 'ls-tree', '-r', '--name-only', 'main', '--', 'arp/');
      assert.equal(files.status, 0, files.out);
      return { head: head.out.trim(), arp: files.out.split('\n').filter(Boolean).length };
    });
    /** `git fsck --full --strict` of every node: exit 0, no problem named; returns the dangling objects. */
    const fsckAll = async (what: string, opts: { dangling?: boolean } = {}) => {
      const outs = await inParallel(repos, 4, (repo) => gitAsync(repo, 'fsck', '--full', '--strict'));
      let dangling = 0;
      outs.forEach((r, i) => {
        assert.equal(r.status, 0, `git fsck node${i} ${what}:\n${r.out}`);
        assert.equal(fsckProblems(r.out), null, `git fsck node${i} ${what}:\n${r.out}`);
        if (opts.dangling === false) assert.doesNotMatch(r.out, /dangling|unreachable/, `git fsck node${i} ${what} found unreachable objects:\n${r.out}`);
        dangling += (r.out.match(/^dangling /gm) ?? []).length;
      });
      return dangling;
    };
    /** The restart loaded exactly what git held: the head and every arp file. */
    const checkLoaded = (stdout: string, pre: { head: string; arp: number }[], round: string) => {
      const loaded = loadedLines(stdout);
      for (let i = 0; i < nodes; i++) {
        const l = loaded.get(i);
        assert.ok(l, `${round}: a loaded line for node${i}`);
        assert.equal(l.head, pre[i].head, `${round}: node${i} loaded the last commit`);
        assert.equal(l.entries, pre[i].arp, `${round}: node${i} loaded every arp file`);
        assert.equal(l.repo, join(parent, `node${i}`));
      }
    };
    let pre: { head: string; arp: number }[] | null = null;
    let killedPid = 0;
    let commitsSeen = 0;
    let leftovers = 0;
    let seen = 0;
    for (let round = 1; round <= 3; round++) {
      const sim = startSim(heavy);
      try {
        await waitFor(`round ${round}: every node loaded`, () => loadedLines(sim.stdout()).size === nodes || (sim.child.exitCode !== null && assert.fail(`sim exited: ${sim.stderr()}`)), 30_000, 50);
        if (pre) {
          checkLoaded(sim.stdout(), pre, `round ${round}`);
          // The previous process's temporary files are gone once every node has opened.
          for (let i = 0; i < nodes; i++) {
            const left = tmpObjects(join(parent, `node${i}`)).filter((f) => f.startsWith(`tmp_obj_${killedPid}_`));
            assert.deepEqual(left, [], `round ${round}: node${i} still holds the killed process's temporary objects`);
          }
        }
        // Several commits, then a random moment.
        const heads = new Set<string>();
        await waitFor(`round ${round}: several commits in node0`, () => {
          const h = gitStatus(join(parent, 'node0'), 'rev-parse', '--verify', '-q', 'main');
          if (h.status === 0) heads.add(h.out.trim());
          return heads.size >= 3 || (sim.child.exitCode !== null && assert.fail(`sim exited: ${sim.stderr()}`));
        }, 30_000, 25);
        seen = heads.size;
        commitsSeen += heads.size;
        await sleep(Math.floor(Math.random() * 700));
        killedPid = sim.child.pid!;
      } finally {
        await kill9(sim);
      }
      const dangling = await fsckAll(`after kill -9 #${round}`);
      const files = repos.reduce((n, repo) => n + tmpObjects(repo).length + (existsSync(join(repo, 'refs/heads/main.lock')) ? 1 : 0), 0);
      leftovers = files; // dangling objects may be garbage a cut kept, being younger than the prune's grace: not the sweep's
      t.diagnostic(`kill -9 #${round} after ${seen} commits seen in node0: ${files} temporary or lock files, ${dangling} dangling objects left`);
      pre = await snapshot();
      assert.ok(pre.filter((p) => p.head !== '(new repository)').length >= nodes / 2, `round ${round}: most nodes have committed`);
    }
    assert.ok(commitsSeen >= 9);
    t.diagnostic(`${repos.filter((r) => existsSync(join(r, 'shallow'))).length} of ${nodes} repositories had cut their history before the final run`);

    // A brief, normal run: loads exactly the last commits, sweeps the interrupted flush's files, and exits 0. It
    // commits at most 4 times (t = 0, 1, 2 s and at exit), so the pre-restart head stays in the 5 kept.
    const sim = startSim([...common, '--seconds', '2', '--speed', '1', '--flush-interval', '1000']);
    const done = await Promise.race([sim.exited, deadline(45_000)]);
    if (!done) await kill9(sim);
    assert.ok(done, 'the restarted sim finished within 45 s');
    assert.equal(done.code, 0, sim.stderr().slice(-2000));
    checkLoaded(sim.stdout(), pre!, 'the final restart');
    const swept = logLines(sim.stderr()).filter((l) => typeof l.msg === 'string' && /interrupted flush/.test(l.msg));
    if (leftovers > 0) assert.ok(swept.length > 0, `the restart reported sweeping what the last kill left (${leftovers} files)`);
    for (let i = 0; i < nodes; i++) {
      const repo = join(parent, `node${i}`);
      assert.deepEqual(tmpObjects(repo), [], `node${i}: no temporary objects left`);
      assert.ok(!existsSync(join(repo, 'refs/heads/main.lock')) && !existsSync(join(repo, 'shallow.lock')), `node${i}: no lock file left (git would refuse to move main)`);
      if (pre![i].head !== '(new repository)') {
        assert.equal(gitStatus(repo, 'merge-base', '--is-ancestor', pre![i].head, 'main').status, 0, `node${i}: main still contains the pre-restart head`);
      }
    }
    await fsckAll('after the final run'); // young garbage stays dangling (the prune's grace): a later cut removes it
  });
});
