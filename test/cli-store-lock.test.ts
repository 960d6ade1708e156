// One writer per store directory, as the router command meets it: the same `router … --store git:DIR`
// started twice is refused with one line naming the first one's pid, exit 2 — not a TAP "device-busy",
// because the store's lock is taken before the TAPs are opened. A router that fails after taking the
// lock releases it. Root and TAPs needed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE } from '../store/git/index.js';
import { noTap, runCli, startCli, waitFor } from './support/cli.js';

if (noTap) process.stdout.write(`# skipping cli-store-lock: ${noTap}\n`);

const dir = mkdtempSync(join(tmpdir(), `nb-lock${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));
const id = process.pid % 100_000;

const locked = (repo: string): boolean => existsSync(join(repo, LOCK_FILE));

test('the same router command twice: the second exits 2 with one line naming the first one\'s pid', { skip: noTap, timeout: 90_000 }, async () => {
  const repo = join(dir, 'twice');
  const args = ['router', '--inside', `nbki${id}:10.167.1.1/24`, '--outside', `nbko${id}:10.167.2.1/24`, '--store', `git:${repo}`];
  const first = startCli(args);
  try {
    const readyLine = () => first.output().split('\n').find((l) => l.includes('"event":"ready"'));
    assert.ok(await waitFor(() => readyLine() !== undefined, 30_000), `no ready line: ${first.output()}`);
    const ready = JSON.parse(readyLine()!) as { pid: number };
    const second = runCli(args, 30_000);
    assert.equal(second.stdout, '', 'no ready line');
    const lines = second.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, second.stderr);
    assert.match(lines[0], new RegExp(`^netbranch: --store git:${repo}: .* in use by pid ${ready.pid}\\b`));
    assert.doesNotMatch(lines[0], /device-busy|busy/i, 'refused by the lock, before the TAPs');
    assert.equal(second.status, 2);
    assert.ok(locked(repo), 'the first one\'s lock is left alone');
  } finally {
    first.child.kill('SIGTERM');
    assert.deepEqual(await first.exitWithin(15_000), { code: 0, signal: null });
  }
  assert.equal(locked(repo), false, 'released at stop');
});

test('a router that fails after taking the lock (a TAP refused) releases it', { skip: noTap }, () => {
  const repo = join(dir, 'refused');
  const r = runCli(['router', '--inside', 'lo:10.168.1.1/24', '--outside', `nbko${id}x:10.168.2.1/24`, '--store', `git:${repo}`], 30_000);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr.trimEnd().split('\n').at(-1)!, /^netbranch: --inside: 'lo' is the loopback device/);
  assert.ok(existsSync(repo), 'the store was opened first');
  assert.equal(locked(repo), false);
});
