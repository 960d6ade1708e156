import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  BROADCAST_MAC, EtherType, EthernetPacket, EthernetRepr, isMulticastMac, macFromBytes, macToBytes, macToString, parseMac,
} from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';

// dst ff:ff:ff:ff:ff:ff, src 02:00:0a:cb:00:02, ethertype ARP, then 4 payload bytes.
const FRAME = Uint8Array.from([
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0x02, 0x00, 0x0a, 0xcb, 0x00, 0x02,
  0x08, 0x06,
  0xaa, 0xbb, 0xcc, 0xdd,
]);
const SRC = 0x02000acb0002;

describe('Ethernet II', () => {
  test('getters read the literal frame', () => {
    const p = EthernetPacket.newChecked(FRAME);
    assert.equal(p.dst, BROADCAST_MAC);
    assert.equal(p.src, SRC);
    assert.equal(p.ethertype, EtherType.Arp);
    assert.deepEqual([...p.payload()], [0xaa, 0xbb, 0xcc, 0xdd]);
    assert.equal(p.payloadLength, 4);
  });

  test('setters reproduce the literal frame', () => {
    const out = new Uint8Array(FRAME.length);
    const p = EthernetPacket.newUnchecked(out);
    p.dst = BROADCAST_MAC;
    p.src = SRC;
    p.ethertype = 0x0806;
    out.set([0xaa, 0xbb, 0xcc, 0xdd], p.payloadOffset);
    assert.deepEqual(out, FRAME);
  });

  test('parse gives the Repr and emit gives the header back', () => {
    const repr = EthernetRepr.parse(EthernetPacket.newChecked(FRAME));
    assert.deepEqual(repr, new EthernetRepr({ dst: BROADCAST_MAC, src: SRC, ethertype: EtherType.Arp }));
    const out = new Uint8Array(repr.bufferLen());
    repr.emit(EthernetPacket.newUnchecked(out));
    assert.deepEqual(out, FRAME.subarray(0, 14));
  });

  test('an unknown ethertype is kept as its number', () => {
    const bytes = FRAME.slice();
    bytes[12] = 0x88; bytes[13] = 0xb5;
    assert.equal(EthernetRepr.parse(EthernetPacket.newChecked(bytes)).ethertype, 0x88b5);
  });

  test('a frame shorter than the 14-byte header is a truncation error naming the header', () => {
    for (let n = 0; n < 14; n++) {
      assert.throws(() => EthernetPacket.newChecked(FRAME.subarray(0, n)),
        (e: unknown) => e instanceof WireError && e.protocol === 'ethernet' && e.field === 'header' && e.reason === 'truncated');
    }
  });

  test('a window outside the buffer is a WireError, not a RangeError', () => {
    assert.throws(() => EthernetPacket.newChecked(FRAME, 10, 20), WireError);
    assert.throws(() => EthernetPacket.newChecked(FRAME, 40), WireError);
  });

  test('a view reset onto another frame in the same buffer reads the new frame without reallocating', () => {
    const ring = new Uint8Array(64);
    ring.set(FRAME, 0);
    ring.set(FRAME, 32);
    ring[32 + 5] = 0xfe;
    const p = EthernetPacket.newChecked(ring, 0, FRAME.length);
    const before = p.data;
    p.reset(ring, 32, FRAME.length).check();
    assert.equal(p.dst, 0xfffffffffffe);
    assert.equal(p.data, before);
  });

  test('a view over a subarray reads from the subarray start', () => {
    const big = new Uint8Array(100);
    big.set(FRAME, 50);
    const p = EthernetPacket.newChecked(big.subarray(50, 50 + FRAME.length));
    assert.equal(p.src, SRC);
  });
});

describe('MAC addresses', () => {
  test('format and parse are inverse', () => {
    assert.equal(macToString(SRC), '02:00:0a:cb:00:02');
    assert.equal(parseMac('02:00:0A:cb:00:02'), SRC);
    assert.equal(parseMac('02-00-0a-cb-00-02'), SRC);
    assert.equal(macToString(BROADCAST_MAC), 'ff:ff:ff:ff:ff:ff');
  });

  test('bytes round-trip through a number', () => {
    assert.deepEqual([...macToBytes(SRC)], [0x02, 0x00, 0x0a, 0xcb, 0x00, 0x02]);
    assert.equal(macFromBytes(macToBytes(BROADCAST_MAC)), BROADCAST_MAC);
  });

  test('a malformed MAC is a WireError naming the mac address', () => {
    for (const bad of ['', '02:00:0a:cb:00', '02:00:0a:cb:00:0g', '002:00:0a:cb:00:02']) {
      assert.throws(() => parseMac(bad), (e: unknown) => e instanceof WireError && e.field === 'mac address');
    }
  });

  test('broadcast and 01:00:5e multicast have the group bit; a unicast MAC does not', () => {
    assert.ok(isMulticastMac(BROADCAST_MAC));
    assert.ok(isMulticastMac(parseMac('01:00:5e:00:00:fb')));
    assert.ok(!isMulticastMac(SRC));
  });
});
