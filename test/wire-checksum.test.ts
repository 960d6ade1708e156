import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checksum, combine, finish, fold, pseudoHeaderSum, sum,
  updateChecksum16, updateChecksum32, updateUdpChecksum16, updateUdpChecksum32,
} from '../wire/checksum.js';

/** The checksum computed the slow, obvious way: 16-bit words, fold after every add. */
function reference(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    s += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

const readWord = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const writeWord = (b: Uint8Array, at: number, v: number): void => { b[at] = v >>> 8; b[at + 1] = v & 0xff; };
const notAllZero = (b: Uint8Array): boolean => b.some((x) => x !== 0);

describe('RFC 1071 sum', () => {
  test('the RFC 1071 worked example folds to 0xddf2 and checksums to 0x220d', () => {
    const bytes = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    assert.equal(sum(bytes), 0x2ddf0);
    assert.equal(fold(sum(bytes)), 0xddf2);
    assert.equal(checksum(bytes), 0x220d);
  });

  test('an odd-length range is padded with a zero byte', () => {
    assert.equal(sum(Uint8Array.from([0x12, 0x34, 0x56])), 0x1234 + 0x5600);
  });

  test('a sub-range sums only its own bytes', () => {
    const bytes = Uint8Array.from([0xff, 0xff, 0x00, 0x01, 0x00, 0x02, 0xff]);
    assert.equal(sum(bytes, 2, 6), 3);
  });

  test('the checksum of any bytes equals the word-by-word reference', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assert.equal(checksum(bytes), reference(bytes));
    }), { numRuns: 2000 });
  });

  test('summing even-split parts and combining equals summing the whole', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 200 }), fc.nat(), (bytes, k) => {
      const cut = (k % (bytes.length >> 1)) * 2;
      assert.equal(finish(combine(sum(bytes, 0, cut), sum(bytes, cut))), checksum(bytes));
    }), { numRuns: 2000 });
  });

  test('data carrying its own checksum sums to 0xffff', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 100 }).filter((b) => b.length % 2 === 0), (bytes) => {
      writeWord(bytes, 0, 0);
      writeWord(bytes, 0, checksum(bytes));
      assert.equal(fold(sum(bytes)), 0xffff);
    }), { numRuns: 1000 });
  });

  test('the pseudo-header sum is the sum of its 12 bytes laid out per RFC 768', () => {
    const src = 0x0acb0002, dst = 0x0acb0001;
    const bytes = Uint8Array.from([0x0a, 0xcb, 0x00, 0x02, 0x0a, 0xcb, 0x00, 0x01, 0, 17, 0x00, 0x43]);
    assert.equal(fold(pseudoHeaderSum(src, dst, 17, 0x43)), fold(sum(bytes)));
  });
});

describe('RFC 1624 incremental update', () => {
  const evenBytes = fc.uint8Array({ minLength: 4, maxLength: 120 }).map((b) => (b.length % 2 ? b.subarray(1) : b));

  test('updating one 16-bit word equals recomputing the checksum', () => {
    fc.assert(fc.property(evenBytes, fc.nat(), fc.integer({ min: 0, max: 0xffff }), (bytes, k, value) => {
      const at = (k % (bytes.length >> 1)) * 2;
      const before = checksum(bytes);
      const old = readWord(bytes, at);
      writeWord(bytes, at, value);
      // All-zero data is the one case with two encodings of zero (documented in checksum.ts).
      fc.pre(notAllZero(bytes));
      assert.equal(updateChecksum16(before, old, value), checksum(bytes));
    }), { numRuns: 5000 });
  });

  test('updating one 32-bit field equals recomputing the checksum', () => {
    fc.assert(fc.property(evenBytes, fc.nat(), fc.integer({ min: 0, max: 0xffff_ffff }), (bytes, k, value) => {
      const at = (k % ((bytes.length >> 1) - 1)) * 2;
      const before = checksum(bytes);
      const old = ((readWord(bytes, at) << 16) | readWord(bytes, at + 2)) >>> 0;
      writeWord(bytes, at, value >>> 16);
      writeWord(bytes, at + 2, value & 0xffff);
      fc.pre(notAllZero(bytes));
      assert.equal(updateChecksum32(before, old, value), checksum(bytes));
    }), { numRuns: 5000 });
  });

  test('a NAT rewrite of a pseudo-header address updates a segment checksum as a recomputation would', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 64 }), fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff }),
      (segment, src, dst, newSrc) => {
        const full = (s: number): number => finish(sum(segment, 0, segment.length, pseudoHeaderSum(s, dst, 6, segment.length)));
        assert.equal(updateChecksum32(full(src), src, newSrc), full(newSrc));
      }), { numRuns: 3000 });
  });

  test('a UDP checksum of 0 ("none") stays 0 through an update', () => {
    assert.equal(updateUdpChecksum16(0, 0x1234, 0x4321), 0);
    assert.equal(updateUdpChecksum32(0, 0x0a000001, 0xc0a80001), 0);
  });

  test('a UDP update that computes 0 sends 0xffff instead', () => {
    // Checksum 0x0001 with a covered word going from 0 to 1 computes to 0x0000, which UDP reserves for "none".
    const csum = 0x0001;
    const zeroing = updateChecksum16(csum, 0x0000, 0x0001);
    assert.equal(zeroing, 0x0000);
    assert.equal(updateUdpChecksum16(csum, 0x0000, 0x0001), 0xffff);
  });
});
