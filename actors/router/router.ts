// A NAT router's packet path for one packet actor: IPv4 checks, routing (connected networks + a
// default route), TTL, ICMP for its own addresses and errors, masquerade on the outside interface,
// and port forwarding (DNAT) of new connections to our outside address by the `dnat` rules.
// Headers are rewritten in place with incremental checksums (RFC 1624); nothing is allocated per
// forwarded packet but the flow key. Time is always an argument.
import {
  BROADCAST_MAC, EtherType, EthernetPacket, ETHERNET_HEADER_LEN, Icmpv4Packet, Icmpv4Type, IpProtocol, Ipv4Packet,
  TcpPacket, UdpPacket, WireError, updateChecksum16, updateChecksum32, updateUdpChecksum16, updateUdpChecksum32, DestUnreachableCode,
} from '../../wire/index.js';
import type { TableView } from '../../store/index.js';
import { ArpCache, type ArpCacheOptions } from '../iface/arp-cache.js';
import { ArpProtocol } from '../iface/arp-protocol.js';
import type { ArpEntry } from '../iface/arp-table.js';
import { dnatKey, dnatRuleProblem, type DnatRule } from './dnat-table.js';
import { IcmpErrors } from './icmp-errors.js';
import { answerEcho, ECHO_BAD_CHECKSUM, ECHO_UNSUPPORTED } from '../iface/icmp-echo.js';
import { NatEngine, type NatOptions } from './nat-engine.js';
import type { NatEntry, NatProto } from './nat-table.js';
import { onLink, type NetInterface } from '../iface/net-interface.js';

export interface RouterConfig {
  inside: NetInterface;
  outside: NetInterface;
  /** Next hop of the default route, on the outside network (none: only connected networks). */
  gateway?: number;
  nat?: NatOptions;
  arp?: ArpCacheOptions;
  icmpErrorsPerSecond?: number;
}

export interface RouterTables {
  arp: TableView<number, ArpEntry>;
  nat: TableView<string, NatEntry>;
  /** Port-forward rules; none: nothing is forwarded. */
  dnat?: TableView<string, DnatRule>;
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
}

const TTL = 8;
const CSUM = 10;
const SRC = 12;
const DST = 16;

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
    dnatHits: 0, dnatNoRule: 0, dnatBadRule: 0,
  };
  private readonly eth = EthernetPacket.newUnchecked(new Uint8Array(64));
  private readonly ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
  private readonly inner = Ipv4Packet.newUnchecked(new Uint8Array(64));
  private readonly icmp = Icmpv4Packet.newUnchecked(new Uint8Array(64));
  private readonly udp = UdpPacket.newUnchecked(new Uint8Array(64));
  private readonly tcp = TcpPacket.newUnchecked(new Uint8Array(64));

  constructor(
    readonly cfg: RouterConfig,
    tables: RouterTables,
    private readonly sendInside: (f: Uint8Array) => void,
    private readonly sendOutside: (f: Uint8Array) => void,
  ) {
    const cache = new ArpCache(tables.arp, cfg.arp);
    this.insideArp = new ArpProtocol(cfg.inside, cache, sendInside);
    this.outsideArp = new ArpProtocol(cfg.outside, cache, sendOutside);
    this.rules = tables.dnat;
    this.nat = new NatEngine(tables.nat, cfg.nat, tables.dnat);
    this.icmpErrors = new IcmpErrors(cfg.icmpErrorsPerSecond ?? 100);
    // Return traffic to an inside host that does not answer ARP: dropped and counted. An error about
    // it would go to the remote end and quote the inside address; Linux's masquerade is silent too.
    this.insideArp.onUnreachable = (_ip, frames) => { this.counters.insideUnreachable += frames.length; };
    this.outsideArp.onUnreachable = (_ip, frames) => {
      // These were NATed already: turn each back into what its inside host sent, then answer it.
      for (const f of frames) if (this.unNat(f)) this.hostUnreachable([f], this.cfg.inside, this.sendInside);
    };
  }

  receiveInside(frames: readonly Uint8Array[], now: number): void {
    for (let i = 0; i < frames.length; i++) this.fromInside(frames[i], now);
  }

  receiveOutside(frames: readonly Uint8Array[], now: number): void {
    for (let i = 0; i < frames.length; i++) this.fromOutside(frames[i], now);
  }

  /** ARP retries and failures. */
  poll(now: number): void {
    this.insideArp.poll(now);
    this.outsideArp.poll(now);
  }

  /** Coalesced NAT writes: call before each merge. */
  flush(now: number): void {
    this.nat.flush(now);
  }

  // ---------------------------------------------------------------- inside → outside

  private fromInside(frame: Uint8Array, now: number): void {
    this.counters.rxInside++;
    const me = this.cfg.inside;
    const type = this.l2(frame, me);
    if (type === EtherType.Arp) { this.insideArp.receive(frame, now); return; }
    if (type !== EtherType.Ipv4 || !this.l3(frame)) return;
    const ip = this.ip;
    const dst = ip.dst;
    if (dst === me.ip || dst === this.cfg.outside.ip) { this.local(frame, me, this.sendInside); return; }
    if (onLink(me, dst)) { this.counters.unsupported++; return; } // hairpin within the inside network
    const nextHop = onLink(this.cfg.outside, dst) ? dst : this.cfg.gateway;
    if (nextHop === undefined) {
      this.counters.noRoute++;
      this.error(frame, Icmpv4Type.DestUnreachable, DestUnreachableCode.NetUnreachable, me, this.sendInside, now);
      return;
    }
    if (ip.ttl <= 1) {
      this.counters.ttlExceeded++;
      this.error(frame, Icmpv4Type.TimeExceeded, 0, me, this.sendInside, now);
      return;
    }
    if (ip.isFragment) { this.counters.fragments++; return; } // no reassembly yet: a fragment has no ports to NAT
    if (!this.masquerade(frame, now)) return;
    this.eth.reset(frame).src = this.cfg.outside.mac;
    this.counters.forwardedOut++;
    this.outsideArp.sendTo(nextHop, frame, now);
  }

  /** Rewrites source address and port to the outside binding; false when the packet is dropped. */
  private masquerade(frame: Uint8Array, now: number): boolean {
    const ip = this.ip;
    const at = ETHERNET_HEADER_LEN + ip.headerLength;
    const len = ip.totalLength;
    const l4len = len - ip.headerLength;
    const proto = ip.protocol;
    const src = ip.src;
    const dst = ip.dst;
    const newSrc = this.cfg.outside.ip;
    if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) {
      if (l4len < (proto === IpProtocol.Tcp ? 20 : 8)) { this.counters.malformed++; return false; }
      const l4 = proto === IpProtocol.Tcp ? this.tcp.reset(frame, at, l4len) : this.udp.reset(frame, at, l4len);
      const sport = l4.srcPort;
      const flags = proto === IpProtocol.Tcp ? this.tcp.flags : 0;
      const out = this.nat.outbound(proto === IpProtocol.Tcp ? 'tcp' : 'udp', src, sport, dst, l4.dstPort, flags, len, now);
      if (out < 0) return false;
      if (proto === IpProtocol.Tcp) {
        const t = this.tcp;
        t.checksum = updateChecksum16(updateChecksum32(t.checksum, src, newSrc), sport, out);
        t.srcPort = out;
      } else {
        const u = this.udp;
        u.checksum = updateUdpChecksum16(updateUdpChecksum32(u.checksum, src, newSrc), sport, out);
        u.srcPort = out;
      }
    } else if (proto === IpProtocol.Icmp) {
      if (l4len < 8) { this.counters.malformed++; return false; }
      const icmp = this.icmp.reset(frame, at, l4len);
      if (icmp.type !== Icmpv4Type.EchoRequest) { this.counters.unsupported++; return false; }
      const id = icmp.ident;
      const out = this.nat.outbound('icmp', src, id, dst, 0, 0, len, now);
      if (out < 0) return false;
      icmp.checksum = updateChecksum16(icmp.checksum, id, out);
      icmp.ident = out;
    } else {
      this.counters.unsupported++;
      return false;
    }
    this.rewriteIp(frame, SRC, newSrc);
    return true;
  }

  // ---------------------------------------------------------------- outside → inside

  private fromOutside(frame: Uint8Array, now: number): void {
    this.counters.rxOutside++;
    const me = this.cfg.outside;
    const type = this.l2(frame, me);
    if (type === EtherType.Arp) { this.outsideArp.receive(frame, now); return; }
    if (type !== EtherType.Ipv4 || !this.l3(frame)) return;
    const ip = this.ip;
    if (ip.dst !== me.ip) { this.counters.unsolicited++; return; } // masquerade: only replies come back
    if (ip.isFragment) { this.counters.fragments++; return; }
    const at = ETHERNET_HEADER_LEN + ip.headerLength;
    const len = ip.totalLength;
    const l4len = len - ip.headerLength;
    const proto = ip.protocol;
    const src = ip.src;
    let entry: NatEntry | undefined;
    if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) {
      if (l4len < (proto === IpProtocol.Tcp ? 20 : 8)) { this.counters.malformed++; return; }
      const tcp = proto === IpProtocol.Tcp;
      const l4 = tcp ? this.tcp.reset(frame, at, l4len) : this.udp.reset(frame, at, l4len);
      const dport = l4.dstPort;
      const sport = l4.srcPort;
      const flags = tcp ? this.tcp.flags : 0;
      entry = this.nat.inbound(tcp ? 'tcp' : 'udp', dport, src, sport, flags, len, now);
      // No flow: a new connection, which a port-forward rule for this port may take inside.
      if (entry === undefined) entry = this.forward(tcp ? 'tcp' : 'udp', dport, src, sport, flags, len, now);
      if (entry === undefined) { this.counters.unsolicited++; return; }
      if (tcp) {
        this.tcp.checksum = updateChecksum16(updateChecksum32(this.tcp.checksum, me.ip, entry.insideIp), dport, entry.insidePort);
        this.tcp.dstPort = entry.insidePort;
      } else {
        this.udp.checksum = updateUdpChecksum16(updateUdpChecksum32(this.udp.checksum, me.ip, entry.insideIp), dport, entry.insidePort);
        this.udp.dstPort = entry.insidePort;
      }
    } else if (proto === IpProtocol.Icmp) {
      if (l4len < 8) { this.counters.malformed++; return; }
      const icmp = this.icmp.reset(frame, at, l4len);
      const t = icmp.type;
      if (t === Icmpv4Type.EchoRequest) { this.local(frame, me, this.sendOutside); return; }
      if (t === Icmpv4Type.EchoReply) {
        const id = icmp.ident;
        entry = this.nat.inbound('icmp', id, src, 0, 0, len, now);
        if (entry === undefined) { this.counters.unsolicited++; return; }
        icmp.checksum = updateChecksum16(icmp.checksum, id, entry.insidePort);
        icmp.ident = entry.insidePort;
      } else if (t === Icmpv4Type.DestUnreachable || t === Icmpv4Type.TimeExceeded) {
        entry = this.translateError(frame, at, l4len);
        if (entry === undefined) { this.counters.unsolicited++; return; }
      } else {
        this.counters.unsupported++;
        return;
      }
    } else {
      this.counters.unsupported++;
      return;
    }
    if (ip.ttl <= 1) {
      this.counters.ttlExceeded++;
      return;
    }
    this.rewriteIp(frame, DST, entry.insideIp);
    this.eth.reset(frame).src = this.cfg.inside.mac;
    this.counters.forwardedIn++;
    this.insideArp.sendTo(entry.insideIp, frame, now);
  }

  /**
   * A new connection to our outside address and `port`: the rule for it, if usable, makes a flow
   * from the rule's target to the remote end on that port; the caller then rewrites the destination
   * to the target, as for any return traffic. Undefined: no rule, a bad one, or the flow refused.
   */
  private forward(proto: 'tcp' | 'udp', port: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): NatEntry | undefined {
    const rules = this.rules;
    if (rules === undefined || rules.sizeBound === 0) { this.counters.dnatNoRule++; return undefined; }
    const key = dnatKey(proto, port);
    const rule = rules.get(key);
    if (rule === undefined) { this.counters.dnatNoRule++; return undefined; }
    if (dnatRuleProblem(key, rule, this.cfg.inside) !== undefined) { this.counters.dnatBadRule++; return undefined; }
    const entry = this.nat.forward(proto, port, rule.insideIp, rule.insidePort, remoteIp, remotePort, tcpFlags, len, now);
    if (entry !== undefined) this.counters.dnatHits++;
    return entry;
  }

  /**
   * An ICMP error about a datagram we NATed quotes it as the remote end saw it (from our outside
   * address and port): put the inside host's address and port back in the quote, then the caller
   * forwards the error to that host.
   */
  private translateError(frame: Uint8Array, at: number, l4len: number): NatEntry | undefined {
    const inner = this.inner;
    try {
      inner.reset(frame, at + 8, l4len - 8).checkHeader();
    } catch (err) {
      if (err instanceof WireError) { this.counters.malformed++; return undefined; }
      throw err;
    }
    const ihl = inner.headerLength;
    if (l4len - 8 < ihl + 8 || inner.src !== this.cfg.outside.ip) return undefined;
    const proto = inner.protocol;
    const l4 = at + 8 + ihl;
    let p: NatProto;
    let port: number;
    let remotePort: number;
    if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) {
      p = proto === IpProtocol.Tcp ? 'tcp' : 'udp';
      port = (frame[l4] << 8) | frame[l4 + 1];
      remotePort = (frame[l4 + 2] << 8) | frame[l4 + 3];
    } else if (proto === IpProtocol.Icmp && frame[l4] === Icmpv4Type.EchoRequest) {
      p = 'icmp';
      port = (frame[l4 + 4] << 8) | frame[l4 + 5];
      remotePort = 0;
    } else {
      return undefined;
    }
    // An error is related to the flow, not part of it (as conntrack's RELATED): the flow's state is left alone.
    const entry = this.nat.peek(p, port, inner.dst, remotePort);
    if (entry === undefined) return undefined;
    // The quoted header: source address back to the inside host's (its checksum updated), source port too.
    inner.checksum = updateChecksum32(inner.checksum, inner.src, entry.insideIp);
    inner.src = entry.insideIp;
    if (p === 'icmp') {
      frame[l4 + 4] = entry.insidePort >>> 8;
      frame[l4 + 5] = entry.insidePort & 0xff;
    } else {
      frame[l4] = entry.insidePort >>> 8;
      frame[l4 + 1] = entry.insidePort & 0xff;
    }
    // The quote is cut, so its own L4 checksum cannot be verified by anyone: the ICMP checksum covers it all.
    const icmp = this.icmp.reset(frame, at, l4len);
    icmp.fillChecksum();
    this.counters.icmpErrorsTranslated++;
    return entry;
  }

  // ---------------------------------------------------------------- shared steps

  /** Ethernet: for this interface or broadcast; returns the ethertype, or -1 (counted). */
  private l2(frame: Uint8Array, me: NetInterface): number {
    if (frame.length < ETHERNET_HEADER_LEN) { this.counters.malformed++; return -1; }
    const eth = this.eth.reset(frame);
    const dst = eth.dst;
    if (dst !== me.mac && dst !== BROADCAST_MAC) { this.counters.notForUs++; return -1; }
    const type = eth.ethertype;
    if (type !== EtherType.Arp && type !== EtherType.Ipv4) this.counters.unsupported++;
    return type;
  }

  /** IPv4 header checks: lengths, version, checksum. */
  private l3(frame: Uint8Array): boolean {
    const ip = this.ip;
    try {
      ip.reset(frame, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN).check();
    } catch (err) {
      if (err instanceof WireError) { this.counters.malformed++; return false; }
      throw err;
    }
    if (ip.version !== 4) { this.counters.malformed++; return false; }
    if (!ip.verifyChecksum()) { this.counters.badChecksum++; return false; }
    return true;
  }

  /** Sets the source or destination address, decrements the TTL, and fixes the header checksum. */
  private rewriteIp(frame: Uint8Array, field: number, addr: number): void {
    const ip = this.ip;
    const at = ETHERNET_HEADER_LEN;
    const old = field === SRC ? ip.src : ip.dst;
    const ttlWord = (frame[at + TTL] << 8) | frame[at + TTL + 1];
    frame[at + TTL]--;
    let c = updateChecksum16(ip.checksum, ttlWord, ttlWord - 0x100);
    c = updateChecksum32(c, old, addr);
    if (field === SRC) ip.src = addr;
    else ip.dst = addr;
    frame[at + CSUM] = c >>> 8;
    frame[at + CSUM + 1] = c & 0xff;
  }

  /** A packet for one of our own addresses: answer echo requests, drop the rest (counted). */
  private local(frame: Uint8Array, me: NetInterface, send: (f: Uint8Array) => void): void {
    const ip = this.ip;
    const at = ETHERNET_HEADER_LEN + ip.headerLength;
    const len = ip.totalLength - ip.headerLength;
    if (ip.protocol !== IpProtocol.Icmp || len < 8 || ip.isFragment) { this.counters.unsupported++; return; }
    const icmp = this.icmp.reset(frame, at, len);
    const n = answerEcho(this.eth.reset(frame), ip, icmp, ip.dst, me.mac); // answer from the address that was pinged
    if (n === ECHO_UNSUPPORTED) { this.counters.unsupported++; return; }
    if (n === ECHO_BAD_CHECKSUM) { this.counters.badChecksum++; return; }
    this.counters.echoAnswered++;
    send(frame.subarray(0, n));
  }

  private error(frame: Uint8Array, type: number, code: number, me: NetInterface, send: (f: Uint8Array) => void, now: number): void {
    // Never an error about an error (RFC 1812 4.3.2.7): only echo may be answered among ICMP messages.
    const ip = ETHERNET_HEADER_LEN;
    if (frame[ip + 9] === IpProtocol.Icmp) {
      const t = frame[ip + (frame[ip] & 0x0f) * 4];
      if (t !== Icmpv4Type.EchoRequest && t !== Icmpv4Type.EchoReply) return;
    }
    const e = this.icmpErrors.build(frame, type, code, me.ip, me.mac, now);
    if (e) send(e);
  }

  private hostUnreachable(frames: Uint8Array[], me: NetInterface, send: (f: Uint8Array) => void): void {
    const now = this.insideArp.lastNow;
    for (const f of frames) {
      this.counters.hostUnreachable++;
      this.error(f, Icmpv4Type.DestUnreachable, DestUnreachableCode.HostUnreachable, me, send, now);
    }
  }

  /** Turns a NATed outbound frame back into what its inside host sent (for an error about it). */
  private unNat(frame: Uint8Array): boolean {
    const ip = this.ip;
    try {
      ip.reset(frame, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN).check();
    } catch {
      return false;
    }
    const at = ETHERNET_HEADER_LEN + ip.headerLength;
    const proto = ip.protocol;
    let p: NatProto;
    let port: number;
    let rport = 0;
    if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) {
      p = proto === IpProtocol.Tcp ? 'tcp' : 'udp';
      port = (frame[at] << 8) | frame[at + 1];
      rport = (frame[at + 2] << 8) | frame[at + 3];
    } else if (proto === IpProtocol.Icmp) {
      p = 'icmp';
      port = (frame[at + 4] << 8) | frame[at + 5];
    } else {
      return false;
    }
    const e = this.nat.peek(p, port, ip.dst, rport);
    if (e === undefined) return false;
    // The error goes to the frame's source MAC: put the inside host's back (forwarding set ours).
    const mac = this.insideArp.cache.lookup(e.insideIp, this.insideArp.lastNow);
    if (mac === undefined) return false;
    this.eth.reset(frame).src = mac;
    ip.src = e.insideIp;
    ip.ttl = ip.ttl + 1;
    ip.fillChecksum();
    if (p === 'icmp') { frame[at + 4] = e.insidePort >>> 8; frame[at + 5] = e.insidePort & 0xff; }
    else { frame[at] = e.insidePort >>> 8; frame[at + 1] = e.insidePort & 0xff; }
    return true;
  }
}
