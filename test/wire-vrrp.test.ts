import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { WireError } from '../wire/error.js';
import {
  VrrpPacket, VrrpRepr, vrrpVirtualMac, VRRP_MULTICAST_IPV4, VRRP_MULTICAST_MAC, IP_PROTOCOL_VRRP, VRRP_TTL,
} from '../wire/vrrp.js';
import { IpProtocol } from '../wire/ipv4.js';
import { macToString } from '../wire/ethernet.js';

const SRC = 0x0a000001; // 10.0.0.1
const DST = VRRP_MULTICAST_IPV4;

// VRID 7, priority 100, interval 1 s, virtual addresses 10.0.0.254 and 10.0.0.253, sent by 10.0.0.1 to 224.0.0.18.
// The checksum by hand (§5.2.8), 16-bit words:
//   pseudo-header 0a00+0001 + e000+0012 + 0070 (protocol 112) + 0010 (length 16) = ea93
//   message       3107+6402+0064+0000 + 0a00+00fe + 0a00+00fd                    = ab68
//   ea93 + ab68 = 195fb, folded 95fc, complemented 6a03.
const MESSAGE = Uint8Array.from([
  0x31, // version 3, type 1 (advertisement)
  0x07, // VRID
  0x64, // priority 100
  0x02, // count IPvX addr
  0x00, 0x64, // reserved 0, max advertise interval 100 cs
  0x6a, 0x03, // checksum
  0x0a, 0x00, 0x00, 0xfe, // 10.0.0.254
  0x0a, 0x00, 0x00, 0xfd, // 10.0.0.253
]);
const REPR = new VrrpRepr({ vrid: 7, priority: 100, maxAdverInterval: 100, addresses: [0x0a0000fe, 0x0a0000fd] });

const isWire = (field: string, reason: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === ('vrrp' as string) && e.field === field && e.reason === reason;

function emitted(repr: VrrpRepr, src = SRC, dst = DST): Uint8Array {
  const out = new Uint8Array(repr.bufferLen());
  repr.emit(VrrpPacket.newUnchecked(out), src, dst);
  return out;
}

const parse = (bytes: Uint8Array): VrrpRepr => VrrpRepr.parse(VrrpPacket.newChecked(bytes), SRC, DST);

/** scapy's VRRPv3 layer, from whichever python3 has it; null with the reason when none does. */
function scapyBytes(): { bytes: Uint8Array } | { missing: string } {
  const script = [
    'from scapy.layers.vrrp import VRRPv3',
    'from scapy.layers.inet import IP',
    "p = IP(src='10.0.0.1', dst='224.0.0.18', ttl=255)/VRRPv3(vrid=7, priority=100, ipcount=2, adv=100, addrlist=['10.0.0.254', '10.0.0.253'])",
    'print(bytes(p)[20:].hex())',
  ].join('\n');
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', script], { encoding: 'utf8' });
    if (r.status === 0) return { bytes: Uint8Array.from(Buffer.from(r.stdout.trim(), 'hex')) };
  }
  return { missing: 'scapy is not installed for python3 (apt-get install python3-scapy)' };
}

describe('VRRPv3', () => {
  test('getters read the literal message and its checksum verifies', () => {
    const p = VrrpPacket.newChecked(MESSAGE);
    assert.equal(p.version, 3);
    assert.equal(p.type, 1);
    assert.equal(p.vrid, 7);
    assert.equal(p.priority, 100);
    assert.equal(p.count, 2);
    assert.equal(p.maxAdverInterval, 100);
    assert.equal(p.checksum, 0x6a03);
    assert.equal(p.address(0), 0x0a0000fe);
    assert.equal(p.address(1), 0x0a0000fd);
    assert.equal(p.computeChecksum(SRC, DST), 0x6a03);
    assert.ok(p.verifyChecksum(SRC, DST));
    assert.ok(!p.verifyChecksum(SRC + 1, DST), 'the pseudo-header is covered');
  });

  test('parse gives the Repr and emit gives the bytes back', () => {
    assert.deepEqual(parse(MESSAGE), REPR);
    assert.deepEqual(emitted(REPR), MESSAGE);
  });

  test('emit agrees with scapy byte for byte', (t) => {
    const theirs = scapyBytes();
    if ('missing' in theirs) { t.skip(theirs.missing); return; }
    assert.deepEqual(theirs.bytes, MESSAGE);
  });

  test('reserved bits above the interval are ignored on receipt and written as zero', () => {
    const bytes = MESSAGE.slice();
    bytes[4] = 0xf0;
    const p = VrrpPacket.newChecked(bytes);
    assert.equal(p.maxAdverInterval, 100);
    p.fillChecksum(SRC, DST);
    assert.deepEqual(VrrpRepr.parse(p, SRC, DST), REPR);
    p.maxAdverInterval = 100;
    assert.equal(bytes[4], 0);
  });

  test('the constants of §5.1, the group\'s MAC and the virtual MAC of §7.3', () => {
    assert.equal(IP_PROTOCOL_VRRP, 112);
    assert.equal(IpProtocol.Vrrp, IP_PROTOCOL_VRRP);
    assert.equal(VRRP_MULTICAST_IPV4, 0xe0000012);
    // RFC 1112 §6.4: 01:00:5e and the low 23 bits of the group.
    assert.equal(macToString(VRRP_MULTICAST_MAC), '01:00:5e:00:00:12');
    assert.equal(VRRP_MULTICAST_MAC, 0x01005e000000 + (VRRP_MULTICAST_IPV4 & 0x7fffff));
    assert.equal(VRRP_TTL, 255);
    assert.equal(vrrpVirtualMac(7), 0x00005e000107);
    assert.equal(vrrpVirtualMac(255), 0x00005e0001ff);
  });

  test('a message shorter than the header is truncated', () => {
    assert.throws(() => VrrpPacket.newChecked(MESSAGE.subarray(0, 7)), isWire('header', 'truncated'));
  });

  test('a count beyond the addresses present is truncated', () => {
    const bytes = MESSAGE.slice();
    bytes[3] = 3;
    assert.throws(() => VrrpPacket.newChecked(bytes), isWire('count', 'truncated'));
  });

  test('bytes past the counted addresses are a bad length', () => {
    const bytes = MESSAGE.slice();
    bytes[3] = 1;
    assert.throws(() => parse(bytes), isWire('count', 'bad-length'));
  });

  test('version 2 is unsupported', () => {
    const bytes = MESSAGE.slice();
    bytes[0] = 0x21;
    assert.throws(() => parse(bytes), isWire('version', 'unsupported'));
  });

  test('a type other than advertisement is rejected', () => {
    const bytes = MESSAGE.slice();
    bytes[0] = 0x32;
    assert.throws(() => parse(bytes), isWire('type', 'bad-value'));
  });

  test('VRID 0 and interval 0 are rejected', () => {
    const noVrid = MESSAGE.slice();
    noVrid[1] = 0;
    assert.throws(() => parse(noVrid), isWire('vrid', 'bad-value'));
    const noInterval = MESSAGE.slice();
    noInterval[5] = 0;
    assert.throws(() => parse(noInterval), isWire('max advertise interval', 'bad-value'));
  });

  test('a wrong checksum is rejected, or kept by policy', () => {
    const bytes = MESSAGE.slice();
    bytes[7] ^= 1;
    assert.throws(() => parse(bytes), (e: unknown) => isWire('checksum', 'bad-checksum')(e) && /expected 0x6a03/.test(String(e)));
    assert.deepEqual(VrrpRepr.parse(VrrpPacket.newChecked(bytes), SRC, DST, { checksum: 'keep' }), REPR);
  });

  test('emit refuses values its fields cannot carry', () => {
    const bad = (init: Partial<VrrpRepr>) => new VrrpRepr({ ...REPR, ...init });
    assert.throws(() => emitted(bad({ vrid: 0 })), isWire('vrid', 'bad-value'));
    assert.throws(() => emitted(bad({ priority: 256 })), isWire('priority', 'bad-value'));
    assert.throws(() => emitted(bad({ maxAdverInterval: 4096 })), isWire('max advertise interval', 'bad-value'));
    assert.throws(() => emitted(bad({ addresses: new Array<number>(256).fill(1) })), isWire('count', 'bad-value'));
  });

  test('property: parse(emit(repr)) is repr, and emit(parse(bytes)) is bytes', () => {
    const arb = fc.record({
      vrid: fc.integer({ min: 1, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      maxAdverInterval: fc.integer({ min: 1, max: 0xfff }),
      addresses: fc.array(fc.nat({ max: 0xffff_ffff }), { maxLength: 255 }),
      src: fc.nat({ max: 0xffff_ffff }),
    });
    fc.assert(fc.property(arb, ({ src, ...init }) => {
      const repr = new VrrpRepr(init);
      const bytes = emitted(repr, src);
      const back = VrrpRepr.parse(VrrpPacket.newChecked(bytes), src, DST);
      assert.deepEqual(back, repr);
      assert.deepEqual(emitted(back, src), bytes);
    }), { numRuns: 500, seed: 5798 });
  });
});
