// An actor lost for good after the router is ready (it crashed, and its restarts cannot start: another
// process took its socket meanwhile) stops the router through its normal path — final merge, git flush,
// TAPs closed — and it exits 1 with one line naming the actor and the reason. Before, the router ran on
// without its API. The crash is injected by test/support/router-lookup-crash.ts; root and TAPs needed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE } from '../store/git/index.js';
import { noTap, ROOT } from './support/cli.js';

if (noTap) process.stdout.write(`# skipping cli-actor-lost: ${noTap}\n`);

const dir = mkdtempSync(join(tmpdir(), `nb-lost${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));

test('router: the lookup actor crashes and cannot listen again: final flush, one line naming it, exit 1', { skip: noTap, timeout: 60_000 }, async () => {
  const id = process.pid % 100_000;
  const sock = join(dir, 'api.sock');
  const repo = join(dir, 'repo');
  const args = ['router', '--inside', `nbli${id}:10.166.1.1/24`, '--outside', `nblo${id}:10.166.2.1/24`,
    '--api', `unix:${sock}`, '--store', `git:${repo}`, '--flush-interval', '3600000'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/router-lookup-crash.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 45_000); // only the process this test started
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(killer);
  assert.match(stdout, /"event":"ready"/, `it was ready first: ${stderr}`);
  const lines = stderr.trimEnd().split('\n');
  const plain = lines.filter((l) => !l.startsWith('{'));
  assert.deepEqual(plain, [`netbranch: actor lookup crashed and cannot start again: --api unix:${sock}: in use by a live server`], stderr);
  assert.equal(plain[0], lines.at(-1), 'the last line');
  const logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; signal?: string });
  assert.ok(logs.some((l) => l.msg === 'stopping: final merge' && l.signal === 'actor lookup given up'), stderr);
  assert.ok(logs.some((l) => l.msg === 'git: final flush'), `the normal stop path: ${stderr}`);
  assert.ok(logs.some((l) => l.msg === 'stopped'), stderr);
  assert.equal(code, 1, 'a failure at run time, not a usage error');
  assert.equal(existsSync(join(repo, LOCK_FILE)), false, 'the store lock is released');
});
