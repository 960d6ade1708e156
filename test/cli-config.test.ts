// `netbranch router --config FILE` (cli/config.ts): every flag has a key, the file's values go through the
// flags' own checks, flags on the command line win, and anything wrong with the file is one line naming it
// (and the key) with exit 2, before anything is opened. `--check` says what would run and opens nothing.
// Run in-process through main(); no root (nothing is opened).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../cli/main.js';
import { ROUTER_CONFIG } from '../cli/router.js';
import { inProcess } from './support/cli-run.js';
import { ROOT } from './support/cli.js';

const DIR = mkdtempSync(join(tmpdir(), 'nb-cli-config-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

/** A good file's keys, `key` or `table.key`, each with its TOML value. */
const GOOD: Record<string, string> = {
  inside: '"nbcfi0:10.201.0.1/24"',
  outside: '"nbcfo0:10.202.0.1/24"',
  workers: '3',
  'dhcp.range': '"10.201.0.100-10.201.0.200"',
  'dns.upstream': '"10.202.0.53"',
};

/** The good file's text with `over` keys set (a null drops one): top-level keys first, then a [table] each. */
function toml(over: Record<string, string | null> = {}): string {
  const all = Object.entries({ ...GOOD, ...over }).filter((e): e is [string, string] => e[1] !== null);
  const lines = all.filter(([k]) => !k.includes('.')).map(([k, v]) => `${k} = ${v}`);
  for (const t of new Set(all.filter(([k]) => k.includes('.')).map(([k]) => k.split('.')[0]))) {
    lines.push(`[${t}]`, ...all.filter(([k]) => k.startsWith(`${t}.`)).map(([k, v]) => `${k.slice(t.length + 1)} = ${v}`));
  }
  return lines.join('\n');
}

let files = 0;
/** A config file with `text`, its path. */
function file(text: string): string {
  const path = join(DIR, `router-${files++}.toml`);
  writeFileSync(path, `${text}\n`);
  return path;
}

/** main(args) in this process, stdout captured as well (the --check line). */
async function router(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => { stdout += String(chunk); return true; }) as typeof process.stdout.write;
  try {
    const r = await inProcess('router', ...args);
    return { ...r, stdout: stdout + r.stdout };
  } finally {
    process.stdout.write = write;
  }
}

/** Exit 2, nothing on stdout, exactly one line on stderr, equal to `line` (a string) or matching it. */
async function refused(args: string[], line: string | RegExp): Promise<void> {
  const r = await router(...args);
  assert.equal(r.stdout, '', `${args.join(' ')}: printed before refusing`);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${args.join(' ')}: ${r.stderr}`);
  if (typeof line === 'string') assert.equal(r.stderr.trimEnd(), line);
  else assert.match(r.stderr.trimEnd(), line);
  assert.equal(r.code, 2, r.stderr);
}

/** A config file: the good one with `over` keys set. */
const goodWith = (over: Record<string, string | null>) => file(toml(over));

test('every router flag has one config key, and every key names a router flag', () => {
  const cmd = buildProgram().commands.find((c) => c.name() === 'router')!;
  const flags = cmd.options.map((o) => o.long!).filter((f) => f !== '--config' && f !== '--check').sort();
  assert.deepEqual(Object.values(ROUTER_CONFIG).map((k) => k.flag).sort(), flags);
});

test('--check: the file checked, one line saying what would run, exit 0, nothing opened', async () => {
  const r = await router('--config', goodWith({}), '--check');
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^netbranch router: \S+router-\d+\.toml: ok: inside nbcfi0 10\.201\.0\.1\/24, outside nbcfo0 10\.202\.0\.1\/24, 3 workers \(kernel steering\), store memory, dhcp 10\.201\.0\.100-10\.201\.0\.200, dns \(checked only: nothing opened\)\n$/);
  const flags = await router('--inside', 'nbcfi0:10.201.0.1/24', '--outside', 'nbcfo0:dhcp', '--check');
  assert.match(flags.stdout, /^netbranch router: flags: ok: inside nbcfi0 10\.201\.0\.1\/24, outside nbcfo0 dhcp, 2 workers/);
});

test('the example docs/systemd/router.toml passes --check', async () => {
  const r = await router('--config', join(ROOT, 'docs/systemd/router.toml'), '--check');
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /: ok: inside tap-in 10\.201\.0\.1\/24, outside tap-out 10\.202\.0\.1\/24 via 10\.202\.0\.254, 2 workers \(kernel steering\), store git:\/var\/lib\/netbranch, dhcp 10\.201\.0\.100-10\.201\.0\.200, dns, api \/run\/netbranch\/api\.sock /);
});

test('flags on the command line win over the file; the file wins over the defaults', async () => {
  const bad = goodWith({ workers: '0', 'merge-interval': '250' });
  assert.match((await router('--config', bad, '--check', '--workers', '5')).stdout, /, 5 workers /); // the file's bad 0 is never used
  const mixed = await router('--config', goodWith({ steering: '"handoff"', store: '"git:/var/lib/nb"', 'api.socket': 'true' }), '--check', '--dispatcher');
  assert.match(mixed.stdout, /, 3 workers \(dispatcher\), store git:\/var\/lib\/nb, .*, api \/\S+\.sock /);
  const byFile = await router('--config', goodWith({ steering: '"handoff"' }), '--check');
  assert.match(byFile.stdout, /, 3 workers \(handoff steering\), /);
});

test('a bad value given on the command line is still named by its flag, not the file', async () => {
  await refused(['--config', goodWith({}), '--check', '--workers', '0'], "netbranch: --workers must be an integer from 1 to 64, got '0'");
});

test('unknown keys: one line naming the file and the key, with the keys that may stand there', async () => {
  const top = goodWith({ wrkers: '3' });
  await refused(['--config', top, '--check'], new RegExp(`^netbranch: ${top}: wrkers: unknown key \\(known: inside, outside, gateway, workers, .*, \\[git\\], \\[dhcp\\], \\[dns\\], \\[api\\], \\[log\\], \\[peer\\], \\[vrrp\\]\\)$`));
  const inTable = goodWith({ 'dhcp.rnage': '"10.201.0.100-10.201.0.200"' });
  await refused(['--config', inTable, '--check'], `netbranch: ${inTable}: dhcp.rnage: unknown key ([dhcp] takes range, lease)`);
  const table = goodWith({ 'firewall.open': 'true' });
  await refused(['--config', table, '--check'], new RegExp(`^netbranch: ${table}: firewall: unknown key \\(known: `));
  const config = goodWith({ config: '"/etc/other.toml"' });
  await refused(['--config', config, '--check'], new RegExp(`^netbranch: ${config}: config: unknown key`));
});

test('wrong TOML types: one line naming the key, the type it takes and what it got', async () => {
  const cases: [Record<string, string | null>, string][] = [
    [{ workers: '"2"' }, 'workers: must be an integer, got "2" (a string)'],
    [{ workers: '2.5' }, 'workers: must be an integer, got 2.5 (a float)'],
    [{ 'merge-interval': '"100ms"' }, 'merge-interval: must be a number, got "100ms" (a string)'],
    [{ dispatcher: '"yes"' }, 'dispatcher: must be true or false, got "yes" (a string)'],
    [{ gateway: '10' }, 'gateway: must be a string, got 10 (an integer)'],
    [{ gateway: '2024-01-01' }, 'gateway: must be a string, got a date'],
    [{ pcap: '["/tmp/a"]' }, 'pcap: must be a string, got an array'],
    [{ log: '"debug"' }, 'log: must be a table ([log] takes level, format), got "debug" (a string)'],
    [{ inside: null, 'inside.name': '"tap-in"' }, 'inside: must be a string, got a table'],
    [{ 'api.socket': '7070' }, 'api.socket: must be a socket path, or true for the default, got 7070 (an integer)'],
    [{ 'git.history': '"60"' }, 'git.history: must be an integer, got "60" (a string)'],
    [{ 'dhcp.lease': 'true' }, 'dhcp.lease: must be a duration like "1h" or an integer of seconds, got true (a boolean)'],
  ];
  for (const [over, line] of cases) {
    const path = goodWith(over);
    await refused(['--config', path, '--check'], `netbranch: ${path}: ${line}`);
  }
});

test("bad addresses and values: the flag's own check, told with the key", async () => {
  const cases: [Record<string, string | null>, string][] = [
    [{ gateway: '"10.202.0"' }, "gateway: must be an IPv4 address, got '10.202.0'"],
    [{ gateway: '"10.9.9.9"' }, 'gateway: 10.9.9.9 is not on the outside network'],
    [{ inside: '"nbcfi0:10.201.0.0/24"' }, 'inside: 10.201.0.0 is the network address of 10.201.0.0/24, not a host address (e.g. 10.201.0.1/24)'],
    [{ outside: '"nbcfo0:10.201.0.9/24"' }, 'inside: inside and outside must be on different networks'],
    [{ outside: '"nbcfi0:10.203.0.1/24"' }, 'inside: inside and outside must be different devices'],
    [{ workers: '65' }, "workers: must be an integer from 1 to 64, got '65'"],
    [{ steering: '"ebpf"' }, "steering: must be kernel or handoff, got 'ebpf'"],
    [{ store: '"mysql"' }, "store: must be memory, hashtable or git:DIR, got 'mysql'"],
    [{ 'dhcp.range': '"10.9.0.5-10.9.0.9"' }, "dhcp.range: 10.9.0.5-10.9.0.9 must lie in the inside network and leave out the router's 10.201.0.1"],
    [{ 'dhcp.lease': '"forever"' }, "dhcp.lease: must be a duration from 1m to 365d like 1h, 30m or 3600s, got 'forever'"],
    [{ 'dhcp.range': null, 'dhcp.lease': '"1h"' }, 'dhcp.lease: needs dhcp.range'],
    [{ 'dns.upstream': '"dns.example"' }, "dns.upstream: must be an IPv4 address, got 'dns.example'"],
    [{ 'api.tcp': '"10.0.0.1:7070"' }, 'api.tcp: 10.0.0.1 is not a loopback address; the API is served on loopback only'],
    [{ 'api.http': '"127.0.0.1:7072"' }, 'api.http: needs api.tokens FILE: every request over TCP must carry a token'],
    [{ 'git.history': '10' }, 'git.history: needs store git:DIR: it tunes the git store, and this run has none'],
    [{ 'log.level': '"loud"' }, "log.level: must be trace, debug, info, warn, error or silent, got 'loud'"],
    [{ 'log.format': '"xml"' }, "log.format: must be json or pretty, got 'xml'"],
  ];
  for (const [over, line] of cases) {
    const path = goodWith(over);
    await refused(['--config', path, '--check'], `netbranch: ${path}: ${line}`);
  }
});

test('a file that cannot be read or parsed: one line naming it (and where), exit 2', async () => {
  const missing = join(DIR, 'missing.toml');
  await refused(['--config', missing, '--check'], `netbranch: ${missing}: cannot be read: no such file or directory (ENOENT)`);
  const dir = join(DIR, 'a-directory.toml');
  mkdirSync(dir);
  await refused(['--config', dir, '--check'], new RegExp(`^netbranch: ${dir}: cannot be read: .*\\(EISDIR\\)$`));
  const text = toml();
  const lines = text.split('\n').length;
  const unclosed = file(`${text}\n[log]\nlevel == "info"`);
  await refused(['--config', unclosed, '--check'], new RegExp(`^netbranch: ${unclosed}:${lines + 2}:\\d+: not valid TOML: \\S`));
  const twice = file(`workers = 4\n${text}`); // and again on line 4
  await refused(['--config', twice, '--check'], `netbranch: ${twice}:4:1: not valid TOML: trying to redefine an already defined table or value`);
});

test('--inside and --outside are required, from either place', async () => {
  await refused(['--check'], 'netbranch: --inside is required: give it here, or as inside in the --config file');
  await refused(['--config', file('inside = "nbcfi0:10.201.0.1/24"'), '--check'], 'netbranch: --outside is required: give it here, or as outside in the --config file');
  const r = await router('--config', file('inside = "nbcfi0:10.201.0.1/24"'), '--outside', 'nbcfo0:10.202.0.1/24', '--check');
  assert.equal(r.code, 0, r.stderr);
});
