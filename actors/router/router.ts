// A NAT router's packet path for one packet actor: IPv4 checks, routing (connected networks + a
// default route), TTL, ICMP for its own addresses and errors, masquerade on the outside interface,
// and port forwarding (DNAT) of new connections to our outside address by the `dnat` rules.
// Headers are rewritten in place by wire/'s operations, with incremental checksums (RFC 1624);
// nothing is allocated per forwarded packet of a known flow. Time is always an argument.
// Fragments are reassembled before NAT and cut again on the way out (docs/router.md#fragments).
// In a failover pair (docs/ha.md) a backup forwards nothing, answers nothing and sends nothing; both hear VRRP.
import {
  BROADCAST_MAC, DestUnreachableCode, EtherType, EthernetPacket, ETHERNET_HEADER_LEN, ICMPV4_QUOTED_PAYLOAD_LEN, Icmpv4Packet, Icmpv4Type,
  IpProtocol, Ipv4Packet, NatPorts, TcpPacket, TimeExceededCode, VrrpPacket, VrrpRepr, VRRP_MULTICAST_IPV4, VRRP_MULTICAST_MAC, WireError, WireStatus,
} from '../../wire/index.js';
import { FragmentRefusal, IPV4_MIN_MTU, tryFragmentFrame } from '../../wire/ipv4-fragment.js';
import type { TableView } from '../../store/index.js';
import { ArpCache, type ArpCacheOptions } from '../iface/arp-cache.js';
import { ArpProtocol } from '../iface/arp-protocol.js';
import type { ArpEntry } from '../iface/arp-table.js';
import type { FragEntry } from '../iface/frag-table.js';
import { Reassembler, type ReassemblyOptions } from '../iface/reassembly.js';
import { dnatKey, dnatRuleProblem, type DnatRule } from './dnat-table.js';
import { IcmpErrors, isTranslatedError } from './icmp-errors.js';
import { answerEcho, ECHO_BAD_CHECKSUM, ECHO_UNSUPPORTED } from '../iface/icmp-echo.js';
import { NatEngine, type NatOptions } from './nat-engine.js';
import type { NatEntry, NatProto } from './nat-table.js';
import { onLink, type NetInterface } from '../iface/net-interface.js';
import { datagramOwner } from './steering.js';
import type { ReceivedAdvertisement } from './virtual-router.js';

export interface RouterConfig {
  inside: NetInterface;
  outside: NetInterface;
  /** Next hop of the default route, on the outside network (none: only connected networks). */
  gateway?: number;
  nat?: NatOptions;
  arp?: ArpCacheOptions;
  icmpErrorsPerSecond?: number;
  /** Reassembly limits (defaults as Linux's: 30 s, 4 MiB). */
  reassembly?: ReassemblyOptions;
}

export interface RouterTables {
  arp: TableView<number, ArpEntry>;
  nat: TableView<string, NatEntry>;
  /** Port-forward rules; none: nothing is forwarded. */
  dnat?: TableView<string, DnatRule>;
  /** Datagrams in reassembly (actors/iface/frag-table.ts); none: kept in the actor's memory only. */
  frag?: TableView<string, FragEntry>;
}

/**
 * The router's own services (actors/router/local-services.ts): given each datagram for one of its addresses
 * (or broadcast) before NAT, with `ip` pointing at its checked header; true when a service took it.
 */
export interface RouterLocal {
  inside(ip: Ipv4Packet, now: number): boolean;
  outside(ip: Ipv4Packet, now: number): boolean;
  /** Every ARP frame from the inside, before the router's ARP sees it (the DHCP server's probes watch them). */
  insideArp(frame: Uint8Array): void;
}

/**
 * This router's side of a failover pair (actors/router/failover.ts): the main thread's VirtualRouter decides who is
 * the master; the router asks per frame, and hands it the VRRP advertisements it hears on the inside.
 */
export interface RouterFailover {
  /** True while this router is the master: it forwards, answers and sends. False: it stays silent. */
  active(): boolean;
  /** An advertisement from the inside that passed the codec's checks (checksum included). */
  heard(adv: ReceivedAdvertisement, now: number): void;
}

/**
 * How a packet actor that owns queues hands a datagram it reassembled to the actor that must translate
 * it (the owner of its port): over the hand-off rings, cut again into fragments (rings take MTU-sized frames).
 */
export interface DatagramHandOff {
  readonly me: number;
  readonly actors: number;
  /** The actor whose port the whole datagram's frame carries (steering.ts's rule). */
  owner(frame: Uint8Array, outbound: boolean): number;
  /** Sends one frame to actor `owner` on the inside (`outbound`) or outside side; false when its ring refused it. */
  send(frame: Uint8Array, owner: number, outbound: boolean): boolean;
}

/** The fragment path's own counts; the reassembler counts every drop by its reason (Reassembler.counters). */
export interface FragmentCounters {
  /** Datagrams made whole here. */
  reassembled: number;
  /** Reassembled datagrams sent on to the actor that owns their port (as fragments). */
  handedOff: number;
  /** Hand-offs of a datagram refused by the owner's ring (its fragments dropped). */
  handOffDropped: number;
  /** Datagrams cut again on their way out, to the largest fragment size they came in (Linux's frag_max_size). */
  refragmented: number;
  /** Reassembled datagrams with DF set that would need cutting: dropped. */
  dontFragment: number;
  /** Reassembled datagrams that would need cutting but whose IPv4 options are malformed (cannot be copied): dropped. */
  badOptions: number;
  /** ICMP "fragment reassembly time exceeded" sent to the source of a datagram that timed out. */
  timeExceeded: number;
  /** Timed-out datagrams whose source has no route back: no error sent. */
  timeExceededNoRoute: number;
}

export interface RouterCounters {
  rxInside: number;
  rxOutside: number;
  forwardedOut: number;
  forwardedIn: number;
  notForUs: number;
  malformed: number;
  badChecksum: number;
  ttlExceeded: number;
  noRoute: number;
  /** IPv4 fragments received (each goes to the reassembler; `fragCounters` and `reassembler.counters` say what became of them). */
  fragments: number;
  unsupported: number;
  echoAnswered: number;
  unsolicited: number;
  icmpErrorsTranslated: number;
  hostUnreachable: number;
  insideUnreachable: number;
  /** New connections to our outside address forwarded inside by a `dnat` rule (each makes a flow). */
  dnatHits: number;
  /** TCP/UDP to our outside address with no flow and no rule for its port (also `unsolicited`). */
  dnatNoRule: number;
  /** A rule the router cannot use: its value disagrees with its key, or its target is not an inside host (also `unsolicited`). */
  dnatBadRule: number;
  /** Inside traffic to masquerade while the outside interface has no address yet (DHCP not bound): dropped. */
  noOutsideAddress: number;
  /** Inside datagrams to the limited broadcast address that no local service took: never forwarded. */
  broadcastDropped: number;
  /** Datagrams a failover backup received (to forward, or for its own services): dropped. */
  backupDropped: number;
  /** Frames a failover backup would have sent (ICMP errors, a service's timers): not sent. */
  backupUnsent: number;
  /** VRRP advertisements heard on the inside and handed to the failover. */
  vrrpHeard: number;
  /** Frames for VRRP's group that are no advertisement: wrong address or protocol, a fragment, or a field the codec refuses. */
  vrrpMalformed: number;
  /** VRRP advertisements whose checksum is wrong. */
  vrrpBadChecksum: number;
}

/** The NAT table's name for TCP or UDP. */
function portProto(proto: number): 'tcp' | 'udp' {
  return proto === IpProtocol.Tcp ? 'tcp' : 'udp';
}

/** The NAT table's name for an IP protocol the router translates (TCP, UDP, or ICMP echo). */
function natProto(proto: number): NatProto {
  return proto === IpProtocol.Icmp ? 'icmp' : portProto(proto);
}

export class Router {
  readonly nat: NatEngine;
  /** The port-forward rules, if the router has them. */
  readonly rules: TableView<string, DnatRule> | undefined;
  readonly insideArp: ArpProtocol;
  readonly outsideArp: ArpProtocol;
  readonly icmpErrors: IcmpErrors;
  readonly counters: RouterCounters = {
    rxInside: 0, rxOutside: 0, forwardedOut: 0, forwardedIn: 0, notForUs: 0, malformed: 0, badChecksum: 0, ttlExceeded: 0,
    noRoute: 0, fragments: 0, unsupported: 0, echoAnswered: 0, unsolicited: 0, icmpErrorsTranslated: 0, hostUnreachable: 0, insideUnreachable: 0,
    dnatHits: 0, dnatNoRule: 0, dnatBadRule: 0, noOutsideAddress: 0, broadcastDropped: 0,
    backupDropped: 0, backupUnsent: 0, vrrpHeard: 0, vrrpMalformed: 0, vrrpBadChecksum: 0,
  };
  private readonly eth = EthernetPacket.newUnchecked(new Uint8Array(64));
  private readonly ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
  private readonly icmp = Icmpv4Packet.newUnchecked(new Uint8Array(64));
  private readonly tcp = TcpPacket.newUnchecked(new Uint8Array(64));
  /** The ports (or echo identifier) NAT maps, in `ip` or in `inner`. */
  private readonly ports = NatPorts.newUnchecked(new Uint8Array(64));
  /** The datagram an ICMP error quotes, and its ICMP header when it is ICMP. */
  private readonly inner = Ipv4Packet.newUnchecked(new Uint8Array(64));
  private readonly innerIcmp = Icmpv4Packet.newUnchecked(new Uint8Array(64));
  private readonly vrrp = VrrpPacket.newUnchecked(new Uint8Array(64));
  readonly reassembler: Reassembler;
  readonly fragCounters: FragmentCounters = {
    reassembled: 0, handedOff: 0, handOffDropped: 0, refragmented: 0, dontFragment: 0, badOptions: 0, timeExceeded: 0, timeExceededNoRoute: 0,
  };
  /** Queues mode: where a reassembled datagram goes when another actor owns its port; null: translated here. */
  handOff: DatagramHandOff | null = null;
  /** The router's own services (DHCP, DNS); null: every datagram is routed. */
  local: RouterLocal | null = null;
  /** Failover (docs/ha.md): null, the router is always active and VRRP is not its business. */
  failover: RouterFailover | null = null;
  /** While a reassembled datagram is forwarded: the size it is cut to on the way out; 0 otherwise. */
  private refragmentAt = 0;
  /** Every frame the router (and its services, given these) sends passes the failover's gate. */
  readonly sendInside: (f: Uint8Array) => void;
  readonly sendOutside: (f: Uint8Array) => void;

  constructor(
    readonly cfg: RouterConfig,
    tables: RouterTables,
    private readonly rawInside: (f: Uint8Array) => void,
    rawOutside: (f: Uint8Array) => void,
  ) {
    // A backup sends nothing at all: the link's switch must learn the shared MAC from the master alone.
    const gated = (send: (f: Uint8Array) => void) => (f: Uint8Array): void => {
      if (this.active()) send(f);
      else this.counters.backupUnsent++;
    };
    const sendInside = (this.sendInside = gated(rawInside));
    const sendOutside = (this.sendOutside = gated(rawOutside));
    const cache = new ArpCache(tables.arp, cfg.arp);
    this.insideArp = new ArpProtocol(cfg.inside, cache, sendInside);
    this.outsideArp = new ArpProtocol(cfg.outside, cache, sendOutside);
    this.insideArp.active = this.outsideArp.active = () => this.active();
    this.rules = tables.dnat;
    this.nat = new NatEngine(tables.nat, cfg.nat, tables.dnat);
    this.icmpErrors = new IcmpErrors(cfg.icmpErrorsPerSecond ?? 100);
    this.reassembler = new Reassembler(tables.frag ?? null, cfg.reassembly);
    this.reassembler.onTimeExceeded = (quoted, now) => this.reassemblyTimedOut(quoted, now);
    // Return traffic to an inside host that does not answer ARP: dropped and counted. An error about
    // it would go to the remote end and quote the inside address; Linux's masquerade is silent too.
    this.insideArp.onUnreachable = (_ip, frames) => { this.counters.insideUnreachable += frames.length; };
    this.outsideArp.onUnreachable = (_ip, frames, now) => {
      // These were NATed already: turn each back into what its inside host sent, then answer it.
      for (const f of frames) if (this.unNat(f, now)) this.hostUnreachable(f, this.cfg.inside, this.sendInside, now);
    };
  }

  receiveInside(frames: readonly Uint8Array[], now: number): void {
    for (let i = 0; i < frames.length; i++) this.fromInside(frames[i], now);
  }

  receiveOutside(frames: readonly Uint8Array[], now: number): void {
    for (let i = 0; i < frames.length; i++) this.fromOutside(frames[i], now);
  }

  /** True unless this router is a failover backup. */
  active(): boolean {
    return this.failover === null || this.failover.active();
  }

  /**
   * What the failover asks of a packet actor: `adverts` (whole frames, sent even as the master leaves and the gate
   * closes) on the inside, then, on becoming the master, a gratuitous ARP for each of our addresses from the shared MAC.
   */
  failoverSend(adverts: readonly Uint8Array[], announce: boolean): void {
    for (const f of adverts) this.rawInside(f);
    if (!announce) return;
    this.insideArp.announce();
    if (this.cfg.outside.ip !== 0) this.outsideArp.announce();
  }

  /** ARP retries and failures, and datagrams whose reassembly timed out. */
  poll(now: number): void {
    this.insideArp.poll(now);
    this.outsideArp.poll(now);
    if (this.reassembler.nextDeadline() <= now) this.reassembler.poll(now);
  }

  /** Coalesced NAT writes, at most `limit` flows: call before each merge. Returns how many flows are still unwritten. */
  flush(now: number, limit?: number): number {
    return this.nat.flush(now, limit);
  }

  // ---------------------------------------------------------------- inside → outside

  private fromInside(frame: Uint8Array, now: number): void {
    this.counters.rxInside++;
    const me = this.cfg.inside;
    const type = this.l2(frame, me);
    if (type === EtherType.Arp) {
      this.local?.insideArp(frame);
      this.insideArp.receive(frame, now);
      return;
    }
    if (type !== EtherType.Ipv4 || !this.l3()) return;
    if (this.failover !== null && this.isVrrp()) { this.vrrpAdvert(this.failover, now); return; }
    if (!this.active()) { this.counters.backupDropped++; return; }
    if (this.ip.isFragment) { this.fragment(frame, true, now); return; }
    if (this.local !== null && this.local.inside(this.ip, now)) return;
    this.routeOut(frame, now);
  }

  /** An inside datagram (in `ip`, checked): answered, refused, or masqueraded and sent out. */
  private routeOut(frame: Uint8Array, now: number): void {
    const me = this.cfg.inside;
    const ip = this.ip;
    const dst = ip.dst;
    if (dst === me.ip || dst === this.cfg.outside.ip) { this.ownAddress(frame, me, this.sendInside); return; }
    if (onLink(me, dst)) { this.counters.unsupported++; return; } // hairpin within the inside network
    if (dst >>> 0 === 0xffff_ffff) { this.counters.broadcastDropped++; return; }
    if (this.cfg.outside.ip === 0) { this.counters.noOutsideAddress++; return; } // --outside NAME:dhcp before the lease
    const nextHop = onLink(this.cfg.outside, dst) ? dst : this.cfg.gateway;
    if (nextHop === undefined) {
      this.counters.noRoute++;
      this.error(frame, Icmpv4Type.DestUnreachable, DestUnreachableCode.NetUnreachable, me, this.sendInside, now);
      return;
    }
    if (ip.ttl <= 1) {
      this.counters.ttlExceeded++;
      this.error(frame, Icmpv4Type.TimeExceeded, TimeExceededCode.TtlExceeded, me, this.sendInside, now);
      return;
    }
    if (!this.masquerade(now)) return;
    ip.decrementTtl();
    ip.rewriteSrc(this.cfg.outside.ip);
    this.eth.reset(frame).src = this.cfg.outside.mac;
    this.counters.forwardedOut++;
    this.transmit(this.outsideArp, nextHop, frame, now);
  }

  /** Rewrites the source port (ICMP: echo identifier) to the outside binding; false when the packet is dropped (counted). */
  private masquerade(now: number): boolean {
    const ip = this.ip;
    const proto = ip.protocol;
    const icmp = proto === IpProtocol.Icmp;
    if (!icmp && proto !== IpProtocol.Tcp && proto !== IpProtocol.Udp) { this.counters.unsupported++; return false; }
    const ports = this.ports.of(ip);
    if (ports.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return false; }
    if (icmp && this.icmp.resetIn(ip, ip.headerLength, ip.payloadLength).type !== Icmpv4Type.EchoRequest) {
      this.counters.unsupported++;
      return false;
    }
    const src = ip.src;
    const out = icmp
      ? this.nat.outbound('icmp', src, ports.srcPort, ip.dst, 0, 0, ip.totalLength, now)
      : this.nat.outbound(natProto(proto), src, ports.srcPort, ip.dst, ports.dstPort, this.tcpFlags(), ip.totalLength, now);
    if (out < 0) return false;
    ports.rewriteAddress(src, this.cfg.outside.ip);
    ports.rewriteSrcPort(out);
    return true;
  }

  // ---------------------------------------------------------------- outside → inside

  private fromOutside(frame: Uint8Array, now: number): void {
    this.counters.rxOutside++;
    const me = this.cfg.outside;
    const type = this.l2(frame, me);
    if (type === EtherType.Arp) { this.outsideArp.receive(frame, now); return; }
    if (type !== EtherType.Ipv4 || !this.l3()) return;
    if (!this.active()) { this.counters.backupDropped++; return; }
    const ip = this.ip;
    if (this.local !== null && !ip.isFragment && this.local.outside(ip, now)) return;
    if (ip.dst !== me.ip || me.ip === 0) { this.counters.unsolicited++; return; } // masquerade: only replies come back
    if (ip.isFragment) { this.fragment(frame, false, now); return; }
    this.routeIn(frame, now);
  }

  /** A datagram to our outside address (in `ip`, checked): answered, or un-masqueraded and sent inside. */
  private routeIn(frame: Uint8Array, now: number): void {
    const ip = this.ip;
    const flow = this.unmasquerade(frame, now);
    if (flow < 0) return;
    if (ip.ttl <= 1) {
      this.counters.ttlExceeded++;
      return;
    }
    ip.decrementTtl();
    const insideIp = this.nat.insideIp(flow);
    ip.rewriteDst(insideIp);
    this.eth.reset(frame).src = this.cfg.inside.mac;
    this.counters.forwardedIn++;
    this.transmit(this.insideArp, insideIp, frame, now);
  }

  /**
   * Return traffic: puts the inside host's port back in the transport header (ICMP: the echo identifier, or the
   * quote of an error). Returns the flow's slot, or -1 when the frame goes no further (counted, or answered here).
   */
  private unmasquerade(frame: Uint8Array, now: number): number {
    const proto = this.ip.protocol;
    if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) return this.returnPorts(proto, now);
    if (proto === IpProtocol.Icmp) return this.returnIcmp(frame, now);
    this.counters.unsupported++;
    return -1;
  }

  /** TCP/UDP return traffic: the flow it belongs to, or a new one a port-forward rule makes. */
  private returnPorts(proto: number, now: number): number {
    const ip = this.ip;
    const ports = this.ports.of(ip);
    if (ports.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return -1; }
    const p = portProto(proto);
    const dport = ports.dstPort;
    const src = ip.src;
    const sport = ports.srcPort;
    const flags = this.tcpFlags();
    const len = ip.totalLength;
    // No flow: a new connection, which a port-forward rule for this port may take inside.
    let flow = this.nat.inbound(p, dport, src, sport, flags, len, now);
    if (flow < 0) flow = this.forward(p, dport, src, sport, flags, len, now);
    if (flow < 0) { this.counters.unsolicited++; return -1; }
    ports.rewriteAddress(ip.dst, this.nat.insideIp(flow));
    ports.rewriteDstPort(this.nat.insidePort(flow));
    return flow;
  }

  /** ICMP from outside: echo requests are ours to answer; echo replies and errors about a flow go back inside. */
  private returnIcmp(frame: Uint8Array, now: number): number {
    const ip = this.ip;
    const icmp = this.icmp.resetIn(ip, ip.headerLength, ip.payloadLength);
    if (icmp.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return -1; }
    const t = icmp.type;
    if (t === Icmpv4Type.EchoRequest) { this.ownAddress(frame, this.cfg.outside, this.sendOutside); return -1; }
    let flow: number;
    if (t === Icmpv4Type.EchoReply) flow = this.echoReply(now);
    else if (isTranslatedError(t)) flow = this.translateError();
    else { this.counters.unsupported++; return -1; }
    if (flow < 0) this.counters.unsolicited++;
    return flow;
  }

  private echoReply(now: number): number {
    const ip = this.ip;
    const ports = this.ports.of(ip);
    const flow = this.nat.inbound('icmp', ports.dstPort, ip.src, 0, 0, ip.totalLength, now);
    if (flow >= 0) ports.rewriteDstPort(this.nat.insidePort(flow));
    return flow;
  }

  /**
   * A new connection to our outside address and `port`: the rule for it, if usable, makes a flow
   * from the rule's target to the remote end on that port; the caller then rewrites the destination
   * to the target, as for any return traffic. -1: no rule, a bad one, or the flow refused.
   */
  private forward(proto: 'tcp' | 'udp', port: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): number {
    const rules = this.rules;
    if (rules === undefined || rules.sizeBound === 0) { this.counters.dnatNoRule++; return -1; }
    const key = dnatKey(proto, port);
    const rule = rules.get(key);
    if (rule === undefined) { this.counters.dnatNoRule++; return -1; }
    if (dnatRuleProblem(key, rule, this.cfg.inside) !== undefined) { this.counters.dnatBadRule++; return -1; }
    const flow = this.nat.forward(proto, port, rule.insideIp, rule.insidePort, remoteIp, remotePort, tcpFlags, len, now);
    if (flow >= 0) this.counters.dnatHits++;
    return flow;
  }

  /**
   * An ICMP error (in `icmp`) about a datagram we NATed quotes it as the remote end saw it (from our
   * outside address and port): put the inside host's address and port back in the quote, then the
   * caller forwards the error to that host.
   */
  private translateError(): number {
    const icmp = this.icmp;
    const inner = this.inner;
    if (icmp.quote(inner) !== WireStatus.Ok) { this.counters.malformed++; return -1; }
    const ports = this.ports.of(inner, inner.length - inner.headerLength);
    if (ports.length < ICMPV4_QUOTED_PAYLOAD_LEN || inner.src !== this.cfg.outside.ip) return -1;
    const proto = inner.protocol;
    const quotesEcho = proto === IpProtocol.Icmp
      && this.innerIcmp.resetIn(inner, inner.headerLength, ports.length).type === Icmpv4Type.EchoRequest;
    if (proto !== IpProtocol.Tcp && proto !== IpProtocol.Udp && !quotesEcho) return -1;
    // An error is related to the flow, not part of it (as conntrack's RELATED): the flow's state is left alone.
    const flow = this.nat.returning(natProto(proto), ports.srcPort, inner.dst, quotesEcho ? 0 : ports.dstPort);
    if (flow < 0) return -1;
    const insideIp = this.nat.insideIp(flow);
    // The quote as its inside host sent it: source address and port back, with the checksums the quote holds.
    ports.rewriteAddress(inner.src, insideIp);
    ports.rewriteSrcPort(this.nat.insidePort(flow));
    inner.rewriteSrc(insideIp);
    // The ICMP checksum covers the whole quote.
    icmp.fillChecksum();
    this.counters.icmpErrorsTranslated++;
    return flow;
  }

  // ---------------------------------------------------------------- shared steps

  /** Ethernet: for this interface or broadcast; returns the ethertype, or -1 (counted). */
  private l2(frame: Uint8Array, me: NetInterface): number {
    const eth = this.eth.reset(frame);
    if (eth.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return -1; }
    const dst = eth.dst;
    if (dst !== me.mac && dst !== BROADCAST_MAC && !this.vrrpGroup(dst, me)) { this.counters.notForUs++; return -1; }
    const type = eth.ethertype;
    if (type !== EtherType.Arp && type !== EtherType.Ipv4) this.counters.unsupported++;
    return type;
  }

  /** VRRP's multicast group, which the inside hears in a failover pair (any other group is not for us). */
  private vrrpGroup(dst: number, me: NetInterface): boolean {
    return dst === VRRP_MULTICAST_MAC && me === this.cfg.inside && this.failover !== null;
  }

  /** Whether the datagram in `ip` (checked) is meant for VRRP: sent to its group by either address. */
  private isVrrp(): boolean {
    return this.ip.dst === VRRP_MULTICAST_IPV4 || this.eth.dst === VRRP_MULTICAST_MAC;
  }

  /** A datagram for VRRP's group: an advertisement that passes wire/vrrp.ts's checks goes to the failover, the rest is counted. */
  private vrrpAdvert(failover: RouterFailover, now: number): void {
    const ip = this.ip;
    if (this.eth.dst !== VRRP_MULTICAST_MAC || ip.dst !== VRRP_MULTICAST_IPV4 || ip.protocol !== IpProtocol.Vrrp || ip.isFragment) {
      this.counters.vrrpMalformed++;
      return;
    }
    const view = this.vrrp.resetIn(ip, ip.headerLength, ip.payloadLength);
    if (view.checkLen() !== WireStatus.Ok) { this.counters.vrrpMalformed++; return; }
    let repr: VrrpRepr;
    try {
      repr = VrrpRepr.parse(view, ip.src, ip.dst);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      if (err.reason === 'bad-checksum') this.counters.vrrpBadChecksum++;
      else this.counters.vrrpMalformed++;
      return;
    }
    this.counters.vrrpHeard++;
    failover.heard({ repr, src: ip.src, ttl: ip.ttl }, now);
  }

  /** IPv4 header checks of the frame `l2` passed: lengths, version, checksum. */
  private l3(): boolean {
    const eth = this.eth;
    const ip = this.ip.resetIn(eth, ETHERNET_HEADER_LEN, eth.length - ETHERNET_HEADER_LEN);
    if (ip.checkLen() !== WireStatus.Ok || ip.version !== 4) { this.counters.malformed++; return false; }
    if (!ip.verifyChecksum()) { this.counters.badChecksum++; return false; }
    return true;
  }

  /** The TCP flags of the segment in `ip` (0 for other protocols): the NAT engine follows TCP's state. */
  private tcpFlags(): number {
    const ip = this.ip;
    return ip.protocol === IpProtocol.Tcp ? this.tcp.resetIn(ip, ip.headerLength, ip.payloadLength).flags : 0;
  }

  /** A packet for one of our own addresses no service took: answer echo requests, drop the rest (counted). */
  private ownAddress(frame: Uint8Array, me: NetInterface, send: (f: Uint8Array) => void): void {
    const ip = this.ip;
    if (ip.protocol !== IpProtocol.Icmp || ip.isFragment) { this.counters.unsupported++; return; }
    const icmp = this.icmp.resetIn(ip, ip.headerLength, ip.payloadLength);
    if (icmp.checkLen() !== WireStatus.Ok) { this.counters.unsupported++; return; }
    const n = answerEcho(this.eth.reset(frame), ip, icmp, ip.dst, me.mac); // answer from the address that was pinged
    if (n === ECHO_UNSUPPORTED) { this.counters.unsupported++; return; }
    if (n === ECHO_BAD_CHECKSUM) { this.counters.badChecksum++; return; }
    this.counters.echoAnswered++;
    const reply = frame.subarray(0, n);
    if (this.refragmentAt === 0) send(reply);
    else for (const piece of this.refragment(reply)) send(piece);
  }

  /** Sends an ICMP error about `frame` (its IPv4 header checked) back to its sender, unless it is an error itself. */
  private error(frame: Uint8Array, type: number, code: number, me: NetInterface, send: (f: Uint8Array) => void, now: number): void {
    if (!this.mayAnswerWithError(frame)) return;
    const e = this.icmpErrors.build(frame, type, code, me.ip, me.mac, now);
    if (e) send(e);
  }

  /** Never an error about an error (RFC 1812 4.3.2.7): among ICMP messages only echo may be answered with one. */
  private mayAnswerWithError(frame: Uint8Array): boolean {
    const ip = this.ip.reset(frame, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN);
    if (ip.protocol !== IpProtocol.Icmp) return true;
    // The type byte is read as far as the frame goes: a frame that ends with the header has none.
    const icmp = this.icmp.resetIn(ip, ip.headerLength, ip.length - ip.headerLength);
    if (icmp.length <= 0) return false;
    const t = icmp.type;
    return t === Icmpv4Type.EchoRequest || t === Icmpv4Type.EchoReply;
  }

  private hostUnreachable(frame: Uint8Array, me: NetInterface, send: (f: Uint8Array) => void, now: number): void {
    this.counters.hostUnreachable++;
    this.error(frame, Icmpv4Type.DestUnreachable, DestUnreachableCode.HostUnreachable, me, send, now);
  }

  /** Turns a NATed outbound frame back into what its inside host sent (for an error about it). */
  private unNat(frame: Uint8Array, now: number): boolean {
    const ip = this.ip.reset(frame, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN);
    if (ip.checkLen() !== WireStatus.Ok) return false;
    const proto = ip.protocol;
    if (proto !== IpProtocol.Tcp && proto !== IpProtocol.Udp && proto !== IpProtocol.Icmp) return false;
    const ports = this.ports.of(ip);
    const flow = this.nat.returning(natProto(proto), ports.srcPort, ip.dst, proto === IpProtocol.Icmp ? 0 : ports.dstPort);
    if (flow < 0) return false;
    const insideIp = this.nat.insideIp(flow);
    // The error goes to the frame's source MAC: put the inside host's back (forwarding set ours).
    const mac = this.insideArp.cache.lookup(insideIp, now);
    if (mac === undefined) return false;
    this.eth.reset(frame).src = mac;
    ports.rewriteAddress(ip.src, insideIp);
    ports.rewriteSrcPort(this.nat.insidePort(flow));
    ip.src = insideIp;
    ip.ttl = ip.ttl + 1;
    ip.fillChecksum();
    return true;
  }

  // ---------------------------------------------------------------- fragments

  /**
   * A fragment (in `ip`, checked): reassembled first, as Linux's nf_defrag_ipv4 does before NAT. The
   * whole datagram is translated here, or handed to the actor that owns its port when this actor
   * reassembled it as its datagram's owner (so a hand-off is never handed on).
   */
  private fragment(frame: Uint8Array, outbound: boolean, now: number): void {
    this.counters.fragments++;
    const whole = this.reassembler.acceptFrame(frame, this.ip, now);
    if (whole === null) return;
    this.fragCounters.reassembled++;
    const size = this.reassembler.lastMaxFragment;
    const h = this.handOff;
    const w = this.ip.reset(whole, ETHERNET_HEADER_LEN, whole.length - ETHERNET_HEADER_LEN);
    if (h !== null && datagramOwner(w.src, w.dst, w.protocol, w.ident, h.actors) === h.me) {
      const owner = h.owner(whole, outbound);
      if (owner !== h.me) { this.handTo(h, whole, owner, outbound, size); return; }
    }
    this.forwardWhole(whole, outbound, size, now);
  }

  /** A reassembled datagram through the usual path; whatever it sends is cut to `fragSize` again. */
  private forwardWhole(whole: Uint8Array, outbound: boolean, fragSize: number, now: number): void {
    this.eth.reset(whole);
    if (!this.l3()) return;
    this.refragmentAt = Math.max(IPV4_MIN_MTU, fragSize);
    try {
      if (outbound) this.routeOut(whole, now);
      else this.routeIn(whole, now);
    } finally {
      this.refragmentAt = 0;
    }
  }

  /** Cut again to the size it came in, so the owner gets MTU-sized frames in order (and reassembles them itself). */
  private handTo(h: DatagramHandOff, whole: Uint8Array, owner: number, outbound: boolean, fragSize: number): void {
    this.refragmentAt = Math.max(IPV4_MIN_MTU, fragSize);
    const pieces = this.refragment(whole);
    this.refragmentAt = 0;
    let sent = pieces.length > 0;
    for (const p of pieces) sent = h.send(p, owner, outbound) && sent;
    if (sent) this.fragCounters.handedOff++;
    else this.fragCounters.handOffDropped++;
  }

  /** Sends a frame to `nextHop`, cut into fragments first when it is a reassembled datagram larger than its fragments were. */
  private transmit(arp: ArpProtocol, nextHop: number, frame: Uint8Array, now: number): void {
    if (this.refragmentAt === 0) { arp.sendTo(nextHop, frame, now); return; }
    for (const piece of this.refragment(frame)) arp.sendTo(nextHop, piece, now);
  }

  /** The frame cut to `refragmentAt` IP bytes (itself when it fits); none when DF or a bad option forbids it (counted). */
  private refragment(frame: Uint8Array): Uint8Array[] {
    if (frame.length - ETHERNET_HEADER_LEN <= this.refragmentAt) return [frame];
    const pieces = tryFragmentFrame(frame, this.refragmentAt);
    if (pieces === FragmentRefusal.DontFragment) { this.fragCounters.dontFragment++; return []; }
    if (typeof pieces === 'number') { this.fragCounters.badOptions++; return []; }
    this.fragCounters.refragmented++;
    return pieces;
  }

  /** A datagram given up after its first fragment came: ICMP time exceeded (reassembly) to its source (RFC 792). */
  private reassemblyTimedOut(quoted: Uint8Array, now: number): void {
    const src = this.inner.reset(quoted, 0, quoted.length).src;
    const inside = onLink(this.cfg.inside, src);
    const me = inside ? this.cfg.inside : this.cfg.outside;
    const nextHop = inside || onLink(me, src) ? src : this.cfg.gateway;
    if (nextHop === undefined) { this.fragCounters.timeExceededNoRoute++; return; }
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + quoted.length);
    const eth = this.eth.reset(frame);
    eth.dst = me.mac;
    eth.ethertype = EtherType.Ipv4;
    frame.set(quoted, ETHERNET_HEADER_LEN);
    if (!this.mayAnswerWithError(frame)) return;
    const e = this.icmpErrors.build(frame, Icmpv4Type.TimeExceeded, TimeExceededCode.FragmentReassembly, me.ip, me.mac, now);
    if (e === null) return;
    this.fragCounters.timeExceeded++;
    (inside ? this.insideArp : this.outsideArp).sendTo(nextHop, e, now);
  }
}
