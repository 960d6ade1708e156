import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSim } from '../actors/sim/sim.js';
import { readPcapFile } from '../wire/index.js';

const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 });

test('ten nodes learn each other over ARP, merge their actors\' branches, and deliver every message', async () => {
  const r = await runSim({ nodes: 10, seconds: 30, speed: Infinity, seed: 1, reportEveryS: 0 });
  assert.equal(r.nodes.length, 10);
  for (const n of r.nodes) {
    assert.ok(n.entries >= 3, `node ${n.node} knows ${n.entries} neighbours`);
    assert.ok(n.merges > 0, `node ${n.node} merged its actors' branches`);
    assert.ok(n.sent >= 20);
  }
  const sent = r.nodes.reduce((s, n) => s + n.sent, 0);
  const acked = r.nodes.reduce((s, n) => s + n.acked, 0);
  assert.ok(acked >= sent - 10, `${acked} of ${sent} acknowledged`); // the last second's are in flight
});

test('entries nobody refreshes expire at 60 s on the simulated clock (150 s in well under real time)', async () => {
  const r = await runSim({ nodes: 6, seconds: 150, speed: Infinity, seed: 2, reportEveryS: 0 });
  const expired = r.nodes.reduce((s, n) => s + n.expired, 0);
  assert.ok(expired > 0, 'some entries expired after the peers changed');
  assert.ok(r.realSeconds < 30);
});

test('the same seed gives the same run', async () => {
  const a = await runSim({ nodes: 5, seconds: 20, speed: Infinity, seed: 9, reportEveryS: 0 });
  const b = await runSim({ nodes: 5, seconds: 20, speed: Infinity, seed: 9, reportEveryS: 0 });
  assert.deepEqual(a.nodes, b.nodes);
  assert.equal(a.frames, b.frames);
});

test('netbranch sim prints a per-node summary, writes a pcap tcpdump can read, and exits 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-sim-'));
  try {
    const pcap = join(dir, 'sim.pcap');
    const r = cli(['sim', '--nodes', '4', '--seconds', '5', '--speed', 'max', '--pcap', pcap]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /node\s+ip\s+mac\s+arp\s+merges\s+conflicts/);
    assert.equal(r.stdout.split('\n').filter((l) => /^\s+\d+\s+10\.0\.0\./.test(l)).length, 4);
    assert.ok(readPcapFile(pcap).records.length > 10);
    if (existsSync('/usr/bin/tcpdump') || existsSync('/usr/sbin/tcpdump')) {
      const td = spawnSync('tcpdump', ['-nn', '-r', pcap], { encoding: 'utf8' });
      assert.equal(td.status, 0, td.stderr);
      assert.match(td.stdout, /ARP, Request who-has/);
      assert.match(td.stdout, /\.7777: Flags \[S\]/, 'the messages go over TCP by default: a SYN to the sim port');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad sim flags give a one-line error and exit 2', () => {
  for (const args of [['--nodes', '1'], ['--nodes', 'ten'], ['--seconds', '-3'], ['--speed', '0'], ['--proto', 'sctp']]) {
    const r = cli(['sim', ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
