// ARP as a Linux host does it (RFC 826, RFC 5227): answer requests for our address, broadcast or
// unicast (the kernel re-probes stale neighbours with unicast requests); learn from requests and
// replies addressed to us; let gratuitous ARP update what we know; resolve next hops for senders.
import {
  ArpOperation, ArpPacket, ArpRepr, ARP_ETHERNET_IPV4_LEN, BROADCAST_MAC, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN,
  WireStatus,
} from '../../wire/index.js';
import { ArpCache } from './arp-cache.js';
import { ArpResolver, type ArpResolverOptions } from './arp-resolver.js';
import type { NetInterface } from './net-interface.js';

export interface ArpCounters {
  received: number;
  malformed: number;
  unsupported: number;
  requestsAnswered: number;
  probesAnswered: number;
  repliesLearned: number;
  gratuitous: number;
  notForUs: number;
  requestsSent: number;
  announcements: number;
  /** Replies, requests and announcements not sent because the interface was not `active` (a failover backup). */
  silenced: number;
}

const ARP_FRAME_LEN = ETHERNET_HEADER_LEN + ARP_ETHERNET_IPV4_LEN;

export class ArpProtocol {
  readonly resolver: ArpResolver;
  readonly counters: ArpCounters = {
    received: 0, malformed: 0, unsupported: 0, requestsAnswered: 0, probesAnswered: 0, repliesLearned: 0, gratuitous: 0, notForUs: 0, requestsSent: 0, announcements: 0, silenced: 0,
  };
  /**
   * False while another router holds this interface's address (a failover backup, actors/router/failover.ts): then
   * nothing is answered or sent, so the link sees one owner of the address; what is heard is still learned.
   */
  active: () => boolean = () => true;
  /** Frames whose next hop did not answer, at `now` (the poll that gave up); the router answers them with ICMP host unreachable. */
  onUnreachable: ((ip: number, frames: Uint8Array[], now: number) => void) | null = null;
  private readonly eth = EthernetPacket.newUnchecked(new Uint8Array(ARP_FRAME_LEN));
  private readonly arp = ArpPacket.newUnchecked(new Uint8Array(ARP_ETHERNET_IPV4_LEN));
  private readonly out = new Uint8Array(ARP_FRAME_LEN);
  private readonly outEth = EthernetPacket.newUnchecked(this.out);
  private readonly outArp = ArpPacket.newUnchecked(this.out, ETHERNET_HEADER_LEN, ARP_ETHERNET_IPV4_LEN);
  private readonly ethRepr = new EthernetRepr({ dst: 0, src: 0, ethertype: EtherType.Arp });
  private readonly arpRepr = new ArpRepr({ operation: 0, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 });
  private now = 0;

  constructor(
    readonly iface: NetInterface,
    readonly cache: ArpCache,
    private readonly send: (frame: Uint8Array) => void,
    resolverOpts: ArpResolverOptions = {},
  ) {
    this.resolver = new ArpResolver(
      {
        request: (ip) => this.sendRequest(ip),
        deliver: (_ip, mac, frames) => {
          for (const f of frames) {
            this.eth.reset(f).dst = mac;
            this.send(f);
          }
        },
        // The resolver gives up inside `poll(now)`, which set `this.now`.
        unreachable: (ip, frames) => this.onUnreachable?.(ip, frames, this.now),
        lookup: (ip) => this.cache.lookup(ip, this.now),
      },
      resolverOpts,
    );
  }

  /** Handles one ARP frame (Ethernet header included). */
  receive(frame: Uint8Array, now: number): void {
    this.now = now;
    this.counters.received++;
    const arp = this.arp.reset(frame, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN);
    if (arp.checkLen() !== WireStatus.Ok) { this.counters.malformed++; return; }
    if (!arp.isEthernetIpv4) {
      this.counters.unsupported++;
      return;
    }
    const op = arp.operation;
    const sip = arp.senderIp;
    const sha = arp.senderMac;
    const tip = arp.targetIp;
    const me = this.iface;
    if (sha === me.mac) return; // our own frame, looped back by a switch
    if (sip === 0) {
      // An address probe (RFC 5227): say the address is taken when it is ours; learn nothing.
      if (op === ArpOperation.Request && tip === me.ip && this.maySend()) {
        this.reply(sha, 0, sha);
        this.counters.probesAnswered++;
      }
      return;
    }
    if (sip === tip) {
      // Gratuitous ARP: an announcement. Update what we know of the sender; do not create.
      this.counters.gratuitous++;
      this.cache.update(sip, sha, now);
      this.resolver.resolved(sip, sha);
      return;
    }
    if (tip !== me.ip) {
      this.counters.notForUs++;
      this.cache.update(sip, sha, now);
      return;
    }
    this.cache.learn(sip, sha, now);
    this.resolver.resolved(sip, sha);
    if (op === ArpOperation.Request && this.maySend()) {
      this.reply(sha, sip, sha);
      this.counters.requestsAnswered++;
    } else if (op === ArpOperation.Reply) {
      this.counters.repliesLearned++;
    }
  }

  /** Sends `frame` (Ethernet header in place, destination to be filled) to `nextHop` on this link. */
  sendTo(nextHop: number, frame: Uint8Array, now: number): boolean {
    this.now = now;
    const mac = this.cache.lookup(nextHop, now);
    if (mac !== undefined) {
      this.eth.reset(frame).dst = mac;
      this.send(frame);
      return true;
    }
    return this.resolver.enqueue(nextHop, frame, now);
  }

  /** Retries and failures of pending resolutions. */
  poll(now: number): void {
    this.now = now;
    this.resolver.poll(now);
  }

  /** Broadcasts a gratuitous ARP request for our address (after coming up, or after a change). */
  announce(): void {
    if (!this.maySend()) return;
    this.build(BROADCAST_MAC, ArpOperation.Request, this.iface.ip, 0, this.iface.ip);
    this.send(this.out);
    this.counters.announcements++;
  }

  sendRequest(ip: number): void {
    if (!this.maySend()) return;
    this.build(BROADCAST_MAC, ArpOperation.Request, this.iface.ip, 0, ip);
    this.send(this.out);
    this.counters.requestsSent++;
  }

  /** True when the interface may send; counts what a backup keeps quiet. */
  private maySend(): boolean {
    if (this.active()) return true;
    this.counters.silenced++;
    return false;
  }

  private reply(dstMac: number, targetIp: number, targetMac: number): void {
    this.build(dstMac, ArpOperation.Reply, this.iface.ip, targetMac, targetIp);
    this.send(this.out);
  }

  private build(dst: number, op: number, senderIp: number, targetMac: number, targetIp: number): void {
    const e = this.ethRepr;
    e.dst = dst;
    e.src = this.iface.mac;
    e.emit(this.outEth);
    const a = this.arpRepr;
    a.operation = op;
    a.senderMac = this.iface.mac;
    a.senderIp = senderIp;
    a.targetMac = targetMac;
    a.targetIp = targetIp;
    a.emit(this.outArp);
  }
}
