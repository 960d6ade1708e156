// The router's own datagrams on one interface (DHCP and DNS replies, upstream queries, the DNS TCP
// endpoint's segments): an IPv4 packet from one of its addresses, to a given MAC (DHCP's broadcast or
// chaddr), or to the on-link destination or the gateway, resolved by the interface's ARP.
import {
  BROADCAST_MAC, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr, IPV4_DEFAULT_TTL,
  IPV4_MIN_HEADER_LEN, UdpPacket, UdpRepr, UDP_HEADER_LEN,
} from '../../wire/index.js';
import type { ArpProtocol } from '../iface/arp-protocol.js';
import { onLink } from '../iface/net-interface.js';

const LIMITED_BROADCAST = 0xffff_ffff;

export interface LocalSenderCounters {
  sent: number;
  /** Off-link destination and no default route: not sent. */
  noRoute: number;
  /** Refused by ARP's queue for an unresolved next hop. */
  arpDropped: number;
}

export class LocalSender {
  readonly counters: LocalSenderCounters = { sent: 0, noRoute: 0, arpDropped: 0 };
  private ident = 1;

  /** `gateway` is read per datagram: a new DHCP lease moves it. */
  constructor(private readonly arp: ArpProtocol, private readonly send: (f: Uint8Array) => void, private readonly gateway: () => number | undefined) {}

  /** A UDP datagram from `src` (our address, or 0.0.0.0 before a lease); `mac`: send straight to it, no ARP. */
  udp(src: number, dst: number, srcPort: number, dstPort: number, payload: Uint8Array, now: number, mac?: number): boolean {
    const datagram = new Uint8Array(UDP_HEADER_LEN + payload.length);
    new UdpRepr({ srcPort, dstPort }).emit(UdpPacket.newUnchecked(datagram), payload, src, dst);
    return this.ipv4(src, dst, IpProtocol.Udp, datagram, now, mac);
  }

  /** `payload` (copied) in one IPv4 packet; the limited broadcast goes to the broadcast MAC. False when not sent (counted). */
  ipv4(src: number, dst: number, protocol: number, payload: Uint8Array, now: number, mac?: number): boolean {
    const to = mac ?? (dst >>> 0 === LIMITED_BROADCAST ? BROADCAST_MAC : undefined);
    const nextHop = to !== undefined || onLink(this.arp.iface, dst) ? dst : this.gateway();
    if (nextHop === undefined) { this.counters.noRoute++; return false; }
    this.ident = (this.ident + 1) & 0xffff;
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN + payload.length);
    new EthernetRepr({ dst: to ?? 0, src: this.arp.iface.mac, ethertype: EtherType.Ipv4 }).emit(EthernetPacket.newUnchecked(frame));
    new Ipv4Repr({ src, dst, protocol, payloadLen: payload.length, ttl: IPV4_DEFAULT_TTL, ident: this.ident, dontFragment: true })
      .emit(Ipv4Packet.newUnchecked(frame, ETHERNET_HEADER_LEN));
    frame.set(payload, ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN);
    if (to !== undefined) {
      this.send(frame);
    } else if (!this.arp.sendTo(nextHop, frame, now)) {
      this.counters.arpDropped++;
      return false;
    }
    this.counters.sent++;
    return true;
  }
}
