// The git backend's start-up sweep and history cut-off keep what any ref needs (issue 11, item 1):
// merged edits survive a clean restart untouched, a sweep runs only after an interrupted flush and
// deletes only that flush's unreachable objects, and neither it nor the cut-off ever takes an object
// another ref (a tag, a branch, a packed ref, a reflog, an unmerged edit) still reaches.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GitStore, Store, type GitStoreLogger, type GitStoreOptions } from '../store/index.js';
import { plain } from './support/tables.js';
import { execFileSync } from 'node:child_process';
import { assertFsck, git, GIT_ENV, gitStatus } from './support/git-cli.js';

const tmp = mkdtempSync(join(tmpdir(), `nb-git-sweep-${process.pid}-`));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const newDir = (tag: string) => join(tmp, `${tag}-${++dirs}`);

function recordingLogger(): GitStoreLogger & { lines: { level: string; msg: string; obj: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: object, msg: string) => { lines.push({ level, msg, obj: obj as Record<string, unknown> }); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** A primary with the `def` table persisted to `dir`; `set` changes it as an actor would. */
async function openStore(dir: string, opts: GitStoreOptions = {}) {
  let now = Date.UTC(2026, 0, 1);
  const store = new Store([plain], { clock: () => now });
  const logger = recordingLogger();
  const gs = await GitStore.open(dir, store.main, { thread: false, logger, ...opts });
  return {
    gs, logger, store,
    set(key: string, value: number) {
      const b = store.main.fork('worker');
      b.table(plain).set(key, value);
      b.commit({ author: 'worker' });
      store.main.merge(b);
      b.close();
    },
    tick: () => (now += 1000),
  };
}

function write(dir: string, path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

function commitAndPush(work: string, subject: string, ref = 'edits'): string {
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', subject);
  git(work, 'push', '-q', 'origin', `HEAD:${ref}`);
  return git(work, 'rev-parse', 'HEAD').trim();
}

const swept = (l: ReturnType<typeof recordingLogger>) => l.lines.filter((x) => /interrupted flush/.test(x.msg));
const has = (dir: string, oid: string) => gitStatus(dir, 'cat-file', '-e', oid).status === 0;

test('two pushed edits, the second a real merge: a clean stop and a restart sweep nothing, and every edit stays in main\'s history', async () => {
  const dir = newDir('merge');
  const work = newDir('merge-work');
  const s = await openStore(dir);
  s.set('k1', 1);
  await s.gs.flush(s.tick());
  git(tmp, 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
  write(work, 'def/e1', '11\n');
  const e1 = commitAndPush(work, 'first edit');
  await s.gs.pollEdits(s.tick());
  s.set('k2', 2); // main moves on: the next edit's merge is a real three-way merge
  await s.gs.flush(s.tick());
  git(work, 'pull', '-q', '--ff-only', 'origin', 'edits');
  write(work, 'def/e2', '22\n');
  const e2 = commitAndPush(work, 'second edit');
  s.set('k3', 3);
  await s.gs.flush(s.tick());
  await s.gs.pollEdits(s.tick());
  await s.gs.flush(s.tick());
  assert.equal(git(dir, 'rev-parse', 'main^2').trim(), e2, 'the second edit is the second parent of a merge on main');
  assert.notEqual(git(dir, 'rev-parse', 'main^2^').trim(), git(dir, 'rev-parse', 'main^1').trim(), 'and main had moved on from its base');
  await s.gs.close(s.tick());

  const again = await openStore(dir);
  assert.deepEqual(swept(again.logger), [], 'a start after a clean stop sweeps nothing');
  assert.deepEqual(again.logger.lines.filter((l) => l.level !== 'info'), []);
  assertFsck(dir, 'after a clean restart', { dangling: false });
  for (const e of [e1, e2]) assert.equal(gitStatus(dir, 'merge-base', '--is-ancestor', e, 'main').status, 0, `edit ${e} is in main's history`);
  assert.match(git(dir, 'log', '--format=%s', 'main'), /second edit[\s\S]*first edit/);
  assert.deepEqual([...again.store.main.table(plain).entries()].sort(), [['e1', 11], ['e2', 22], ['k1', 1], ['k2', 2], ['k3', 3]]);
  await again.gs.close(again.tick());
  git(work, 'pull', '-q', '--ff-only', 'origin', 'edits');
  git(work, 'fetch', '-q', 'origin', 'main');
  assert.equal(git(work, 'rev-parse', 'HEAD').trim(), git(dir, 'rev-parse', 'edits').trim());
});

test('after an interrupted flush, the sweep deletes only that flush\'s objects no ref reaches; every ref\'s objects stay', async () => {
  const dir = newDir('sweep');
  const s = await openStore(dir);
  s.set('k1', 1);
  await s.gs.flush(s.tick());
  await s.gs.close(s.tick());
  const main = git(dir, 'rev-parse', 'main').trim();
  const blob = (text: string) => spawnBlob(dir, text);
  // Older than the interrupted flush: someone's dangling object, and a pusher's lock on edits.
  const old = blob('written before the flush\n');
  const oldPath = join(dir, 'objects', old.slice(0, 2), old.slice(2));
  utimesSync(oldPath, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
  write(dir, 'refs/heads/edits.lock', `${main}\n`);
  utimesSync(join(dir, 'refs/heads/edits.lock'), new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
  // The interrupted flush: its marker, a temporary file, an object no ref reaches, main's lock file.
  write(dir, 'netbranch-flush', `${process.pid}\n`);
  write(dir, 'objects/tmp_obj_999999_1', 'half an object');
  write(dir, 'objects/ab/tmp_obj_gitsOwn', 'git writing an object');
  const garbage = blob('the interrupted flush wrote this\n');
  write(dir, 'refs/heads/main.lock', `${garbage}\n`);
  // New objects only other refs reach: a branch, an annotated tag, a packed ref, a reflog entry.
  const reached = ['on a branch', 'under a tag', 'in packed-refs', 'in a reflog'].map((what) => commitWith(dir, main, what));
  write(dir, 'refs/heads/feature', `${reached[0]}\n`);
  git(dir, 'tag', '-a', '-m', 'a tag', 'v1', reached[1]);
  write(dir, 'packed-refs', `# pack-refs with: peeled fully-peeled sorted \n${reached[2]} refs/heads/packed\n`);
  write(dir, 'logs/refs/heads/gone', `${'0'.repeat(40)} ${reached[3]} Edith <e@x> 1767225600 +0000\tbranch: deleted since\n`);

  const again = await openStore(dir);
  const line = swept(again.logger);
  assert.equal(line.length, 1, 'the interrupted flush is swept, with a warning');
  assert.equal(line[0].obj.swept, 2, 'one temporary file and one unreachable object');
  assert.ok(!has(dir, garbage), 'the interrupted flush\'s object is deleted');
  assert.ok(!existsSync(join(dir, 'objects/tmp_obj_999999_1')));
  assert.ok(!existsSync(join(dir, 'refs/heads/main.lock')), 'the flush\'s own lock on main is removed');
  assert.ok(!existsSync(join(dir, 'netbranch-flush')));
  assert.ok(has(dir, old), 'an unreachable object older than the flush is not the sweep\'s to delete');
  assert.ok(existsSync(join(dir, 'objects/ab/tmp_obj_gitsOwn')), 'git\'s own temporary files are left alone');
  assert.ok(existsSync(join(dir, 'refs/heads/edits.lock')), 'a lock older than the flush is a pusher\'s: kept');
  for (const c of reached) assert.equal(gitStatus(dir, 'rev-parse', '-q', '--verify', `${c}^{tree}`).status, 0, `${c}, reached by another ref, is whole`);
  assert.ok(has(dir, git(dir, 'rev-parse', 'v1').trim()), 'the tag object itself');
  await again.gs.close(again.tick());
  rmSync(join(dir, 'refs/heads/edits.lock'));
  assertFsck(dir, 'after the sweep');

  // Interrupted while cutting history: old unreachable objects may be what the cut was deleting.
  write(dir, 'netbranch-flush', 'trimming\n');
  const third = await openStore(dir);
  assert.equal(swept(third.logger)[0]?.obj.swept, 1);
  assert.ok(!has(dir, old), 'cutting history, the old unreachable object goes too');
  for (const c of reached) assert.ok(has(dir, c));
  await third.gs.close(third.tick());
});

test('a push under way (its quarantine directory) keeps the sweep from deleting anything', async () => {
  const dir = newDir('quarantine');
  const s = await openStore(dir);
  s.set('k1', 1);
  await s.gs.close(s.tick());
  write(dir, 'netbranch-flush', `${process.pid}\n`);
  const garbage = spawnBlob(dir, 'unreachable, but a push is under way\n');
  mkdirSync(join(dir, 'objects', 'tmp_objdir-incoming-abc123'));
  const again = await openStore(dir);
  assert.ok(has(dir, garbage));
  assert.ok(again.logger.lines.some((l) => l.level === 'warn' && /kept them/.test(l.msg) && /push/.test(String(l.obj.why))), 'says why it kept them');
  await again.gs.close(again.tick());
});

test('the history cut-off keeps what other refs reach (a tag, a branch), cuts them off there too, and fsck agrees', async () => {
  const dir = newDir('cut');
  const s = await openStore(dir, { historyCommits: 3 });
  for (let i = 0; i < 3; i++) {
    s.set(`k${i}`, i);
    await s.gs.flush(s.tick());
  }
  const early = git(dir, 'rev-parse', 'main').trim();
  git(dir, 'tag', '-a', '-m', 'an early state', 'early', early);
  const feature = commitWith(dir, early, 'a branch off an early commit');
  write(dir, 'refs/heads/feature', `${feature}\n`);
  for (let i = 3; i < 20; i++) {
    s.set(`k${i % 5}`, i);
    await s.gs.flush(s.tick());
  }
  assert.ok(s.gs.stats.squashedCommits > 10, 'history was cut');
  assertFsck(dir, 'after cutting past a tag and a branch', { dangling: false });
  assert.ok(has(dir, `${early}^{tree}`), 'the tagged commit is whole');
  assert.match(git(dir, 'log', '--format=%s', 'feature'), /a branch off an early commit/);
  assert.equal(git(dir, 'cat-file', '-p', 'early:def/k2').trim(), '2');
  assert.ok(Number(git(dir, 'rev-list', '--first-parent', '--count', 'main').trim()) <= 4);
  const clone = newDir('cut-clone');
  git(tmp, 'clone', '-q', '--mirror', dir, clone);
  assertFsck(clone, 'a mirror of the cut repository');
  await s.gs.close(s.tick());
});

test('an edit not merged yet keeps its base from being cut off, so it still merges', async () => {
  const dir = newDir('pin');
  const work = newDir('pin-work');
  const s = await openStore(dir, { historyCommits: 3 });
  s.set('k0', 0);
  await s.gs.flush(s.tick());
  git(tmp, 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
  write(work, 'def/e1', '11\n');
  const edit = commitAndPush(work, 'an edit made before many flushes');
  for (let i = 1; i < 15; i++) {
    s.set(`k${i % 4}`, i);
    await s.gs.flush(s.tick()); // no poll: the edit waits
  }
  assertFsck(dir, 'with an edit waiting');
  const out = await s.gs.pollEdits(s.tick());
  assert.equal(out?.applied, 1, 'the edit merged');
  await s.gs.flush(s.tick());
  assert.equal(git(dir, 'rev-parse', 'main^2').trim(), edit);
  for (let i = 0; i < 10; i++) {
    s.set(`k${i % 4}`, 100 + i);
    await s.gs.flush(s.tick());
  }
  assert.ok(Number(git(dir, 'rev-list', '--first-parent', '--count', 'main').trim()) <= 4, 'once merged, the history is cut as usual');
  assertFsck(dir, 'after the pinned edit merged and was cut off', { dangling: false });
  await s.gs.close(s.tick());
});

/** Writes a blob with git; returns its id. */
function spawnBlob(dir: string, text: string): string {
  const tmpFile = join(tmp, `blob-${++dirs}`);
  writeFileSync(tmpFile, text);
  return git(dir, 'hash-object', '-w', tmpFile).trim();
}

/** A commit with a tree of its own (one file) on top of `parent`; returns its id. */
function commitWith(dir: string, parent: string, message: string): string {
  const file = spawnBlob(dir, `${message}\n`);
  const tree = execFileSync('git', ['-C', dir, 'mktree'], { input: `100644 blob ${file}\tnote\n`, encoding: 'utf8', env: GIT_ENV }).trim();
  return git(dir, 'commit-tree', '-p', parent, '-m', message, tree).trim();
}
