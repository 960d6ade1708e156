// The router's DHCP client on its outside interface (RFC 2131 §4.4): the client state machine with
// T1/T2 and lease expiry, retransmission with §4.1's backoff, datagrams in and out through the caller.
// Pure: time is an argument (`poll(now)`, `nextDeadline()`), randomness an injected prng.
import { ExtraOptionCode, secondsOf } from './dhcp-options.js';
import {
  BootpOp, DHCP_FLAG_BROADCAST, DhcpMessageType, DhcpPacket, DhcpRepr, maskToPrefix, WireStatus, type DhcpOption,
} from '../../wire/index.js';
import type { ClientLease, DhcpClientState } from './client-lease-table.js';

const S = 1000;
const BROADCAST = 0xffff_ffff;
const PARAMETER_REQUEST_LIST = 55;
/** What we ask for: mask, router, DNS, lease time, server id, T1, T2. */
const WANTED = new Uint8Array([1, 3, 6, 51, 54, ExtraOptionCode.RenewalTime, ExtraOptionCode.RebindingTime]);
/** BOOTP's minimum message (RFC 1542 §2.1): some relays and servers drop shorter ones. */
const BOOTP_MIN_LEN = 300;
/** A lease time we hold at most (s): "infinite" (0xffffffff) and absurd values fit the store's integers. */
const LONGEST_LEASE_S = 0x7fff_ffff;

/** A UDP datagram from port 68 to port 67: `dst` is the broadcast address or the server, `src` 0 until we have an address. */
export interface DhcpDatagram {
  payload: Uint8Array;
  src: number;
  dst: number;
}

export interface DhcpClientOptions {
  /** Our MAC (chaddr). */
  mac: number;
  /** Where datagrams go out. */
  send: (d: DhcpDatagram) => void;
  /** Uniform in [0, 1): xids and the ±1 s jitter (actors/sim/prng.ts for replayable runs). */
  random: () => number;
  /** Retransmissions of a REQUEST (selecting's or a reboot's) before going back to INIT (default 4: ~60 s, as §4.1 suggests). */
  requestRetries?: number;
}

export interface DhcpClientCounters {
  sent: number;
  retransmits: number;
  received: number;
  offers: number;
  acks: number;
  naks: number;
  /** Leases that ran out before a renewal or rebinding got an answer. */
  expired: number;
  /** Drops, one reason each. */
  malformed: number;
  notReply: number;
  wrongClient: number;
  wrongXid: number;
  noMessageType: number;
  otherServer: number;
  badOffer: number;
  badAck: number;
  unexpected: number;
}

export class DhcpClient {
  readonly counters: DhcpClientCounters = {
    sent: 0, retransmits: 0, received: 0, offers: 0, acks: 0, naks: 0, expired: 0,
    malformed: 0, notReply: 0, wrongClient: 0, wrongXid: 0, noMessageType: 0, otherServer: 0, badOffer: 0, badAck: 0, unexpected: 0,
  };
  onBound: ((lease: ClientLease) => void) | null = null;
  onLost: ((lease: ClientLease) => void) | null = null;
  onChanged: ((old: ClientLease, lease: ClientLease) => void) | null = null;
  /** Set by any state change or lease event (the caller writes the row when it sees it). */
  private st: DhcpClientState = 'init';
  private current: ClientLease | null = null;
  /** The last lease bound, kept across a loss: a later lease on another address is a change from it. */
  private previous: ClientLease | null = null;
  private xid = 0;
  /** When the exchange began (the `secs` field), and the retransmissions so far in it. */
  private began = 0;
  private tries = 0;
  private deadline = Infinity;
  /** The offer REQUESTING asks for: its address and server. */
  private offered = { ip: 0, server: 0 };
  /** NAKs since the last binding: restarts after repeated NAKs back off. */
  private naks = 0;
  private readonly view = DhcpPacket.newUnchecked(new Uint8Array(0));
  private readonly retries: number;

  constructor(private readonly opts: DhcpClientOptions) {
    this.retries = opts.requestRetries ?? 4;
  }

  get state(): DhcpClientState { return this.st; }
  /** The lease in use (bound, renewing or rebinding), or null. */
  get lease(): ClientLease | null { return this.current === null ? null : { ...this.current, state: this.st }; }

  /** Starts at `now`: INIT-REBOOT when `stored` (the table's row) is still valid, else INIT. Also takes an operator's row. */
  start(now: number, stored?: ClientLease): void {
    if (stored !== undefined && stored.expires > now) {
      this.previous = this.current ?? stored;
      this.current = { ...stored };
      this.enter('init-reboot', now);
    } else {
      this.enter('init', now);
    }
  }

  /** Gives the lease back (RFC 2131 §3.1 step 6) and stops: INIT with no timer until `start`. */
  release(now: number): void {
    const l = this.current;
    if (l !== null && (this.st === 'bound' || this.st === 'renewing' || this.st === 'rebinding')) {
      this.xid = this.newXid();
      this.transmit(DhcpMessageType.Release, now, { ciaddr: l.ip, server: l.server }, l.ip, l.server);
    }
    this.current = null;
    this.st = 'init';
    this.deadline = Infinity;
  }

  nextDeadline(): number {
    return this.deadline;
  }

  /** Runs the timer due at `now` (retransmission, T1, T2, expiry); nothing before `nextDeadline()`. */
  poll(now: number): void {
    if (now < this.deadline) return;
    const l = this.current;
    if (l !== null && now >= l.expires && (this.st === 'bound' || this.st === 'renewing' || this.st === 'rebinding')) {
      this.counters.expired++;
      this.lose(now, 0);
      return;
    }
    switch (this.st) {
      case 'init': this.discover(now); break;
      case 'selecting': this.retransmit(now, () => this.discover(now, true)); break;
      case 'requesting': this.retransmit(now, () => this.requestOffer(now, true), this.retries); break;
      case 'init-reboot': this.reboot(now); break;
      case 'rebooting': this.retransmit(now, () => this.reboot(now, true), this.retries); break;
      case 'bound': this.renew(now); break;
      case 'renewing': if (now >= l!.rebindAt) this.rebind(now); else this.renew(now, true); break;
      case 'rebinding': this.rebind(now, true); break;
    }
  }

  /** A datagram from port 67 (the UDP payload). Bad or foreign ones are counted, never thrown. */
  receive(payload: Uint8Array, now: number): void {
    this.counters.received++;
    const m = this.parse(payload);
    if (m === null) return;
    const type = m.messageType;
    if (type === DhcpMessageType.Offer && this.st === 'selecting') this.offer(m, now);
    else if (type === DhcpMessageType.Ack && this.awaitsAck()) this.ack(m, now);
    else if (type === DhcpMessageType.Nak && this.awaitsAck()) this.nak(m, now);
    else this.counters.unexpected++;
  }

  // ------------------------------------------------------------------ what comes in

  /** The message if it is a reply to our current exchange, else null (counted by reason). */
  private parse(payload: Uint8Array): DhcpRepr | null {
    const p = this.view.reset(payload);
    if (p.checkLen() !== WireStatus.Ok || !p.hasMagicCookie) { this.counters.malformed++; return null; }
    if (p.op !== BootpOp.Reply) { this.counters.notReply++; return null; }
    if (p.hlen !== 6 || p.clientMac !== this.opts.mac) { this.counters.wrongClient++; return null; }
    if (p.xid !== this.xid || this.deadline === Infinity) { this.counters.wrongXid++; return null; }
    let m: DhcpRepr;
    try {
      m = DhcpRepr.parse(p);
    } catch {
      this.counters.malformed++; // options that run past the message (wire/dhcpv4.ts says which)
      return null;
    }
    if (m.messageType === undefined) { this.counters.noMessageType++; return null; }
    return m;
  }

  private awaitsAck(): boolean {
    return this.st === 'requesting' || this.st === 'rebooting' || this.st === 'renewing' || this.st === 'rebinding';
  }

  /** The first usable offer is taken (as dhclient and udhcpc do): REQUESTING it, broadcast, same xid. */
  private offer(m: DhcpRepr, now: number): void {
    const server = m.serverId;
    if (m.yiaddr === 0 || m.yiaddr === BROADCAST || server === undefined) { this.counters.badOffer++; return; }
    this.counters.offers++;
    this.offered = { ip: m.yiaddr, server };
    this.st = 'requesting';
    this.tries = 0;
    this.requestOffer(now);
  }

  /** While REQUESTING only the chosen server speaks (the others see our REQUEST as a decline of their offer). */
  private fromChosen(m: DhcpRepr): boolean {
    if (this.st !== 'requesting' || m.serverId === this.offered.server) return true;
    this.counters.otherServer++;
    return false;
  }

  private ack(m: DhcpRepr, now: number): void {
    if (!this.fromChosen(m)) return;
    const lease = this.leaseOf(m, now);
    if (lease === null) { this.counters.badAck++; return; }
    this.counters.acks++;
    this.naks = 0;
    this.bind(lease);
  }

  private nak(m: DhcpRepr, now: number): void {
    if (!this.fromChosen(m)) return;
    this.counters.naks++;
    this.naks++;
    // The first NAK restarts at once (the server moved us: be quick); repeated ones back off, as retransmissions do.
    this.lose(now, this.naks <= 1 ? 0 : this.backoff(this.naks - 2));
  }

  /** The lease an ACK grants at `now`, or null when it grants none we can use. */
  private leaseOf(m: DhcpRepr, now: number): ClientLease | null {
    const ip = m.yiaddr !== 0 ? m.yiaddr : this.current?.ip ?? 0;
    const secs = m.leaseTime;
    if (ip === 0 || ip === BROADCAST || secs === undefined || secs === 0) return null;
    const lease = Math.min(secs, LONGEST_LEASE_S);
    // The server's T1/T2 when they are in order (T1 < T2 < lease), else §4.4.5's defaults 0.5 and 0.875.
    let t1 = secondsOf(m.options, ExtraOptionCode.RenewalTime), t2 = secondsOf(m.options, ExtraOptionCode.RebindingTime);
    if (t2 === undefined || t2 >= lease) t2 = lease * 0.875;
    if (t1 === undefined || t1 >= t2) t1 = Math.min(lease * 0.5, t2);
    return {
      ip, prefix: prefixOf(m.subnetMask), gateway: m.routers[0] ?? 0, dns: m.dnsServers,
      server: m.serverId ?? this.current?.server ?? this.offered.server, leaseSeconds: lease,
      obtained: Math.floor(now), renewAt: Math.floor(now + t1 * S), rebindAt: Math.floor(now + t2 * S), expires: Math.floor(now + lease * S), state: 'bound',
    };
  }

  // ------------------------------------------------------------------ state changes and events

  private bind(lease: ClientLease): void {
    const old = this.previous;
    this.current = lease;
    this.previous = lease;
    this.st = 'bound';
    this.deadline = lease.renewAt;
    this.onBound?.(this.lease!);
    if (old !== null && old.ip !== lease.ip) this.onChanged?.(old, this.lease!);
  }

  /** The lease is gone (expired, or NAKed): the address must not be used; back to INIT, DISCOVER after `delay`. */
  private lose(now: number, delay: number): void {
    const l = this.current;
    this.current = null;
    this.enter('init', now + delay);
    if (l !== null) this.onLost?.({ ...l, state: 'init' });
  }

  private enter(state: 'init' | 'init-reboot', at: number): void {
    this.st = state;
    this.tries = 0;
    this.deadline = at;
  }

  /** A retransmission, or (past `limit`) the end of the exchange: back to INIT (§3.1 step 5, §3.2 step 3). */
  private retransmit(now: number, again: () => void, limit = Infinity): void {
    if (this.tries >= limit) {
      const l = this.current;
      // INIT-REBOOT with no answer at all: RFC 2131 §3.2 lets us keep using the unexpired lease.
      if (this.st === 'rebooting' && l !== null && l.expires > now) this.bind({ ...l, state: 'bound' });
      else this.lose(now, 0);
      return;
    }
    this.tries++;
    this.counters.retransmits++;
    again();
  }

  // ------------------------------------------------------------------ what goes out

  private discover(now: number, again = false): void {
    if (!again) this.fresh('selecting', now);
    this.transmit(DhcpMessageType.Discover, now, {}, 0, BROADCAST);
    this.deadline = now + this.backoff(this.tries);
  }

  private requestOffer(now: number, again = false): void {
    const o = this.offered;
    this.transmit(DhcpMessageType.Request, now, { requested: o.ip, server: o.server }, 0, BROADCAST);
    this.deadline = now + this.backoff(again ? this.tries : 0);
  }

  /** INIT-REBOOT: the stored address, asked for by broadcast and with no server id (§4.3.2). */
  private reboot(now: number, again = false): void {
    if (!again) this.fresh('rebooting', now);
    this.transmit(DhcpMessageType.Request, now, { requested: this.current!.ip }, 0, BROADCAST);
    this.deadline = now + this.backoff(this.tries);
  }

  /** RENEWING: unicast to the server that granted the lease, ciaddr filled; retried per §4.4.5 until T2. */
  private renew(now: number, again = false): void {
    const l = this.current!;
    if (!again) this.fresh('renewing', now);
    this.transmit(DhcpMessageType.Request, now, { ciaddr: l.ip }, l.ip, l.server);
    this.deadline = halfwayTo(now, l.rebindAt);
  }

  /** REBINDING: the same request broadcast, to any server; retried per §4.4.5 until the lease ends. */
  private rebind(now: number, again = false): void {
    const l = this.current!;
    if (!again) this.fresh('rebinding', now);
    this.transmit(DhcpMessageType.Request, now, { ciaddr: l.ip }, l.ip, BROADCAST);
    this.deadline = halfwayTo(now, l.expires);
  }

  /** A new exchange: a new xid, its start time for `secs`, no retransmissions yet. */
  private fresh(state: DhcpClientState, now: number): void {
    this.st = state;
    this.xid = this.newXid();
    this.began = now;
    this.tries = 0;
  }

  private transmit(type: number, now: number, f: { ciaddr?: number; requested?: number; server?: number }, src: number, dst: number): void {
    const options: DhcpOption[] = [{ kind: 'message-type', value: type }];
    if (f.requested !== undefined) options.push({ kind: 'requested-ip', address: f.requested });
    if (f.server !== undefined) options.push({ kind: 'server-id', address: f.server });
    if (type !== DhcpMessageType.Release) options.push({ kind: 'raw', code: PARAMETER_REQUEST_LIST, data: WANTED });
    options.push({ kind: 'end' });
    const m = new DhcpRepr({
      op: BootpOp.Request, xid: this.xid, clientMac: this.opts.mac, ciaddr: f.ciaddr ?? 0, options,
      secs: Math.min(0xffff, Math.floor((now - this.began) / S)),
      // Without an address we cannot take a unicast reply (nor can the router's stack before the lease is set).
      flags: src === 0 ? DHCP_FLAG_BROADCAST : 0,
    });
    const short = BOOTP_MIN_LEN - m.bufferLen();
    if (short > 0) m.trailer = new Uint8Array(short);
    const payload = new Uint8Array(m.bufferLen());
    m.emit(DhcpPacket.newUnchecked(payload));
    this.counters.sent++;
    this.opts.send({ payload, src, dst });
  }

  /** RFC 2131 §4.1: 4 s before the first retransmission, doubling up to 64 s, each ±1 s uniformly. */
  private backoff(n: number): number {
    return Math.min(64, 4 * 2 ** n) * S + (this.opts.random() * 2 - 1) * S;
  }

  private newXid(): number {
    return Math.floor(this.opts.random() * 0x1_0000_0000) >>> 0;
  }
}

/** §4.4.5: half the time left until `end`, but at least 60 s, and never past `end`. */
function halfwayTo(now: number, end: number): number {
  return Math.min(end, now + Math.max(60 * S, (end - now) / 2));
}

/** The prefix of the server's subnet mask; /24 when it gave none or one with holes. */
function prefixOf(mask: number | undefined): number {
  if (mask === undefined) return 24;
  try {
    const p = maskToPrefix(mask);
    return p >= 1 && p <= 30 ? p : 24;
  } catch {
    return 24;
  }
}
