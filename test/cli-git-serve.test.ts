// `netbranch git-serve`: the pair's git server for operators (docs/ha.md). Plain `git` pushes to and
// fetches from it; --init makes the repository the routers need (HEAD follows the first router branch
// pushed, a corrupt pack is refused); every request is a JSON log line; a busy port or a bad --root is
// one line and exit 2; SIGTERM stops it cleanly. No root needed: loopback only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, waitFor } from './support/cli.js';
import { freePort } from './support/free-port.js';
import { git, gitStatus } from './support/git-cli.js';
import { pushCorruptCommit } from './support/ha-pair.js';

const MAIN = join(ROOT, 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), `nb-git-serve-${process.pid}-`));
const started = new Set<ChildProcess>();
after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); // only what this file started
  rmSync(dir, { recursive: true, force: true });
});

interface Served { child: ChildProcess; out(): string; err(): string; exit: Promise<number | null>; url: string }

/** `netbranch git-serve ARGS` running, once its ready line is out. */
async function serve(...args: string[]): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'git-serve', '--log-format', 'json', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  assert.ok(await waitFor(() => out.includes('\n') || child.exitCode !== null, 30_000), `a ready line: ${err}`);
  const ready = JSON.parse(out.split('\n')[0]) as { event: string; url: string };
  assert.equal(ready.event, 'ready', out);
  return { child, out: () => out, err: () => err, exit, url: ready.url };
}

/** The request log lines (JSON) on stderr. */
const requests = (s: Served) => s.err().split('\n').filter((l) => l.includes('"method"')).map((l) => JSON.parse(l) as { method: string; path: string; status: number; level: number });

test('--help names --root, --listen and --init', () => {
  const r = runCli(['git-serve', '--help']);
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ['--root <dir>', '--listen <host:port>', '--init <name>', '--log-level']) assert.ok(r.stdout.includes(flag), `${flag} in:\n${r.stdout}`);
  assert.match(r.stdout, /127\.0\.0\.1:8418/);
});

test('push and fetch with plain git; HEAD follows the first router branch; a corrupt pack is refused; requests logged', { timeout: 120_000 }, async () => {
  const root = join(dir, 'root');
  mkdirSync(root);
  const s = await serve('--root', root, '--init', 'tables', '--listen', `127.0.0.1:${await freePort()}`);
  const url = `${s.url}/tables.git`;
  assert.match(s.out(), /"repos":\["tables\.git"\]/);
  assert.equal(git(root, '--git-dir', 'tables.git', 'config', 'receive.fsckObjects').trim(), 'true');

  const work = join(dir, 'work');
  git(dir, 'init', '-q', '-b', 'main', work);
  writeFileSync(join(work, 'table'), 'row\n');
  git(work, 'add', 'table');
  git(work, 'commit', '-q', '-m', 'router b');
  git(work, 'push', '-q', url, 'main:routers/b');
  // --init pointed HEAD at routers/a; the first router to push was b, so HEAD names b now (a clone checks it out).
  assert.equal(git(root, '--git-dir', 'tables.git', 'symbolic-ref', 'HEAD').trim(), 'refs/heads/routers/b');
  const head = git(work, 'rev-parse', 'HEAD').trim();
  assert.match(git(dir, 'ls-remote', url), new RegExp(`^${head}\\tHEAD$`, 'm'));
  git(dir, 'clone', '-q', url, join(dir, 'copy'));
  assert.equal(git(join(dir, 'copy'), 'rev-parse', 'HEAD').trim(), head, 'a clone fetched what was pushed');

  const bad = await pushCorruptCommit(join(dir, 'intruder'), url, 'refs/heads/routers/evil');
  assert.notEqual(bad.status, 0, bad.out);
  assert.match(bad.out, /missingEmail/);
  assert.notEqual(gitStatus(root, '--git-dir', 'tables.git', 'rev-parse', '--verify', '-q', 'routers/evil').status, 0, 'no routers/evil');

  const log = requests(s);
  assert.ok(log.some((l) => l.method === 'POST' && l.path === '/tables.git/git-receive-pack' && l.status === 200), JSON.stringify(log));
  assert.ok(log.some((l) => l.method === 'POST' && l.path === '/tables.git/git-upload-pack' && l.status === 200), JSON.stringify(log));
  assert.ok(log.every((l) => l.level === 30), 'each request at info');

  s.child.kill('SIGTERM');
  assert.equal(await s.exit, 0, s.err());
  assert.match(s.err(), /"signal":"SIGTERM".*"msg":"stopping"/);
});

test('SIGINT also stops it cleanly, and the port is free again', { timeout: 60_000 }, async () => {
  const root = join(dir, 'root-int');
  mkdirSync(root);
  const port = await freePort();
  const s = await serve('--root', root, '--listen', `127.0.0.1:${port}`);
  assert.match(s.err(), /no bare repositories under the root yet/, 'an empty root is a warning');
  s.child.kill('SIGINT');
  assert.equal(await s.exit, 0, s.err());
  const again = await serve('--root', root, '--listen', `127.0.0.1:${port}`);
  again.child.kill('SIGTERM');
  assert.equal(await again.exit, 0, again.err());
});

/** Exit 2, nothing on stdout, exactly one line on stderr matching `line`. */
function assertOneLine(r: ReturnType<typeof runCli>, line: RegExp): void {
  assert.equal(r.stdout, '', 'no ready line');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line, got: ${r.stderr}`);
  assert.match(r.stderr.trimEnd(), line);
  assert.equal(r.status, 2, r.stderr);
}

test('a busy port: one line naming --listen, exit 2', async () => {
  const held: Server = createServer();
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  try {
    const port = (held.address() as { port: number }).port;
    assertOneLine(runCli(['git-serve', '--root', dir, '--listen', `127.0.0.1:${port}`]), new RegExp(`^netbranch: --listen 127\\.0\\.0\\.1:${port}: address in use$`));
  } finally {
    await new Promise((r) => held.close(r));
  }
});

test('a bad --root, --listen or --init: one line naming the flag, exit 2', () => {
  assertOneLine(runCli(['git-serve', '--root', join(dir, 'missing')]), /^netbranch: --root .*missing: no such directory$/);
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  assertOneLine(runCli(['git-serve', '--root', file]), /^netbranch: --root .*a-file: not a directory$/);
  assertOneLine(runCli(['git-serve']), /^netbranch: --root DIR is required/);
  assertOneLine(runCli(['git-serve', '--root', dir, '--listen', 'nowhere']), /^netbranch: --listen must be HOST:PORT/);
  assertOneLine(runCli(['git-serve', '--root', dir, '--init', '../up']), /^netbranch: --init must be a repository name/);
});
