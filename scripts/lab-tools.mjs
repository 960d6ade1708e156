#!/usr/bin/env node
// What `npm test` and `npm run bench` need from the system, ensured before they run (`pretest`, `prebench`):
// as root with apt-get, the missing packages are installed and the TAP addon built; otherwise one line says
// which namespace tests are skipped, why, and how to run them.
//   node scripts/lab-tools.mjs test|bench [--dry-run]     (--missing: print what is missing as JSON, change nothing)
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The single list: [probe, Debian package, who needs it]. A probe is a command looked up on PATH (and in
 * /usr/sbin, /sbin) or an absolute path that must exist. Add a package here, nowhere else.
 */
export const TOOLS = [
  ['git', 'git', 'test'], // the git backend's tests read its repositories with the real git CLI
  ['ip', 'iproute2', 'test'], // namespaces, veths, TAPs moved into namespaces
  ['ss', 'iproute2', 'test'], // the router lab waits for its servers to listen
  ['tcpdump', 'tcpdump', 'test'], // reads our pcaps back
  ['ping', 'iputils-ping', 'test'], // the kernel as a peer
  ['arping', 'iputils-arping', 'test'],
  ['sysctl', 'procps', 'test'], // tunes the test namespaces
  ['pgrep', 'procps', 'test'], // the docs' examples find the router's pid
  ['setpriv', 'util-linux', 'test'], // tests that drop to an unprivileged user
  ['unshare', 'util-linux', 'test'], // the docs' examples run in a private mount and pid namespace
  ['dnsmasq', 'dnsmasq-base', 'test'], // the binary only: no system service on :53
  ['dig', 'bind9-dnsutils', 'test'],
  ['udhcpc', 'udhcpc', 'test'], // the DHCP server's clients in test/router-dhcp-e2e and router-services-hostile
  ['iperf3', 'iperf3', 'test'],
  ['curl', 'curl', 'test'],
  ['/usr/bin/python3', 'python3', 'test'], // the router lab's helpers; node-gyp
  ['/usr/lib/python3/dist-packages/msgpack', 'python3-msgpack', 'test'], // docs/api.md's Python client example
  ['/usr/lib/python3/dist-packages/scapy', 'python3-scapy', 'test'], // test/tcp-synflood: spoofed SYNs from a namespace
  ['chromium', 'chromium', 'test'], // test/web-page: the live page in a real headless browser (playwright-core drives it)
  ['prometheus', 'prometheus', 'test'], // test/metrics-scrape: a real Prometheus scrapes /metrics
  ['g++', 'g++', 'test'], // with make and python3: builds the TAP addon
  ['make', 'make', 'test'],
  ['cc', 'gcc', 'bench'], // bench/tap.ts and router-e2e compile their UDP flood and sink
  ['taskset', 'util-linux', 'bench'], // tap and router-e2e pin the flood to one CPU
  ['nft', 'nftables', 'test'], // the kernel's masquerade: router-e2e's reference, and test/nat-format's real conntrack flows
  ['conntrack', 'conntrack', 'test'], // test/nat-format: our `netbranch nat` line against conntrack -L's, field by field
  ['ethtool', 'ethtool', 'bench'], // router-e2e's kernel reference: offloads off
];

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Our N-API addons (binding.gyp): the TAP device, and systemd's readiness notification. */
const ADDONS = ['tap.node', 'sd_notify.node'].map((f) => join(ROOT, 'build', 'Release', f));

function onPath(cmd) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((d) => {
    try { accessSync(join(d, cmd), constants.X_OK); return true; } catch { return false; }
  });
}

/** The tools `purpose` needs that are not here: [{ probe, pkg }]. */
export function missingTools(purpose) {
  const wanted = TOOLS.filter(([, , who]) => who === 'test' || purpose === 'bench');
  return wanted.filter(([probe]) => (probe.startsWith('/') ? !existsSync(probe) : !onPath(probe))).map(([probe, pkg]) => ({ probe, pkg }));
}

/**
 * How a test file asks for root: process.getuid itself, test/support/cli.ts's `noTap` or
 * test/support/services-lab.ts's `noLab` (which ask it). A test that needs root uses one of the three; this is
 * the one place that knows them.
 */
const NEEDS_ROOT = /\bgetuid\b|\bnoTap\b|\bnoLab\b/;

/** Test files (names without .test.ts) that skip some or all of their tests without root. */
function rootOnlyTests() {
  const dir = join(ROOT, 'test');
  return readdirSync(dir).filter((f) => f.endsWith('.test.ts') && NEEDS_ROOT.test(readFileSync(join(dir, f), 'utf8'))).sort().map((f) => f.replace(/\.test\.ts$/, ''));
}

const unique = (xs) => [...new Set(xs)];

function say(line) { process.stdout.write(`lab-tools: ${line}\n`); }

function notRoot(purpose, missing) {
  const what = purpose === 'bench' ? 'the root-only benchmarks (tap, arp, router-e2e; the TAP figures of tcp, dns, nat-remap) report "not measured"'
    : `the namespace tests are skipped (${rootOnlyTests().join(', ')})`;
  const lack = missing.length ? `; missing here: ${missing.map((m) => m.probe).join(' ')}` : '';
  say(`not root, so ${what}: they need TAP devices and network namespaces; run \`npm ${purpose === 'bench' ? 'run bench' : 'test'}\` as root to run them (it installs what is missing with apt-get)${lack}`);
}

function aptInstall(pkgs) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...pkgs]]) {
    const r = spawnSync('apt-get', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    if (r.status !== 0) return `apt-get ${args[0]} failed: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`;
  }
  return null;
}

/** As root: the TAP addon, when `npm install` ran before a compiler was here. */
function buildAddon(dryRun) {
  if (ADDONS.every((a) => existsSync(a)) || process.platform !== 'linux') return '';
  if (dryRun) return '; would build the addons (TAP, sd_notify)';
  spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-addon.mjs')], { stdio: 'inherit', timeout: 600_000 });
  return ADDONS.every((a) => existsSync(a)) ? '; built the addons (TAP, sd_notify)' : '; the addons did not all build (see above)';
}

function main(argv) {
  const purpose = argv.find((a) => !a.startsWith('-')) ?? 'test';
  if (purpose !== 'test' && purpose !== 'bench') { process.stderr.write('usage: node scripts/lab-tools.mjs test|bench [--dry-run|--missing]\n'); return 2; }
  const dryRun = argv.includes('--dry-run');
  const missing = missingTools(purpose);
  if (argv.includes('--missing')) { process.stdout.write(`${JSON.stringify(missing)}\n`); return 0; }
  if (process.getuid?.() !== 0) { notRoot(purpose, missing); return 0; }
  const pkgs = unique(missing.map((m) => m.pkg));
  if (pkgs.length && !onPath('apt-get')) {
    say(`missing ${missing.map((m) => m.probe).join(' ')} and there is no apt-get here: install ${pkgs.join(' ')}; the tests that need them fail or skip`);
    return 0;
  }
  if (pkgs.length && !dryRun) {
    const failed = aptInstall(pkgs);
    if (failed) { say(`could not install ${pkgs.join(' ')} for the namespace tests: ${failed}`); return 1; }
  }
  const verb = dryRun ? 'would install' : 'installed';
  say(`${pkgs.length ? `${verb} ${pkgs.join(' ')} with apt-get (the ${purpose === 'bench' ? 'benchmarks' : 'namespace tests'} need them)` : `the ${purpose === 'bench' ? 'benchmarks\'' : 'tests\''} system tools are all here`}${buildAddon(dryRun)}`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
