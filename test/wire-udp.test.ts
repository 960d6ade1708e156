import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WireError } from '../wire/error.js';
import { Ipv4Packet, Ipv4Repr, IpProtocol } from '../wire/ipv4.js';
import { UdpPacket, UdpRepr } from '../wire/udp.js';

const SRC = 0x0a000001; // 10.0.0.1
const DST = 0x0a000002; // 10.0.0.2

// 10.0.0.1.1234 > 10.0.0.2.5678, payload 'hi!'.
const DATAGRAM = Uint8Array.from([
  0x04, 0xd2, // source port 1234
  0x16, 0x2e, // destination port 5678
  0x00, 0x0b, // length 11
  0x47, 0x6c, // checksum
  0x68, 0x69, 0x21, // 'hi!'
]);
const PAYLOAD = DATAGRAM.subarray(8);

const isWire = (field: string, reason?: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === 'udp' && e.field === field && (reason === undefined || e.reason === reason);

function emitted(repr: UdpRepr, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(repr.bufferLen(payload.length));
  repr.emit(UdpPacket.newUnchecked(out), payload, SRC, DST);
  return out;
}

describe('UDP', () => {
  test('getters read the literal datagram', () => {
    const p = UdpPacket.newChecked(DATAGRAM);
    assert.equal(p.srcPort, 1234);
    assert.equal(p.dstPort, 5678);
    assert.equal(p.len, 11);
    assert.equal(p.checksum, 0x476c);
    assert.equal(p.payloadLength, 3);
    assert.deepEqual(p.payload(), PAYLOAD);
    assert.ok(p.verifyChecksum(SRC, DST));
    assert.ok(!p.verifyChecksum(SRC, DST + 1));
  });

  test('setters and fillChecksum reproduce the literal datagram', () => {
    const out = new Uint8Array(DATAGRAM.length);
    const p = UdpPacket.newUnchecked(out);
    p.srcPort = 1234;
    p.dstPort = 5678;
    p.len = 11;
    out.set(PAYLOAD, p.payloadOffset);
    p.fillChecksum(SRC, DST);
    assert.deepEqual(out, DATAGRAM);
  });

  test('parse gives the Repr and emit gives the bytes back', () => {
    const repr = UdpRepr.parse(UdpPacket.newChecked(DATAGRAM), SRC, DST);
    assert.deepEqual(repr, new UdpRepr({ srcPort: 1234, dstPort: 5678 }));
    assert.deepEqual(emitted(repr, PAYLOAD), DATAGRAM);
  });

  test('checksum 0 means none: it verifies, parses as unchecksummed, and re-emits as 0', () => {
    const bytes = DATAGRAM.slice();
    bytes[6] = 0; bytes[7] = 0;
    const p = UdpPacket.newChecked(bytes);
    assert.ok(p.verifyChecksum(SRC, DST));
    const repr = UdpRepr.parse(p, SRC, DST);
    assert.equal(repr.checksummed, false);
    assert.deepEqual(emitted(repr, PAYLOAD), bytes);
  });

  test('a computed checksum of 0 is sent as 0xffff', () => {
    // Choose the payload so that the sum is 0xffff: then the checksum computes to 0.
    const out = new Uint8Array(10);
    const p = UdpPacket.newUnchecked(out);
    p.srcPort = 0; p.dstPort = 0; p.len = 10;
    p.checksum = 0;
    const partial = p.computeChecksum(SRC, DST); // checksum for a zero payload word
    // Put the checksum value itself into the payload word: the data now sums to 0xffff, so the field computes to 0.
    out[8] = partial >>> 8; out[9] = partial & 0xff;
    assert.equal(p.computeChecksum(SRC, DST), 0xffff);
    p.fillChecksum(SRC, DST);
    assert.equal(p.checksum, 0xffff);
    assert.ok(p.verifyChecksum(SRC, DST));
  });

  test('bytes after the length field are not payload', () => {
    const bytes = new Uint8Array(20);
    bytes.set(DATAGRAM);
    const p = UdpPacket.newChecked(bytes);
    assert.deepEqual(p.payload(), PAYLOAD);
    assert.ok(p.verifyChecksum(SRC, DST));
  });

  test('every datagram shorter than 8 bytes is a truncation error naming the header', () => {
    for (let n = 0; n < 8; n++) assert.throws(() => UdpPacket.newChecked(DATAGRAM.subarray(0, n)), isWire('header', 'truncated'));
  });

  test('a length field below 8 is a bad-length error naming the length', () => {
    const bytes = DATAGRAM.slice();
    bytes[5] = 7;
    assert.throws(() => UdpPacket.newChecked(bytes), isWire('length', 'bad-length'));
  });

  test('a length field beyond the buffer is a truncation error naming the length', () => {
    assert.throws(() => UdpPacket.newChecked(DATAGRAM.subarray(0, 10)), isWire('length', 'truncated'));
  });

  test('a wrong checksum is a bad-checksum error when verifying, and is kept for re-emit otherwise', () => {
    const bytes = DATAGRAM.slice();
    bytes[10] ^= 0x20;
    assert.throws(() => UdpRepr.parse(UdpPacket.newChecked(bytes), SRC, DST), isWire('checksum', 'bad-checksum'));
    const kept = UdpRepr.parse(UdpPacket.newChecked(bytes), SRC, DST, { checksum: 'keep' });
    assert.equal(kept.wireChecksum, 0x476c);
    assert.deepEqual(emitted(kept, bytes.subarray(8)), bytes);
  });

  test('the pseudo-header sum read from an IPv4 view gives the same checksums as the addresses do', () => {
    for (const [src, dst] of [[SRC, DST], [0xc0a80001, 0xcb007101], [0xffffffff, 0x80000000]]) {
      const packet = new Uint8Array(20 + DATAGRAM.length);
      new Ipv4Repr({ src, dst, protocol: IpProtocol.Udp, payloadLen: DATAGRAM.length }).emit(Ipv4Packet.newUnchecked(packet));
      packet.set(DATAGRAM, 20);
      const ip = Ipv4Packet.newChecked(packet);
      const udp = UdpPacket.newChecked(packet, 20);
      const pseudo = ip.pseudoHeaderSum(udp.len);
      assert.equal(udp.computeChecksumWith(pseudo), udp.computeChecksum(src, dst));
      udp.fillChecksumWith(pseudo);
      assert.ok(udp.verifyChecksumWith(pseudo));
      assert.ok(udp.verifyChecksum(src, dst));
    }
  });
});
