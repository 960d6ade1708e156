// The transport identifiers a NAPT maps (RFC 3022 §2.2): a TCP or UDP header's ports, or an ICMP query's identifier.
// Read and rewritten with incremental checksum updates (RFC 1624), in a datagram or in the quote of an ICMP error.
import { updateChecksum16, updateChecksum32, updateUdpChecksum16, updateUdpChecksum32 } from './checksum.js';
import { WireError, type WireProtocol } from './error.js';
import { ICMPV4_HEADER_LEN } from './icmpv4.js';
import { IpProtocol, type Ipv4Packet } from './ipv4.js';
import { WireStatus } from './status.js';
import { TCP_MIN_HEADER_LEN } from './tcp.js';
import { UDP_HEADER_LEN } from './udp.js';
import { WireView } from './view.js';

/** TCP and UDP both begin with the source and destination ports: the bytes a flow hash reads. */
export const PORTS_LEN = 4;
/** The transport header bytes the ports or the echo identifier lie in: all that an ICMP error is sure to quote. */
export const NAT_PORTS_LEN = 8;

/** Byte offsets in each header (a const enum, so they compile to literals). */
const enum Field {
  SRC_PORT = 0,
  DST_PORT = 2,
  UDP_CHECKSUM = 6,
  TCP_CHECKSUM = 16,
  ICMP_CHECKSUM = 2,
  ICMP_IDENT = 4,
}

/**
 * A zero-copy view of the transport header under an IPv4 datagram (`protocol` TCP, UDP or ICMP), seen as the two
 * identifiers a NAPT keys a flow by. An ICMP echo has one, its identifier, so both ports read it. A rewrite updates
 * the header's checksum when the view holds it: an ICMP error's quote is cut after 8 bytes, before TCP's.
 */
export class NatPorts extends WireView {
  /** The IP protocol of the header under the view: TCP, UDP or ICMP (`of` takes it from the IPv4 header). */
  protocol = 0;

  /**
   * Points the view at `ip`'s transport header, `length` bytes of it: by default the payload its total length gives;
   * for a quote, the bytes present (`ip.length - ip.headerLength`).
   */
  of(ip: Ipv4Packet, length = ip.payloadLength): this {
    this.protocol = ip.protocol;
    return this.resetIn(ip, ip.headerLength, length);
  }

  /** Ok when the protocol's fixed header (TCP 20, UDP 8, ICMP 8 bytes) is inside the view. */
  checkLen(): WireStatus {
    return this.checkFixedLen(this.headerLen);
  }

  protected override get errorProtocol(): WireProtocol {
    return this.protocol === IpProtocol.Tcp ? 'tcp' : this.protocol === IpProtocol.Udp ? 'udp' : 'icmpv4';
  }

  protected lenError(): WireError {
    return this.truncatedError('header', this.headerLen);
  }

  /** TCP/UDP source port; ICMP echo identifier. */
  get srcPort(): number {
    return this.data.getUint16(this.offset + (this.protocol === IpProtocol.Icmp ? Field.ICMP_IDENT : Field.SRC_PORT));
  }

  /** TCP/UDP destination port; ICMP echo identifier. */
  get dstPort(): number {
    return this.data.getUint16(this.offset + (this.protocol === IpProtocol.Icmp ? Field.ICMP_IDENT : Field.DST_PORT));
  }

  /** Sets the source port (ICMP: the identifier) and updates the checksum incrementally. */
  rewriteSrcPort(port: number): void {
    this.rewritePort(this.protocol === IpProtocol.Icmp ? Field.ICMP_IDENT : Field.SRC_PORT, port);
  }

  /** Sets the destination port (ICMP: the identifier) and updates the checksum incrementally. */
  rewriteDstPort(port: number): void {
    this.rewritePort(this.protocol === IpProtocol.Icmp ? Field.ICMP_IDENT : Field.DST_PORT, port);
  }

  /**
   * Updates the TCP/UDP checksum for a pseudo-header address that changes from `from` to `to` (rewriting the IPv4
   * header itself is the caller's). ICMP's checksum covers no pseudo-header: nothing to do.
   */
  rewriteAddress(from: number, to: number): void {
    const p = this.protocol;
    const at = this.checksumAt();
    if (p === IpProtocol.Icmp || at < 0) return;
    const csum = this.data.getUint16(at);
    // UDP's 0 means "no checksum" and stays 0.
    this.data.setUint16(at, p === IpProtocol.Udp ? updateUdpChecksum32(csum, from, to) : updateChecksum32(csum, from, to));
  }

  private rewritePort(field: Field, port: number): void {
    const d = this.data;
    const at = this.offset + field;
    const old = d.getUint16(at);
    d.setUint16(at, port);
    const c = this.checksumAt();
    if (c < 0) return;
    const csum = d.getUint16(c);
    d.setUint16(c, this.protocol === IpProtocol.Udp ? updateUdpChecksum16(csum, old, port) : updateChecksum16(csum, old, port));
  }

  /** Where the checksum lies in `bytes`, or -1 when the view (a cut quote) ends before it. */
  private checksumAt(): number {
    const p = this.protocol;
    const field = p === IpProtocol.Tcp ? Field.TCP_CHECKSUM : p === IpProtocol.Udp ? Field.UDP_CHECKSUM : Field.ICMP_CHECKSUM;
    return field + 2 <= this.length ? this.offset + field : -1;
  }

  /** The protocol's fixed header length. */
  private get headerLen(): number {
    return this.protocol === IpProtocol.Tcp ? TCP_MIN_HEADER_LEN : this.protocol === IpProtocol.Udp ? UDP_HEADER_LEN : ICMPV4_HEADER_LEN;
  }
}
