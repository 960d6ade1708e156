// The DHCP server on the router's inside interface: a DhcpServer on this actor's `leases` table, its
// replies sent from the inside address (to chaddr or broadcast as RFC 2131 §4.1 says), and its
// conflict probe an ARP probe on the inside network.
import { DhcpServerPort } from '../../wire/dhcpv4.js';
import type { TableView } from '../../store/index.js';
import { DhcpServer, type DhcpServerOptions } from '../dhcp/dhcp-server.js';
import type { LeaseEntry } from '../dhcp/lease-table.js';
import type { AddressPool } from '../dhcp/address-pool.js';
import type { NetInterface } from '../iface/net-interface.js';
import { ArpProbe } from './arp-probe.js';
import type { LocalSender } from './local-sender.js';

export interface DhcpServiceOptions {
  pool: AddressPool;
  leaseMs?: number;
  /** How long an ARP probe waits for an answer, ms (ArpProbe's default: 1 s). */
  probeTimeoutMs?: number;
  /** Anything else the server takes (tests shorten its holds). */
  server?: Partial<Omit<DhcpServerOptions, 'address' | 'prefix' | 'pool' | 'leaseMs' | 'probe'>>;
}

export class DhcpService {
  readonly server: DhcpServer;
  readonly probe: ArpProbe;
  /** The server's `out` carries no time: the time of the call that made the reply (ARP wants one). */
  private now = 0;

  constructor(inside: NetInterface, leases: TableView<number, LeaseEntry>, sender: LocalSender, sendFrame: (f: Uint8Array) => void, opts: DhcpServiceOptions) {
    this.probe = new ArpProbe(inside, sendFrame, opts.probeTimeoutMs);
    this.server = new DhcpServer(
      leases,
      (payload, to) => { sender.udp(inside.ip, to.ip, DhcpServerPort, to.port, payload, this.now, to.mac); },
      {
        ...opts.server, address: inside.ip, prefix: inside.prefix, pool: opts.pool, leaseMs: opts.leaseMs,
        probe: (ip, t) => this.probe.probe(ip, t),
      },
    );
  }

  /** A UDP payload to port 67 on the inside (broadcast or our address). */
  receive(payload: Uint8Array, now: number): void {
    this.now = now;
    this.server.receive(payload, now);
  }

  /** Held DISCOVERs' probes, expiries. */
  poll(now: number): void {
    this.now = now;
    this.server.poll(now);
  }

  nextDeadline(): number {
    return this.server.nextDeadline();
  }
}
