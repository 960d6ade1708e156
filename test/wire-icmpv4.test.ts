import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WireError } from '../wire/error.js';
import { DestUnreachableCode, Icmpv4Packet, Icmpv4Repr, Icmpv4Type, TimeExceededCode } from '../wire/icmpv4.js';
import { IpProtocol } from '../wire/ipv4.js';

// Echo request, ident 0x1234, seq 1, data 'abcde'.
const ECHO = Uint8Array.from([0x08, 0x00, 0xbc, 0x03, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65]);

// The datagram a port-unreachable quotes: IPv4 header of UDP 10.0.0.2.40000 > 8.8.8.8.53, then its first 8 bytes.
const ORIGINAL = Uint8Array.from([
  0x45, 0x00, 0x00, 0x21, 0xab, 0xcd, 0x00, 0x00, 0x40, 0x11, 0xb4, 0xed,
  0x0a, 0x00, 0x00, 0x02, 0x08, 0x08, 0x08, 0x08,
  0x9c, 0x40, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00,
]);
const UNREACHABLE = Uint8Array.from([0x03, 0x03, 0x60, 0x7a, 0, 0, 0, 0, ...ORIGINAL]);
const TIME_EXCEEDED = Uint8Array.from([0x0b, 0x00, 0x58, 0x7d, 0, 0, 0, 0, ...ORIGINAL]);
// Type 13 (timestamp), kept whole though this stack does not speak it.
const UNKNOWN = Uint8Array.from([0x0d, 0x00, 0x57, 0x2e, 0xab, 0xcd, 0xef, 0x01, 0x01, 0x02]);

const isWire = (field: string, reason?: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === 'icmpv4' && e.field === field && (reason === undefined || e.reason === reason);

function emitted(repr: Icmpv4Repr): Uint8Array {
  const out = new Uint8Array(repr.bufferLen());
  repr.emit(Icmpv4Packet.newUnchecked(out));
  return out;
}

describe('ICMPv4', () => {
  test('getters read the literal echo request', () => {
    const p = Icmpv4Packet.newChecked(ECHO);
    assert.equal(p.type, Icmpv4Type.EchoRequest);
    assert.equal(p.code, 0);
    assert.equal(p.checksum, 0xbc03);
    assert.equal(p.ident, 0x1234);
    assert.equal(p.seq, 1);
    assert.equal(Buffer.from(p.payload()).toString(), 'abcde');
    assert.ok(p.verifyChecksum());
  });

  test('setters and fillChecksum reproduce the literal echo request', () => {
    const out = new Uint8Array(ECHO.length);
    const p = Icmpv4Packet.newUnchecked(out);
    p.type = 8;
    p.code = 0;
    p.ident = 0x1234;
    p.seq = 1;
    out.set(Buffer.from('abcde'), p.dataOffset);
    p.fillChecksum();
    assert.deepEqual(out, ECHO);
  });

  test('parse gives the echo Repr and emit gives the bytes back', () => {
    const repr = Icmpv4Repr.parse(Icmpv4Packet.newChecked(ECHO));
    assert.deepEqual(repr, Icmpv4Repr.echoRequest(0x1234, 1, ECHO.subarray(8)));
    assert.ok(repr.isEcho && !repr.isError);
    assert.equal(repr.ident, 0x1234);
    assert.equal(repr.seq, 1);
    assert.deepEqual(emitted(repr), ECHO);
  });

  test('an echo reply built from a request carries the same ident, seq and data', () => {
    const request = Icmpv4Repr.parse(Icmpv4Packet.newChecked(ECHO));
    const reply = Icmpv4Repr.parse(Icmpv4Packet.newChecked(emitted(Icmpv4Repr.echoReply(request.ident, request.seq, request.data))));
    assert.equal(reply.type, Icmpv4Type.EchoReply);
    assert.deepEqual([reply.ident, reply.seq, [...reply.data]], [0x1234, 1, [...request.data]]);
  });

  test('a port unreachable carries the original header + 8 bytes as a view, and names the original flow', () => {
    const repr = Icmpv4Repr.parse(Icmpv4Packet.newChecked(UNREACHABLE));
    assert.equal(repr.type, Icmpv4Type.DestUnreachable);
    assert.equal(repr.code, DestUnreachableCode.PortUnreachable);
    assert.ok(repr.isError);
    assert.equal(repr.data.buffer, UNREACHABLE.buffer);
    const original = repr.original();
    assert.ok(original);
    assert.equal(original.ipv4.protocol, IpProtocol.Udp);
    assert.equal(original.ipv4.src, 0x0a000002);
    assert.equal(original.ipv4.dst, 0x08080808);
    assert.deepEqual([...original.payload.subarray(0, 4)], [0x9c, 0x40, 0x00, 0x35]);
    assert.deepEqual(emitted(repr), UNREACHABLE);
  });

  test('destUnreachable cuts the offending datagram to its header + 8 bytes', () => {
    const offending = new Uint8Array(ORIGINAL.length + 100);
    offending.set(ORIGINAL);
    const repr = Icmpv4Repr.destUnreachable(DestUnreachableCode.PortUnreachable, offending);
    assert.deepEqual(emitted(repr), UNREACHABLE);
  });

  test('a fragmentation-needed message carries the next-hop MTU', () => {
    const repr = Icmpv4Repr.destUnreachable(DestUnreachableCode.FragmentationNeeded, ORIGINAL, 1280);
    const back = Icmpv4Repr.parse(Icmpv4Packet.newChecked(emitted(repr)));
    assert.equal(back.nextHopMtu, 1280);
    assert.equal(Icmpv4Packet.newChecked(emitted(repr)).nextHopMtu, 1280);
  });

  test('a time exceeded message round-trips through parse and emit', () => {
    const repr = Icmpv4Repr.parse(Icmpv4Packet.newChecked(TIME_EXCEEDED));
    assert.deepEqual(repr, Icmpv4Repr.timeExceeded(TimeExceededCode.TtlExceeded, ORIGINAL));
    assert.deepEqual(emitted(repr), TIME_EXCEEDED);
  });

  test('an unknown type is kept with its rest-of-header and data', () => {
    const repr = Icmpv4Repr.parse(Icmpv4Packet.newChecked(UNKNOWN));
    assert.equal(repr.type, 13);
    assert.equal(repr.rest, 0xabcdef01);
    assert.equal(repr.original(), undefined);
    assert.deepEqual(emitted(repr), UNKNOWN);
  });

  test('a quoted datagram too short for an IPv4 header is a WireError naming the ipv4 header', () => {
    const repr = new Icmpv4Repr({ type: Icmpv4Type.DestUnreachable, code: 1, data: ORIGINAL.subarray(0, 12) });
    assert.throws(() => repr.original(), (e: unknown) => e instanceof WireError && e.protocol === 'ipv4' && e.field === 'header');
  });

  test('every message shorter than 8 bytes is a truncation error naming the header', () => {
    for (let n = 0; n < 8; n++) assert.throws(() => Icmpv4Packet.newChecked(ECHO.subarray(0, n)), isWire('header', 'truncated'));
  });

  test('a wrong checksum is a bad-checksum error when verifying, and is kept for re-emit otherwise', () => {
    const bytes = ECHO.slice();
    bytes[12] ^= 1;
    assert.throws(() => Icmpv4Repr.parse(Icmpv4Packet.newChecked(bytes)), isWire('checksum', 'bad-checksum'));
    const kept = Icmpv4Repr.parse(Icmpv4Packet.newChecked(bytes), { checksum: 'keep' });
    assert.equal(kept.wireChecksum, 0xbc03);
    assert.deepEqual(emitted(kept), bytes);
  });
});
