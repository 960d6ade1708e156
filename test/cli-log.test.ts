// --log-level and --log-format (cli/log.ts) on router, host and sim: JSON lines when stderr is a pipe, pino-pretty's
// lines when it is a terminal, either forced with --log-format. The terminal is a real one: util-linux's
// `script` runs the command on a pseudo-terminal (Node has no pty of its own, and a native pty module is more
// than this needs). The sim with --store git:DIR writes two info lines ('git: loaded'), so it needs no root.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logOptions } from '../cli/log.js';
import { UsageError } from '../cli/usage.js';
import { ROOT, runCli } from './support/cli.js';
import { inProcess } from './support/cli-run.js';

const DIR = mkdtempSync(join(tmpdir(), 'nb-cli-log-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

let runs = 0;
/** `sim` with a git store of its own: its log lines are the two 'git: loaded'. */
const simArgs = (...more: string[]) => ['sim', '--nodes', '2', '--seconds', '1', '--speed', 'max', '--store', `git:${join(DIR, `sim${runs++}`)}`, ...more];

const ESC = '\u001b[';
const noScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0 ? false : 'util-linux script(1) is not installed: no terminal to test the pretty default with';

/** The command on a pseudo-terminal (stdout and stderr both on it): what the terminal showed. */
function onTerminal(args: string[]): string {
  const cmd = [process.execPath, '--import', 'tsx', join(ROOT, 'cli', 'main.ts'), ...args].map((a) => `'${a}'`).join(' ');
  const { NO_COLOR: _, ...env } = process.env;
  const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...env, TERM: 'xterm' } });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return r.stdout.replace(/\r\n/g, '\n');
}

test('the defaults: info, and json unless stderr is a terminal; bad words are a UsageError naming the flag', () => {
  assert.deepEqual(logOptions({}, false), { level: 'info', format: 'json' });
  assert.deepEqual(logOptions({}, true), { level: 'info', format: 'pretty' });
  assert.deepEqual(logOptions({ logLevel: 'debug', logFormat: 'json' }, true), { level: 'debug', format: 'json' });
  assert.throws(() => logOptions({ logLevel: 'verbose' }), (e: Error) => e instanceof UsageError && e.message === "--log-level must be trace, debug, info, warn, error or silent, got 'verbose'");
  assert.throws(() => logOptions({ logFormat: 'text' }), (e: Error) => e instanceof UsageError && e.message === "--log-format must be json or pretty, got 'text'");
});

test('stderr a pipe: one JSON object a line; --log-level warn leaves out the info lines', () => {
  const r = runCli(simArgs());
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  for (const l of lines) assert.deepEqual([JSON.parse(l).level, JSON.parse(l).cmd, JSON.parse(l).msg], [30, 'sim', 'git: loaded']);
  const quiet = runCli(simArgs('--log-level', 'warn'));
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.equal(quiet.stderr, '');
  assert.match(quiet.stdout, /frames in 1\.0 simulated s/); // the run itself is the same
});

test('--log-format pretty on a pipe: pino-pretty lines, no colours, no JSON', () => {
  const r = runCli(simArgs('--log-format', 'pretty'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: sim: git: loaded\n {4}dir: ".*sim\d+\/node0"\n/);
  assert.ok(!r.stderr.includes(ESC) && !r.stderr.includes('{"level"'), r.stderr);
});

test('stderr a terminal: pretty and coloured by default; --log-format json forces JSON', { skip: noScript }, () => {
  const pretty = onTerminal(simArgs());
  assert.match(pretty, /\[\d\d:\d\d:\d\d\.\d{3}\] \u001b\[32mINFO\u001b\[39m: \u001b\[36msim: git: loaded\u001b\[39m/);
  assert.ok(!pretty.includes('{"level"'), pretty);
  const json = onTerminal(simArgs('--log-format', 'json'));
  assert.equal(json.split('\n').filter((l) => l.startsWith('{"level":30,')).length, 2, json);
  assert.ok(!json.includes(`${ESC}32mINFO`), json);
});

test('router, host and sim take both flags, checked before anything is opened (one line, exit 2)', async () => {
  const cases: [string[], string][] = [
    [['router', '--inside', 'nblgi0:10.201.0.1/24', '--outside', 'nblgo0:10.202.0.1/24', '--log-level', 'chatty'], "--log-level must be trace, debug, info, warn, error or silent, got 'chatty'"],
    [['host', '--tap', 'nblgh0:10.199.0.1/24', '--log-format', 'yaml'], "--log-format must be json or pretty, got 'yaml'"],
    [simArgs('--log-level', 'loud'), "--log-level must be trace, debug, info, warn, error or silent, got 'loud'"],
  ];
  for (const [args, line] of cases) {
    const r = await inProcess(...args);
    assert.equal(r.stderr, `netbranch: ${line}\n`);
    assert.equal(r.code, 2);
  }
  const ok = await inProcess('router', '--inside', 'nblgi0:10.201.0.1/24', '--outside', 'nblgo0:10.202.0.1/24', '--log-level', 'debug', '--log-format', 'pretty', '--check');
  assert.equal(ok.code, 0, ok.stderr);
});
