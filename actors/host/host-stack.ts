// A host's receive path on one interface: Ethernet filter, ARP, IPv4 checks, fragment reassembly, ICMP echo,
// UDP to an application, TCP to the endpoint. Echo replies are written in place over the request (no
// allocation per packet); one larger than the MTU leaves as fragments.
import {
  IPV4_DEFAULT_TTL, IPV4_MIN_HEADER_LEN,
  BROADCAST_MAC, EtherType, EthernetPacket, ETHERNET_HEADER_LEN, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet,
  UdpPacket, UDP_HEADER_LEN, WireStatus, EthernetRepr, Ipv4Repr, UdpRepr, TimeExceededCode, tryFragmentFrame,
} from '../../wire/index.js';
import { TcpEndpoint, type TcpEndpointOptions } from '../tcp/tcp-endpoint.js';
import { Reassembler, type ReassemblyOptions } from '../iface/reassembly.js';
import type { FragEntry } from '../iface/frag-table.js';
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
  /** UDP datagrams handed to ARP (sent, or queued for resolution). */
  udpSent: number;
  unsupported: number;
  noRoute: number;
  /** Datagrams completed from fragments and handled as if they came whole. */
  reassembled: number;
  /** Echo replies larger than the MTU, sent as fragments. */
  fragmentedReplies: number;
  /** ICMP "fragment reassembly time exceeded" sent. */
  timeExceededSent: number;
}

/** The interface MTU (NetInterface has no field for it): Ethernet's. */
export const HOST_MTU = 1500;

export interface HostStackOptions {
  arp?: ArpCacheOptions;
  resolver?: ArpResolverOptions;
  tcp?: TcpEndpointOptions;
  /** The store's `frag` table on this actor's branch, for the reassembly rows; none by default. */
  fragTable?: TableView<string, FragEntry> | null;
  reassembly?: ReassemblyOptions;
}

export type UdpHandler = (src: number, srcPort: number, dstPort: number, payload: Uint8Array, now: number) => void;

export class HostStack {
  readonly arp: ArpProtocol;
  readonly cache: ArpCache;
  readonly tcp: TcpEndpoint;
  readonly reassembler: Reassembler;
  readonly counters: HostCounters = {
    rxFrames: 0, notForUs: 0, malformed: 0, badChecksum: 0, echoAnswered: 0, udpReceived: 0, udpSent: 0, unsupported: 0, noRoute: 0,
    reassembled: 0, fragmentedReplies: 0, timeExceededSent: 0,
  };
  onUdp: UdpHandler | null = null;
  private readonly eth = EthernetPacket.newUnchecked(new Uint8Array(64));
  private readonly ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
  private readonly icmp = Icmpv4Packet.newUnchecked(new Uint8Array(64));
  private readonly udp = UdpPacket.newUnchecked(new Uint8Array(64));
  private ident = 1;
  /** Outgoing IPv4 frames are built here: `send` and ARP copy what they keep, so nothing is allocated per packet. */
  private readonly txFrame = new Uint8Array(ETHERNET_HEADER_LEN + 0xffff);
  private readonly txEthView = EthernetPacket.newUnchecked(this.txFrame);
  private readonly txIpView = Ipv4Packet.newUnchecked(this.txFrame, ETHERNET_HEADER_LEN);
  private readonly txEth = new EthernetRepr({ dst: 0, src: 0, ethertype: EtherType.Ipv4 });
  private readonly txIp = new Ipv4Repr({ src: 0, dst: 0, protocol: 0, payloadLen: 0, ttl: IPV4_DEFAULT_TTL, ident: 0, dontFragment: true });
  /** The time of the last call in: the TCP endpoint's `out` has none of its own, and ARP wants one. */
  private now = 0;

  constructor(
    readonly iface: NetInterface,
    arpTable: TableView<number, ArpEntry>,
    private readonly send: (frame: Uint8Array) => void,
    opts: HostStackOptions = {},
  ) {
    this.cache = new ArpCache(arpTable, opts.arp);
    this.arp = new ArpProtocol(iface, this.cache, send, opts.resolver);
    this.tcp = new TcpEndpoint(iface.ip, (dst, segment) => { this.sendIpv4(dst, IpProtocol.Tcp, segment, this.now); }, opts.tcp);
    this.reassembler = new Reassembler(opts.fragTable ?? null, opts.reassembly);
    this.reassembler.onTimeExceeded = (quoted, now) => this.sendTimeExceeded(quoted, now);
  }

  /** Handles a batch of received frames (lent: handled before this returns). */
  receive(frames: readonly Uint8Array[], now: number): void {
    for (let i = 0; i < frames.length; i++) this.receiveOne(frames[i], now);
  }

  receiveOne(frame: Uint8Array, now: number): void {
    this.now = now;
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
    if (ip.isFragment) { this.receiveFragment(frame, now, broadcast); return; }
    const proto = ip.protocol;
    if (proto === IpProtocol.Icmp) this.receiveIcmp(frame);
    else if (proto === IpProtocol.Udp) this.receiveUdp(now);
    else if (proto === IpProtocol.Tcp) this.tcp.receive(ip.src, dst, ip.payload(), now);
    else this.counters.unsupported++;
  }

  /** A fragment for us: once its datagram is whole, it goes through the receive path behind this frame's Ethernet header. */
  private receiveFragment(frame: Uint8Array, now: number, broadcast: boolean): void {
    const whole = this.reassembler.acceptFrame(frame, this.ip, now);
    if (whole === null) return;
    this.counters.reassembled++;
    this.eth.reset(whole);
    this.receiveIpv4(whole, now, broadcast);
  }

  private receiveIcmp(frame: Uint8Array): void {
    const ip = this.ip;
    const icmp = this.icmp.resetIn(ip, ip.headerLength, ip.payloadLength);
    if (icmp.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return; }
    const n = answerEcho(this.eth, this.ip, icmp, this.iface.ip, this.iface.mac);
    if (n === ECHO_UNSUPPORTED) { this.counters.unsupported++; return; }
    if (n === ECHO_BAD_CHECKSUM) { this.counters.badChecksum++; return; }
    this.counters.echoAnswered++;
    const reply = n === frame.length ? frame : frame.subarray(0, n);
    if (n - ETHERNET_HEADER_LEN <= HOST_MTU) { this.send(reply); return; }
    // Our own reply may be cut (RFC 1122 §3.2.1.3): the request's DF does not bind it.
    this.ip.dontFragment = false;
    const pieces = tryFragmentFrame(reply, HOST_MTU);
    if (typeof pieces === 'number') { this.counters.malformed++; return; } // options that cannot be copied
    this.counters.fragmentedReplies++;
    for (const piece of pieces) this.send(piece);
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
    const datagram = new Uint8Array(UDP_HEADER_LEN + payload.length);
    new UdpRepr({ srcPort, dstPort }).emit(UdpPacket.newUnchecked(datagram), payload, this.iface.ip, dst);
    if (!this.sendIpv4(dst, IpProtocol.Udp, datagram, now)) return false;
    this.counters.udpSent++;
    return true;
  }

  /**
   * Sends `payload` (copied) in one IPv4 packet to an on-link address: our source, DF set, the next ident, the
   * default TTL; the MAC is resolved by ARP (the frame may wait in its queue). False when off-link or dropped.
   */
  sendIpv4(dst: number, protocol: number, payload: Uint8Array, now: number): boolean {
    if (!onLink(this.iface, dst)) { this.counters.noRoute++; return false; }
    this.ident = (this.ident + 1) & 0xffff;
    const frame = this.txFrame.subarray(0, ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN + payload.length);
    this.txEth.src = this.iface.mac;
    this.txEth.emit(this.txEthView); // dst: filled once resolved
    const ip = this.txIp;
    ip.src = this.iface.ip;
    ip.dst = dst;
    ip.protocol = protocol;
    ip.payloadLen = payload.length;
    ip.ident = this.ident;
    ip.emit(this.txIpView);
    frame.set(payload, ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN);
    return this.arp.sendTo(dst, frame, now);
  }

  /** RFC 792 time exceeded, code 1: a datagram's fragments did not all come in time. `quoted`: its header + 8 bytes. */
  private sendTimeExceeded(quoted: Uint8Array, now: number): void {
    if (quoted.length < IPV4_MIN_HEADER_LEN) { this.counters.malformed++; return; } // a quote is header + 8, not a whole packet
    const original = Ipv4Packet.newUnchecked(quoted);
    const icmp = Icmpv4Repr.timeExceeded(TimeExceededCode.FragmentReassembly, quoted);
    const message = new Uint8Array(icmp.bufferLen());
    icmp.emit(Icmpv4Packet.newUnchecked(message));
    if (this.sendIpv4(original.src, IpProtocol.Icmp, message, now)) this.counters.timeExceededSent++;
  }

  /** Timers: ARP retries, fragment reassembly deadlines, TCP retransmission and TIME-WAIT. */
  poll(now: number): void {
    this.now = now;
    this.arp.poll(now);
    this.reassembler.poll(now);
    this.tcp.poll(now);
  }
}

