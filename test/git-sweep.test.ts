// The git backend's start-up sweep and history cut-off keep what any ref needs (issue 11, item 1):
// merged edits survive a clean restart untouched, a sweep runs only after an interrupted flush and
// deletes only that flush's unreachable objects, and neither it nor the cut-off ever takes an object
// another ref (a tag, a branch, a packed ref, a reflog, an unmerged edit) still reaches, nor one a
// push landing at that moment needs (its objects are young: the prune's grace keeps them and what
// they reach). Tests that count deletions open the store with `pruneGraceMs: 0`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Store } from '../store/index.js';
import { GitStore, type GitStoreOptions } from '../store/git/index.js';
import { plain } from './support/tables.js';
import { assertFsck, git, GIT_ENV, gitStatus } from './support/git-cli.js';
import type { Logger } from '../store/index.js';

const tmp = mkdtempSync(join(tmpdir(), `nb-git-sweep-${process.pid}-`));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const newDir = (tag: string) => join(tmp, `${tag}-${++dirs}`);
const HOUR = 3_600_000;

function recordingLogger(): Logger & { lines: { level: string; msg: string; obj: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: object, msg: string) => { lines.push({ level, msg, obj: obj as Record<string, unknown> }); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** A primary with the `def` table persisted to `dir` (no prune grace unless given); `set` changes it as an actor would. */
async function openStore(dir: string, opts: GitStoreOptions = {}) {
  let now = Date.UTC(2026, 0, 1);
  const store = new Store([plain], { clock: () => now });
  const logger = recordingLogger();
  const gs = await GitStore.open(dir, store.main, { thread: false, logger, pruneGraceMs: 0, ...opts });
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

/** A store with one flushed commit, closed cleanly; returns main's head. */
async function oneCommit(dir: string, opts: GitStoreOptions = {}): Promise<string> {
  const s = await openStore(dir, opts);
  s.set('k1', 1);
  await s.gs.close(s.tick());
  return git(dir, 'rev-parse', 'main').trim();
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
const objectPath = (dir: string, oid: string) => join(dir, 'objects', oid.slice(0, 2), oid.slice(2));
const age = (path: string, ms: number) => utimesSync(path, new Date(Date.now() - ms), new Date(Date.now() - ms));

/** Makes every loose object `ms` old, as if written that long ago. */
function ageAllObjects(dir: string, ms: number): void {
  for (const d of readdirSync(join(dir, 'objects')).filter((x) => /^[0-9a-f]{2}$/.test(x))) {
    for (const f of readdirSync(join(dir, 'objects', d))) age(join(dir, 'objects', d, f), ms);
  }
}

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

/** What an interrupted flush leaves: its marker, a temporary file, an unreachable object, its lock on main. */
function interruptedFlush(dir: string): { garbage: string } {
  write(dir, 'netbranch-flush', `${process.pid}\n`);
  write(dir, 'objects/tmp_obj_999999_1', 'half an object');
  const garbage = spawnBlob(dir, 'the interrupted flush wrote this\n');
  write(dir, 'refs/heads/main.lock', `${garbage}\n`);
  return { garbage };
}

/** Older than the interrupted flush: someone's dangling object, and a pusher's lock on edits. */
function olderThanTheFlush(dir: string, main: string): { old: string } {
  const old = spawnBlob(dir, 'written before the flush\n');
  age(objectPath(dir, old), HOUR);
  write(dir, 'refs/heads/edits.lock', `${main}\n`);
  age(join(dir, 'refs/heads/edits.lock'), HOUR);
  return { old };
}

/** New objects only other refs reach: a branch, an annotated tag, a packed ref, a reflog entry. */
function otherRefs(dir: string, main: string): string[] {
  const reached = ['on a branch', 'under a tag', 'in packed-refs', 'in a reflog'].map((what) => commitWith(dir, main, what));
  write(dir, 'refs/heads/feature', `${reached[0]}\n`);
  git(dir, 'tag', '-a', '-m', 'a tag', 'v1', reached[1]);
  write(dir, 'packed-refs', `# pack-refs with: peeled fully-peeled sorted \n${reached[2]} refs/heads/packed\n`);
  write(dir, 'logs/refs/heads/gone', `${'0'.repeat(40)} ${reached[3]} Edith <e@x> 1767225600 +0000\tbranch: deleted since\n`);
  return reached;
}

test('after an interrupted flush, the sweep deletes that flush\'s temporary file, unreachable object and lock on main, and says so', async () => {
  const dir = newDir('sweep');
  await oneCommit(dir);
  const { garbage } = interruptedFlush(dir);
  const again = await openStore(dir);
  const line = swept(again.logger);
  assert.equal(line.length, 1, 'the interrupted flush is swept, with a warning');
  assert.equal(line[0].obj.swept, 2, 'one temporary file and one unreachable object');
  assert.ok(!has(dir, garbage), 'the interrupted flush\'s object is deleted');
  assert.ok(!existsSync(join(dir, 'objects/tmp_obj_999999_1')));
  assert.ok(!existsSync(join(dir, 'refs/heads/main.lock')), 'the flush\'s own lock on main is removed');
  assert.ok(!existsSync(join(dir, 'netbranch-flush')));
  await again.gs.close(again.tick());
  assertFsck(dir, 'after the sweep', { dangling: false });
});

test('the sweep leaves what is not the interrupted flush\'s: what other refs reach, older objects and locks, git\'s own temporary files', async () => {
  const dir = newDir('spare');
  const main = await oneCommit(dir);
  const { old } = olderThanTheFlush(dir, main);
  interruptedFlush(dir);
  write(dir, 'objects/ab/tmp_obj_gitsOwn', 'git writing an object');
  const reached = otherRefs(dir, main);
  const again = await openStore(dir);
  assert.ok(has(dir, old), 'an unreachable object older than the flush is not the sweep\'s to delete');
  assert.ok(existsSync(join(dir, 'objects/ab/tmp_obj_gitsOwn')), 'git\'s own temporary files are left alone');
  assert.ok(existsSync(join(dir, 'refs/heads/edits.lock')), 'a lock older than the flush is a pusher\'s: kept');
  for (const c of reached) assert.equal(gitStatus(dir, 'rev-parse', '-q', '--verify', `${c}^{tree}`).status, 0, `${c}, reached by another ref, is whole`);
  assert.ok(has(dir, git(dir, 'rev-parse', 'v1').trim()), 'the tag object itself');
  await again.gs.close(again.tick());
  rmSync(join(dir, 'refs/heads/edits.lock'));
  rmSync(join(dir, 'objects/ab/tmp_obj_gitsOwn'));
  assertFsck(dir, 'after the sweep');
});

test('interrupted while cutting history, the sweep deletes old unreachable objects too, and still nothing another ref reaches', async () => {
  const dir = newDir('trimming');
  const main = await oneCommit(dir);
  const { old } = olderThanTheFlush(dir, main);
  rmSync(join(dir, 'refs/heads/edits.lock'));
  const reached = otherRefs(dir, main);
  write(dir, 'netbranch-flush', 'trimming\n');
  const again = await openStore(dir);
  assert.equal(swept(again.logger)[0]?.obj.swept, 1);
  assert.ok(!has(dir, old), 'cutting history, the old unreachable object goes too');
  for (const c of reached) assert.ok(has(dir, `${c}^{tree}`));
  await again.gs.close(again.tick());
  assertFsck(dir, 'after the sweep', { dangling: false });
});

test('a push under way (its quarantine directory) keeps the sweep from deleting anything', async () => {
  const dir = newDir('quarantine');
  await oneCommit(dir);
  write(dir, 'netbranch-flush', `${process.pid}\n`);
  const garbage = spawnBlob(dir, 'unreachable, but a push is under way\n');
  mkdirSync(join(dir, 'objects', 'tmp_objdir-incoming-abc123'));
  const again = await openStore(dir);
  assert.ok(has(dir, garbage));
  assert.ok(again.logger.lines.some((l) => l.level === 'warn' && /kept them/.test(l.msg) && /push/.test(String(l.obj.why))), 'says why it kept them');
  await again.gs.close(again.tick());
});

test('with the default grace, an interrupted flush\'s young objects are kept at start (said in one line), handed to the next run at a clean stop, and go with a later history cut', async () => {
  const dir = newDir('young');
  await oneCommit(dir, { historyCommits: 3 });
  const { garbage } = interruptedFlush(dir);
  const first = await openStore(dir, { historyCommits: 3, pruneGraceMs: undefined });
  assert.ok(has(dir, garbage), 'written a moment ago: a push landing now would look the same');
  assert.ok(first.logger.lines.some((l) => /interrupted flush left objects too young/.test(l.msg) && l.obj.kept === 1), JSON.stringify(first.logger.lines));
  await first.gs.close(first.tick());
  assert.equal(readFileSync(join(dir, 'netbranch-prune-later'), 'utf8'), `${garbage}\n`, 'listed for the next run');
  age(objectPath(dir, garbage), 10 * 60_000); // time passes
  const s = await openStore(dir, { historyCommits: 3, pruneGraceMs: undefined });
  assert.deepEqual(s.logger.lines.filter((l) => l.level !== 'info'), [], 'a start after a clean stop sweeps nothing');
  for (let i = 0; i < 6; i++) {
    s.set(`k${i}`, i);
    await s.gs.flush(s.tick());
  }
  assert.ok(s.gs.stats.squashedCommits > 0, 'history was cut');
  assert.ok(!has(dir, garbage), 'the cut deleted it');
  await s.gs.close(s.tick());
  assertFsck(dir, 'after the cut');
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

/**
 * A `git push` from `work` to `ref` held where a push is most fragile: its objects have left git's
 * quarantine and its ref has not moved yet (an `update` hook waits for `release`, 30 s at most).
 */
async function landingPush(dir: string, work: string, ref: string): Promise<{ release(): Promise<number | null> }> {
  const n = ++dirs;
  const entered = join(tmp, `hook-entered-${n}`);
  const go = join(tmp, `hook-go-${n}`);
  mkdirSync(join(dir, 'hooks'), { recursive: true });
  writeFileSync(join(dir, 'hooks', 'update'), `#!/bin/sh\ntouch '${entered}'\ni=0\nwhile [ ! -e '${go}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n`, { mode: 0o755 });
  const push = spawn('git', ['-C', work, 'push', '-q', 'origin', `HEAD:${ref}`], { env: GIT_ENV, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => push.on('exit', (code) => r(code)));
  for (let i = 0; i < 300 && !existsSync(entered) && push.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(entered), 'the push reached its update hook');
  return {
    async release() {
      writeFileSync(go, '');
      const code = await exited;
      rmSync(join(dir, 'hooks', 'update'));
      return code;
    },
  };
}

test('a push landing while the start-up sweep runs keeps its objects (too young to delete): fsck stays clean, the pushed commit readable and merged', async () => {
  const dir = newDir('landing-sweep');
  const work = newDir('landing-sweep-work');
  await oneCommit(dir);
  git(tmp, 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
  write(work, 'def/e1', '11\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'pushed while the router restarts');
  const pushed = git(work, 'rev-parse', 'HEAD').trim();
  const { garbage } = interruptedFlush(dir);
  age(join(dir, 'netbranch-flush'), HOUR);
  age(objectPath(dir, garbage), 10 * 60_000); // the interrupted flush was a while ago: old enough to delete
  const push = await landingPush(dir, work, 'edits');
  const s = await openStore(dir, { pruneGraceMs: undefined }); // the sweep runs now, with the default grace
  assert.ok(!has(dir, garbage), 'the interrupted flush\'s garbage still goes');
  assert.equal(await push.release(), 0, 'the push succeeds');
  assert.equal(git(dir, 'rev-parse', 'edits').trim(), pushed);
  assert.equal(git(dir, 'show', `${pushed}:def/e1`), '11\n', 'the pushed commit is readable');
  assertFsck(dir, 'after a push landed during the sweep');
  assert.equal((await s.gs.pollEdits(s.tick()))?.applied, 1, 'and merges');
  await s.gs.close(s.tick());
  assertFsck(dir, 'after merging it');
});

test('a push landing while a flush cuts the history it was built on keeps what it needs: fsck stays clean and the pushed commit readable', async () => {
  const dir = newDir('landing-cut');
  const work = newDir('landing-cut-work');
  const s = await openStore(dir, { historyCommits: 3, pruneGraceMs: undefined });
  for (const v of [1, 2, 0]) {
    s.set('k0', v); // main's tip holds the blob of '0': a push on it does not send that blob again
    await s.gs.flush(s.tick());
  }
  const base = git(dir, 'rev-parse', 'main').trim();
  git(tmp, 'clone', '-q', dir, work);
  git(work, 'checkout', '-q', '-b', 'edits');
  write(work, 'def/e1', '0\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'built on history about to be cut');
  const pushed = git(work, 'rev-parse', 'HEAD').trim();
  ageAllObjects(dir, HOUR); // what the store wrote is old: only the landing push's objects are young
  const push = await landingPush(dir, work, 'edits');
  for (let v = 3; v < 8; v++) {
    s.set('k0', v); // two cuts: the push's base commit and the blob of '0' leave main's history
    await s.gs.flush(s.tick());
  }
  assert.ok(s.gs.stats.squashedCommits >= 4, `the cuts ran while the push was landing (${s.gs.stats.squashedCommits} commits cut)`);
  assert.ok(!git(dir, 'rev-list', 'main').includes(base), 'main\'s history no longer reaches the push\'s base');
  assert.equal(await push.release(), 0, 'the push succeeds');
  assert.equal(git(dir, 'show', `${pushed}:def/e1`), '0\n', 'the pushed commit is readable, blob and all');
  assert.equal(git(dir, 'rev-parse', `${pushed}^`).trim(), base, 'its parent too');
  assertFsck(dir, 'after a push landed during a cut');
  // Its base left main's history as it landed: the documented answer is a rebase, and nothing is lost.
  assert.equal(await s.gs.pollEdits(s.tick()), null);
  assert.equal(s.gs.stats.editErrors, 1, 'refused with the error saying to rebase it onto main');
  for (let v = 8; v < 14; v++) {
    s.set('k0', v);
    await s.gs.flush(s.tick());
  }
  assert.equal(git(dir, 'show', 'edits:def/e1'), '0\n', 'later cuts keep it whole: `edits` names it');
  assertFsck(dir, 'after more cuts');
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
