import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareBytes } from '../cli/decode.js';
import { SAMPLES, buildPcap } from './wire-samples.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures');
const DIR = mkdtempSync(join(tmpdir(), 'netbranch-decode-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }

/** Runs `netbranch decode ...args` from the sources, as a user would. */
function decode(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'decode', ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function pcapFile(name: string, bytes: Uint8Array): string {
  const path = join(DIR, name);
  writeFileSync(path, bytes);
  return path;
}

const noStackTrace = (text: string): boolean => !/^\s+at /m.test(text);

describe('netbranch decode', () => {
  const frames = Object.values(SAMPLES);

  test('every synthetic frame gets one numbered, timed line and round-trips; exit 0', async () => {
    const run = await decode(pcapFile('samples.pcap', buildPcap(frames)), '--roundtrip');
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines.length, frames.length + 1);
    assert.equal(lines[0], '1 0.000000 ARP, Request who-has 10.203.0.1 tell 10.203.0.2, length 28');
    assert.match(lines[1], /^2 1\.500000 ARP, Reply/);
    assert.match(lines[frames.length - 1], /^9 12\.000000 .*unsupported ethertype 0x86dd/);
    assert.equal(lines[frames.length], '9 frames: 9 decoded, 1 unsupported, 0 failed to decode, 0 round-trip mismatches');
    assert.equal(run.stderr, '');
  });

  test('nanosecond timestamps print nine digits', async () => {
    const run = await decode(pcapFile('nanos.pcap', buildPcap(frames.slice(0, 2), { nanosecond: true, bigEndian: true })));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^2 1\.500000000 ARP, Reply/m);
  });

  test('a frame that fails to decode is reported on its line and makes the exit status 1', async () => {
    const broken = SAMPLES.icmpEcho.slice(0, 60); // IPv4 total length now beyond the frame
    const run = await decode(pcapFile('broken.pcap', buildPcap([SAMPLES.arpRequest, broken])), '--roundtrip');
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^2 1\.500000 error: ipv4 total length: truncated/m);
    assert.match(run.stdout, /2 frames: 1 decoded, 0 unsupported, 1 failed to decode, 0 round-trip mismatches/);
  });

  test('a frame cut by the snaplen is reported as cut, not as a failure', async () => {
    const cut = SAMPLES.icmpEcho.slice(0, 60);
    const run = await decode(pcapFile('cut.pcap', buildPcap([cut], { originalLengths: [98] })));
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /^1 0\.000000 \[captured 60 of 98 bytes; not decoded/m);
  });

  test('a truncated pcap prints the frames before the damage, then one clear line, exit 1', async () => {
    const bytes = buildPcap(frames.slice(0, 3));
    const run = await decode(pcapFile('truncated.pcap', bytes.subarray(0, bytes.length - 10)));
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^2 1\.500000 ARP, Reply/m);
    assert.equal(run.stderr.trimEnd().split('\n').length, 1);
    assert.match(run.stderr, /truncated\.pcap: pcap record 3 data: truncated/);
    assert.ok(noStackTrace(run.stderr), run.stderr);
  });

  test('a file that is not a pcap gives one line and exit 1, never a stack trace', async () => {
    const run = await decode(pcapFile('text.pcap', new TextEncoder().encode('hello, this is not a pcap file\n')));
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trimEnd().split('\n').length, 1);
    assert.match(run.stderr, /pcap magic number: bad value/);
    assert.ok(noStackTrace(run.stderr), run.stderr);
  });

  test('a missing file gives one line and exit 1', async () => {
    const run = await decode(join(DIR, 'no-such.pcap'));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /no-such\.pcap: ENOENT/);
    assert.equal(run.stderr.trimEnd().split('\n').length, 1);
  });

  test('round-trip differences are listed by offset, expected and got', () => {
    assert.deepEqual(compareBytes(Uint8Array.from([1, 2, 3]), Uint8Array.from([1, 9, 3, 4])),
      ['length: expected 3, got 4', 'offset 1: expected 0x02, got 0x09']);
    assert.deepEqual(compareBytes(new Uint8Array(20), new Uint8Array(20).fill(1)).slice(-1), ['... 12 more differing bytes']);
    assert.deepEqual(compareBytes(Uint8Array.from([5]), Uint8Array.from([5])), []);
  });
});

describe('netbranch decode --roundtrip on captured fixtures', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.pcap')).sort();

  test('there is at least one captured fixture', () => {
    assert.ok(files.length >= 1, `no .pcap in ${FIXTURES}`);
  });

  test('every fixture decodes and round-trips with exit 0', async () => {
    const runs = await Promise.all(files.map((f) => decode(join(FIXTURES, f), '--roundtrip')));
    runs.forEach((run, i) => {
      assert.equal(run.code, 0, `${files[i]}: ${run.stdout.slice(-500)}${run.stderr}`);
      assert.match(run.stdout, / 0 failed to decode, 0 round-trip mismatches\n$/, files[i]);
    });
  });
});
