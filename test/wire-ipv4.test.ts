import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WireError } from '../wire/error.js';
import {
  IpProtocol, Ipv4Packet, Ipv4Repr, broadcastOf, inSubnet, ipv4ToString, isMulticastIpv4, maskToPrefix, networkOf,
  parseCidr, parseIpv4, prefixToMask,
} from '../wire/ipv4.js';

// 192.168.0.1 > 192.168.0.2, UDP, DF, TTL 64, ident 0x1234, with a Router Alert option (IHL 6), 8 payload bytes.
const PACKET = Uint8Array.from([
  0x46, 0x00, 0x00, 0x20, // version 4, IHL 6, DSCP/ECN 0, total length 32
  0x12, 0x34, 0x40, 0x00, // ident, flags DF, fragment offset 0
  0x40, 0x11, 0x12, 0x41, // TTL 64, protocol UDP, checksum
  0xc0, 0xa8, 0x00, 0x01, // source
  0xc0, 0xa8, 0x00, 0x02, // destination
  0x94, 0x04, 0x00, 0x00, // option: Router Alert
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // payload
]);
const OPTION = Uint8Array.from([0x94, 0x04, 0x00, 0x00]);

const REPR = new Ipv4Repr({
  src: 0xc0a80001, dst: 0xc0a80002, protocol: IpProtocol.Udp, payloadLen: 8, ttl: 64, ident: 0x1234, dontFragment: true, options: OPTION,
});

const isWire = (field: string, reason?: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === 'ipv4' && e.field === field && (reason === undefined || e.reason === reason)
  && e.message.includes(field);

describe('IPv4 header', () => {
  test('getters read the literal packet', () => {
    const p = Ipv4Packet.newChecked(PACKET);
    assert.equal(p.version, 4);
    assert.equal(p.headerLength, 24);
    assert.equal(p.dscp, 0);
    assert.equal(p.ecn, 0);
    assert.equal(p.totalLength, 32);
    assert.equal(p.ident, 0x1234);
    assert.equal(p.dontFragment, true);
    assert.equal(p.moreFragments, false);
    assert.equal(p.reservedFlag, false);
    assert.equal(p.fragmentOffset, 0);
    assert.equal(p.isFragment, false);
    assert.equal(p.ttl, 64);
    assert.equal(p.protocol, 17);
    assert.equal(p.checksum, 0x1241);
    assert.equal(p.src, 0xc0a80001);
    assert.equal(p.dst, 0xc0a80002);
    assert.deepEqual(p.options(), OPTION);
    assert.deepEqual([...p.payload()], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(p.verifyChecksum());
  });

  test('setters and fillChecksum reproduce the literal packet', () => {
    const out = new Uint8Array(PACKET.length);
    const p = Ipv4Packet.newUnchecked(out);
    p.version = 4;
    p.headerLength = 24;
    p.totalLength = 32;
    p.ident = 0x1234;
    p.dontFragment = true;
    p.ttl = 64;
    p.protocol = 17;
    p.src = 0xc0a80001;
    p.dst = 0xc0a80002;
    out.set(OPTION, 20);
    out.set([1, 2, 3, 4, 5, 6, 7, 8], 24);
    p.fillChecksum();
    assert.deepEqual(out, PACKET);
  });

  test('parse gives the Repr and emit gives the header back', () => {
    assert.deepEqual(Ipv4Repr.parse(Ipv4Packet.newChecked(PACKET)), REPR);
    const out = PACKET.slice();
    out.fill(0, 0, 24);
    REPR.emit(Ipv4Packet.newUnchecked(out));
    assert.deepEqual(out, PACKET);
  });

  test('flag and fragment setters touch only their bits', () => {
    const p = Ipv4Packet.newUnchecked(PACKET.slice());
    p.moreFragments = true;
    p.fragmentOffset = 1480;
    p.dontFragment = false;
    p.reservedFlag = true;
    assert.equal(p.fragmentOffset, 1480);
    assert.ok(p.moreFragments && p.reservedFlag && !p.dontFragment && p.isFragment);
    p.dscp = 46;
    p.ecn = 3;
    assert.equal(p.dscp, 46);
    assert.equal(p.ecn, 3);
    assert.equal(p.headerLength, 24);
  });

  test('a Repr built from fields emits a header that parses back to it, options padded to 4', () => {
    fc.assert(fc.property(
      fc.record({
        src: fc.nat({ max: 0xffff_ffff }), dst: fc.nat({ max: 0xffff_ffff }), protocol: fc.nat({ max: 255 }),
        payloadLen: fc.nat({ max: 100 }), ttl: fc.nat({ max: 255 }), dscp: fc.nat({ max: 63 }), ecn: fc.nat({ max: 3 }),
        ident: fc.nat({ max: 0xffff }), dontFragment: fc.boolean(), moreFragments: fc.boolean(), reservedFlag: fc.boolean(),
        fragmentOffset: fc.nat({ max: 0x1fff }).map((x) => x * 8), options: fc.uint8Array({ maxLength: 10 }),
      }),
      (init) => {
        const repr = new Ipv4Repr(init);
        const out = new Uint8Array(repr.bufferLen() + init.payloadLen);
        repr.emit(Ipv4Packet.newUnchecked(out));
        const back = Ipv4Repr.parse(Ipv4Packet.newChecked(out));
        const padded = new Uint8Array((init.options.length + 3) & ~3);
        padded.set(init.options);
        assert.deepEqual(back, new Ipv4Repr({ ...init, options: padded }));
      }), { numRuns: 500 });
  });

  test('every truncation of the header is a WireError naming the header', () => {
    for (let n = 0; n < 20; n++) assert.throws(() => Ipv4Packet.newChecked(PACKET.subarray(0, n)), isWire('header', 'truncated'));
  });

  test('a header length below 5 words is a bad-length error naming the header length', () => {
    for (const ihl of [0, 1, 4]) {
      const bytes = PACKET.slice();
      bytes[0] = 0x40 | ihl;
      assert.throws(() => Ipv4Packet.newChecked(bytes), isWire('header length', 'bad-length'));
    }
  });

  test('a header length beyond the buffer is a truncation of the header length', () => {
    const bytes = PACKET.slice(0, 22);
    assert.throws(() => Ipv4Packet.newChecked(bytes), isWire('header length', 'truncated'));
  });

  test('a total length below the header length is a bad-length error naming the total length', () => {
    const bytes = PACKET.slice();
    bytes[3] = 23;
    assert.throws(() => Ipv4Packet.newChecked(bytes), isWire('total length', 'bad-length'));
  });

  test('a total length beyond the buffer is a truncation error naming the total length', () => {
    assert.throws(() => Ipv4Packet.newChecked(PACKET.subarray(0, 31)), isWire('total length', 'truncated'));
    const bytes = PACKET.slice();
    bytes[2] = 0xff;
    assert.throws(() => Ipv4Packet.newChecked(bytes), isWire('total length', 'truncated'));
  });

  test('bytes beyond the total length are allowed and not part of the payload', () => {
    const bytes = new Uint8Array(60);
    bytes.set(PACKET);
    const p = Ipv4Packet.newChecked(bytes);
    assert.equal(p.payloadLength, 8);
    assert.equal(p.payload().length, 8);
  });

  test('a version other than 4 is a bad-value error naming the version', () => {
    const bytes = PACKET.slice();
    bytes[0] = 0x66;
    assert.throws(() => Ipv4Repr.parse(Ipv4Packet.newChecked(bytes)), isWire('version', 'bad-value'));
  });

  test('a wrong checksum is a bad-checksum error when verifying, and is kept for re-emit otherwise', () => {
    const bytes = PACKET.slice();
    bytes[11] ^= 0xff;
    assert.throws(() => Ipv4Repr.parse(Ipv4Packet.newChecked(bytes)), isWire('checksum', 'bad-checksum'));
    const kept = Ipv4Repr.parse(Ipv4Packet.newChecked(bytes), { checksum: 'keep' });
    assert.equal(kept.wireChecksum, 0x12be);
    const out = bytes.slice();
    out.fill(0, 0, 24);
    kept.emit(Ipv4Packet.newUnchecked(out));
    assert.deepEqual(out, bytes);
  });

  test('more than 40 bytes of options cannot be emitted', () => {
    const repr = new Ipv4Repr({ ...REPR, options: new Uint8Array(41) });
    assert.throws(() => repr.emit(Ipv4Packet.newUnchecked(new Uint8Array(100))), isWire('options', 'bad-length'));
  });

  test('a fragment offset that is not a multiple of 8 cannot be emitted', () => {
    const repr = new Ipv4Repr({ ...REPR, fragmentOffset: 12 });
    assert.throws(() => repr.emit(Ipv4Packet.newUnchecked(new Uint8Array(100))), isWire('fragment offset', 'bad-value'));
  });
});

describe('IPv4 addresses and subnets', () => {
  test('dotted quads format and parse as inverse', () => {
    assert.equal(ipv4ToString(0xc0a80001), '192.168.0.1');
    assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
    fc.assert(fc.property(fc.nat({ max: 0xffff_ffff }), (a) => { assert.equal(parseIpv4(ipv4ToString(a)), a); }), { numRuns: 1000 });
  });

  test('malformed dotted quads are WireErrors naming the address', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', 'a.b.c.d', ' 1.2.3.4']) {
      assert.throws(() => parseIpv4(bad), isWire('address', 'bad-value'), bad);
    }
  });

  test('prefix lengths and masks convert both ways', () => {
    assert.equal(prefixToMask(0), 0);
    assert.equal(prefixToMask(24), 0xffffff00);
    assert.equal(prefixToMask(32), 0xffffffff);
    for (let p = 0; p <= 32; p++) assert.equal(maskToPrefix(prefixToMask(p)), p);
  });

  test('a mask with holes and a prefix out of range are WireErrors', () => {
    assert.throws(() => maskToPrefix(0xff00ff00), isWire('subnet mask'));
    assert.throws(() => prefixToMask(33), isWire('prefix length'));
    assert.throws(() => parseCidr('10.0.0.0'), isWire('prefix length'));
    assert.throws(() => parseCidr('10.0.0.0/40'), isWire('prefix length'));
  });

  test('subnet helpers place addresses in and out of a network', () => {
    const { address, prefix } = parseCidr('10.203.0.77/24');
    assert.equal(networkOf(address, prefix), parseIpv4('10.203.0.0'));
    assert.equal(broadcastOf(address, prefix), parseIpv4('10.203.0.255'));
    assert.ok(inSubnet(parseIpv4('10.203.0.1'), address, prefix));
    assert.ok(!inSubnet(parseIpv4('10.203.1.1'), address, prefix));
    assert.ok(inSubnet(parseIpv4('8.8.8.8'), 0, 0));
    assert.ok(isMulticastIpv4(parseIpv4('224.0.0.251')));
    assert.ok(!isMulticastIpv4(parseIpv4('10.0.0.1')));
  });
});
