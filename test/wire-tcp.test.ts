import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WireError } from '../wire/error.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr } from '../wire/ipv4.js';
import { TcpFlags, TcpPacket, TcpRepr, parseTcpOptions, type TcpOption } from '../wire/tcp.js';

const A = 0x0a000001; // 10.0.0.1
const B = 0x0a000002; // 10.0.0.2

// SYN 10.0.0.1.40000 > 10.0.0.2.80, seq 1, win 65535, options [mss 1460, nop, wscale 7, sackOK, TS val 1 ecr 0].
const SYN = Uint8Array.from([
  0x9c, 0x40, 0x00, 0x50, // ports
  0x00, 0x00, 0x00, 0x01, // seq
  0x00, 0x00, 0x00, 0x00, // ack
  0xa0, 0x02, // data offset 10, SYN
  0xff, 0xff, // window
  0x97, 0x6b, // checksum
  0x00, 0x00, // urgent pointer
  0x02, 0x04, 0x05, 0xb4, // MSS 1460
  0x01, // NOP
  0x03, 0x03, 0x07, // window scale 7
  0x04, 0x02, // SACK permitted
  0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // timestamps 1, 0
]);
const SYN_OPTIONS: TcpOption[] = [
  { kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'window-scale', shift: 7 }, { kind: 'sack-permitted' },
  { kind: 'timestamps', tsval: 1, tsecr: 0 },
];

// PSH|ACK 10.0.0.2.80 > 10.0.0.1.40000 with [nop, nop, sack {100:200}, unknown kind 30 'abcd', EOL] + 3 padding bytes, 'xyz'.
const SACK = Uint8Array.from([
  0x00, 0x50, 0x9c, 0x40,
  0x00, 0x00, 0x00, 0x64,
  0x00, 0x00, 0x00, 0x02,
  0xa0, 0x18,
  0x02, 0x00,
  0xe9, 0x39,
  0x00, 0x00,
  0x01, 0x01,
  0x05, 0x0a, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0xc8,
  0x1e, 0x04, 0xab, 0xcd,
  0x00, 0x00, 0x00, 0x00,
  0x78, 0x79, 0x7a,
]);

const isWire = (field: string, reason?: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === 'tcp' && e.field === field && (reason === undefined || e.reason === reason);

function emitted(repr: TcpRepr, payload: Uint8Array, src = A, dst = B): Uint8Array {
  const out = new Uint8Array(repr.bufferLen(payload.length));
  repr.emit(TcpPacket.newUnchecked(out), payload, src, dst);
  return out;
}

describe('TCP', () => {
  test('getters read the literal SYN', () => {
    const p = TcpPacket.newChecked(SYN);
    assert.equal(p.srcPort, 40000);
    assert.equal(p.dstPort, 80);
    assert.equal(p.seq, 1);
    assert.equal(p.ack, 0);
    assert.equal(p.headerLength, 40);
    assert.equal(p.flags, TcpFlags.SYN);
    assert.equal(p.reserved, 0);
    assert.equal(p.window, 65535);
    assert.equal(p.checksum, 0x976b);
    assert.equal(p.urgent, 0);
    assert.equal(p.optionBytes().length, 20);
    assert.equal(p.payloadLength, 0);
    assert.ok(p.verifyChecksum(A, B));
  });

  test('setters and fillChecksum reproduce the literal SYN', () => {
    const out = new Uint8Array(SYN.length);
    const p = TcpPacket.newUnchecked(out);
    p.srcPort = 40000;
    p.dstPort = 80;
    p.seq = 1;
    p.ack = 0;
    p.headerLength = 40;
    p.flags = TcpFlags.SYN;
    p.window = 65535;
    p.urgent = 0;
    out.set(SYN.subarray(20, 40), 20);
    p.fillChecksum(A, B);
    assert.deepEqual(out, SYN);
  });

  test('parse gives the Repr with typed options, and emit gives the bytes back', () => {
    const repr = TcpRepr.parse(TcpPacket.newChecked(SYN), A, B);
    assert.deepEqual(repr, new TcpRepr({ srcPort: 40000, dstPort: 80, seq: 1, flags: TcpFlags.SYN, window: 65535, options: SYN_OPTIONS }));
    assert.equal(repr.mss, 1460);
    assert.equal(repr.windowScale, 7);
    assert.ok(repr.sackPermitted);
    assert.deepEqual(repr.timestamps, { kind: 'timestamps', tsval: 1, tsecr: 0 });
    assert.deepEqual(emitted(repr, new Uint8Array(0)), SYN);
  });

  test('SACK blocks, unknown options, EOL and the padding after it survive parse and emit byte for byte', () => {
    const p = TcpPacket.newChecked(SACK);
    const repr = TcpRepr.parse(p, B, A);
    assert.deepEqual(repr.options, [
      { kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[100, 200]] },
      { kind: 'unknown', code: 30, data: Uint8Array.from([0xab, 0xcd]) }, { kind: 'eol' },
    ]);
    assert.deepEqual(repr.sackBlocks, [[100, 200]]);
    assert.equal(repr.optionsPadding.length, 3);
    assert.ok(repr.has(TcpFlags.PSH) && repr.has(TcpFlags.ACK) && !repr.has(TcpFlags.SYN));
    assert.deepEqual(emitted(repr, p.payload(), B, A), SACK);
  });

  test('a known option with the wrong length is kept as unknown bytes', () => {
    const { options } = parseTcpOptions(Uint8Array.from([0x02, 0x03, 0x05, 0x03, 0x04, 0x01, 0x02]));
    assert.deepEqual(options, [
      { kind: 'unknown', code: 2, data: Uint8Array.from([0x05]) },
      { kind: 'unknown', code: 3, data: Uint8Array.from([0x01, 0x02]) },
    ]);
  });

  test('the NS flag and the reserved bits are kept', () => {
    const bytes = SYN.slice();
    bytes[12] = 0xa0 | 0x0e | 0x01;
    const repr = TcpRepr.parse(TcpPacket.newChecked(bytes), A, B, { checksum: 'keep' });
    assert.equal(repr.reserved, 7);
    assert.ok(repr.has(TcpFlags.NS));
    assert.deepEqual(emitted(repr, new Uint8Array(0)), bytes);
  });

  test('built options are padded with zeros to a multiple of 4 and parse back', () => {
    const options: TcpOption[] = [{ kind: 'mss', value: 536 }, { kind: 'window-scale', shift: 2 }];
    const repr = new TcpRepr({ srcPort: 1, dstPort: 2, flags: TcpFlags.SYN, options });
    assert.equal(repr.headerLen(), 28);
    const back = TcpRepr.parse(TcpPacket.newChecked(emitted(repr, new Uint8Array(0))), A, B);
    assert.deepEqual(back.options, [...options, { kind: 'eol' }]);
  });

  test('any option list that fits re-emits to bytes that parse back to it', () => {
    const option: fc.Arbitrary<TcpOption> = fc.oneof(
      fc.constant<TcpOption>({ kind: 'nop' }),
      fc.nat({ max: 0xffff }).map((value): TcpOption => ({ kind: 'mss', value })),
      fc.nat({ max: 14 }).map((shift): TcpOption => ({ kind: 'window-scale', shift })),
      fc.constant<TcpOption>({ kind: 'sack-permitted' }),
      fc.array(fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff })), { minLength: 1, maxLength: 3 })
        .map((blocks): TcpOption => ({ kind: 'sack', blocks })),
      fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff })).map(([tsval, tsecr]): TcpOption => ({ kind: 'timestamps', tsval, tsecr })),
      fc.tuple(fc.integer({ min: 9, max: 255 }), fc.uint8Array({ maxLength: 6 })).map(([code, data]): TcpOption => ({ kind: 'unknown', code, data })),
    );
    fc.assert(fc.property(fc.array(option, { maxLength: 6 }), fc.uint8Array({ maxLength: 20 }), (options, payload) => {
      const repr = new TcpRepr({ srcPort: 5, dstPort: 6, seq: 7, options, optionsPadding: new Uint8Array(0) });
      fc.pre(repr.headerLen() <= 60);
      const bytes = emitted(repr, payload);
      const back = TcpRepr.parse(TcpPacket.newChecked(bytes), A, B);
      assert.deepEqual(back.options.slice(0, options.length), options);
      assert.deepEqual(emitted(back, payload), bytes);
    }), { numRuns: 1000 });
  });

  test('every segment shorter than 20 bytes is a truncation error naming the header', () => {
    for (let n = 0; n < 20; n++) assert.throws(() => TcpPacket.newChecked(SYN.subarray(0, n)), isWire('header', 'truncated'));
  });

  test('a data offset below 5 is a bad-length error naming the data offset', () => {
    for (const off of [0, 4]) {
      const bytes = SYN.slice();
      bytes[12] = off << 4;
      assert.throws(() => TcpPacket.newChecked(bytes), isWire('data offset', 'bad-length'));
    }
  });

  test('a data offset beyond the segment is a truncation error naming the data offset', () => {
    assert.throws(() => TcpPacket.newChecked(SYN.subarray(0, 39)), isWire('data offset', 'truncated'));
  });

  test('an option length below 2 or past the options area is a WireError naming the option length', () => {
    assert.throws(() => parseTcpOptions(Uint8Array.from([0x02, 0x01, 0x00, 0x00])), isWire('option length', 'bad-length'));
    assert.throws(() => parseTcpOptions(Uint8Array.from([0x02, 0x00])), isWire('option length', 'bad-length'));
    assert.throws(() => parseTcpOptions(Uint8Array.from([0x01, 0x01, 0x01, 0x02])), isWire('option length', 'truncated'));
    assert.throws(() => parseTcpOptions(Uint8Array.from([0x08, 0x0a, 0x00, 0x00])), isWire('option length', 'truncated'));
  });

  test('a wrong checksum is a bad-checksum error when verifying, and is kept for re-emit otherwise', () => {
    const bytes = SYN.slice();
    bytes[4] = 0x55;
    assert.throws(() => TcpRepr.parse(TcpPacket.newChecked(bytes), A, B), isWire('checksum', 'bad-checksum'));
    const kept = TcpRepr.parse(TcpPacket.newChecked(bytes), A, B, { checksum: 'keep' });
    assert.equal(kept.wireChecksum, 0x976b);
    assert.deepEqual(emitted(kept, new Uint8Array(0)), bytes);
  });

  test('more than 40 bytes of options cannot be emitted', () => {
    const repr = new TcpRepr({ srcPort: 1, dstPort: 2, options: [{ kind: 'unknown', code: 99, data: new Uint8Array(40) }] });
    assert.throws(() => emitted(repr, new Uint8Array(0)), isWire('options', 'bad-length'));
  });

  test('the pseudo-header sum read from an IPv4 view gives the same checksum as the addresses do', () => {
    const packet = new Uint8Array(20 + SYN.length);
    new Ipv4Repr({ src: A, dst: B, protocol: IpProtocol.Tcp, payloadLen: SYN.length }).emit(Ipv4Packet.newUnchecked(packet));
    packet.set(SYN, 20);
    const ip = Ipv4Packet.newChecked(packet);
    const tcp = TcpPacket.newChecked(packet, 20);
    assert.ok(tcp.verifyChecksumWith(ip.pseudoHeaderSum(tcp.length)));
    tcp.checksum = 0;
    tcp.fillChecksumWith(ip.pseudoHeaderSum(tcp.length));
    assert.equal(tcp.checksum, 0x976b);
    assert.equal(tcp.computeChecksumWith(ip.pseudoHeaderSum(tcp.length)), tcp.computeChecksum(A, B));
  });
});
