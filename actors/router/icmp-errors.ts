// ICMP errors a router sends (time exceeded, destination unreachable), rate-limited by a token
// bucket as Linux's icmp_ratelimit does, so a flood of bad packets cannot become a flood of errors.
import {
  EtherType, EthernetRepr, ETHERNET_HEADER_LEN, Icmpv4Repr, IpProtocol, Ipv4Repr, emitFrame,
} from '../../wire/index.js';

export interface IcmpErrorCounters {
  sent: number;
  rateLimited: number;
}

export class IcmpErrors {
  readonly counters: IcmpErrorCounters = { sent: 0, rateLimited: 0 };
  private tokens: number;
  private last = 0;

  /** `perSecond` errors a second on average, bursts of `burst`. */
  constructor(readonly perSecond = 100, readonly burst = 50) {
    this.tokens = burst;
  }

  /**
   * Builds an ICMP error answering `frame` (Ethernet + IPv4, as received), from `srcIp`, or returns null
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
    const ip = ETHERNET_HEADER_LEN;
    const ihl = (frame[ip] & 0x0f) * 4;
    const total = (frame[ip + 2] << 8) | frame[ip + 3];
    // The offending datagram's header and its first 8 bytes of payload (RFC 792).
    const quoted = frame.slice(ip, ip + Math.min(total, ihl + 8, frame.length - ip));
    const dst = ((frame[ip + 12] << 24) | (frame[ip + 13] << 16) | (frame[ip + 14] << 8) | frame[ip + 15]) >>> 0;
    const icmp = type === 11 ? Icmpv4Repr.timeExceeded(code, quoted) : Icmpv4Repr.destUnreachable(code, quoted);
    const srcOfOriginal = ((frame[6] * 2 ** 40) + (frame[7] * 2 ** 32) + ((frame[8] << 24) >>> 0) + (frame[9] << 16) + (frame[10] << 8) + frame[11]);
    this.counters.sent++;
    return emitFrame({
      ethernet: new EthernetRepr({ dst: srcOfOriginal, src: srcMac, ethertype: EtherType.Ipv4 }),
      network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: srcIp, dst, protocol: IpProtocol.Icmp, payloadLen: icmp.bufferLen(), ttl: 64 }), transport: { kind: 'icmpv4', icmp } },
      padding: new Uint8Array(0),
      checksumErrors: [],
    });
  }
}
