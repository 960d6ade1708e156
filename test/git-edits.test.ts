// Rejected edit files stay visible (issue 11, item 7): each merge that rejects files adds a commit to
// the `rejected` branch holding them as pushed and a REJECTED.txt saying why; `netbranch edits
// --store git:DIR` lists them newest first (also while a writer holds the repository), and they
// survive the history cut-off that removes the edit itself.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../store/index.js';
import { GitStore, type RejectedEntry } from '../store/git/index.js';
import { routerTables } from '../actors/router/router-schema.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { assertFsck, git, gitStatus } from './support/git-cli.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), `nb-git-edits-${process.pid}-`));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(dir: string, path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

function commitAndPush(work: string, subject: string): string {
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', subject);
  git(work, 'push', '-q', 'origin', 'edits');
  return git(work, 'rev-parse', 'HEAD').trim();
}

function edits(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'edits', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GOOD = '{"mac": "02:00:00:00:00:09", "expires": 0, "kind": "static"}\n';
const HISTORY = 3;

/** A router's tables persisted to `dir`, keeping HISTORY commits (and so HISTORY `rejected` commits). */
async function routerStore(dir: string) {
  const t = { now: Date.UTC(2026, 0, 1) };
  const store = new Store(routerTables, { clock: () => t.now });
  const gs = await GitStore.open(dir, store.main, { thread: false, historyCommits: HISTORY, pruneGraceMs: 0 });
  /** The ARP entry a packet actor keeps refreshing; then a flush. */
  const learn = async (expires: number) => {
    const b = store.main.fork('worker');
    b.table(arpTable).set(0x0a000002, { mac: 0x020000000002, expires, kind: 'dynamic' });
    b.commit({ author: 'worker' });
    store.main.merge(b);
    b.close();
    await gs.flush((t.now += 1000));
  };
  const poll = async () => {
    const out = await gs.pollEdits((t.now += 1000));
    await gs.flush(t.now);
    return out;
  };
  return { gs, learn, poll, close: () => gs.close((t.now += 1000)) };
}

/** An operator's clone of `dir`, on a new `edits` branch. */
function operator(dir: string, work: string): void {
  git(tmp, 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
}

/**
 * The scenario the tests below look at: a store, an edit with one good file and four mistakes, then
 * the operator taking one back from `rejected`, fixing it, and pushing it with a new mistake.
 */
async function twoRejectingEdits(tag: string) {
  const dir = join(tmp, tag);
  const work = join(tmp, `${tag}-work`);
  const r = await routerStore(dir);
  await r.learn(5000);
  operator(dir, work);
  write(work, 'arp/10.0.0/10.0.0.9', GOOD);
  write(work, 'arp/10.0.0/10.0.0.10', 'not json\n');
  write(work, 'arp/10.9.9/10.0.0.11', GOOD);
  write(work, 'arp/10.0.0/10.0.0.12', `${'x'.repeat(70 * 1024)}\n`);
  mkdirSync(join(work, 'arp/10.0.0'), { recursive: true });
  symlinkSync('10.0.0.9', join(work, 'arp/10.0.0/10.0.0.13'));
  const first = commitAndPush(work, 'pin .9, and some mistakes');
  const out1 = await r.poll();
  const merge1 = git(dir, 'rev-parse', 'main').trim();
  // The operator: the pull drops the bad file from the checkout; the rejected branch gives it back.
  git(work, 'pull', '-q', '--ff-only', 'origin', 'edits');
  const droppedOnPull = !existsSync(join(work, 'arp/10.0.0/10.0.0.10'));
  git(work, 'fetch', '-q', 'origin', 'rejected');
  git(work, 'checkout', 'origin/rejected', '--', 'arp/10.0.0/10.0.0.10');
  const restored = readFileSync(join(work, 'arp/10.0.0/10.0.0.10'), 'utf8');
  write(work, 'arp/10.0.0/10.0.0.10', '{"mac": "02:00:00:00:00:0a", "expires": 0, "kind": "static"}\n'); // fixed
  write(work, 'arp/10.0.0/10.0.0.20', '{"mac": "nonsense", "expires": 0, "kind": "static"}\n');
  const second = commitAndPush(work, 'fix .10, and a new mistake');
  const out2 = await r.poll();
  return { dir, r, first, second, merge1, out1, out2, droppedOnPull, restored };
}

const FIRST_REJECTED = ['arp/10.0.0/10.0.0.10', 'arp/10.0.0/10.0.0.12', 'arp/10.0.0/10.0.0.13', 'arp/10.9.9/10.0.0.11'];

test('rejected files are kept on the `rejected` branch as pushed, beside a REJECTED.txt saying why, and not on main', async () => {
  const x = await twoRejectingEdits('kept');
  const { dir, first, merge1 } = x;
  assert.deepEqual(x.out1?.rejected.map((r) => r.path).sort(), FIRST_REJECTED);
  const subjects = git(dir, 'log', '--format=%s', 'rejected').trim().split('\n');
  assert.match(subjects[1], new RegExp(`^Rejected 4 files from edits ${first.slice(0, 12)} \\(Edith Editor <edith@example.net>: pin \\.9, and some mistakes\\)$`));
  assert.equal(git(dir, 'show', 'rejected~1:arp/10.0.0/10.0.0.10'), 'not json\n');
  assert.equal(git(dir, 'show', 'rejected~1:arp/10.9.9/10.0.0.11'), GOOD);
  assert.equal(git(dir, 'rev-parse', 'rejected~1:arp/10.0.0/10.0.0.12').trim(), git(dir, 'rev-parse', `${first}:arp/10.0.0/10.0.0.12`).trim(), 'the same blob');
  assert.match(git(dir, 'ls-tree', 'rejected~1', 'arp/10.0.0/10.0.0.13'), /^120000 blob /, 'the symlink as a symlink');
  const note = git(dir, 'show', 'rejected~1:REJECTED.txt');
  assert.ok(note.includes(first) && note.includes(merge1), note);
  assert.match(note, /^arp\/10\.0\.0\/10\.0\.0\.10\n {2}not valid JSON/m);
  assert.match(note, /^arp\/10\.9\.9\/10\.0\.0\.11\n {2}.*belongs at arp\/10\.0\.0\/10\.0\.0\.11/m);
  assert.match(note, /^arp\/10\.0\.0\/10\.0\.0\.12\n {2}file is \d+ bytes/m);
  assert.match(note, /^arp\/10\.0\.0\/10\.0\.0\.13\n {2}not a regular file \(mode 120000\)/m);
  assert.equal(gitStatus(dir, 'cat-file', '-e', `${merge1}:arp/10.0.0/10.0.0.10`).status, 128, 'not on main');
  assertFsck(dir, 'after two rejections');
  await x.r.close();
});

test('the operator takes a rejected file back from `rejected` after the pull dropped it, fixes it, and it merges; one `rejected` commit per rejecting merge', async () => {
  const x = await twoRejectingEdits('back');
  assert.ok(x.droppedOnPull, 'the pull removed the rejected file from the checkout');
  assert.equal(x.restored, 'not json\n', 'checked out of origin/rejected as pushed');
  assert.equal(x.out2?.applied, 1);
  assert.deepEqual(x.out2?.rejected.map((r) => r.path), ['arp/10.0.0/10.0.0.20']);
  assert.equal(git(x.dir, 'rev-list', '--count', 'rejected').trim(), '2');
  await x.r.close();
});

test('`netbranch edits` lists them newest first while the writer holds the repository, and the command it prints runs', async () => {
  const x = await twoRejectingEdits('listed');
  const listed = edits('--store', `git:${x.dir}`);
  assert.equal(listed.status, 0, listed.stderr);
  const blocks = listed.stdout.trim().split(/\n(?=\S)/);
  assert.equal(blocks.length, 5, listed.stdout);
  assert.match(blocks[0], /^arp\/10\.0\.0\/10\.0\.0\.20: .*MAC/);
  assert.ok(blocks[0].includes(`from edit ${x.second.slice(0, 12)} (Edith Editor <edith@example.net>: fix .10, and a new mistake), rejected 2026-01-01T00:00:`), blocks[0]);
  assert.ok(blocks.slice(1).every((b) => b.includes(`from edit ${x.first.slice(0, 12)}`)));
  const show = /as pushed: (git -C \S+ show \S+)$/m.exec(blocks.find((b) => b.startsWith('arp/10.0.0/10.0.0.10:'))!)![1];
  assert.equal(spawnSync('sh', ['-c', show], { encoding: 'utf8' }).stdout, 'not json\n', `the command it prints runs: ${show}`);
  const list = listedJson(x.dir);
  assert.deepEqual(list.map((e) => [e.path, e.edit]).slice(0, 1), [['arp/10.0.0/10.0.0.20', x.second]], 'newest first');
  assert.deepEqual(list.slice(1).map((e) => [e.path, e.edit]).sort(), FIRST_REJECTED.map((p) => [p, x.first]));
  assert.ok(list[0].time > list[list.length - 1].time);
  assert.equal(list[0].merge, git(x.dir, 'rev-parse', 'main').trim());
  assert.ok(list.every((e) => e.kept && typeof e.reason === 'string' && e.reason.length > 5));
  await x.r.close();
});

test('rejected files survive the history cut-off that removes the edits they came from', async () => {
  const x = await twoRejectingEdits('cut');
  const before = listedJson(x.dir);
  for (let i = 0; i < 12; i++) await x.r.learn(6000 + i);
  assert.notEqual(gitStatus(x.dir, 'cat-file', '-e', `${x.first}^{commit}`).status, 0, 'the first edit was cut off with the history');
  assert.equal(git(x.dir, 'show', 'rejected:arp/10.0.0/10.0.0.20'), '{"mac": "nonsense", "expires": 0, "kind": "static"}\n');
  assert.equal(git(x.dir, 'show', 'rejected~1:arp/10.0.0/10.0.0.10'), 'not json\n');
  assertFsck(x.dir, 'after the rejected edits were cut off', { dangling: false });
  assert.deepEqual(listedJson(x.dir), before, 'the listing is unchanged by the cut');
  await x.r.close();
});

test('many rejecting edits: history keeps being cut, `rejected` keeps its newest HISTORY commits, and `netbranch edits` lists those', async () => {
  const dir = join(tmp, 'many');
  const work = join(tmp, 'many-work');
  const r = await routerStore(dir);
  await r.learn(5000);
  operator(dir, work);
  const pushed: string[] = [];
  for (let i = 0; i < 4 * HISTORY; i++) {
    git(work, 'fetch', '-q', '--update-shallow', 'origin'); // the last merge, on history since cut (docs/git-store.md)
    git(work, 'checkout', '-q', '-B', 'edits', i === 0 ? 'origin/main' : 'origin/edits');
    write(work, `arp/10.0.0/10.0.1.${i}`, `typo ${i}\n`);
    pushed.push(commitAndPush(work, `typo ${i}`));
    assert.equal((await r.poll())?.rejected.length, 1);
    await r.learn(6000 + i);
  }
  assert.ok(r.gs.stats.squashedCommits >= 3 * HISTORY, `history kept being cut (${r.gs.stats.squashedCommits} commits cut)`);
  assert.equal(git(dir, 'rev-list', '--count', 'rejected').trim(), String(HISTORY), '`rejected` holds its newest commits only');
  const shallow = readFileSync(join(dir, 'shallow'), 'utf8');
  assert.ok(shallow.includes(git(dir, 'rev-parse', `rejected~${HISTORY - 1}`).trim()), 'its oldest kept commit is a shallow boundary, like main\'s');
  assertFsck(dir, 'with `rejected` cut', { dangling: false });
  const list = listedJson(dir);
  assert.deepEqual(list.map((e) => e.edit), pushed.slice(-HISTORY).reverse(), 'the newest rejections, newest first');
  assert.deepEqual(list.map((e) => e.path), [...Array(HISTORY).keys()].map((k) => `arp/10.0.0/10.0.1.${4 * HISTORY - 1 - k}`));
  await r.close();
});

function listedJson(dir: string): RejectedEntry[] {
  const json = edits('--store', `git:${dir}`, '--json');
  assert.equal(json.status, 0, json.stderr);
  return JSON.parse(json.stdout) as RejectedEntry[];
}

test('`netbranch edits` on a store without rejections says so', async () => {
  const dir = join(tmp, 'none-rejected');
  const r = await routerStore(dir);
  await r.learn(5000);
  const empty = edits('--store', `git:${dir}`);
  assert.equal(empty.status, 0, empty.stderr);
  assert.equal(empty.stdout, `no rejected edit files in ${dir}\n`);
  await r.close();
});

test('`netbranch edits`: --help, and bad --store values are one line and exit 2', () => {
  const help = edits('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--store <git:DIR>/);
  assert.match(help.stdout, /--json/);
  assert.match(help.stdout, /\$ netbranch edits --store git:/);
  const parent = join(tmp, 'sim');
  mkdirSync(join(parent, 'node0'), { recursive: true });
  for (const [store, want] of [['memory', /--store must be git:DIR/], [`git:${join(tmp, 'none')}`, /is not a git repository/], [`git:${parent}`, /is not a git repository \(sim and demo keep one per node: git:.*node0\)/]] as const) {
    const r = edits('--store', store);
    assert.equal(r.status, 2, `${store}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, want);
  }
  const missing = edits();
  assert.equal(missing.status, 2);
});
