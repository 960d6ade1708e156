// An echo request turned into its reply in place (RFC 792): addresses swapped, type 8 → 0, TTL
// reset, checksums updated incrementally. Shared by the host stack and the router.
import { ETHERNET_HEADER_LEN, Icmpv4Type, IPV4_DEFAULT_TTL, type EthernetPacket, type Icmpv4Packet, type Ipv4Packet } from '../../wire/index.js';

export const ECHO_UNSUPPORTED = 0;
export const ECHO_BAD_CHECKSUM = -1;

/**
 * `icmp` must be checked (header inside the frame). Returns the reply frame's length, or
 * ECHO_UNSUPPORTED (not an echo request) or ECHO_BAD_CHECKSUM; the frame is untouched then.
 */
export function answerEcho(eth: EthernetPacket, ip: Ipv4Packet, icmp: Icmpv4Packet, myIp: number, myMac: number): number {
  if (icmp.type !== Icmpv4Type.EchoRequest || icmp.code !== 0) return ECHO_UNSUPPORTED;
  if (!icmp.verifyChecksum()) return ECHO_BAD_CHECKSUM;
  icmp.rewriteType(Icmpv4Type.EchoReply);
  const src = ip.src;
  ip.rewriteSrc(myIp);
  ip.rewriteDst(src);
  ip.rewriteTtl(IPV4_DEFAULT_TTL);
  eth.dst = eth.src;
  eth.src = myMac;
  return ETHERNET_HEADER_LEN + ip.totalLength;
}
