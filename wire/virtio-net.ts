// The virtio-net header (virtio 1.0 `virtio_net_hdr_v1`, 12 bytes, little-endian) that a TAP opened with IFF_VNET_HDR
// puts before every frame: how the kernel hands over GSO super-frames and frames whose checksum is still partial.
import { fold, pseudoHeaderSum } from './checksum.js';
import { EtherType, EthernetPacket, ETHERNET_HEADER_LEN } from './ethernet.js';
import { IpProtocol, Ipv4Packet, IPV4_MIN_HEADER_LEN } from './ipv4.js';
import { WireError, type WireProtocol } from './error.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

/** Bytes of the header before each frame (virtio_net_hdr_v1, with num_buffers). */
export const VNET_HDR_LEN = 12;

/** `flags` bits. */
export const VirtioNetFlags = {
  /** The checksum is partial: the field at csumStart + csumOffset holds the pseudo-header sum; complete it on the way out. */
  NeedsCsum: 1,
  /** The checksum was verified (receive side). */
  DataValid: 2,
} as const;

/** `gsoType` values: what kind of super-frame this is (ECN is a bit on top of the TCP types). */
export const VirtioNetGso = { None: 0, TcpV4: 1, Udp: 3, TcpV6: 4, Ecn: 0x80 } as const;

/** Byte offsets of the fields. */
const enum Field {
  FLAGS = 0,
  GSO_TYPE = 1,
  HDR_LEN = 2,
  GSO_SIZE = 4,
  CSUM_START = 6,
  CSUM_OFFSET = 8,
  NUM_BUFFERS = 10,
}


/** A zero-copy view of a virtio-net header; every multi-byte field is little-endian (virtio 1.0, TUNSETVNETLE). */
export class VirtioNetHeader extends WireView {
  static readonly wireProtocol: WireProtocol = 'virtio-net';

  checkLen(): WireStatus {
    return this.checkFixedLen(VNET_HDR_LEN);
  }

  protected lenError(): WireError {
    return this.truncatedError('header', VNET_HDR_LEN);
  }

  get flags(): number { return this.bytes[this.offset + Field.FLAGS]; }
  get gsoType(): number { return this.bytes[this.offset + Field.GSO_TYPE]; }
  /** Bytes of headers (Ethernet to the end of TCP/UDP) copied into every segment; a hint. */
  get hdrLen(): number { return this.data.getUint16(this.offset + Field.HDR_LEN, true); }
  /** Payload bytes per segment of a GSO super-frame. */
  get gsoSize(): number { return this.data.getUint16(this.offset + Field.GSO_SIZE, true); }
  /** Where the checksummed range starts, counted from the Ethernet header. */
  get csumStart(): number { return this.data.getUint16(this.offset + Field.CSUM_START, true); }
  /** Where the checksum field is, counted from csumStart. */
  get csumOffset(): number { return this.data.getUint16(this.offset + Field.CSUM_OFFSET, true); }
  get numBuffers(): number { return this.data.getUint16(this.offset + Field.NUM_BUFFERS, true); }
  get needsCsum(): boolean { return (this.flags & VirtioNetFlags.NeedsCsum) !== 0; }

  set flags(v: number) { this.bytes[this.offset + Field.FLAGS] = v; }
  set gsoType(v: number) { this.bytes[this.offset + Field.GSO_TYPE] = v; }
  set hdrLen(v: number) { this.data.setUint16(this.offset + Field.HDR_LEN, v, true); }
  set gsoSize(v: number) { this.data.setUint16(this.offset + Field.GSO_SIZE, v, true); }
  set csumStart(v: number) { this.data.setUint16(this.offset + Field.CSUM_START, v, true); }
  set csumOffset(v: number) { this.data.setUint16(this.offset + Field.CSUM_OFFSET, v, true); }
  set numBuffers(v: number) { this.data.setUint16(this.offset + Field.NUM_BUFFERS, v, true); }
}

const KNOWN_GSO = new Set<number>([VirtioNetGso.None, VirtioNetGso.TcpV4, VirtioNetGso.Udp, VirtioNetGso.TcpV6]);

export interface VirtioNetHeaderInit {
  flags?: number;
  gsoType?: number;
  hdrLen?: number;
  gsoSize?: number;
  csumStart?: number;
  csumOffset?: number;
  numBuffers?: number;
}

/** A virtio-net header as plain fields; a new one is the zero header (no offload: a plain, complete frame). */
export class VirtioNetHeaderRepr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  numBuffers: number;

  constructor(init: VirtioNetHeaderInit = {}) {
    this.flags = init.flags ?? 0;
    this.gsoType = init.gsoType ?? VirtioNetGso.None;
    this.hdrLen = init.hdrLen ?? 0;
    this.gsoSize = init.gsoSize ?? 0;
    this.csumStart = init.csumStart ?? 0;
    this.csumOffset = init.csumOffset ?? 0;
    this.numBuffers = init.numBuffers ?? 0;
  }

  /** Rejects a GSO type this stack does not know (the kernel would refuse the frame too). */
  static parse(header: VirtioNetHeader): VirtioNetHeaderRepr {
    if (!KNOWN_GSO.has(header.gsoType & ~VirtioNetGso.Ecn)) throw new WireError('virtio-net', 'gso type', 'unsupported', `${header.gsoType}`);
    return new VirtioNetHeaderRepr({
      flags: header.flags,
      gsoType: header.gsoType,
      hdrLen: header.hdrLen,
      gsoSize: header.gsoSize,
      csumStart: header.csumStart,
      csumOffset: header.csumOffset,
      numBuffers: header.numBuffers,
    });
  }

  bufferLen(): number { return VNET_HDR_LEN; }

  emit(header: VirtioNetHeader): void {
    header.flags = this.flags;
    header.gsoType = this.gsoType;
    header.hdrLen = this.hdrLen;
    header.gsoSize = this.gsoSize;
    header.csumStart = this.csumStart;
    header.csumOffset = this.csumOffset;
    header.numBuffers = this.numBuffers;
  }
}

// Views reused call after call: finishing a header runs for every frame a vnet link sends.
const eth = EthernetPacket.newUnchecked(new Uint8Array(64));
const ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
const TCP_CSUM_AT = 16;
const UDP_CSUM_AT = 6;

/**
 * For an untagged IPv4 TCP/UDP frame whose checksum is partial (its header says NeedsCsum), writes the folded, not
 * complemented pseudo-header sum (addresses, protocol, L4 length = total length - header length) into the L4 checksum
 * field: what the kernel expects of a CHECKSUM_PARTIAL frame. Why: in-place address/port rewrites patch that field
 * as if it were a full checksum, which is wrong for a partial one; the right value depends only on the rewritten
 * header, so recomputing it here (O(1)) makes any rewrite correct. The field is where csumStart + csumOffset points
 * for every partial TCP/UDP checksum the kernel makes. False (frame untouched) for anything else.
 */
export function finishPseudoHeader(frame: Uint8Array): boolean {
  if (frame.length < ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN || eth.reset(frame).ethertype !== EtherType.Ipv4) return false;
  ip.resetIn(eth, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN);
  const ihl = ip.headerLength;
  const proto = ip.protocol;
  if (ihl < IPV4_MIN_HEADER_LEN || (proto !== IpProtocol.Tcp && proto !== IpProtocol.Udp)) return false;
  const at = ETHERNET_HEADER_LEN + ihl + (proto === IpProtocol.Tcp ? TCP_CSUM_AT : UDP_CSUM_AT);
  if (at + 2 > frame.length) return false;
  const s = fold(pseudoHeaderSum(ip.src, ip.dst, proto, ip.totalLength - ihl));
  frame[at] = s >>> 8;
  frame[at + 1] = s & 0xff;
  return true;
}
