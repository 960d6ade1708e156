// Wire benchmarks: Ethernet + IPv4 + UDP parsed and re-emitted through reused views (the forwarding hot path, which
// must allocate nothing per frame), and the allocating whole-frame decoder for comparison.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { EtherType, EthernetPacket, EthernetRepr } from '../wire/ethernet.js';
import { decodeFrame, emitFrame } from '../wire/frame.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr } from '../wire/ipv4.js';
import { UdpPacket, UdpRepr } from '../wire/udp.js';
import { type BenchReport, median } from './report.js';

const FRAMES = 256;
/** Minimum-size frames (60 bytes: an 18-byte payload), the usual unit of a packets-per-second figure. */
const MIN_PAYLOADS = [18];
/** A mix of minimum-size, DNS-like and larger datagrams, where checksum work dominates. */
const MIXED_PAYLOADS = [18, 60, 200, 512];

interface FrameSet {
  /** One buffer: input frames first, then an output area of the same layout. */
  bytes: Uint8Array;
  offsets: Int32Array;
  lengths: Int32Array;
  outBase: number;
}

/** Builds FRAMES valid UDP frames with varied addresses, ports and payload sizes, packed into one buffer. */
function buildFrames(payloads: number[]): FrameSet {
  const lengths = new Int32Array(FRAMES);
  const offsets = new Int32Array(FRAMES);
  let total = 0;
  for (let i = 0; i < FRAMES; i++) {
    lengths[i] = 14 + 20 + 8 + payloads[i % payloads.length];
    offsets[i] = total;
    total += lengths[i];
  }
  const bytes = new Uint8Array(total * 2);
  for (let i = 0; i < FRAMES; i++) {
    const at = offsets[i];
    const payloadLen = lengths[i] - 42;
    for (let k = 0; k < payloadLen; k++) bytes[at + 42 + k] = (i * 31 + k) & 0xff;
    // Addresses above 2^30 (192.168/16, 203.0.113/24) are doubles in V8: the hot path must not box them.
    const src = (0xc0a80000 | (i + 2)) >>> 0;
    const dst = (0xcb007100 | (i & 0xff)) >>> 0;
    new EthernetRepr({ dst: 0x020000000001, src: 0x020000000000 + i, ethertype: EtherType.Ipv4 }).emit(EthernetPacket.newUnchecked(bytes, at));
    new Ipv4Repr({ src, dst, protocol: IpProtocol.Udp, payloadLen: 8 + payloadLen, ident: i, dontFragment: true })
      .emit(Ipv4Packet.newUnchecked(bytes, at + 14));
    new UdpRepr({ srcPort: 40000 + i, dstPort: 9 }).emit(UdpPacket.newUnchecked(bytes, at + 34), bytes.subarray(at + 42, at + 42 + payloadLen), src, dst);
  }
  return { bytes, offsets, lengths, outBase: total };
}

const eth = EthernetPacket.newUnchecked(new Uint8Array(64));
const ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
const udp = UdpPacket.newUnchecked(new Uint8Array(64));
const outEth = EthernetPacket.newUnchecked(new Uint8Array(64));
const outIp = Ipv4Packet.newUnchecked(new Uint8Array(64));
const outUdp = UdpPacket.newUnchecked(new Uint8Array(64));

/** Slots of the parsed-header record. */
const enum H { DstHi, DstLo, SrcHi, SrcLo, HeaderLength, Dscp, Ecn, TotalLength, Ident, FlagsFragment, Ttl, Src, Dst, SrcPort, DstPort, UdpLength, PayloadAt, Size }

/**
 * One frame's header fields, reused for every frame. A Float64Array, not an object: addresses from 128.0.0.0 up are
 * doubles in V8, and storing a double in an object field allocates a HeapNumber on every store.
 */
const header = new Float64Array(H.Size);

/** Parses frame i with checked views, verifying both checksums, into `header`; false when it is not valid IPv4 UDP. */
function parse(set: FrameSet, i: number): boolean {
  const b = set.bytes;
  const at = set.offsets[i];
  const len = set.lengths[i];
  eth.reset(b, at, len).check();
  if (eth.ethertype !== EtherType.Ipv4) return false;
  const h = header;
  // MACs move as 16 + 32-bit words: a 48-bit number is a double, and a getter V8 leaves out of inlining boxes it.
  const e = eth.offset;
  h[H.DstHi] = eth.data.getUint16(e);
  h[H.DstLo] = eth.data.getUint32(e + 2);
  h[H.SrcHi] = eth.data.getUint16(e + 6);
  h[H.SrcLo] = eth.data.getUint32(e + 8);
  ip.reset(b, at + 14, len - 14).check();
  if (ip.version !== 4 || !ip.verifyChecksum() || ip.protocol !== IpProtocol.Udp || ip.isFragment) return false;
  const hl = ip.headerLength;
  udp.reset(b, at + 14 + hl, ip.payloadLength).check();
  if (!udp.verifyChecksumWith(ip.pseudoHeaderSum(udp.len))) return false;
  h[H.HeaderLength] = hl;
  h[H.Dscp] = ip.dscp;
  h[H.Ecn] = ip.ecn;
  h[H.TotalLength] = ip.totalLength;
  h[H.Ident] = ip.ident;
  h[H.FlagsFragment] = ip.data.getUint16(ip.offset + 6); // flags + fragment offset together
  h[H.Ttl] = ip.ttl;
  h[H.Src] = ip.src;
  h[H.Dst] = ip.dst;
  h[H.SrcPort] = udp.srcPort;
  h[H.DstPort] = udp.dstPort;
  h[H.UdpLength] = udp.len;
  h[H.PayloadAt] = udp.offset + 8;
  return true;
}

/** Emits `header` as frame i of the output area, copying the payload and filling both checksums. */
function emit(set: FrameSet, i: number): number {
  const b = set.bytes;
  const out = set.outBase + set.offsets[i];
  const len = set.lengths[i];
  const h = header;
  outEth.reset(b, out, len);
  outEth.data.setUint16(out, h[H.DstHi]);
  outEth.data.setUint32(out + 2, h[H.DstLo]);
  outEth.data.setUint16(out + 6, h[H.SrcHi]);
  outEth.data.setUint32(out + 8, h[H.SrcLo]);
  outEth.ethertype = EtherType.Ipv4;
  outIp.reset(b, out + 14, len - 14);
  outIp.version = 4;
  outIp.headerLength = h[H.HeaderLength];
  outIp.dscp = h[H.Dscp];
  outIp.ecn = h[H.Ecn];
  outIp.totalLength = h[H.TotalLength];
  outIp.ident = h[H.Ident];
  outIp.data.setUint16(outIp.offset + 6, h[H.FlagsFragment]);
  outIp.ttl = h[H.Ttl];
  outIp.protocol = IpProtocol.Udp;
  outIp.src = h[H.Src];
  outIp.dst = h[H.Dst];
  outIp.fillChecksum();
  const udpLength = h[H.UdpLength];
  const payloadAt = h[H.PayloadAt];
  outUdp.reset(b, out + 14 + h[H.HeaderLength], udpLength);
  outUdp.srcPort = h[H.SrcPort];
  outUdp.dstPort = h[H.DstPort];
  outUdp.len = udpLength;
  // Same ArrayBuffer for input and output, so the payload copy needs no subarray object.
  b.copyWithin(outUdp.offset + 8, payloadAt, payloadAt + udpLength - 8);
  outUdp.fillChecksumWith(outIp.pseudoHeaderSum(udpLength));
  return outUdp.checksum + outIp.checksum;
}

/** One frame through the hot path: parse with checked views, then re-emit. Split in two so each half inlines fully. */
function parseEmit(set: FrameSet, i: number): number {
  return parse(set, i) ? emit(set, i) : 0;
}

/** Frames per second of `fn` over the frame set, as the median of several timed rounds. */
function measure(set: FrameSet, fn: (set: FrameSet, i: number) => number, roundMs: number, rounds: number): { mpps: number; sink: number } {
  let sink = 0;
  const samples: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    let frames = 0;
    const start = performance.now();
    let now = start;
    while (now - start < roundMs) {
      for (let i = 0; i < FRAMES; i++) sink += fn(set, i);
      frames += FRAMES;
      now = performance.now();
    }
    if (r > 0) samples.push(frames / ((now - start) / 1000) / 1e6); // round 0 warms the JIT
  }
  return { mpps: median(samples), sink };
}

function sameRegions(set: FrameSet): boolean {
  for (let k = 0; k < set.outBase; k++) if (set.bytes[k] !== set.bytes[set.outBase + k]) return false;
  return true;
}

/** Garbage collections while `frames` warm frames go through the hot path: allocation-free code causes none. */
async function gcsDuring(set: FrameSet, frames: number): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.(); // start clean, so garbage from earlier measurements is not counted
  let gcs = 0;
  const observer = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  observer.observe({ entryTypes: ['gc'] });
  let sink = 0;
  for (let r = 0; r < frames / FRAMES; r++) for (let i = 0; i < FRAMES; i++) sink = (sink + parseEmit(set, i)) | 0;
  await new Promise((resolve) => setTimeout(resolve, 20)); // GC entries are delivered asynchronously
  observer.disconnect();
  return sink === 0.5 ? -1 : gcs;
}

export async function run(report: BenchReport): Promise<void> {
  const small = buildFrames(MIN_PAYLOADS);
  const mixed = buildFrames(MIXED_PAYLOADS);
  // Re-emitting what was parsed must give the input back, or the figures measure the wrong thing.
  for (const set of [small, mixed]) {
    for (let i = 0; i < FRAMES; i++) parseEmit(set, i);
    if (!sameRegions(set)) throw new Error('bench/wire: parse + re-emit did not reproduce the frames');
  }

  const views = measure(small, parseEmit, 300, 5);
  report.add('wire.parse_emit_mpps', views.mpps, 'Mframes/s', '>= 1',
    '60-byte Ethernet+IPv4+UDP frames through reused checked views: parse, verify both checksums, re-emit, refill both; one core');
  const viewsMixed = measure(mixed, parseEmit, 300, 3);
  const avg = (mixed.outBase / FRAMES).toFixed(0);
  report.add('wire.parse_emit_mixed_mpps', viewsMixed.mpps, 'Mframes/s', undefined, `as above over 60..554-byte frames (${avg} avg); checksums dominate`);
  report.add('wire.parse_emit_gcs_per_10m_frames', await gcsDuring(small, 10_000_000), 'GCs', '<= 0',
    'garbage collections during 10M warm frames of the loop above: the views allocate nothing per frame');

  const frames = Array.from({ length: FRAMES }, (_, i) => mixed.bytes.subarray(mixed.offsets[i], mixed.offsets[i] + mixed.lengths[i]));
  const reprs = measure(mixed, (_s, i) => emitFrame(decodeFrame(frames[i])).length, 300, 3);
  report.add('wire.decode_emit_frame_mpps', reprs.mpps, 'Mframes/s', undefined, 'decodeFrame + emitFrame (allocating Reprs) over the mixed frames, for comparison');
}
