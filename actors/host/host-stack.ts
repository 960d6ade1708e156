// A host's receive path on one interface: Ethernet filter, ARP, IPv4 checks, ICMP echo, UDP to an
// application. Echo replies are written in place over the request (no allocation per packet).
import {
  IPV4_DEFAULT_TTL,
  BROADCAST_MAC, EtherType, EthernetPacket, ETHERNET_HEADER_LEN, Icmpv4Packet, IpProtocol, Ipv4Packet,
  UdpPacket, UDP_HEADER_LEN, WireStatus, emitFrame, EthernetRepr, Ipv4Repr, UdpRepr,
} from '../../wire/index.js';
import { ArpCache, type ArpCacheOptions } from '../iface/arp-cache.js';
import { answerEcho, ECHO_BAD_CHECKSUM, ECHO_UNSUPPORTED } from '../iface/icmp-echo.js';
import { ArpProtocol } from '../iface/arp-protocol.js';
import type { ArpResolverOptions } from '../iface/arp-resolver.js';
import type { ArpEntry } from '../iface/arp-table.js';
import { onLink, type NetInterface } from '../iface/net-interface.js';
import type { TableView } from '../../store/index.js';

export interface HostCounters {
  rxFrames: number;
  notForUs: number;
  malformed: number;
  badChecksum: number;
  echoAnswered: number;
  udpReceived: number;
  udpSent: number;
  unsupported: number;
  noRoute: number;
}

export type UdpHandler = (src: number, srcPort: number, dstPort: number, payload: Uint8Array, now: number) => void;

const EMPTY = new Uint8Array(0);

export class HostStack {
  readonly arp: ArpProtocol;
  readonly cache: ArpCache;
  readonly counters: HostCounters = { rxFrames: 0, notForUs: 0, malformed: 0, badChecksum: 0, echoAnswered: 0, udpReceived: 0, udpSent: 0, unsupported: 0, noRoute: 0 };
  onUdp: UdpHandler | null = null;
  private readonly eth = EthernetPacket.newUnchecked(new Uint8Array(64));
  private readonly ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
  private readonly icmp = Icmpv4Packet.newUnchecked(new Uint8Array(64));
  private readonly udp = UdpPacket.newUnchecked(new Uint8Array(64));
  private ident = 1;

  constructor(
    readonly iface: NetInterface,
    arpTable: TableView<number, ArpEntry>,
    private readonly send: (frame: Uint8Array) => void,
    opts: { arp?: ArpCacheOptions; resolver?: ArpResolverOptions } = {},
  ) {
    this.cache = new ArpCache(arpTable, opts.arp);
    this.arp = new ArpProtocol(iface, this.cache, send, opts.resolver);
  }

  /** Handles a batch of received frames (lent: handled before this returns). */
  receive(frames: readonly Uint8Array[], now: number): void {
    for (let i = 0; i < frames.length; i++) this.receiveOne(frames[i], now);
  }

  receiveOne(frame: Uint8Array, now: number): void {
    this.counters.rxFrames++;
    const eth = this.eth.reset(frame);
    if (eth.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return; }
    const dst = eth.dst;
    if (dst !== this.iface.mac && dst !== BROADCAST_MAC) {
      this.counters.notForUs++;
      return;
    }
    const type = eth.ethertype;
    if (type === EtherType.Arp) {
      this.arp.receive(frame, now);
    } else if (type === EtherType.Ipv4) {
      this.receiveIpv4(frame, now, dst === BROADCAST_MAC);
    } else {
      this.counters.unsupported++;
    }
  }

  private receiveIpv4(frame: Uint8Array, now: number, broadcast: boolean): void {
    const ip = this.ip.resetIn(this.eth, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN);
    if (ip.checkLen() !== WireStatus.Ok || ip.version !== 4) { this.counters.malformed++; return; }
    if (!ip.verifyChecksum()) { this.counters.badChecksum++; return; }
    const dst = ip.dst;
    if (dst !== this.iface.ip && !(broadcast && dst === 0xffff_ffff)) { this.counters.notForUs++; return; }
    if (ip.isFragment) { this.counters.unsupported++; return; } // reassembly comes with the router
    const proto = ip.protocol;
    if (proto === IpProtocol.Icmp) this.receiveIcmp(frame);
    else if (proto === IpProtocol.Udp) this.receiveUdp(now);
    else this.counters.unsupported++;
  }

  private receiveIcmp(frame: Uint8Array): void {
    const ip = this.ip;
    const icmp = this.icmp.resetIn(ip, ip.headerLength, ip.payloadLength);
    if (icmp.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return; }
    const n = answerEcho(this.eth, this.ip, icmp, this.iface.ip, this.iface.mac);
    if (n === ECHO_UNSUPPORTED) { this.counters.unsupported++; return; }
    if (n === ECHO_BAD_CHECKSUM) { this.counters.badChecksum++; return; }
    this.counters.echoAnswered++;
    this.send(n === frame.length ? frame : frame.subarray(0, n));
  }

  private receiveUdp(now: number): void {
    const ip = this.ip;
    const udp = this.udp.resetIn(ip, ip.headerLength, ip.payloadLength);
    if (udp.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return; }
    if (udp.checksum !== 0 && !udp.verifyChecksum(ip.src, ip.dst)) { this.counters.badChecksum++; return; }
    this.counters.udpReceived++;
    this.onUdp?.(ip.src, udp.srcPort, udp.dstPort, udp.payload(), now);
  }

  /** Sends a UDP datagram to an on-link address, resolving its MAC first. */
  sendUdp(dst: number, srcPort: number, dstPort: number, payload: Uint8Array, now: number): boolean {
    if (!onLink(this.iface, dst)) { this.counters.noRoute++; return false; }
    this.ident = (this.ident + 1) & 0xffff;
    const frame = emitFrame({
      ethernet: new EthernetRepr({ dst: 0, src: this.iface.mac, ethertype: EtherType.Ipv4 }), // dst: filled once resolved
      network: {
        kind: 'ipv4',
        ipv4: new Ipv4Repr({ src: this.iface.ip, dst, protocol: IpProtocol.Udp, payloadLen: UDP_HEADER_LEN + payload.length, ttl: IPV4_DEFAULT_TTL, ident: this.ident, dontFragment: true }),
        transport: { kind: 'udp', udp: new UdpRepr({ srcPort, dstPort }), app: { kind: 'data', payload }, trailer: EMPTY },
      },
      padding: EMPTY,
      checksumErrors: [],
    });
    this.counters.udpSent++;
    return this.arp.sendTo(dst, frame, now);
  }

  poll(now: number): void {
    this.arp.poll(now);
  }
}

