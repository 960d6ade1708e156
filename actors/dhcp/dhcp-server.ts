// The DHCP server of the inside interface (RFC 2131): DISCOVER/OFFER, REQUEST/ACK/NAK, RELEASE, DECLINE, INFORM,
// with the leases on the store's `leases` table. Every REQUEST is checked against the table as merged, so a lease
// another branch won is NAKed. Time is an argument; payloads come in and go out through the caller.
import { DhcpMessageType, DhcpPacket, DhcpRepr, BootpOp, type DhcpOption } from '../../wire/dhcpv4.js';
import { WireError } from '../../wire/error.js';
import { WireStatus } from '../../wire/status.js';
import { inSubnet, networkOf, broadcastOf, prefixToMask } from '../../wire/ipv4.js';
import type { TableView } from '../../store/index.js';
import type { LeaseEntry } from './lease-table.js';
import type { AddressPool } from './address-pool.js';
import { newDhcpCounters, type DhcpCounters } from './dhcp-counters.js';
import { buildReply, replyDestination, type DhcpDestination } from './dhcp-reply.js';
import { clientIdEcho, clientIdOf, ExtraOptionCode, hostnameOf, overloads, secondsOption } from './dhcp-options.js';

export type { DhcpDestination } from './dhcp-reply.js';
export type { DhcpCounters } from './dhcp-counters.js';

/** The conflict probe's answer for an address (the router asks ARP): `pending` until it knows. */
export type ProbeResult = 'free' | 'in-use' | 'pending';
export type AddressProbe = (ip: number, now: number) => ProbeResult;
/** A reply's UDP payload and where it goes. */
export type DhcpOut = (payload: Uint8Array, to: DhcpDestination) => void;

export interface DhcpServerOptions {
  /** Our inside address: the server identifier, and the router and DNS server the clients get. */
  address: number;
  /** The inside subnet's prefix length. */
  prefix: number;
  pool: AddressPool;
  /** Lease length, ms (default 1 h). T1 is half of it, T2 seven eighths (RFC 2131 §4.4.5). */
  leaseMs?: number;
  /** How long an offered address is kept for the client it was offered to, ms (default 60 s). */
  offerHoldMs?: number;
  /** How long a declined (or probed in-use) address is not offered, ms (default 10 min, dnsmasq's backoff). */
  declineHoldMs?: number;
  /** Conflict detection before an offer; default: every address is free. */
  probe?: AddressProbe;
  /** How often a held DISCOVER asks the probe again, and how long before it gives up, ms (default 100 and 3000). */
  probeRetryMs?: number;
  probeGiveUpMs?: number;
  /** DISCOVERs held for probes at once (default 64). */
  maxPending?: number;
  /** How often poll() reaps expired rows and re-reads the table's holders, ms (default 1000). */
  scanMs?: number;
}

/** A DISCOVER waiting for the probe of the address it is to be offered. */
interface Held {
  req: DhcpRepr;
  ip: number;
  since: number;
  retryAt: number;
}

export class DhcpServer {
  readonly counters: DhcpCounters = newDhcpCounters();
  readonly address: number;
  readonly leaseMs: number;
  private readonly opts: Required<Omit<DhcpServerOptions, 'address' | 'pool' | 'probe'>>;
  private readonly pool: AddressPool;
  private readonly probe: AddressProbe;
  private readonly network: number;
  private readonly broadcast: number;
  /** Client MAC → the address it holds, as last seen; checked against the table at each use. */
  private readonly byMac = new Map<number, number>();
  private readonly held = new Map<number, Held>();
  private readonly probing = new Set<number>();
  private readonly view = DhcpPacket.newUnchecked(new Uint8Array(0));
  private nextScan = 0;
  private earliestExpiry = Infinity;

  constructor(private readonly table: TableView<number, LeaseEntry>, private readonly out: DhcpOut, options: DhcpServerOptions) {
    this.address = options.address;
    this.pool = options.pool;
    this.probe = options.probe ?? (() => 'free');
    this.leaseMs = options.leaseMs ?? 3_600_000;
    this.opts = {
      prefix: options.prefix, leaseMs: this.leaseMs, offerHoldMs: options.offerHoldMs ?? 60_000,
      declineHoldMs: options.declineHoldMs ?? 600_000, probeRetryMs: options.probeRetryMs ?? 100,
      probeGiveUpMs: options.probeGiveUpMs ?? 3_000, maxPending: options.maxPending ?? 64, scanMs: options.scanMs ?? 1_000,
    };
    this.network = networkOf(this.address, options.prefix);
    this.broadcast = broadcastOf(this.address, options.prefix);
    this.rescan(0);
  }

  // ------------------------------------------------------------------ receive

  /** One DHCP message (a UDP payload to port 67, lent). Never throws on bad input: each drop is counted. */
  receive(payload: Uint8Array, now: number): void {
    this.counters.received++;
    const req = this.read(payload);
    if (req === undefined) return;
    switch (req.messageType) {
      case DhcpMessageType.Discover: this.counters.discovers++; this.discover(req, now); break;
      case DhcpMessageType.Request: this.counters.requests++; this.request(req, now); break;
      case DhcpMessageType.Release: this.counters.releases++; this.release(req); break;
      case DhcpMessageType.Decline: this.counters.declines++; this.decline(req, now); break;
      case DhcpMessageType.Inform: this.counters.informs++; this.inform(req); break;
      case undefined: this.counters.noMessageType++; break;
      default: this.counters.badMessageType++;
    }
  }

  /** The message as a Repr, or undefined with its drop counted. */
  private read(payload: Uint8Array): DhcpRepr | undefined {
    const p = this.view.reset(payload);
    const c = this.counters;
    if (p.checkLen() !== WireStatus.Ok) { c.truncated++; return undefined; }
    if (p.op !== BootpOp.Request) { c.notRequest++; return undefined; }
    if (p.htype !== 1 || p.hlen !== 6) { c.badHardware++; return undefined; }
    if (!p.hasMagicCookie) { c.badCookie++; return undefined; }
    let req: DhcpRepr;
    try {
      req = DhcpRepr.parse(p);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      c.badOptions++;
      return undefined;
    }
    if (overloads(req)) c.overloadIgnored++;
    return req;
  }

  // ------------------------------------------------------------------ DISCOVER

  /** RFC 2131 §4.3.1: the client's current address or reservation, else the requested one if free, else the pool's next. */
  private discover(req: DhcpRepr, now: number): void {
    const mine = this.heldBy(req.clientMac, now);
    if (mine !== undefined) { this.offer(req, mine, now); return; }
    const requested = req.requestedIp;
    const first = requested !== undefined && this.pool.has(requested) && this.isFree(requested, now) ? requested : undefined;
    this.allocate(req, now, first);
  }

  /** Probes candidates until one is free (offered), one is pending (held), or the pool has none left. */
  private allocate(req: DhcpRepr, now: number, first?: number): void {
    for (let candidate = first; ; candidate = undefined) {
      const ip = candidate ?? this.pool.next((a) => this.isFree(a, now));
      if (ip === undefined) { this.counters.poolExhausted++; return; }
      const answer = this.probe(ip, now);
      if (answer === 'free') { this.offer(req, ip, now); return; }
      if (answer === 'pending') { this.hold(req, ip, now); return; }
      this.counters.probeInUse++;
      this.markDeclined(ip, now);
    }
  }

  private hold(req: DhcpRepr, ip: number, now: number): void {
    const mac = req.clientMac;
    const was = this.held.get(mac);
    if (was === undefined && this.held.size >= this.opts.maxPending) { this.counters.pendingFull++; return; }
    if (was !== undefined) this.probing.delete(was.ip);
    this.counters.probePending++;
    this.held.set(mac, { req: ownCopy(req), ip, since: was?.since ?? now, retryAt: now + this.opts.probeRetryMs });
    this.probing.add(ip);
  }

  private offer(req: DhcpRepr, ip: number, now: number): void {
    const mac = req.clientMac;
    const row = this.table.get(ip);
    const same = row !== undefined && row.mac === mac;
    const next: LeaseEntry = same && row.state === 'bound'
      ? { ...row, hostname: hostnameFor(req, row), clientId: clientIdOf(req) }
      : {
        mac, clientId: clientIdOf(req), hostname: hostnameFor(req, same ? row : undefined), expires: now + this.opts.offerHoldMs, state: 'offered',
        kind: same && row.kind === 'static' ? 'static' : 'dynamic', created: same ? row.created : now,
      };
    this.write(ip, row, next);
    this.byMac.set(mac, ip);
    this.counters.offers++;
    this.reply(req, DhcpMessageType.Offer, ip, this.leaseOptions(req));
  }

  // ------------------------------------------------------------------ REQUEST

  /** RFC 2131 §4.3.2: which state the client is in decides the address; the table decides the answer. */
  private request(req: DhcpRepr, now: number): void {
    const sid = req.serverId;
    if (sid !== undefined && sid !== this.address) { this.withdraw(req.clientMac); return; }
    const ip = sid !== undefined ? (req.requestedIp ?? req.ciaddr) // SELECTING
      : req.ciaddr !== 0 ? req.ciaddr // RENEWING or REBINDING
        : req.requestedIp; // INIT-REBOOT
    if (ip === undefined || ip === 0) { this.counters.badRequest++; return; }
    this.confirm(req, ip, now);
  }

  /** The client chose another server: our offer to it is withdrawn, silently. */
  private withdraw(mac: number): void {
    this.counters.otherServer++;
    const ip = this.byMac.get(mac);
    const row = ip === undefined ? undefined : this.table.get(ip);
    if (ip === undefined || row === undefined || row.mac !== mac || row.state !== 'offered') return;
    if (row.kind === 'static') this.table.set(ip, { ...row, state: 'reserved', expires: 0 });
    else this.table.delete(ip);
  }

  /** ACK when the merged table gives `ip` to this client (or it is free in the range: we are authoritative), else NAK. */
  private confirm(req: DhcpRepr, ip: number, now: number): void {
    const mac = req.clientMac;
    if (!inSubnet(ip, this.network, this.opts.prefix)) { this.nak(req, 'nakWrongSubnet'); return; }
    const row = this.table.get(ip);
    if (row !== undefined && usableBy(row, mac, now)) { this.bind(req, ip, row, now); return; }
    if (row !== undefined && holds(row, now)) { this.nak(req, 'nakTaken'); return; }
    if (this.pool.has(ip) && this.isFree(ip, now)) { this.bind(req, ip, undefined, now); return; }
    this.nak(req, 'nakNotLeasable');
  }

  private bind(req: DhcpRepr, ip: number, row: LeaseEntry | undefined, now: number): void {
    const mac = req.clientMac;
    const same = row !== undefined && row.mac === mac;
    this.dropOther(mac, ip);
    this.write(ip, row, {
      mac, clientId: clientIdOf(req), hostname: hostnameFor(req, same ? row : undefined), expires: now + this.leaseMs,
      state: 'bound', kind: same && row.kind === 'static' ? 'static' : 'dynamic', created: same ? row.created : now,
    });
    this.byMac.set(mac, ip);
    this.counters.acks++;
    this.reply(req, DhcpMessageType.Ack, ip, this.leaseOptions(req));
  }

  /** One lease a client: binding a new address lets its former dynamic one go. */
  private dropOther(mac: number, ip: number): void {
    const was = this.byMac.get(mac);
    if (was === undefined || was === ip) return;
    const row = this.table.get(was);
    if (row !== undefined && row.mac === mac && row.kind === 'dynamic') this.table.delete(was);
  }

  private nak(req: DhcpRepr, reason: 'nakTaken' | 'nakWrongSubnet' | 'nakNotLeasable'): void {
    this.counters[reason]++;
    this.counters.naks++;
    this.reply(req, DhcpMessageType.Nak, 0, [{ kind: 'server-id', address: this.address }, ...clientIdEcho(req)]);
  }

  // ------------------------------------------------------------------ RELEASE, DECLINE, INFORM

  private release(req: DhcpRepr): void {
    if (req.serverId !== undefined && req.serverId !== this.address) { this.counters.otherServer++; return; }
    const ip = req.ciaddr;
    const row = this.table.get(ip);
    if (row === undefined || row.mac !== req.clientMac || row.state === 'declined') { this.counters.unknownLease++; return; }
    if (row.kind === 'static') this.table.set(ip, { ...row, state: 'reserved', expires: 0 });
    else this.table.delete(ip);
    this.byMac.delete(req.clientMac);
  }

  /** The client found its address in use (RFC 2131 §4.3.3): not offered again for the decline hold. */
  private decline(req: DhcpRepr, now: number): void {
    if (req.serverId !== undefined && req.serverId !== this.address) { this.counters.otherServer++; return; }
    const ip = req.requestedIp;
    const row = ip === undefined ? undefined : this.table.get(ip);
    if (ip === undefined || row === undefined || row.mac !== req.clientMac) { this.counters.unknownLease++; return; }
    this.byMac.delete(req.clientMac);
    this.markDeclined(ip, now);
  }

  private markDeclined(ip: number, now: number): void {
    const row = this.table.get(ip);
    const expires = now + this.opts.declineHoldMs;
    this.table.set(ip, row?.kind === 'static'
      ? { ...row, state: 'declined', expires }
      : { mac: 0, clientId: '', hostname: '', expires, state: 'declined', kind: 'dynamic', created: now });
    this.earliestExpiry = Math.min(this.earliestExpiry, expires);
  }

  /** RFC 2131 §3.4: the configuration without a lease, to the address the client already has. */
  private inform(req: DhcpRepr): void {
    this.counters.acks++;
    this.reply(req, DhcpMessageType.Ack, 0, [{ kind: 'server-id', address: this.address }, ...this.networkOptions(), ...clientIdEcho(req)]);
  }

  // ------------------------------------------------------------------ replies

  private leaseOptions(req: DhcpRepr): DhcpOption[] {
    const s = Math.floor(this.leaseMs / 1000);
    return [
      { kind: 'server-id', address: this.address },
      { kind: 'lease-time', seconds: s },
      secondsOption(ExtraOptionCode.RenewalTime, s / 2),
      secondsOption(ExtraOptionCode.RebindingTime, (s * 7) / 8),
      ...this.networkOptions(),
      ...clientIdEcho(req),
    ];
  }

  private networkOptions(): DhcpOption[] {
    return [
      { kind: 'subnet-mask', mask: prefixToMask(this.opts.prefix) },
      { kind: 'router', addresses: [this.address] },
      { kind: 'dns', addresses: [this.address] },
    ];
  }

  private reply(req: DhcpRepr, type: number, yiaddr: number, options: DhcpOption[]): void {
    this.out(buildReply(req, type, yiaddr, options), replyDestination(req, type, yiaddr));
  }

  // ------------------------------------------------------------------ the table

  /** The address this client holds or has reserved and may be offered again, if any. */
  private heldBy(mac: number, now: number): number | undefined {
    const ip = this.byMac.get(mac);
    if (ip === undefined) return undefined;
    const row = this.table.get(ip);
    if (row !== undefined && usableBy(row, mac, now)) return ip;
    this.byMac.delete(mac);
    return undefined;
  }

  /** Leasable to anyone: in the subnet, not ours or the subnet's ends, not under probe, no live row. */
  private isFree(ip: number, now: number): boolean {
    if (ip === this.address || ip === this.network || ip === this.broadcast || this.probing.has(ip)) return false;
    const row = this.table.get(ip);
    return row === undefined || !holds(row, now);
  }

  private write(ip: number, was: LeaseEntry | undefined, next: LeaseEntry): void {
    if (was === undefined || was.mac !== next.mac || was.expires !== next.expires || was.state !== next.state
      || was.kind !== next.kind || was.created !== next.created || was.hostname !== next.hostname || was.clientId !== next.clientId) {
      this.table.set(ip, next);
    }
    if (next.expires > 0) this.earliestExpiry = Math.min(this.earliestExpiry, next.expires);
  }

  // ------------------------------------------------------------------ timers

  /** Retries held DISCOVERs, and at most every scanMs (or at the earliest expiry) reaps expired rows. */
  poll(now: number): void {
    for (const [mac, h] of this.held) if (h.retryAt <= now) this.retryHeld(mac, h, now);
    if (now >= this.nextScan || now >= this.earliestExpiry) this.rescan(now);
  }

  /** When poll() next has work: a held DISCOVER's retry, an expiry, or the periodic scan. */
  nextDeadline(): number {
    let t = Math.min(this.nextScan, this.earliestExpiry);
    for (const h of this.held.values()) t = Math.min(t, h.retryAt);
    return t;
  }

  /** DISCOVERs waiting for a probe. */
  get pending(): number { return this.held.size; }

  private retryHeld(mac: number, h: Held, now: number): void {
    const answer = this.probe(h.ip, now);
    if (answer === 'pending' && now - h.since < this.opts.probeGiveUpMs) { h.retryAt = now + this.opts.probeRetryMs; return; }
    this.held.delete(mac);
    this.probing.delete(h.ip);
    if (answer === 'free') { this.offer(h.req, h.ip, now); return; }
    if (answer === 'pending') { this.counters.probeGaveUp++; return; }
    this.counters.probeInUse++;
    this.markDeclined(h.ip, now);
    this.allocate(h.req, now);
  }

  /** Reaps expired rows and re-reads who holds what (merges bring rows this server never wrote). */
  private rescan(now: number): void {
    this.byMac.clear();
    let earliest = Infinity;
    const reap: number[] = [];
    for (const [ip, row] of this.table.entries()) {
      if (row.expires > 0 && row.expires <= now) { reap.push(ip); continue; }
      if (row.expires > 0) earliest = Math.min(earliest, row.expires);
      if (row.mac !== 0 && (row.kind === 'static' || !this.byMac.has(row.mac))) this.byMac.set(row.mac, ip);
    }
    for (const ip of reap) this.expire(ip);
    this.earliestExpiry = earliest;
    this.nextScan = now + this.opts.scanMs;
  }

  private expire(ip: number): void {
    const row = this.table.get(ip)!;
    this.counters.expired++;
    if (row.kind === 'dynamic') { this.table.delete(ip); return; }
    this.table.set(ip, { ...row, state: 'reserved', expires: 0 });
    this.byMac.set(row.mac, ip);
  }
}

/** A reservation's name beats the client's (as dnsmasq's dhcp-host does); a lease keeps its name when the client sends none. */
function hostnameFor(req: DhcpRepr, row: LeaseEntry | undefined): string {
  if (row?.kind === 'static' && row.hostname !== '') return row.hostname;
  return hostnameOf(req) || (row?.hostname ?? '');
}

/** A row that keeps the address from others: any reservation, or a lease, offer or decline hold not yet expired. */
function holds(row: LeaseEntry, now: number): boolean {
  return row.kind === 'static' || row.expires > now;
}

/** Whether `mac` may have this row's address: its reservation (unless declined), or its own lease or offer, even expired. */
function usableBy(row: LeaseEntry, mac: number, now: number): boolean {
  if (row.mac !== mac || mac === 0) return false;
  if (row.state === 'declined') return row.kind === 'static' && row.expires <= now;
  return true;
}

/** A held request outlives the lent payload its Repr's byte fields view (chaddr, options): it keeps bytes of its own. */
function ownCopy(req: DhcpRepr): DhcpRepr {
  const bytes = new Uint8Array(req.bufferLen());
  req.emit(DhcpPacket.newUnchecked(bytes));
  return DhcpRepr.parse(DhcpPacket.newUnchecked(bytes));
}
