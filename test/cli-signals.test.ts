// Every long-running command stops on SIGTERM/SIGINT whatever its stdout is: here stdout and stderr
// share one pipe whose reader goes away after the first line (`2>&1 | head -1`), so every later
// write meets a closed pipe. Each must still make its final merge and flush and exit 0 (the bound
// below is generous: the command's own deadline is 4.5 s). The router and host need root and TAPs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noTap, runCli, startCli, waitFor, type CliProcess } from './support/cli.js';

if (noTap) process.stdout.write(`# skipping the router and host cases of cli-signals: ${noTap}\n`);

const EXIT_BOUND_MS = 15_000;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), `nb-sig${process.pid}-`));
  dirs.push(d);
  return d;
}
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** A server (router, host) keeps serving when its stdout reader leaves: it ends on a signal, after its final flush. */
function assertStillServing(p: CliProcess): void {
  assert.deepEqual([p.child.exitCode, p.child.signalCode], [null, null], `it stopped when its stdout closed: ${p.output()}`);
}

/** SIGTERM (twice when `again`), then the exit. */
async function terminate(p: CliProcess, again = false) {
  p.child.kill('SIGTERM');
  if (again) setTimeout(() => p.child.kill('SIGTERM'), 50);
  return p.exitWithin(EXIT_BOUND_MS);
}

let tapSeq = 0;
/** Unique TAP names (15 bytes at most) and networks for one router. */
function routerArgs(): string[] {
  const id = `${process.pid % 100_000}${tapSeq++}`;
  const net = 100 + (tapSeq % 50);
  return ['router', '--inside', `nbsi${id}:10.${net}.1.1/24`, '--outside', `nbso${id}:10.${net}.2.1/24`];
}

const tokensFile = (dir: string) => {
  const f = join(dir, 'tokens.json');
  writeFileSync(f, JSON.stringify({ tokens: [{ name: 'ops', token: 'sig-test-token-0123456789', scopes: ['read:*', 'write:arp'] }] }), { mode: 0o600 });
  return f;
};

test('router with stdout and stderr on a closed pipe: SIGTERM ends it with exit 0, memory store', { skip: noTap }, async () => {
  const dir = tempDir();
  const sock = join(dir, 'api.sock');
  const p = startCli([...routerArgs(), '--api', `unix:${sock}`], 1);
  await p.firstLine;
  assert.ok(await waitFor(() => existsSync(sock), 20_000), `the router never served its API: ${p.output()}`);
  await new Promise((r) => setTimeout(r, 300)); // its ready line and logs meet the closed pipe
  assertStillServing(p);
  assert.deepEqual(await terminate(p), { code: 0, signal: null });
  assert.equal(existsSync(sock), false, 'the API socket is removed');
});

test('router on a git store, closed pipe, SIGTERM twice: exit 0 and the final flush is in git', { skip: noTap }, async () => {
  const dir = tempDir();
  const sock = join(dir, 'api.sock');
  const repo = join(dir, 'repo');
  // Only the final flush can commit: the interval is an hour.
  const p = startCli([...routerArgs(), '--store', `git:${repo}`, '--flush-interval', '3600000', '--api', `unix:${sock}`, '--tokens', tokensFile(dir)], 1);
  await p.firstLine;
  assert.ok(await waitFor(() => existsSync(sock), 20_000), `the router never served its API: ${p.output()}`);
  const set = runCli(['set', 'arp', '10.9.9.9', '02:00:00:00:09:09', '--api', `unix:${sock}`, '--token', 'sig-test-token-0123456789']);
  assert.equal(set.status, 0, set.stderr);
  await new Promise((r) => setTimeout(r, 500)); // the lookup actor's edit merges into the primary
  assertStillServing(p);
  assert.deepEqual(await terminate(p, true), { code: 0, signal: null });
  const show = spawnSync('git', ['-C', repo, 'show', 'main:arp/10.9.9/10.9.9.9'], { encoding: 'utf8' });
  assert.equal(show.status, 0, `the final flush is not in git: ${show.stderr}`);
  assert.match(show.stdout, /02:00:00:00:09:09/);
});

test('host with stdout and stderr on a closed pipe: SIGTERM ends it with exit 0', { skip: noTap }, async () => {
  const name = `nbsh${process.pid % 100_000}`;
  const p = startCli(['host', '--tap', `${name}:10.199.77.1/24`], 1);
  await p.firstLine;
  assert.ok(await waitFor(() => existsSync(`/sys/class/net/${name}`), 20_000), `the host never made its TAP: ${p.output()}`);
  await new Promise((r) => setTimeout(r, 500));
  assertStillServing(p);
  assert.deepEqual(await terminate(p), { code: 0, signal: null });
});

test('sim --api with a closed pipe: SIGTERM ends it with exit 0 and removes the socket file', async () => {
  const sock = join(tempDir(), 'api.sock');
  const p = startCli(['sim', '--nodes', '3', '--seconds', '3600', '--speed', '1', '--api', `unix:${sock}`], 1);
  await p.firstLine;
  assert.ok(await waitFor(() => existsSync(sock), 20_000), `the sim never served its API: ${p.output()}`);
  assert.deepEqual(await terminate(p), { code: 0, signal: null });
  assert.equal(existsSync(sock), false, 'the API socket is removed');
});

test('sim read to the end: SIGINT gives the final summary, says why it stopped, exit 0', async () => {
  const sock = join(tempDir(), 'api.sock');
  const p = startCli(['sim', '--nodes', '3', '--seconds', '3600', '--speed', '1', '--api', `unix:${sock}`]);
  assert.ok(await waitFor(() => existsSync(sock), 20_000), `the sim never served its API: ${p.output()}`);
  p.child.kill('SIGINT');
  assert.deepEqual(await p.exitWithin(EXIT_BOUND_MS), { code: 0, signal: null });
  assert.match(p.output(), /node {2}ip/, 'the summary table');
  assert.match(p.output(), /stopped early by SIGINT/);
  assert.equal(existsSync(sock), false);
});

test('sim whose stdout reader goes away stops by itself: summary attempted, socket removed, exit 0', async () => {
  const sock = join(tempDir(), 'api.sock');
  // --speed 20: a progress line every half second meets the closed pipe.
  const p = startCli(['sim', '--nodes', '3', '--seconds', '3600', '--speed', '20', '--api', `unix:${sock}`], 1);
  await p.firstLine;
  assert.deepEqual(await p.exitWithin(EXIT_BOUND_MS), { code: 0, signal: null });
  assert.equal(existsSync(sock), false);
});

test('demo read to the end: SIGTERM gives the summary, says why it stopped, exit 0', async () => {
  const p = startCli(['demo']);
  await p.firstLine;
  await new Promise((r) => setTimeout(r, 1_000));
  assert.deepEqual(await terminate(p), { code: 0, signal: null });
  assert.match(p.output(), /stopped early by SIGTERM/);
});

test('demo with a closed pipe: SIGTERM ends it with exit 0', async () => {
  const p = startCli(['demo'], 1);
  await p.firstLine;
  await new Promise((r) => setTimeout(r, 1_000));
  assert.deepEqual(await terminate(p), { code: 0, signal: null });
});

test('watch with a closed pipe: SIGTERM ends it with exit 0', async () => {
  const sock = join(tempDir(), 'api.sock');
  const server = startCli(['sim', '--nodes', '3', '--seconds', '3600', '--speed', '1', '--api', `unix:${sock}`]);
  try {
    assert.ok(await waitFor(() => existsSync(sock), 20_000), `the sim never served its API: ${server.output()}`);
    const w = startCli(['watch', 'arp', '--api', `unix:${sock}`], 1);
    await w.firstLine; // the sim's nodes learn each other within a second: changes arrive
    await new Promise((r) => setTimeout(r, 1_000));
    assert.deepEqual(await terminate(w), { code: 0, signal: null });
  } finally {
    server.child.kill('SIGTERM');
    await server.exitWithin(EXIT_BOUND_MS);
  }
});

test('stress with a closed pipe: SIGTERM stops it (it has nothing to save: the default action)', async () => {
  const p = startCli(['stress', '--branches', '2', '--ops', '100000000', '--timeout', '600'], 1);
  await p.firstLine;
  await new Promise((r) => setTimeout(r, 500));
  const exit = await terminate(p);
  assert.ok(exit !== null, 'stress did not stop');
  assert.deepEqual(exit, { code: null, signal: 'SIGTERM' });
});
