// ICMP errors a router sends (time exceeded, destination unreachable), rate-limited by a token
// bucket as Linux's icmp_ratelimit does, so a flood of bad packets cannot become a flood of errors.
import {
  IPV4_DEFAULT_TTL,
  EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, ICMPV4_QUOTED_PAYLOAD_LEN, Icmpv4Repr, Icmpv4Type, IpProtocol, Ipv4Packet,
  Ipv4Repr, emitFrame,
} from '../../wire/index.js';

/** The errors about a flow's datagram that NAT translates back to its inside host: destination unreachable, time exceeded. */
export function isTranslatedError(type: number): boolean {
  return type === Icmpv4Type.DestUnreachable || type === Icmpv4Type.TimeExceeded;
}

export interface IcmpErrorCounters {
  sent: number;
  rateLimited: number;
}

export class IcmpErrors {
  readonly counters: IcmpErrorCounters = { sent: 0, rateLimited: 0 };
  private tokens: number;
  private last = 0;
  private readonly eth = EthernetPacket.newUnchecked(new Uint8Array(64));
  private readonly ip = Ipv4Packet.newUnchecked(new Uint8Array(64));

  /** `perSecond` errors a second on average, bursts of `burst`. */
  constructor(readonly perSecond = 100, readonly burst = 50) {
    this.tokens = burst;
  }

  /**
   * Builds an ICMP error answering `frame` (Ethernet + IPv4 with its header checked), from `srcIp`, or returns null
   * when the rate limit says no. The caller sends it back towards the original sender.
   */
  build(frame: Uint8Array, type: number, code: number, srcIp: number, srcMac: number, now: number): Uint8Array | null {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
    this.last = now;
    if (this.tokens < 1) {
      this.counters.rateLimited++;
      return null;
    }
    this.tokens -= 1;
    const eth = this.eth.reset(frame);
    const ip = this.ip.resetIn(eth, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN);
    // The offending datagram's header and its first 8 bytes of payload (RFC 792).
    const quoted = ip.asBytes().slice(0, Math.min(ip.totalLength, ip.headerLength + ICMPV4_QUOTED_PAYLOAD_LEN, ip.length));
    const icmp = type === Icmpv4Type.TimeExceeded ? Icmpv4Repr.timeExceeded(code, quoted) : Icmpv4Repr.destUnreachable(code, quoted);
    this.counters.sent++;
    return emitFrame({
      ethernet: new EthernetRepr({ dst: eth.src, src: srcMac, ethertype: EtherType.Ipv4 }),
      network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: srcIp, dst: ip.src, protocol: IpProtocol.Icmp, payloadLen: icmp.bufferLen(), ttl: IPV4_DEFAULT_TTL }), transport: { kind: 'icmpv4', icmp } },
      padding: new Uint8Array(0),
      checksumErrors: [],
    });
  }
}
