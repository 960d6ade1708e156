import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WireError } from '../wire/error.js';
import { PcapWriter } from '../wire/pcap.js';
import { parsePcapHeader, readPcap, readPcapFile, recordTime } from '../wire/pcap-file.js';
import { SAMPLES, buildPcap } from './wire-samples.js';

const FRAMES = [SAMPLES.arpRequest, SAMPLES.icmpEcho, SAMPLES.dnsQuery];

const isPcap = (field: string | RegExp, reason?: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === 'pcap' && (typeof field === 'string' ? e.field === field : field.test(e.field))
  && (reason === undefined || e.reason === reason);

describe('classic pcap files', () => {
  for (const bigEndian of [false, true]) {
    for (const nanosecond of [false, true]) {
      test(`a ${bigEndian ? 'big' : 'little'}-endian ${nanosecond ? 'nanosecond' : 'microsecond'} file reads back its frames and times`, () => {
        const { header, records } = readPcap(buildPcap(FRAMES, { bigEndian, nanosecond }));
        assert.equal(header.littleEndian, !bigEndian);
        assert.equal(header.nanosecond, nanosecond);
        assert.equal(header.linktype, 1);
        assert.deepEqual(records.map((r) => r.number), [1, 2, 3]);
        assert.deepEqual(records.map((r) => r.data), FRAMES);
        assert.deepEqual(records.map((r) => recordTime(header, r)), [1000, 1001.5, 1003]);
      });
    }
  }

  test('a file written by the PcapWriter of wire/pcap.ts reads back', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((c) => chunks.push(c.slice()));
    FRAMES.forEach((f, i) => w.write(f, 5_000_000 + i));
    w.close();
    const { records } = readPcap(Buffer.concat(chunks));
    assert.deepEqual(records.map((r) => [r.seconds, r.fraction, r.data.length]), FRAMES.map((f, i) => [5, i, f.length]));
  });

  test('readPcapFile reads a file from disk into plain Uint8Array views', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netbranch-pcap-'));
    const path = join(dir, 'three.pcap');
    writeFileSync(path, buildPcap(FRAMES));
    try {
      const { records } = readPcapFile(path);
      assert.equal(records.length, 3);
      assert.equal(Object.getPrototypeOf(records[0].data), Uint8Array.prototype);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an empty capture (header only) has no records', () => {
    assert.deepEqual(readPcap(buildPcap([])).records, []);
  });

  test('a file shorter than the global header is a truncation error naming it', () => {
    assert.throws(() => readPcap(buildPcap(FRAMES).subarray(0, 23)), isPcap('global header', 'truncated'));
  });

  test('a bad magic number is a bad-value error naming the magic number', () => {
    const bytes = buildPcap(FRAMES);
    bytes[0] = 0x00;
    assert.throws(() => readPcap(bytes), isPcap('magic number', 'bad-value'));
    assert.throws(() => readPcap(new TextEncoder().encode('this is not a capture file at all')), isPcap('magic number'));
  });

  test('a pcapng file is reported as unsupported by its magic number', () => {
    const bytes = new Uint8Array(32);
    new DataView(bytes.buffer).setUint32(0, 0x0a0d0d0a);
    assert.throws(() => parsePcapHeader(bytes), isPcap('magic number', 'unsupported'));
  });

  test('a link type other than Ethernet is unsupported', () => {
    assert.throws(() => readPcap(buildPcap(FRAMES, { linktype: 113 })), isPcap('link type', 'unsupported'));
  });

  test('a record header cut short is a truncation error naming the record', () => {
    const bytes = buildPcap(FRAMES);
    assert.throws(() => readPcap(bytes.subarray(0, bytes.length - FRAMES[2].length - 5)), isPcap('record 3 header', 'truncated'));
  });

  test('record data cut short is a truncation error naming the record', () => {
    const bytes = buildPcap(FRAMES);
    assert.throws(() => readPcap(bytes.subarray(0, bytes.length - 1)), isPcap('record 3 data', 'truncated'));
  });

  test('a captured length beyond the snaplen is a bad-length error naming the record', () => {
    assert.throws(() => readPcap(buildPcap(FRAMES, { snaplen: 64 })), isPcap('record 2 captured length', 'bad-length'));
    const huge = buildPcap([SAMPLES.arpRequest], { snaplen: 0 });
    new DataView(huge.buffer).setUint32(24 + 8, 300_000, true);
    assert.throws(() => readPcap(huge), isPcap(/captured length/, 'bad-length'));
  });
});
