// UDP (RFC 768) with the IPv4 pseudo-header checksum; a checksum of 0 means the sender computed none.
import { fold, sumData, finish, pseudoHeaderSum } from './checksum.js';
import { WireError, type WireProtocol } from './error.js';
import { IpProtocol, type ChecksumPolicy } from './ipv4.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

export const UDP_HEADER_LEN = 8;

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  SRC_PORT = 0,
  DST_PORT = 2,
  LENGTH = 4,
  CHECKSUM = 6,
  PAYLOAD = 8,
}

/** A zero-copy view of a UDP datagram; after `check()` the length field fits in the view. */
export class UdpPacket extends WireView {
  static readonly wireProtocol: WireProtocol = 'udp';

  checkLen(): WireStatus {
    const fixed = this.checkFixedLen(UDP_HEADER_LEN);
    if (fixed !== WireStatus.Ok) return fixed;
    const len = this.len;
    if (len < UDP_HEADER_LEN) return WireStatus.BadLength;
    if (len > this.length) return WireStatus.LengthTruncated;
    return WireStatus.Ok;
  }

  protected lenError(status: WireStatus): WireError {
    if (status === WireStatus.Truncated) return this.truncatedError('header', UDP_HEADER_LEN);
    if (status === WireStatus.BadLength) return new WireError('udp', 'length', 'bad-length', `${this.len} is below the 8-byte header`);
    return new WireError('udp', 'length', 'truncated', `${this.len} is beyond the ${this.length} bytes present`);
  }

  get srcPort(): number { return this.data.getUint16(this.offset + Field.SRC_PORT); }
  get dstPort(): number { return this.data.getUint16(this.offset + Field.DST_PORT); }
  /** The length field: header plus payload. */
  get len(): number { return this.data.getUint16(this.offset + Field.LENGTH); }
  get checksum(): number { return this.data.getUint16(this.offset + Field.CHECKSUM); }
  get payloadOffset(): number { return Field.PAYLOAD; }
  get payloadLength(): number { return this.len - UDP_HEADER_LEN; }
  payload(): Uint8Array { return this.slice(Field.PAYLOAD, this.len); }

  /** True when the checksum matches, or when it is 0 (none was computed). */
  verifyChecksum(src: number, dst: number): boolean {
    return this.verifyChecksumWith(pseudoHeaderSum(src, dst, IpProtocol.Udp, this.len));
  }

  /** The checksum the datagram should carry (never 0: a computed 0 is sent as 0xffff). */
  computeChecksum(src: number, dst: number): number {
    return this.computeChecksumWith(pseudoHeaderSum(src, dst, IpProtocol.Udp, this.len));
  }

  fillChecksum(src: number, dst: number): void { this.checksum = this.computeChecksum(src, dst); }

  /** As `verifyChecksum`, given the pseudo-header's partial sum (`ip.pseudoHeaderSum(udp.len)`): allocation-free. */
  verifyChecksumWith(pseudoHeaderSum: number): boolean {
    if (this.checksum === 0) return true;
    return fold(sumData(this.data, this.offset, this.offset + this.len, pseudoHeaderSum)) === 0xffff;
  }

  /** As `computeChecksum`, given the pseudo-header's partial sum. */
  computeChecksumWith(pseudoHeaderSum: number): number {
    const s = sumData(this.data, this.offset, this.offset + this.len, pseudoHeaderSum) - this.checksum;
    return finish(s) || 0xffff;
  }

  /** As `fillChecksum`, given the pseudo-header's partial sum. */
  fillChecksumWith(pseudoHeaderSum: number): void { this.checksum = this.computeChecksumWith(pseudoHeaderSum); }

  set srcPort(v: number) { this.data.setUint16(this.offset + Field.SRC_PORT, v); }
  set dstPort(v: number) { this.data.setUint16(this.offset + Field.DST_PORT, v); }
  set len(v: number) { this.data.setUint16(this.offset + Field.LENGTH, v); }
  set checksum(v: number) { this.data.setUint16(this.offset + Field.CHECKSUM, v); }
}

/** A UDP header; the payload is passed to `emit`. */
export class UdpRepr {
  srcPort: number;
  dstPort: number;
  /** False when the datagram carries checksum 0 ("none"); emit then writes 0. */
  checksummed: boolean;
  /**
   * The checksum found on the wire, set only when it is not the one emit computes: a wrong one kept by policy 'keep'
   * (captures with checksum offload) or the other encoding of zero. Emit writes it back unchanged.
   */
  wireChecksum?: number;

  constructor(init: { srcPort: number; dstPort: number; checksummed?: boolean; wireChecksum?: number }) {
    this.srcPort = init.srcPort;
    this.dstPort = init.dstPort;
    this.checksummed = init.checksummed ?? true;
    if (init.wireChecksum !== undefined) this.wireChecksum = init.wireChecksum;
  }

  /** `src`/`dst` are the IPv4 addresses of the pseudo-header. */
  static parse(packet: UdpPacket, src: number, dst: number, opts: { checksum?: ChecksumPolicy } = {}): UdpRepr {
    const good = packet.verifyChecksum(src, dst);
    if (!good && (opts.checksum ?? 'verify') === 'verify') {
      throw new WireError('udp', 'checksum', 'bad-checksum', `0x${packet.checksum.toString(16)}, expected 0x${packet.computeChecksum(src, dst).toString(16)}`);
    }
    return new UdpRepr({
      srcPort: packet.srcPort,
      dstPort: packet.dstPort,
      checksummed: packet.checksum !== 0,
      wireChecksum: packet.checksum === 0 || packet.checksum === packet.computeChecksum(src, dst) ? undefined : packet.checksum,
    });
  }

  /** Header plus `payloadLen`. */
  bufferLen(payloadLen = 0): number { return UDP_HEADER_LEN + payloadLen; }

  /** Writes header and payload, then the checksum over both and the pseudo-header. */
  emit(packet: UdpPacket, payload: Uint8Array, src: number, dst: number): void {
    const len = UDP_HEADER_LEN + payload.length;
    if (len > 0xffff) throw new WireError('udp', 'length', 'bad-length', `${len}`);
    packet.srcPort = this.srcPort;
    packet.dstPort = this.dstPort;
    packet.len = len;
    packet.bytes.set(payload, packet.offset + Field.PAYLOAD);
    packet.checksum = 0;
    if (this.checksummed) packet.checksum = this.wireChecksum ?? packet.computeChecksum(src, dst);
  }
}
