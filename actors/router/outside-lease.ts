// The outside interface's address from DHCP (`--outside tap-out:dhcp`): the owner of port 68 runs the
// DhcpClient and writes its lease to the `dhcp-client` row; every actor follows that row after each merge
// and remaps its NAT when the address in it is not the one it uses (docs/router.md#nat-remap).
import { DhcpClientPort, DhcpServerPort } from '../../wire/dhcpv4.js';
import type { TableView } from '../../store/index.js';
import { DhcpClient } from '../dhcp/dhcp-client.js';
import type { ClientLease } from '../dhcp/client-lease-table.js';
import { remapOutside, unbindOutside, type RemapResult, type RemapTarget } from './nat-remap.js';
import type { LocalSender } from './local-sender.js';

export interface OutsideLeaseOptions {
  /** The row's key: the outside interface's name. */
  name: string;
  /** This actor runs the client (steering.ts's dhcpOwner) and announces each new address with a gratuitous ARP. */
  owner: boolean;
  sender: LocalSender;
  /** Raw frames out on the outside link (the gratuitous ARP). */
  sendFrame: (f: Uint8Array) => void;
  /** Uniform in [0, 1): the client's xids and jitter. */
  random: () => number;
}

export interface OutsideLeaseCounters {
  /** Remaps done on this actor (each moved every binding to a new address). */
  remaps: number;
  /** Rows whose address could not be used (the broadcast address): ignored. */
  badRows: number;
  /** Times this actor gave its address up: the lease was lost (expired or NAKed), or the row said 0.0.0.0. */
  unbinds: number;
  /** Operator edits of the row the owner's client restarted from (INIT-REBOOT with the edited address). */
  operatorEdits: number;
  announcements: number;
}

const BOUND = new Set(['bound', 'renewing', 'rebinding']);

export class OutsideLease {
  readonly client: DhcpClient | null;
  readonly counters: OutsideLeaseCounters = { remaps: 0, badRows: 0, unbinds: 0, operatorEdits: 0, announcements: 0 };
  /** The last remap's (or unbind's) outcome (the SIGUSR1 summary and tests read it). */
  lastRemap: RemapResult | null = null;
  private now = 0;

  constructor(private readonly router: RemapTarget, private readonly table: TableView<string, ClientLease>, private readonly opts: OutsideLeaseOptions) {
    if (!opts.owner) { this.client = null; return; }
    const outside = router.cfg.outside;
    const client = new DhcpClient({
      mac: outside.mac,
      random: opts.random,
      send: ({ payload, src, dst }) => { opts.sender.udp(src, dst, DhcpClientPort, DhcpServerPort, payload, this.now); },
    });
    client.onBound = (lease) => this.bound(lease);
    client.onLost = (lease) => this.lost(lease);
    this.client = client;
  }

  /** The lease as the row says (every actor's view after its last merge). */
  get row(): ClientLease | undefined {
    return this.table.get(this.opts.name);
  }

  /** The lease's first DNS server, if any: the forwarder's upstream when --dns-upstream is not given. */
  dnsServer(): number | undefined {
    return this.row?.dns[0];
  }

  /** Starts the client: INIT-REBOOT from the row when it still holds an unexpired lease (a restart), else INIT. */
  start(now: number): void {
    this.now = now;
    const row = this.row;
    if (row !== undefined) this.follow(row, now);
    this.client?.start(now, row !== undefined && row.ip !== 0 ? row : undefined);
  }

  /** A UDP payload from port 67 to our port 68 on the outside. */
  receive(payload: Uint8Array, now: number): void {
    this.now = now;
    this.client?.receive(payload, now);
  }

  poll(now: number): void {
    this.now = now;
    this.client?.poll(now);
  }

  nextDeadline(): number {
    return this.client?.nextDeadline() ?? Infinity;
  }

  /**
   * After a merge or resync: the row's address is the one to use. Another address than ours is a lease the
   * owner got (remap here too) or an operator's edit (remap everywhere; the owner's client asks the server for it).
   * A row at 0.0.0.0 is a lost lease (or an operator's release): the address is given up, the owner asks anew.
   */
  sync(now: number): void {
    this.now = now;
    const row = this.row;
    if (row === undefined || row.ip === this.router.cfg.outside.ip) return;
    const client = this.client;
    if (client !== null && client.lease?.ip !== row.ip) {
      this.counters.operatorEdits++;
      client.start(now, row.ip === 0 ? undefined : row);
    }
    this.follow(row, now);
  }

  /** The client's ACK: the row is written on this branch, and the address used at once. */
  private bound(lease: ClientLease): void {
    this.table.set(this.opts.name, lease);
    this.follow(lease, this.now);
  }

  /**
   * The client's lease expired or was NAKed (RFC 2131 §4.4.5: stop using the address): given up here at once,
   * and on the row for the other actors, unless the row already says another address (an edit not yet synced).
   */
  private lost(lease: ClientLease): void {
    const row = this.row;
    if (row === undefined || row.ip === lease.ip) {
      // A row, not a delete: option() revives a row added on the other side since the base; a later `obtained` beats the lost lease in any order.
      const at = Math.max(Math.floor(this.now), lease.obtained + 1, (row?.obtained ?? 0) + 1);
      this.table.set(this.opts.name, {
        ip: 0, prefix: 32, gateway: 0, dns: [], server: lease.server, leaseSeconds: 0, obtained: at, renewAt: at, rebindAt: at, expires: at, state: 'init',
      });
    }
    this.unbind(this.now);
  }

  private unbind(now: number): void {
    const r = unbindOutside(this.router, now);
    if (!r.changed) return;
    this.counters.unbinds++;
    this.lastRemap = r;
  }

  private follow(lease: ClientLease, now: number): void {
    const outside = this.router.cfg.outside;
    if (lease.ip === outside.ip) return;
    if (lease.ip === 0) { this.unbind(now); return; }
    // An expired or stopped lease is the row of a client that will ask again: its address is not ours to use.
    if (lease.expires <= now && BOUND.has(lease.state)) return;
    const r = remapOutside(this.router, outside.ip, lease.ip, now, { prefix: lease.prefix, gateway: lease.gateway === 0 ? undefined : lease.gateway });
    if (!r.changed) { this.counters.badRows++; return; }
    this.counters.remaps++;
    this.lastRemap = r;
    if (this.opts.owner && r.announcement !== null) {
      this.opts.sendFrame(r.announcement);
      this.counters.announcements++;
    }
  }
}
