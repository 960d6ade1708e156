// The router's own services in one packet actor, on its own branch: the DHCP server (UDP 67 inside), the DNS
// cache (UDP and TCP 53 on the inside address, upstream answers to its port outside) and the outside DHCP
// client (UDP 68 outside). The Router hands them what is theirs before NAT (RouterLocal); the rest is routed.
import { checksumPending } from '../../wire/link/vnet-frames.js';
import { IpProtocol, Ipv4Packet, TcpPacket, UdpPacket, WireStatus } from '../../wire/index.js';
import { DhcpClientPort, DhcpServerPort } from '../../wire/dhcpv4.js';
import type { TableView } from '../../store/index.js';
import type { LeaseEntry } from '../dhcp/lease-table.js';
import type { ClientLease } from '../dhcp/client-lease-table.js';
import type { DnsEntry } from '../dns/dns-table.js';
import { prefixed } from '../runtime/counters.js';
import type { Router, RouterLocal } from './router.js';
import { LocalSender } from './local-sender.js';
import { DhcpService, type DhcpServiceOptions } from './dhcp-service.js';
import { DnsService, DNS_PORT, type DnsServiceOptions } from './dns-service.js';
import { OutsideLease } from './outside-lease.js';
import { dhcpOwner } from './steering.js';

const LIMITED_BROADCAST = 0xffff_ffff;

export interface LocalServicesOptions {
  actor: number;
  actors: number;
  /** The DHCP server inside (--dhcp-range); none: UDP 67 is not ours. */
  dhcp?: DhcpServiceOptions;
  /** The DNS cache: on when an upstream is given (--dns-upstream) or may come with the outside lease. */
  dns?: Omit<DnsServiceOptions, 'upstream' | 'actor' | 'actors'> & { upstream?: number };
  /** The outside address comes from DHCP (--outside NAME:dhcp). */
  outsideDhcp?: boolean;
  /** Uniform in [0, 1) for the DHCP client (actors/sim/prng.ts in tests). */
  random?: () => number;
}

export interface LocalServicesTables {
  leases: TableView<number, LeaseEntry>;
  dhcpClient: TableView<string, ClientLease>;
  dns: TableView<string, DnsEntry>;
}

export interface LocalServicesCounters {
  /** Datagrams for a service whose UDP checksum is wrong: dropped. (A cut-short header is the Router's `malformed`.) */
  badChecksum: number;
}

export class LocalServices implements RouterLocal {
  readonly dhcp: DhcpService | null = null;
  readonly dns: DnsService | null = null;
  readonly lease: OutsideLease | null = null;
  readonly insideSender: LocalSender;
  readonly outsideSender: LocalSender;
  readonly counters: LocalServicesCounters = { badChecksum: 0 };
  private readonly udp = UdpPacket.newUnchecked(new Uint8Array(64));
  private readonly tcp = TcpPacket.newUnchecked(new Uint8Array(64));

  constructor(
    private readonly router: Router,
    tables: LocalServicesTables,
    sendInside: (f: Uint8Array) => void,
    sendOutside: (f: Uint8Array) => void,
    opts: LocalServicesOptions,
  ) {
    const cfg = router.cfg;
    this.insideSender = new LocalSender(router.insideArp, sendInside, () => undefined);
    this.outsideSender = new LocalSender(router.outsideArp, sendOutside, () => cfg.gateway);
    if (opts.dhcp) this.dhcp = new DhcpService(cfg.inside, tables.leases, this.insideSender, sendInside, opts.dhcp);
    if (opts.outsideDhcp) {
      this.lease = new OutsideLease(router, tables.dhcpClient, {
        name: cfg.outside.name, owner: dhcpOwner(opts.actors) === opts.actor, sender: this.outsideSender, sendFrame: sendOutside, random: opts.random ?? Math.random,
      });
    }
    if (opts.dns && (opts.dns.upstream !== undefined || this.lease !== null)) {
      const fixed = opts.dns.upstream;
      const lease = this.lease;
      this.dns = new DnsService(cfg.inside, cfg.outside, tables.dns, this.insideSender, this.outsideSender, {
        ...opts.dns, actor: opts.actor, actors: opts.actors, upstream: () => fixed ?? lease?.dnsServer(),
      });
    }
    router.local = this;
  }

  /** Which services run, for the ready line. */
  get names(): string[] {
    return [this.dhcp && 'dhcp', this.dns && 'dns', this.lease && 'dhcp-client'].filter((n): n is string => typeof n === 'string');
  }

  // ------------------------------------------------------------------ RouterLocal

  inside(ip: Ipv4Packet, now: number): boolean {
    const me = this.router.cfg.inside.ip;
    const dst = ip.dst;
    if (ip.protocol === IpProtocol.Udp) {
      // Forwarded traffic (to neither us nor the broadcast) leaves here, before any header is read.
      if (dst !== me && dst >>> 0 !== LIMITED_BROADCAST) return false;
      const to = this.dstPort(ip, this.udp);
      if (to === DhcpServerPort && this.dhcp !== null) {
        const payload = this.udpPayload(ip);
        if (payload !== null) this.dhcp.receive(payload, now);
        return true;
      }
      if (to === DNS_PORT && this.dns !== null && dst === me) {
        const payload = this.udpPayload(ip);
        if (payload !== null) this.dns.queryUdp(ip.src, this.udp.srcPort, payload, now);
        return true;
      }
      return false;
    }
    if (ip.protocol === IpProtocol.Tcp && this.dns !== null && dst === me && this.dstPort(ip, this.tcp) === DNS_PORT) {
      this.dns.segment(ip.src, ip.payload(), now, checksumPending(ip));
      return true;
    }
    return false;
  }

  outside(ip: Ipv4Packet, now: number): boolean {
    if (ip.protocol !== IpProtocol.Udp) return false;
    const me = this.router.cfg.outside.ip;
    const dst = ip.dst;
    const to = this.dstPort(ip, this.udp);
    const from = to < 0 ? -1 : this.udp.srcPort;
    // While unbound the server may unicast to the address it offers (no broadcast flag honoured): take any.
    if (to === DhcpClientPort && from === DhcpServerPort && this.lease?.client && (dst === me || me === 0 || dst >>> 0 === LIMITED_BROADCAST)) {
      const payload = this.udpPayload(ip);
      if (payload !== null) this.lease.receive(payload, now);
      return true;
    }
    const dns = this.dns;
    if (dns !== null && to === dns.upstreamPort && from === DNS_PORT && dst === me && ip.src === dns.upstream()) {
      const payload = this.udpPayload(ip);
      return payload === null || dns.answer(payload, now);
    }
    return false;
  }

  insideArp(frame: Uint8Array): void {
    this.dhcp?.probe.observe(frame);
  }

  // ------------------------------------------------------------------ timers and merges

  /** At start: the outside lease from the row (a restart) or a fresh DISCOVER. */
  start(now: number): void {
    this.lease?.start(now);
  }

  /** After each merge and resync: the `dhcp-client` row may carry a new address (a lease, an operator's edit). */
  sync(now: number): void {
    this.lease?.sync(now);
  }

  poll(now: number): void {
    this.dhcp?.poll(now);
    this.dns?.poll(now);
    this.lease?.poll(now);
  }

  nextDeadline(): number {
    return Math.min(this.dhcp?.nextDeadline() ?? Infinity, this.dns?.nextDeadline() ?? Infinity, this.lease?.nextDeadline() ?? Infinity);
  }

  /** Every service's counters, prefixed, for the actor's stats. */
  stats(): Record<string, number> {
    const out: Record<string, number> = { ...prefixed('local', this.counters) };
    if (this.dhcp) Object.assign(out, prefixed('dhcp', this.dhcp.server.counters), prefixed('dhcp.probe', this.dhcp.probe.counters), { 'dhcp.pending': this.dhcp.server.pending });
    if (this.dns) Object.assign(out, prefixed('dns', this.dns.forwarder.counters), prefixed('dns.cache', this.dns.forwarder.cache.counters), prefixed('dns.service', this.dns.counters), prefixed('dns.tcp', this.dns.tcp.counters));
    if (this.lease) Object.assign(out, prefixed('dhcpc', this.lease.counters), this.lease.client ? prefixed('dhcpc.client', this.lease.client.counters) : {});
    Object.assign(out, prefixed('local.in', this.insideSender.counters), prefixed('local.out', this.outsideSender.counters));
    return out;
  }

  // ------------------------------------------------------------------ header checks

  /** The destination port of the UDP/TCP header `view` is pointed at, or -1 when the header is cut short. */
  private dstPort(ip: Ipv4Packet, view: UdpPacket | TcpPacket): number {
    view.resetIn(ip, ip.headerLength, ip.payloadLength);
    if (view.checkLen() !== WireStatus.Ok) return -1;
    return view.dstPort;
  }

  /** The payload of the UDP datagram `udp` points at, or null when it fails its checksum (counted). */
  private udpPayload(ip: Ipv4Packet): Uint8Array | null {
    const udp = this.udp;
    // A partial checksum (offload on, a sender on this machine) is the device's to finish: nothing to verify.
    if (udp.checksum !== 0 && !checksumPending(ip) && !udp.verifyChecksum(ip.src, ip.dst)) { this.counters.badChecksum++; return null; }
    return udp.payload();
  }
}
