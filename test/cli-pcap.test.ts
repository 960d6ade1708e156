// `--pcap` is the same for sim, host and router: the capture is written out at least once a second
// while the command runs (tcpdump -r reads it live), missing directories are made, and a path that
// cannot be written is one line naming the flag, exit 2, before anything starts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcapFile } from '../wire/pcap-file.js';
import { noTap, runCli, startCli, waitFor } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), `nb-clipcap${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));
const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
if (noTap) process.stdout.write(`# skipping the router --pcap live capture: ${noTap}\n`);

/** Records readable now, or -1 while the file is missing, empty or cut mid-record. */
function recordsNow(path: string): number {
  try {
    return statSync(path).size === 0 ? -1 : readPcapFile(path).records.length;
  } catch {
    return -1;
  }
}

test('sim --pcap: the capture is readable while the sim runs (our reader and tcpdump -r)', async () => {
  const path = join(dir, 'live.pcap');
  const p = startCli(['sim', '--nodes', '3', '--seconds', '3600', '--speed', '1', '--pcap', path]);
  try {
    assert.ok(await waitFor(() => recordsNow(path) > 0, 10_000), `no frames on disk while running (size ${existsSync(path) ? statSync(path).size : 'none'})`);
    assert.deepEqual([p.child.exitCode, p.child.signalCode], [null, null], 'still running');
    if (hasTcpdump) {
      const td = spawnSync('tcpdump', ['-r', path, '-n'], { encoding: 'utf8' });
      assert.equal(td.status, 0, td.stderr);
      assert.doesNotMatch(td.stderr, /truncated/);
      assert.ok(td.stdout.trim().split('\n').length > 0);
    } else {
      process.stdout.write('# tcpdump is not installed: the live capture was checked with our own reader only\n');
    }
  } finally {
    p.child.kill('SIGTERM');
    await p.exitWithin(15_000);
  }
  assert.deepEqual(await p.exit, { code: 0, signal: null });
  assert.ok(recordsNow(path) > 0);
});

test('sim --pcap: a second sim refused on the same git store leaves the first one\'s capture intact', async () => {
  const [store, path] = [join(dir, 'locked-store'), join(dir, 'locked.pcap')];
  const args = ['sim', '--nodes', '2', '--seconds', '3600', '--speed', '1', '--store', `git:${store}`, '--pcap', path];
  const first = startCli(args);
  try {
    assert.ok(await waitFor(() => recordsNow(path) > 0, 20_000), `the first sim wrote no frames (${first.output()})`);
    const before = statSync(path).size;
    const second = runCli(args);
    assert.equal(second.status, 2, second.stderr);
    assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
    assert.match(second.stderr, /^netbranch: --store git:.* in use by pid /);
    assert.ok(statSync(path).size >= before, `the capture shrank from ${before} to ${statSync(path).size} bytes`);
    assert.ok(await waitFor(() => statSync(path).size > before, 5_000), 'the first sim goes on writing its capture');
    assert.ok(readPcapFile(path).records.length > 0, 'the capture still parses from its header');
    assert.deepEqual([first.child.exitCode, first.child.signalCode], [null, null], 'the first sim still runs');
  } finally {
    first.child.kill('SIGTERM');
    await first.exitWithin(15_000);
  }
  assert.deepEqual(await first.exit, { code: 0, signal: null });
  assert.ok(readPcapFile(path).records.length > 0);
});

test('router --pcap DIR: pings from a namespace are in DIR/inside.pcap while the router runs', { skip: noTap }, async () => {
  const id = process.pid % 100_000;
  const [tin, ns] = [`nbci${id}`, `nbpcap${process.pid}`];
  const pcapDir = join(dir, 'router');
  const p = startCli(['router', '--inside', `${tin}:10.163.1.1/24`, '--outside', `nbco${id}:10.163.2.1/24`, '--pcap', pcapDir]);
  const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
  try {
    assert.ok(await waitFor(() => p.output().includes('"event":"ready"'), 20_000), `no ready line: ${p.output()}`);
    // The inside TAP goes into a namespace of this test's own: its kernel pings the router there.
    assert.equal(ip('netns', 'add', ns).status, 0);
    spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    for (const args of [['link', 'set', tin, 'netns', ns], ['-n', ns, 'addr', 'add', '10.163.1.2/24', 'dev', tin], ['-n', ns, 'link', 'set', tin, 'up']]) {
      const r = ip(...args);
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
    }
    const ping = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '2', '-W', '2', '10.163.1.1'], { encoding: 'utf8' });
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    const inside = join(pcapDir, 'inside.pcap');
    assert.ok(await waitFor(() => recordsNow(inside) >= 4, 5_000), `the ARP and echo exchange is not on disk while running (${recordsNow(inside)} records)`);
    assert.deepEqual([p.child.exitCode, p.child.signalCode], [null, null], 'still running');
  } finally {
    p.child.kill('SIGTERM');
    await p.exitWithin(15_000);
    ip('netns', 'del', ns);
  }
  assert.deepEqual(await p.exit, { code: 0, signal: null });
});

test('--pcap into a directory that does not exist yet: it is made', () => {
  const path = join(dir, 'made', 'by', 'sim.pcap');
  const r = runCli(['sim', '--nodes', '3', '--seconds', '2', '--speed', 'max', '--pcap', path]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(recordsNow(path) > 0);
});

/** One line naming --pcap and the path, exit 2, nothing on stdout. */
function assertPcapRefused(r: ReturnType<typeof runCli>, path: string, reason: string): void {
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trimEnd(), `netbranch: --pcap ${path}: ${reason}`);
  assert.equal(r.status, 2);
}

test('an unwritable --pcap is one line naming the flag and exit 2, the same for sim, host and router', () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  assertPcapRefused(runCli(['sim', '--seconds', '1', '--pcap', dir]), dir, 'is a directory');
  assertPcapRefused(runCli(['sim', '--seconds', '1', '--pcap', join(file, 'x.pcap')]), join(file, 'x.pcap'), 'a parent is not a directory');
  assertPcapRefused(runCli(['host', '--tap', `nbpc${process.pid % 100_000}:10.199.78.1/24`, '--pcap', dir]), dir, 'is a directory');
  // The router's --pcap is a directory for inside.pcap and outside.pcap.
  const inside = join(file, 'inside.pcap');
  assertPcapRefused(runCli(['router', '--inside', `nbpi${process.pid % 100_000}:10.162.1.1/24`, '--outside', `nbpo${process.pid % 100_000}:10.162.2.1/24`, '--pcap', file]), inside, 'a parent is not a directory');
});
