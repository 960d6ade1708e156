// An echo request turned into its reply in place (RFC 792): addresses swapped, type 8 → 0, TTL
// reset, checksums updated incrementally. Shared by the host stack and the router.
import { ETHERNET_HEADER_LEN, Icmpv4Type, updateChecksum16, updateChecksum32, type EthernetPacket, type Icmpv4Packet, type Ipv4Packet } from '../../wire/index.js';

export const ECHO_UNSUPPORTED = 0;
export const ECHO_BAD_CHECKSUM = -1;

/**
 * `icmp` must be checked (header inside the frame). Returns the reply frame's length, or
 * ECHO_UNSUPPORTED (not an echo request) or ECHO_BAD_CHECKSUM; the frame is untouched then.
 */
export function answerEcho(eth: EthernetPacket, ip: Ipv4Packet, icmp: Icmpv4Packet, myIp: number, myMac: number): number {
  if (icmp.type !== Icmpv4Type.EchoRequest || icmp.code !== 0) return ECHO_UNSUPPORTED;
  if (!icmp.verifyChecksum()) return ECHO_BAD_CHECKSUM;
  icmp.type = Icmpv4Type.EchoReply;
  icmp.checksum = updateChecksum16(icmp.checksum, Icmpv4Type.EchoRequest << 8, Icmpv4Type.EchoReply << 8);
  const src = ip.src;
  const dst = ip.dst;
  // The header now holds myIp and src where it held src and dst: only dst → myIp changes the sum.
  let c = updateChecksum32(ip.checksum, dst, myIp);
  c = updateChecksum16(c, (ip.ttl << 8) | ip.protocol, (64 << 8) | ip.protocol);
  ip.src = myIp;
  ip.dst = src;
  ip.ttl = 64;
  ip.checksum = c;
  eth.dst = eth.src;
  eth.src = myMac;
  return ETHERNET_HEADER_LEN + ip.totalLength;
}
