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
import { GitStore, Store, type RejectedEntry } from '../store/index.js';
import { routerTables } from '../actors/router-schema.js';
import { arpTable } from '../actors/arp-table.js';
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

test('rejected files are kept on the `rejected` branch as pushed, listed by `netbranch edits`, and survive the history cut-off', async () => {
  const dir = join(tmp, 'repo');
  const work = join(tmp, 'work');
  let now = Date.UTC(2026, 0, 1);
  const store = new Store(routerTables, { clock: () => now });
  const gs = await GitStore.open(dir, store.main, { thread: false, historyCommits: 3 });
  const empty = edits('--store', `git:${dir}`);
  assert.equal(empty.status, 0, empty.stderr);
  assert.equal(empty.stdout, `no rejected edit files in ${dir}\n`);

  const learn = (expires: number) => {
    const b = store.main.fork('worker');
    b.table(arpTable).set(0x0a000002, { mac: 0x020000000002, expires, kind: 'dynamic' });
    b.commit({ author: 'worker' });
    store.main.merge(b);
    b.close();
  };
  learn(5000);
  await gs.flush((now += 1000));
  git(tmp, 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
  write(work, 'arp/10.0.0/10.0.0.9', GOOD);
  write(work, 'arp/10.0.0/10.0.0.10', 'not json\n');
  write(work, 'arp/10.9.9/10.0.0.11', GOOD);
  write(work, 'arp/10.0.0/10.0.0.12', `${'x'.repeat(70 * 1024)}\n`);
  mkdirSync(join(work, 'arp/10.0.0'), { recursive: true });
  symlinkSync('10.0.0.9', join(work, 'arp/10.0.0/10.0.0.13'));
  const first = commitAndPush(work, 'pin .9, and some mistakes');
  const out = await gs.pollEdits((now += 1000));
  assert.deepEqual(out?.rejected.map((r) => r.path).sort(), ['arp/10.0.0/10.0.0.10', 'arp/10.0.0/10.0.0.12', 'arp/10.0.0/10.0.0.13', 'arp/10.9.9/10.0.0.11']);
  await gs.flush(now);
  const merge1 = git(dir, 'rev-parse', 'main').trim();

  // The branch: the files as pushed (same blobs, the symlink as a symlink), and a note saying why.
  assert.match(git(dir, 'log', '-1', '--format=%s', 'rejected').trim(), new RegExp(`^Rejected 4 files from edits ${first.slice(0, 12)} \\(Edith Editor <edith@example.net>: pin \\.9, and some mistakes\\)$`));
  assert.equal(git(dir, 'show', 'rejected:arp/10.0.0/10.0.0.10'), 'not json\n');
  assert.equal(git(dir, 'show', 'rejected:arp/10.9.9/10.0.0.11'), GOOD);
  assert.equal(git(dir, 'rev-parse', 'rejected:arp/10.0.0/10.0.0.12').trim(), git(dir, 'rev-parse', `${first}:arp/10.0.0/10.0.0.12`).trim());
  assert.match(git(dir, 'ls-tree', 'rejected', 'arp/10.0.0/10.0.0.13'), /^120000 blob /);
  const note = git(dir, 'show', 'rejected:REJECTED.txt');
  assert.ok(note.includes(first) && note.includes(merge1), note);
  assert.match(note, /^arp\/10\.0\.0\/10\.0\.0\.10\n {2}not valid JSON/m);
  assert.match(note, /^arp\/10\.9\.9\/10\.0\.0\.11\n {2}.*belongs at arp\/10\.0\.0\/10\.0\.0\.11/m);
  assert.match(note, /^arp\/10\.0\.0\/10\.0\.0\.12\n {2}file is \d+ bytes/m);
  assert.match(note, /^arp\/10\.0\.0\/10\.0\.0\.13\n {2}not a regular file \(mode 120000\)/m);
  assert.equal(gitStatus(dir, 'cat-file', '-e', 'main:arp/10.0.0/10.0.0.10').status, 128, 'not on main');
  assertFsck(dir, 'after the first rejection');

  // The operator: the pull drops the bad file from the checkout; the rejected branch gives it back.
  git(work, 'pull', '-q', '--ff-only', 'origin', 'edits');
  assert.ok(!existsSync(join(work, 'arp/10.0.0/10.0.0.10')));
  git(work, 'fetch', '-q', 'origin', 'rejected');
  git(work, 'checkout', 'origin/rejected', '--', 'arp/10.0.0/10.0.0.10');
  assert.equal(readFileSync(join(work, 'arp/10.0.0/10.0.0.10'), 'utf8'), 'not json\n');
  write(work, 'arp/10.0.0/10.0.0.10', '{"mac": "02:00:00:00:00:0a", "expires": 0, "kind": "static"}\n'); // fixed
  write(work, 'arp/10.0.0/10.0.0.20', '{"mac": "nonsense", "expires": 0, "kind": "static"}\n');
  const second = commitAndPush(work, 'fix .10, and a new mistake');
  const out2 = await gs.pollEdits((now += 1000));
  assert.equal(out2?.applied, 1);
  assert.deepEqual(out2?.rejected.map((r) => r.path), ['arp/10.0.0/10.0.0.20']);
  await gs.flush(now);
  assert.equal(git(dir, 'rev-list', '--count', 'rejected').trim(), '2', 'one commit per merge that rejected something');

  // `netbranch edits` while the store is open (and holds its lock): newest first.
  const listed = edits('--store', `git:${dir}`);
  assert.equal(listed.status, 0, listed.stderr);
  const blocks = listed.stdout.trim().split(/\n(?=\S)/);
  assert.equal(blocks.length, 5, listed.stdout);
  assert.match(blocks[0], /^arp\/10\.0\.0\/10\.0\.0\.20: .*MAC/);
  assert.ok(blocks[0].includes(`from edit ${second.slice(0, 12)} (Edith Editor <edith@example.net>: fix .10, and a new mistake), rejected 2026-01-01T00:00:`), blocks[0]);
  assert.ok(blocks.slice(1).every((b) => b.includes(`from edit ${first.slice(0, 12)}`)));
  const show = /as pushed: (git -C \S+ show \S+)$/m.exec(blocks.find((b) => b.startsWith('arp/10.0.0/10.0.0.10:'))!)![1];
  const shown = spawnSync('sh', ['-c', show], { encoding: 'utf8' });
  assert.equal(shown.stdout, 'not json\n', `the command it prints runs: ${show}`);
  const json = edits('--store', `git:${dir}`, '--json');
  assert.equal(json.status, 0, json.stderr);
  const list = JSON.parse(json.stdout) as RejectedEntry[];
  assert.deepEqual(list.map((e) => [e.path, e.edit]).slice(0, 1), [['arp/10.0.0/10.0.0.20', second]], 'newest first');
  assert.deepEqual(list.slice(1).map((e) => [e.path, e.edit]).sort(), ['arp/10.0.0/10.0.0.10', 'arp/10.0.0/10.0.0.12', 'arp/10.0.0/10.0.0.13', 'arp/10.9.9/10.0.0.11'].map((p) => [p, first]));
  assert.ok(list[0].time > list[list.length - 1].time);
  assert.equal(list[0].merge, git(dir, 'rev-parse', 'main').trim());
  assert.ok(list.every((e) => e.kept && typeof e.reason === 'string' && e.reason.length > 5));

  // Cut-offs: the edits and their merges leave the history; the rejected files stay whole.
  for (let i = 0; i < 12; i++) {
    learn(6000 + i);
    await gs.flush((now += 1000));
  }
  assert.notEqual(gitStatus(dir, 'cat-file', '-e', `${first}^{commit}`).status, 0, 'the first edit was cut off with the history');
  assert.equal(git(dir, 'show', 'rejected:arp/10.0.0/10.0.0.20'), '{"mac": "nonsense", "expires": 0, "kind": "static"}\n');
  assert.equal(git(dir, 'show', 'rejected~1:arp/10.0.0/10.0.0.10'), 'not json\n');
  assertFsck(dir, 'after the rejected edits were cut off', { dangling: false });
  assert.equal(edits('--store', `git:${dir}`, '--json').stdout, json.stdout, 'the listing is unchanged by the cut');
  await gs.close((now += 1000));
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
