// The virtio-net header codec, and the claim the vnet data path rests on: a partial-checksum frame rewritten in
// place (NAT) and then given finishPseudoHeader is completed by a NIC into exactly the full checksum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { finish, pseudoHeaderSum, sum, fold } from '../wire/checksum.js';
import { WireError } from '../wire/error.js';
import { IpProtocol, Ipv4Packet } from '../wire/ipv4.js';
import { NatPorts } from '../wire/nat-ports.js';
import {
  finishPseudoHeader, VirtioNetFlags, VirtioNetGso, VirtioNetHeader, VirtioNetHeaderRepr, VNET_HDR_LEN,
} from '../wire/virtio-net.js';

test('a header emits little-endian fields in virtio_net_hdr_v1 order and parses back', () => {
  const repr = new VirtioNetHeaderRepr({
    flags: VirtioNetFlags.NeedsCsum, gsoType: VirtioNetGso.TcpV4, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16, numBuffers: 1,
  });
  const buf = new Uint8Array(VNET_HDR_LEN);
  repr.emit(VirtioNetHeader.newChecked(buf));
  assert.deepEqual([...buf], [1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0]);
  assert.deepEqual(VirtioNetHeaderRepr.parse(VirtioNetHeader.newChecked(buf)), repr);
  assert.equal(VirtioNetHeader.newChecked(buf).needsCsum, true);
});

test('a short header and an unknown GSO type are WireErrors', () => {
  assert.throws(() => VirtioNetHeader.newChecked(new Uint8Array(8)), WireError);
  const buf = new Uint8Array(VNET_HDR_LEN);
  buf[1] = 9;
  assert.throws(() => VirtioNetHeaderRepr.parse(VirtioNetHeader.newChecked(buf)), /gso type/);
  buf[1] = VirtioNetGso.TcpV4 | VirtioNetGso.Ecn;
  assert.equal(VirtioNetHeaderRepr.parse(VirtioNetHeader.newChecked(buf)).gsoType, 0x81);
});

const ETH = 14;

interface Segment { proto: number; src: number; dst: number; sport: number; dport: number; options: number; payload: Uint8Array }

/** An Ethernet + IPv4 + TCP/UDP frame whose L4 checksum is in partial form (the folded pseudo-header sum), as the kernel hands it over. */
function partialFrame(s: Segment): { frame: Uint8Array; l4: number; field: number } {
  const ihl = 20 + 4 * s.options;
  const l4Header = s.proto === IpProtocol.Tcp ? 20 : 8;
  const l4Len = l4Header + s.payload.length;
  const frame = new Uint8Array(ETH + ihl + l4Len);
  const d = new DataView(frame.buffer);
  d.setUint16(12, 0x0800);
  frame[ETH] = 0x40 | (ihl / 4);
  d.setUint16(ETH + 2, ihl + l4Len);
  frame[ETH + 8] = 64;
  frame[ETH + 9] = s.proto;
  d.setUint32(ETH + 12, s.src);
  d.setUint32(ETH + 16, s.dst);
  d.setUint16(ETH + 10, finish(sum(frame, ETH, ETH + ihl)));
  const l4 = ETH + ihl;
  d.setUint16(l4, s.sport);
  d.setUint16(l4 + 2, s.dport);
  if (s.proto === IpProtocol.Tcp) frame[l4 + 12] = 5 << 4;
  else d.setUint16(l4 + 4, l4Len);
  frame.set(s.payload, l4 + l4Header);
  const field = l4 + (s.proto === IpProtocol.Tcp ? 16 : 6);
  d.setUint16(field, fold(pseudoHeaderSum(s.src, s.dst, s.proto, l4Len)));
  return { frame, l4, field };
}

/** UDP sends a computed 0 as 0xffff (0 means "no checksum"). */
const udpZero = (proto: number, c: number): number => (proto === IpProtocol.Udp && c === 0 ? 0xffff : c);

const segment = fc.record({
  proto: fc.constantFrom(IpProtocol.Tcp, IpProtocol.Udp),
  src: fc.nat(0xffffffff), dst: fc.nat(0xffffffff),
  sport: fc.nat(0xffff), dport: fc.nat(0xffff),
  options: fc.nat(3),
  payload: fc.uint8Array({ maxLength: 300 }),
});
const rewrite = fc.record({ src: fc.nat(0xffffffff), dst: fc.nat(0xffffffff), sport: fc.nat(0xffff), dport: fc.nat(0xffff) });

test('rewrite + finishPseudoHeader + NIC completion equals a full checksum of the rewritten segment', () => {
  fc.assert(fc.property(segment, rewrite, (s, r) => {
    const { frame, l4, field } = partialFrame(s);
    // The router's in-place NAT rewrite, with its ordinary incremental checksum updates.
    const ip = Ipv4Packet.newChecked(frame, ETH);
    const ports = NatPorts.newUnchecked(frame).of(ip);
    ports.rewriteAddress(ip.src, r.src);
    ip.rewriteSrc(r.src);
    ports.rewriteAddress(ip.dst, r.dst);
    ip.rewriteDst(r.dst);
    ports.rewriteSrcPort(r.sport);
    ports.rewriteDstPort(r.dport);
    assert.equal(finishPseudoHeader(frame), true);
    // What a NIC (or skb_checksum_help) does with CHECKSUM_PARTIAL: sum from csum_start to the end, complement.
    const nic = new Uint8Array(frame);
    const nicCsum = udpZero(s.proto, finish(sum(nic, l4)));
    // The reference: the rewritten segment checksummed from scratch.
    const full = new Uint8Array(frame);
    full[field] = 0;
    full[field + 1] = 0;
    const l4Len = frame.length - l4;
    const want = udpZero(s.proto, finish(pseudoHeaderSum(r.src, r.dst, s.proto, l4Len) + sum(full, l4)));
    assert.equal(nicCsum, want);
  }), { numRuns: 500 });
});

test('finishPseudoHeader leaves frames other than IPv4 TCP/UDP alone', () => {
  const arp = new Uint8Array(60);
  arp[12] = 0x08; arp[13] = 0x06;
  assert.equal(finishPseudoHeader(arp), false);
  const { frame } = partialFrame({ proto: IpProtocol.Icmp, src: 1, dst: 2, sport: 0, dport: 0, options: 0, payload: new Uint8Array(8) });
  const before = frame.slice();
  assert.equal(finishPseudoHeader(frame), false);
  assert.deepEqual(frame, before);
  assert.equal(finishPseudoHeader(new Uint8Array(20)), false);
  const cut = partialFrame({ proto: IpProtocol.Tcp, src: 1, dst: 2, sport: 3, dport: 4, options: 0, payload: new Uint8Array(0) }).frame.subarray(0, ETH + 20 + 10);
  assert.equal(finishPseudoHeader(cut), false);
});
