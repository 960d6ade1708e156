import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newLinkCounters, type FrameBatchHandler, type Link } from '../wire/link/link.js';
import { readPcapFile } from '../wire/pcap-file.js';
import { PcapOpenError, PcapWriter, tee } from '../wire/pcap.js';

const hasTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
// CI installs tcpdump (.ci/run), so there a missing tcpdump fails instead of skipping.
const noTcpdump = hasTcpdump || process.env.CI ? false : 'tcpdump is not installed (apt-get install tcpdump)';
if (noTcpdump) process.stdout.write(`# skipping tcpdump checks: ${noTcpdump}\n`);

function mac(s: string): number[] {
  return s.split(':').map((h) => parseInt(h, 16));
}

/** An ARP request: who has `target`, tell `sender`. */
function arpRequest(srcMac: string, sender: number[], target: number[]): Uint8Array {
  const f = new Uint8Array(42);
  f.set(mac('ff:ff:ff:ff:ff:ff'), 0);
  f.set(mac(srcMac), 6);
  f.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12);
  f.set(mac(srcMac), 22);
  f.set(sender, 28);
  f.set(target, 38);
  return f;
}

/** An IPv4 UDP datagram of `payload` bytes (checksums zero: tcpdump still prints it). */
function udp(payload: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payload);
  const v = new DataView(f.buffer);
  f.set(mac('02:00:00:00:00:02'), 0);
  f.set(mac('02:00:00:00:00:01'), 6);
  v.setUint16(12, 0x0800);
  v.setUint8(14, 0x45);
  v.setUint16(16, 28 + payload);
  v.setUint8(22, 64);
  v.setUint8(23, 17);
  f.set([192, 0, 2, 1], 26);
  f.set([192, 0, 2, 2], 30);
  v.setUint16(34, 40000);
  v.setUint16(36, 9);
  v.setUint16(38, 8 + payload);
  return f;
}

/** Reads a classic little-endian pcap back: header fields and records. */
function parsePcap(bytes: Buffer) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const header = { magic: v.getUint32(0, true), major: v.getUint16(4, true), minor: v.getUint16(6, true), snaplen: v.getUint32(16, true), linktype: v.getUint32(20, true) };
  const records: { sec: number; usec: number; incl: number; orig: number; data: Uint8Array }[] = [];
  for (let at = 24; at < bytes.length; ) {
    const incl = v.getUint32(at + 8, true);
    records.push({ sec: v.getUint32(at, true), usec: v.getUint32(at + 4, true), incl, orig: v.getUint32(at + 12, true), data: new Uint8Array(bytes.subarray(at + 16, at + 16 + incl)) });
    at += 16 + incl;
  }
  return { header, records };
}

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'nb-pcap-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the file has a classic pcap header (linktype 1, µs) and one record per frame with its time', () =>
  withDir((dir) => {
    const path = join(dir, 'a.pcap');
    const w = PcapWriter.open(path);
    const f1 = arpRequest('02:00:00:00:00:01', [192, 0, 2, 1], [192, 0, 2, 2]);
    w.write(f1, 1_700_000_000_123_456);
    w.write(udp(100), 1_700_000_001_000_001);
    w.close();
    const { header, records } = parsePcap(readFileSync(path));
    assert.deepEqual(header, { magic: 0xa1b2c3d4, major: 2, minor: 4, snaplen: 65535, linktype: 1 });
    assert.equal(records.length, 2);
    assert.deepEqual([records[0].sec, records[0].usec], [1_700_000_000, 123_456]);
    assert.deepEqual([records[1].sec, records[1].usec], [1_700_000_001, 1]);
    assert.deepEqual(records[0].data, f1);
    assert.equal(records[1].orig, 142);
  }));

test('frames longer than the snaplen are cut but keep their original length', () =>
  withDir((dir) => {
    const path = join(dir, 'snap.pcap');
    const w = PcapWriter.open(path, { snaplen: 64 });
    w.write(udp(1000), 0);
    w.close();
    const { records } = parsePcap(readFileSync(path));
    assert.deepEqual([records[0].incl, records[0].orig], [64, 1042]);
  }));

test('more records than the buffer holds are all written, in order', () =>
  withDir((dir) => {
    const path = join(dir, 'many.pcap');
    const w = PcapWriter.open(path, { bufferBytes: 4096, snaplen: 2048 });
    for (let i = 0; i < 500; i++) {
      const f = udp(i % 200);
      f[42 - 1] = i & 0xff;
      w.write(f, i);
    }
    w.close();
    const { records } = parsePcap(readFileSync(path));
    assert.equal(records.length, 500);
    records.forEach((r, i) => assert.equal(r.usec, i));
  }));

test("the project's own pcap reader (wire/pcap-file.ts) reads back what the writer wrote", () =>
  withDir((dir) => {
    const path = join(dir, 'rt.pcap');
    const w = PcapWriter.open(path, { snaplen: 100 });
    const frames = [arpRequest('02:00:00:00:00:01', [192, 0, 2, 1], [192, 0, 2, 2]), udp(10), udp(500)];
    frames.forEach((f, i) => w.write(f, 5_000_000 + i));
    w.close();
    const file = readPcapFile(path);
    assert.deepEqual([file.header.linktype, file.header.nanosecond, file.header.snaplen], [1, false, 100]);
    assert.deepEqual(file.records.map((r) => [r.seconds, r.fraction, r.originalLength, r.data.length]), [
      [5, 0, 42, 42],
      [5, 1, 52, 52],
      [5, 2, 542, 100],
    ]);
    assert.deepEqual(new Uint8Array(file.records[1].data), frames[1]);
  }));

test('tcpdump -r reads the file back: ARP and UDP decoded, with the timestamps written', { skip: noTcpdump }, () =>
  withDir((dir) => {
    const path = join(dir, 'td.pcap');
    const w = PcapWriter.open(path);
    w.write(arpRequest('02:00:00:00:00:01', [192, 0, 2, 1], [192, 0, 2, 2]), Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 678_901);
    w.write(udp(18), Date.UTC(2024, 0, 2, 3, 4, 6) * 1000);
    w.close();
    const out = execFileSync('tcpdump', ['-r', path, '-n', '-tttt', '-e'], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 2, out);
    assert.match(lines[0], /^2024-01-02 03:04:05\.678901 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP \(0x0806\), length 42: Request who-has 192\.0\.2\.2 tell 192\.0\.2\.1/);
    assert.match(lines[1], /^2024-01-02 03:04:06\.000000 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 .* 192\.0\.2\.1\.40000 > 192\.0\.2\.2\.9: UDP, length 18/);
  }));

/** A link the test plays both sides of. */
class ScriptedLink implements Link {
  readonly name = 'scripted';
  readonly counters = newLinkCounters();
  handler: FrameBatchHandler | null = null;
  accept = true;
  send(): boolean {
    return this.accept;
  }
  onFrames(handler: FrameBatchHandler | null): void {
    this.handler = handler;
  }
  close(): void {}
}

test('tee records both directions of a link in order, and not what send refused', { skip: noTcpdump }, () =>
  withDir((dir) => {
    const path = join(dir, 'tee.pcap');
    const w = PcapWriter.open(path);
    const inner = new ScriptedLink();
    let t = 1_000_000;
    const link = tee(inner, w, () => t++);
    const delivered: number[] = [];
    link.onFrames((fs) => delivered.push(fs.length));
    inner.handler!([arpRequest('02:00:00:00:00:09', [192, 0, 2, 9], [192, 0, 2, 1])]); // received
    assert.equal(link.send(udp(5)), true); // sent
    inner.accept = false;
    assert.equal(link.send(udp(6)), false); // dropped: not in the capture
    w.close();
    assert.deepEqual(delivered, [1], 'the handler still gets the batch');
    const { records } = parsePcap(readFileSync(path));
    assert.deepEqual(records.map((r) => [r.sec * 1e6 + r.usec, r.orig]), [[1_000_000, 42], [1_000_001, 47]]);
    const out = execFileSync('tcpdump', ['-r', path, '-n'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /ARP, Request who-has 192\.0\.2\.1 tell 192\.0\.2\.9[^\n]*\n[^\n]*UDP, length 5\n$/);
  }));

test('tick writes out what is buffered once maxDelayMs - tickMs passed since its last write-out; nothing, or closed: no write', () => {
  const chunks: Uint8Array[] = [];
  const w = new PcapWriter((c) => chunks.push(c.slice()), { maxDelayMs: 1000 });
  const bytes = () => chunks.reduce((n, c) => n + c.length, 0);
  assert.equal(w.tickMs, 250);
  assert.equal(w.tick(0), true, 'the header goes out at the first tick');
  assert.equal(bytes(), 24);
  w.write(udp(10), 1);
  assert.equal(w.tick(100), false);
  assert.equal(w.tick(749), false, 'records wait for a batch');
  assert.equal(bytes(), 24);
  assert.equal(w.tick(750), true, 'called every tickMs, a record waits at most maxDelayMs');
  assert.equal(bytes(), 24 + 16 + 52);
  assert.equal(w.tick(2000), false, 'nothing buffered: no write');
  w.write(udp(11), 2);
  assert.equal(w.tick(2100), true, 'a record after a quiet spell goes out at the next tick');
  w.write(udp(12), 3);
  w.close();
  assert.equal(w.tick(9000), false, 'closed');
  const { records } = parsePcap(Buffer.concat(chunks));
  assert.deepEqual(records.map((r) => r.usec), [1, 2, 3]);
});

test('a capture file being written is readable before the writer closes: header at once, records after a tick', { skip: noTcpdump }, () =>
  withDir((dir) => {
    const path = join(dir, 'live.pcap');
    const w = PcapWriter.open(path);
    try {
      assert.equal(readPcapFile(path).records.length, 0, 'a valid empty capture from the start');
      w.write(arpRequest('02:00:00:00:00:01', [192, 0, 2, 1], [192, 0, 2, 2]), 5_000_000);
      w.write(udp(18), 5_000_001);
      assert.equal(w.tick(performance.now() + 60_000), true);
      assert.equal(readPcapFile(path).records.length, 2);
      const out = execFileSync('tcpdump', ['-r', path, '-n'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(out.trim().split('\n').length, 2, out);
    } finally {
      w.close();
    }
  }));

test('open makes missing parent directories; a path it cannot write is a PcapOpenError with a short reason', () =>
  withDir((dir) => {
    const deep = join(dir, 'a', 'b', 'c.pcap');
    PcapWriter.open(deep).close();
    assert.equal(readPcapFile(deep).records.length, 0);
    assert.throws(() => PcapWriter.open(dir), (e: unknown) => e instanceof PcapOpenError && e.reason === 'is a directory' && e.message === `${dir}: is a directory`);
    assert.throws(() => PcapWriter.open(join(deep, 'x.pcap')), (e: unknown) => e instanceof PcapOpenError && e.reason === 'a parent is not a directory');
  }));
