// The wire operations the router's data path uses: address, TTL and port (or echo identifier) rewrites with
// incremental checksums, the same inside the quote of an ICMP error, and the non-throwing length checks.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ArpPacket, DhcpPacket, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, Icmpv4Packet, Icmpv4Repr, Icmpv4Type, IpProtocol,
  Ipv4Packet, Ipv4Repr, NatPorts, TcpPacket, TcpRepr, UdpPacket, UdpRepr, WireError, WireStatus, emitFrame, decodeFrame, type WireView,
} from '../wire/index.js';

const EMPTY = new Uint8Array(0);

/** One datagram's identity: what NAT rewrites and what it keeps. */
interface Flow {
  proto: 'tcp' | 'udp' | 'icmp';
  src: number;
  dst: number;
  /** TCP/UDP source port, or the echo identifier. */
  srcPort: number;
  dstPort: number;
  ttl: number;
  payload: Uint8Array;
  /** UDP only: false sends checksum 0 ("none"). */
  checksummed: boolean;
}

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const flowArb: fc.Arbitrary<Flow> = fc.record({
  proto: fc.constantFrom<Flow['proto']>('tcp', 'udp', 'icmp'),
  src: u32,
  dst: u32,
  srcPort: u16,
  dstPort: u16,
  ttl: fc.integer({ min: 1, max: 255 }),
  payload: fc.uint8Array({ maxLength: 40 }),
  checksummed: fc.boolean(),
});

/** The whole frame of `f`, every checksum computed from scratch by the Reprs. */
function frameOf(f: Flow): Uint8Array {
  const ethernet = new EthernetRepr({ dst: 0x020000000001, src: 0x020000000002, ethertype: EtherType.Ipv4 });
  const ipv4 = (protocol: number, payloadLen: number) => new Ipv4Repr({ src: f.src, dst: f.dst, protocol, payloadLen, ttl: f.ttl, ident: 0x1234 });
  if (f.proto === 'icmp') {
    const icmp = Icmpv4Repr.echoRequest(f.srcPort, 1, f.payload);
    return emitFrame({ ethernet, network: { kind: 'ipv4', ipv4: ipv4(IpProtocol.Icmp, icmp.bufferLen()), transport: { kind: 'icmpv4', icmp } }, padding: EMPTY, checksumErrors: [] });
  }
  if (f.proto === 'tcp') {
    const tcp = new TcpRepr({ srcPort: f.srcPort, dstPort: f.dstPort, flags: 0x18, seq: 7, ack: 9, window: 1000 });
    return emitFrame({ ethernet, network: { kind: 'ipv4', ipv4: ipv4(IpProtocol.Tcp, tcp.bufferLen() + f.payload.length), transport: { kind: 'tcp', tcp, payload: f.payload } }, padding: EMPTY, checksumErrors: [] });
  }
  const udp = new UdpRepr({ srcPort: f.srcPort, dstPort: f.dstPort, checksummed: f.checksummed });
  return emitFrame({
    ethernet,
    network: { kind: 'ipv4', ipv4: ipv4(IpProtocol.Udp, 8 + f.payload.length), transport: { kind: 'udp', udp, app: { kind: 'data', payload: f.payload }, trailer: EMPTY } },
    padding: EMPTY,
    checksumErrors: [],
  });
}

/** Views over a frame, as the router holds them. */
function viewsOf(frame: Uint8Array): { ip: Ipv4Packet; ports: NatPorts } {
  const ip = Ipv4Packet.newChecked(frame, ETHERNET_HEADER_LEN);
  return { ip, ports: NatPorts.newUnchecked(new Uint8Array(8)).of(ip) };
}

describe('incremental rewrites equal a full recompute', () => {
  test('IPv4 source, destination and TTL', () => {
    fc.assert(fc.property(flowArb, u32, u32, (f, src, dst) => {
      const frame = frameOf(f);
      const { ip } = viewsOf(frame);
      ip.rewriteSrc(src);
      ip.rewriteDst(dst);
      ip.decrementTtl();
      assert.deepEqual(frame.subarray(ETHERNET_HEADER_LEN, ETHERNET_HEADER_LEN + 20), frameOf({ ...f, src, dst, ttl: f.ttl - 1 }).subarray(ETHERNET_HEADER_LEN, ETHERNET_HEADER_LEN + 20));
      assert.equal(ip.checksum, ip.computeChecksum());
    }), { numRuns: 500 });
  });

  test('rewriteTtl sets any TTL', () => {
    fc.assert(fc.property(flowArb, fc.integer({ min: 0, max: 255 }), (f, ttl) => {
      const frame = frameOf(f);
      viewsOf(frame).ip.rewriteTtl(ttl);
      assert.deepEqual(frame, frameOf({ ...f, ttl }));
    }), { numRuns: 300 });
  });

  test('masquerade: source address and port (or echo identifier), both checksums', () => {
    fc.assert(fc.property(flowArb, u32, u16, (f, outIp, outPort) => {
      const frame = frameOf(f);
      const { ip, ports } = viewsOf(frame);
      assert.equal(ports.checkLen(), WireStatus.Ok);
      assert.equal(ports.srcPort, f.srcPort);
      ports.rewriteAddress(ip.src, outIp);
      ports.rewriteSrcPort(outPort);
      ip.rewriteSrc(outIp);
      assert.deepEqual(frame, frameOf({ ...f, src: outIp, srcPort: outPort }));
    }), { numRuns: 1000 });
  });

  test('return traffic: destination address and port (or echo identifier), both checksums', () => {
    fc.assert(fc.property(flowArb, u32, u16, (f, insideIp, insidePort) => {
      const frame = frameOf(f);
      const { ip, ports } = viewsOf(frame);
      assert.equal(ports.dstPort, f.proto === 'icmp' ? f.srcPort : f.dstPort);
      ports.rewriteAddress(ip.dst, insideIp);
      ports.rewriteDstPort(insidePort);
      ip.rewriteDst(insideIp);
      const expected = f.proto === 'icmp' ? { ...f, dst: insideIp, srcPort: insidePort } : { ...f, dst: insideIp, dstPort: insidePort };
      assert.deepEqual(frame, frameOf(expected));
    }), { numRuns: 1000 });
  });

  test('UDP without a checksum keeps 0; ICMP ignores the pseudo-header', () => {
    const udp = frameOf({ proto: 'udp', src: 1, dst: 2, srcPort: 3, dstPort: 4, ttl: 9, payload: EMPTY, checksummed: false });
    const u = viewsOf(udp);
    u.ports.rewriteAddress(1, 0xfffefdfc);
    u.ports.rewriteSrcPort(40000);
    assert.equal(UdpPacket.newChecked(udp, ETHERNET_HEADER_LEN + 20).checksum, 0);
    const echo = frameOf({ proto: 'icmp', src: 1, dst: 2, srcPort: 3, dstPort: 0, ttl: 9, payload: EMPTY, checksummed: true });
    const before = echo.slice();
    viewsOf(echo).ports.rewriteAddress(1, 0xfffefdfc);
    assert.deepEqual(echo, before);
  });

  test('an echo request turned into a reply by rewriteType', () => {
    fc.assert(fc.property(u16, fc.uint8Array({ maxLength: 40 }), (ident, data) => {
      const bytes = new Uint8Array(8 + data.length);
      Icmpv4Repr.echoRequest(ident, 5, data).emit(Icmpv4Packet.newUnchecked(bytes));
      Icmpv4Packet.newChecked(bytes).rewriteType(Icmpv4Type.EchoReply);
      const expected = new Uint8Array(bytes.length);
      Icmpv4Repr.echoReply(ident, 5, data).emit(Icmpv4Packet.newUnchecked(expected));
      assert.deepEqual(bytes, expected);
    }), { numRuns: 300 });
  });
});

describe('the datagram an ICMP error quotes', () => {
  /** What the inside host sent, its masqueraded form, and an error about the latter quoting `quoteLen` bytes of it. */
  function errorAbout(f: Flow, outIp: number, outPort: number, quoteLen?: number) {
    const sent = frameOf(f);
    const natted = frameOf({ ...f, src: outIp, srcPort: outPort });
    const datagram = natted.subarray(ETHERNET_HEADER_LEN);
    const quote = quoteLen === undefined ? datagram : datagram.subarray(0, quoteLen);
    const icmp = new Icmpv4Repr({ type: Icmpv4Type.DestUnreachable, code: 3, data: quote });
    const error = emitFrame({
      ethernet: new EthernetRepr({ dst: 0x020000000002, src: 0x020000000009, ethertype: EtherType.Ipv4 }),
      network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: f.dst, dst: outIp, protocol: IpProtocol.Icmp, payloadLen: icmp.bufferLen() }), transport: { kind: 'icmpv4', icmp } },
      padding: EMPTY,
      checksumErrors: [],
    });
    return { sent: sent.subarray(ETHERNET_HEADER_LEN), error, quoteBytes: quote.length };
  }

  /** Reads the quote's flow, puts the inside host's address and port back, and refills the ICMP checksum. */
  function translate(error: Uint8Array, insideIp: number, insidePort: number): { src: number; srcPort: number; dstPort: number } {
    const ip = Ipv4Packet.newChecked(error, ETHERNET_HEADER_LEN);
    const icmp = Icmpv4Packet.newChecked(error, ETHERNET_HEADER_LEN + ip.headerLength, ip.payloadLength);
    const inner = Ipv4Packet.newUnchecked(new Uint8Array(20));
    assert.equal(icmp.quote(inner), WireStatus.Ok);
    const ports = NatPorts.newUnchecked(new Uint8Array(8)).of(inner, inner.length - inner.headerLength);
    const seen = { src: inner.src, srcPort: ports.srcPort, dstPort: ports.dstPort };
    ports.rewriteAddress(inner.src, insideIp);
    ports.rewriteSrcPort(insidePort);
    inner.rewriteSrc(insideIp);
    icmp.fillChecksum();
    return seen;
  }

  test('an 8-byte quote reads the NATed flow and translates back to exactly what the inside host sent', () => {
    fc.assert(fc.property(flowArb, u32, u16, (f, outIp, outPort) => {
      const { sent, error } = errorAbout(f, outIp, outPort, 20 + 8);
      const seen = translate(error, f.src, f.srcPort);
      assert.deepEqual(seen, { src: outIp, srcPort: outPort, dstPort: f.proto === 'icmp' ? outPort : f.dstPort });
      const q = decodeFrame(error, { checksum: 'verify' });
      assert.ok(q.network.kind === 'ipv4' && q.network.transport.kind === 'icmpv4');
      // TCP's checksum lies beyond the 8 bytes: the quote holds the ports only, and they are the host's again.
      assert.deepEqual(q.network.transport.icmp.data, sent.subarray(0, 28));
    }), { numRuns: 1000 });
  });

  test('a whole quoted datagram (as Linux quotes up to 576 bytes) gets its transport checksum back too', () => {
    fc.assert(fc.property(flowArb, u32, u16, (f, outIp, outPort) => {
      const { sent, error, quoteBytes } = errorAbout(f, outIp, outPort);
      translate(error, f.src, f.srcPort);
      const q = decodeFrame(error, { checksum: 'verify' });
      assert.ok(q.network.kind === 'ipv4' && q.network.transport.kind === 'icmpv4');
      assert.equal(quoteBytes, sent.length);
      assert.deepEqual(q.network.transport.icmp.data, sent);
    }), { numRuns: 500 });
  });

  test('a quote too short for its header is a status, not a throw', () => {
    const icmp = Icmpv4Packet.newUnchecked(new Uint8Array(8 + 12));
    const inner = Ipv4Packet.newUnchecked(new Uint8Array(20));
    assert.equal(icmp.quote(inner), WireStatus.Truncated);
    const bad = new Uint8Array(8 + 28);
    bad[8] = 0x44; // version 4, IHL 4
    assert.equal(Icmpv4Packet.newUnchecked(bad).quote(inner), WireStatus.BadHeaderLength);
  });
});

describe('checkLen gives a status; check() throws the same rule with the same message', () => {
  /** Every status a view gives for crafted bytes, and the message check() throws for it. */
  function expectStatus(view: WireView, status: WireStatus, message?: string): void {
    assert.equal(view.checkLen(), status);
    if (message === undefined) { assert.equal(view.check(), view); return; }
    assert.throws(() => view.check(), (e: unknown) => e instanceof WireError && e.message === message);
  }
  const ipv4 = (bytes: number[], length = bytes.length) => Ipv4Packet.newUnchecked(Uint8Array.from(bytes), 0, length);

  test('IPv4: every rule in order', () => {
    const ok = [0x45, 0, 0, 20, ...new Array(16).fill(0)];
    expectStatus(ipv4(ok), WireStatus.Ok);
    expectStatus(ipv4(ok, 30), WireStatus.OutsideBuffer, 'ipv4 buffer: truncated (window 0+30 outside 20 bytes)');
    expectStatus(ipv4(ok.slice(0, 12)), WireStatus.Truncated, 'ipv4 header: truncated (needs 20 bytes, has 12)');
    expectStatus(ipv4([0x44, ...ok.slice(1)]), WireStatus.BadHeaderLength, 'ipv4 header length: bad length (IHL 4 is below 5)');
    expectStatus(ipv4([0x46, ...ok.slice(1)]), WireStatus.HeaderTruncated, 'ipv4 header length: truncated (24 bytes, has 20)');
    expectStatus(ipv4([0x45, 0, 0, 19, ...ok.slice(4)]), WireStatus.BadLength, 'ipv4 total length: bad length (19 is below the header length 20)');
    expectStatus(ipv4([0x45, 0, 0, 21, ...ok.slice(4)]), WireStatus.LengthTruncated, 'ipv4 total length: truncated (21 is beyond the 20 bytes present)');
    // A quote: the header is checked, the total length is not.
    assert.equal(ipv4([0x45, 0, 0, 200, ...ok.slice(4)]).checkHeaderLen(), WireStatus.Ok);
    assert.throws(() => ipv4([0x44, ...ok.slice(1)]).checkHeader(), /^WireError: ipv4 header length: bad length \(IHL 4 is below 5\)$/);
  });

  test('UDP, TCP, ICMP, Ethernet, ARP, DHCP', () => {
    const udp = (b: number[]) => UdpPacket.newUnchecked(Uint8Array.from(b));
    expectStatus(udp([0, 1, 0, 2, 0, 8, 0, 0]), WireStatus.Ok);
    expectStatus(udp([0, 1, 0, 2, 0, 8]), WireStatus.Truncated, 'udp header: truncated (needs 8 bytes, has 6)');
    expectStatus(udp([0, 1, 0, 2, 0, 7, 0, 0]), WireStatus.BadLength, 'udp length: bad length (7 is below the 8-byte header)');
    expectStatus(udp([0, 1, 0, 2, 0, 9, 0, 0]), WireStatus.LengthTruncated, 'udp length: truncated (9 is beyond the 8 bytes present)');
    const tcp = (offset: number, length = 20) => { const b = new Uint8Array(length); b[12] = offset << 4; return TcpPacket.newUnchecked(b); };
    expectStatus(tcp(5), WireStatus.Ok);
    expectStatus(tcp(5, 19), WireStatus.Truncated, 'tcp header: truncated (needs 20 bytes, has 19)');
    expectStatus(tcp(4), WireStatus.BadHeaderLength, 'tcp data offset: bad length (4 is below 5)');
    expectStatus(tcp(6), WireStatus.HeaderTruncated, 'tcp data offset: truncated (header of 24 bytes, segment of 20)');
    expectStatus(Icmpv4Packet.newUnchecked(new Uint8Array(8)), WireStatus.Ok);
    expectStatus(Icmpv4Packet.newUnchecked(new Uint8Array(7)), WireStatus.Truncated, 'icmpv4 header: truncated (needs 8 bytes, has 7)');
    expectStatus(EthernetPacket.newUnchecked(new Uint8Array(14)), WireStatus.Ok);
    expectStatus(EthernetPacket.newUnchecked(new Uint8Array(13)), WireStatus.Truncated, 'ethernet header: truncated (needs 14 bytes, has 13)');
    const arp = new Uint8Array(28);
    arp[4] = 6; arp[5] = 4;
    expectStatus(ArpPacket.newUnchecked(arp), WireStatus.Ok);
    expectStatus(ArpPacket.newUnchecked(arp, 0, 7), WireStatus.Truncated, 'arp header: truncated (needs 8 bytes, has 7)');
    arp[4] = 16;
    expectStatus(ArpPacket.newUnchecked(arp), WireStatus.LengthTruncated, 'arp addresses: truncated (needs 48 bytes, has 28)');
    expectStatus(DhcpPacket.newUnchecked(new Uint8Array(236)), WireStatus.Ok);
    expectStatus(DhcpPacket.newUnchecked(new Uint8Array(235)), WireStatus.Truncated, 'dhcpv4 fixed part: truncated (needs 236 bytes, has 235)');
  });

  test('NatPorts needs the protocol\'s fixed header, and names the protocol', () => {
    const ip = Ipv4Packet.newUnchecked(Uint8Array.from([0x45, 0, 0, 30, 0, 0, 0, 0, 64, IpProtocol.Tcp, ...new Array(20).fill(0)]));
    const ports = NatPorts.newUnchecked(new Uint8Array(8));
    expectStatus(ports.of(ip), WireStatus.Truncated, 'tcp header: truncated (needs 20 bytes, has 10)');
    ip.protocol = IpProtocol.Udp;
    expectStatus(ports.of(ip), WireStatus.Ok);
    expectStatus(ports.of(ip, 7), WireStatus.Truncated, 'udp header: truncated (needs 8 bytes, has 7)');
    ip.protocol = IpProtocol.Icmp;
    expectStatus(ports.of(ip, 4), WireStatus.Truncated, 'icmpv4 header: truncated (needs 8 bytes, has 4)');
    expectStatus(ports.of(ip, 40), WireStatus.OutsideBuffer, 'icmpv4 buffer: truncated (window 20+40 outside 30 bytes)');
  });

  test('newChecked still refuses a window outside the caller\'s buffer, by the class\'s protocol', () => {
    const buf = new Uint8Array(20);
    assert.throws(() => Ipv4Packet.newChecked(buf, 30, 10), (e: unknown) => e instanceof WireError && e.message === 'ipv4 buffer: truncated (window 30+10 outside 20 bytes)');
    assert.throws(() => UdpPacket.newChecked(buf.subarray(4), 0, 18), (e: unknown) => e instanceof WireError && e.message === 'udp buffer: truncated (window 0+18 outside 16 bytes)');
    assert.throws(() => TcpPacket.newChecked(buf, 1.5), (e: unknown) => e instanceof WireError && e.protocol === 'tcp' && e.field === 'buffer');
    const p: Ipv4Packet = Ipv4Packet.newUnchecked(buf);
    assert.ok(p instanceof Ipv4Packet);
  });
});
