// scripts/lab-tools.mjs, run before `npm test` and `npm run bench`: as root with apt-get it installs what the
// tests need; not root it says in one line which namespace tests are skipped, why, and how to run them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'lab-tools.mjs');
const notRoot = process.getuid?.() === 0 ? false : 'needs root to drop to an unprivileged user and to see the root path';
const noSetpriv = !existsSync('/usr/bin/setpriv') && 'setpriv (util-linux) is missing';

function labTools(args: string[], opts: { user?: boolean; path?: string } = {}) {
  const cmd = opts.user ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SCRIPT, ...args] : [process.execPath, SCRIPT, ...args];
  const env = { ...process.env, HOME: tmpdir(), ...(opts.path ? { PATH: opts.path } : {}) };
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', cwd: ROOT, env, timeout: 30_000 });
  return { status: r.status, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
}

test('not root: one line names the skipped namespace tests, why, and how to run them; nothing is installed', { skip: notRoot || noSetpriv }, () => {
  for (const purpose of ['test', 'bench']) {
    const r = labTools([purpose], { user: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.lines.length, 1, r.lines.join('\n'));
    const [line] = r.lines;
    assert.match(line, /^lab-tools: not root, so .*: they need TAP devices and network namespaces; run `npm (test|run bench)` as root to run them/);
    if (purpose === 'test') for (const t of ['arp-e2e', 'router-e2e', 'tap-e2e', 'docs-examples', 'cli-signals', 'cli-pcap', 'cli-flags']) assert.ok(line.includes(t), `${t} missing from: ${line}`);
    assert.doesNotMatch(line, /installed|would install/);
  }
});

test('as root, what is missing is installed with apt-get by package (a dry run shows the list), and the list is one per purpose', { skip: notRoot }, () => {
  // A PATH with apt-get and nothing else: every tool outside /usr/sbin and /sbin is missing.
  const bin = mkdtempSync(join(tmpdir(), 'nb-labtools-'));
  try {
    symlinkSync('/usr/bin/apt-get', join(bin, 'apt-get'));
    const t = labTools(['test', '--dry-run'], { path: bin });
    assert.equal(t.status, 0, t.stderr);
    assert.equal(t.lines.length, 1, t.lines.join('\n'));
    assert.match(t.lines[0], /^lab-tools: would install .*\biputils-ping\b.* with apt-get \(the namespace tests need them\)/);
    for (const pkg of ['git', 'tcpdump', 'iputils-arping', 'iperf3', 'curl']) assert.match(t.lines[0], new RegExp(`\\b${pkg}\\b`));
    assert.doesNotMatch(t.lines[0], /\bgcc\b/, 'bench-only tools are not installed for the tests');
    const b = labTools(['bench', '--dry-run'], { path: bin });
    assert.match(b.lines[0], /would install .*\bgcc\b.* \(the benchmarks need them\)/);
    const missing = JSON.parse(labTools(['bench', '--missing'], { path: bin }).lines[0]) as { probe: string; pkg: string }[];
    assert.ok(missing.some((m) => m.probe === 'cc' && m.pkg === 'gcc'), JSON.stringify(missing));
    const none = labTools(['test', '--dry-run'], { path: '/nonexistent' });
    assert.match(none.lines[0], /^lab-tools: missing .* and there is no apt-get here: install /);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('a purpose it does not know is a usage error (exit 2)', () => {
  const r = labTools(['tests']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^usage: node scripts\/lab-tools\.mjs test\|bench/);
});
