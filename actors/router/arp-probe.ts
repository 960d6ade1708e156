// Address conflict detection before a DHCP offer (RFC 5227 §2.1.1, as dnsmasq pings first): an ARP
// request for the address with sender IP 0.0.0.0; any ARP from that address before the timeout says
// it is in use, silence says it is free. The DHCP server asks again until the answer is not 'pending'.
import {
  ArpOperation, ArpPacket, ArpRepr, ARP_ETHERNET_IPV4_LEN, BROADCAST_MAC, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, WireStatus,
} from '../../wire/index.js';
import type { ProbeResult } from '../dhcp/dhcp-server.js';
import type { NetInterface } from '../iface/net-interface.js';

export interface ArpProbeCounters {
  probesSent: number;
  inUse: number;
  free: number;
}

interface Probe {
  since: number;
  answered: boolean;
}

/** RFC 5227's PROBE_WAIT is 1 s; a client retransmits its DISCOVER after 4 s, so the wait fits well inside it. */
const DEFAULT_TIMEOUT_MS = 1_000;
/** Probes kept at once: the server holds at most 64 DISCOVERs (DhcpServerOptions.maxPending). */
const MAX_PROBES = 256;

export class ArpProbe {
  readonly counters: ArpProbeCounters = { probesSent: 0, inUse: 0, free: 0 };
  private readonly probes = new Map<number, Probe>();
  private readonly view = ArpPacket.newUnchecked(new Uint8Array(ARP_ETHERNET_IPV4_LEN));

  constructor(private readonly iface: NetInterface, private readonly send: (f: Uint8Array) => void, private readonly timeoutMs = DEFAULT_TIMEOUT_MS) {}

  /** The DHCP server's probe hook: 'pending' from the first ask until an answer or the timeout. */
  probe(ip: number, now: number): ProbeResult {
    const p = this.probes.get(ip);
    if (p === undefined) {
      if (this.probes.size >= MAX_PROBES) this.probes.clear(); // stale ones the server gave up on
      this.probes.set(ip, { since: now, answered: false });
      this.sendProbe(ip);
      return 'pending';
    }
    if (p.answered) { this.probes.delete(ip); this.counters.inUse++; return 'in-use'; }
    if (now - p.since < this.timeoutMs) return 'pending';
    this.probes.delete(ip);
    this.counters.free++;
    return 'free';
  }

  /** Every ARP frame received on the interface: one sent by a probed address marks it in use. */
  observe(frame: Uint8Array): void {
    if (this.probes.size === 0) return;
    const arp = this.view.reset(frame, ETHERNET_HEADER_LEN, frame.length - ETHERNET_HEADER_LEN);
    if (arp.checkLen() !== WireStatus.Ok || !arp.isEthernetIpv4 || arp.senderMac === this.iface.mac) return;
    const p = this.probes.get(arp.senderIp);
    if (p !== undefined) p.answered = true;
  }

  private sendProbe(ip: number): void {
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + ARP_ETHERNET_IPV4_LEN);
    new EthernetRepr({ dst: BROADCAST_MAC, src: this.iface.mac, ethertype: EtherType.Arp }).emit(EthernetPacket.newUnchecked(frame));
    new ArpRepr({ operation: ArpOperation.Request, senderMac: this.iface.mac, senderIp: 0, targetMac: 0, targetIp: ip })
      .emit(ArpPacket.newUnchecked(frame, ETHERNET_HEADER_LEN, ARP_ETHERNET_IPV4_LEN));
    this.counters.probesSent++;
    this.send(frame);
  }
}
