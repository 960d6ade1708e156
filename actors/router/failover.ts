// One router of a failover pair (docs/ha.md), on the main thread: the VirtualRouter (RFC 5798) decides master or
// backup for the whole process, a shared cell tells every packet actor which (read per frame), and one packet actor
// sends what the state machine asks (advertisements, gratuitous ARP on becoming master).
import {
  EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, ipv4ToString, IpProtocol, Ipv4Packet, Ipv4Repr, VrrpPacket, VrrpRepr,
  VRRP_MULTICAST_IPV4, VRRP_MULTICAST_MAC, VRRP_TTL, vrrpVirtualMac,
} from '../../wire/index.js';
import type { Logger } from '../../store/index.js';
import type { FailoverReport } from '../../api/protocol.js';
import type { NetInterface } from '../iface/net-interface.js';
import type { VrrpHeard } from '../runtime/messages.js';
import { DeadlineTimer } from '../host/deadline-timer.js';
import { VirtualRouter, type ReceivedAdvertisement, type VirtualRouterAction, type VirtualRouterState } from './virtual-router.js';

export interface FailoverOptions {
  /** The Virtual Router ID, 1..255: the pair's shared MAC is vrrpVirtualMac(vrid). */
  vrid: number;
  /** 1..255; the pair's two routers need different ones (they advertise from the same address, so no tie can be broken). */
  priority: number;
  /** Between advertisements, a multiple of 10 ms (default 1000). */
  advertIntervalMs?: number;
  /** A higher-priority backup takes over from a lower-priority master (default true). */
  preempt?: boolean;
}

/**
 * Has a packet actor send `adverts` on the inside and, with `announce`, gratuitous ARP for both addresses; true once
 * one did, false when none could within `timeoutMs`.
 */
export type FailoverTransmit = (adverts: Uint8Array[], announce: boolean, timeoutMs: number) => Promise<boolean>;

export interface FailoverCounters {
  /** Advertisements and gratuitous-ARP rounds a packet actor sent for us. */
  advertsSent: number;
  announcements: number;
  /** Sends no packet actor took (none up, or none answered in time). */
  sendLost: number;
  /** Advertisements of our own priority from our own address while master: the other router has our priority (split brain). */
  samePriority: number;
}

/** How long a send may take before it counts as lost; at shutdown, how long the leaving advertisement is waited for. */
const SEND_TIMEOUT_MS = 1_000;
const SHUTDOWN_WAIT_MS = 200;
/** The split-brain error is logged at most this often. */
const SAME_PRIORITY_LOG_MS = 60_000;

export class Failover {
  /** One Int32 every packet actor reads per frame: 1 master, 0 backup or not started. */
  readonly forwarding = new SharedArrayBuffer(4);
  readonly counters: FailoverCounters = { advertsSent: 0, announcements: 0, sendLost: 0, samePriority: 0 };
  /** Called on becoming the master (the CLI syncs the tables from the peer at once). */
  onMaster: ((now: number) => void) | null = null;
  /** Epoch ms of the last change of state. */
  since: number;
  private readonly cell = new Int32Array(this.forwarding);
  private readonly vr: VirtualRouter;
  /** Null when the caller drives poll(now) itself (tests on simulated time). */
  private readonly timer: DeadlineTimer | null;
  /** A master whose gratuitous ARP no packet actor sent: sent with the next advertisement. */
  private announcePending = false;
  private samePriorityLoggedAt = -Infinity;

  constructor(
    readonly opts: FailoverOptions,
    private readonly inside: NetInterface,
    private readonly transmit: FailoverTransmit,
    private readonly log: Logger,
    now: number,
    timer: { clock: () => number } | null = { clock: Date.now },
  ) {
    const ms = opts.advertIntervalMs ?? 1_000;
    if (!Number.isInteger(ms / 10) || ms < 10) throw new RangeError(`failover: the advertisement interval must be a multiple of 10 ms, got ${ms}`);
    this.vr = new VirtualRouter({
      vrid: opts.vrid, priority: opts.priority, addresses: [inside.ip], primaryIp: inside.ip, advertisementInterval: ms / 10, preempt: opts.preempt,
    });
    this.since = now;
    this.timer = timer === null ? null : new DeadlineTimer(() => this.vr.nextDeadline(), (t) => void this.poll(t), timer.clock);
  }

  get state(): VirtualRouterState { return this.vr.state; }
  get priority(): number { return this.vr.priority; }
  /** The next time poll(now) has work (Infinity: none). */
  nextDeadline(): number { return this.vr.nextDeadline(); }

  /** Starts as a silent backup (the address owner, priority 255, as master). Call once the packet actors are up. */
  startup(now: number): Promise<boolean> {
    return this.run(this.vr.startup(now), 'startup', now);
  }

  /** An advertisement a packet actor heard (its codec checks passed). */
  heard(adv: ReceivedAdvertisement, now: number): Promise<boolean> {
    const { repr, src } = adv;
    if (this.state === 'master' && repr.vrid === this.opts.vrid && repr.priority === this.priority && src === this.inside.ip && adv.ttl === VRRP_TTL) {
      this.splitBrain(now);
    }
    return this.run(this.vr.receive(adv, now), `an advertisement of priority ${repr.priority} from ${ipv4ToString(src)}`, now);
  }

  /** The state machine's timer: a master advertises, a backup that heard nothing for Master_Down_Interval takes over. */
  poll(now: number): Promise<boolean> {
    const reason = `no advertisement for ${Math.round(this.vr.masterDownInterval)} ms`;
    return this.run(this.vr.poll(now), reason, now);
  }

  /** Stops; a master first has a packet actor send the priority-0 advertisement (waited for, briefly) so the backup takes over at once. */
  async shutdown(now: number): Promise<void> {
    this.timer?.stop();
    await this.run(this.vr.shutdown(), 'shutting down', now, SHUTDOWN_WAIT_MS);
    this.timer?.stop();
  }

  report(): FailoverReport {
    return { vrid: this.opts.vrid, priority: this.priority, state: this.state, since: this.since, counters: { ...this.vr.counters, ...this.counters } };
  }

  /** Does what the state machine asks, in order, then re-arms the timer; resolves with whether the frames went out. */
  private run(actions: VirtualRouterAction[], reason: string, now: number, timeoutMs = SEND_TIMEOUT_MS): Promise<boolean> {
    const adverts: Uint8Array[] = [];
    for (const a of actions) {
      if (a.kind === 'advertise') adverts.push(this.frame(a.repr));
      else this.become(a.kind === 'master' ? 1 : 0, reason, now);
    }
    if (this.state !== 'initialize') this.timer?.arm(now);
    const announce = this.announcePending && this.state === 'master';
    if (adverts.length === 0 && !announce) return Promise.resolve(true);
    return this.send(adverts, announce, timeoutMs);
  }

  private become(forwarding: 0 | 1, reason: string, now: number): void {
    // The cell first: the actor that announces must already see itself as master (its ARP gate opens).
    Atomics.store(this.cell, 0, forwarding);
    this.since = now;
    this.announcePending = forwarding === 1;
    this.log.warn({ vrid: this.opts.vrid, priority: this.priority, reason }, `failover: now ${forwarding === 1 ? 'master' : 'backup'}`);
    if (forwarding === 1) this.onMaster?.(now);
  }

  private async send(adverts: Uint8Array[], announce: boolean, timeoutMs: number): Promise<boolean> {
    this.announcePending = false;
    const sent = await this.transmit(adverts, announce, timeoutMs).catch(() => false);
    if (!sent) {
      this.counters.sendLost++;
      this.announcePending = announce && this.state === 'master';
      return false;
    }
    this.counters.advertsSent += adverts.length;
    if (announce) this.counters.announcements++;
    return true;
  }

  private splitBrain(now: number): void {
    this.counters.samePriority++;
    if (now - this.samePriorityLoggedAt < SAME_PRIORITY_LOG_MS) return;
    this.samePriorityLoggedAt = now;
    this.log.error({ vrid: this.opts.vrid, priority: this.priority, count: this.counters.samePriority },
      'failover: the other router advertises our priority from our address, so both may be master: give the two routers different --priority');
  }

  /** The whole advertisement frame: from the virtual MAC and the inside address to VRRP's group, TTL 255 (§5.1.1.3). */
  private frame(repr: VrrpRepr): Uint8Array {
    const vrrpLen = repr.bufferLen();
    const ip = new Ipv4Repr({ src: this.inside.ip, dst: VRRP_MULTICAST_IPV4, protocol: IpProtocol.Vrrp, payloadLen: vrrpLen, ttl: VRRP_TTL });
    const ipLen = ip.bufferLen();
    const f = new Uint8Array(ETHERNET_HEADER_LEN + ipLen + vrrpLen);
    new EthernetRepr({ dst: VRRP_MULTICAST_MAC, src: vrrpVirtualMac(this.opts.vrid), ethertype: EtherType.Ipv4 }).emit(EthernetPacket.newUnchecked(f));
    ip.emit(Ipv4Packet.newUnchecked(f, ETHERNET_HEADER_LEN, ipLen + vrrpLen));
    repr.emit(VrrpPacket.newUnchecked(f, ETHERNET_HEADER_LEN + ipLen, vrrpLen), this.inside.ip, VRRP_MULTICAST_IPV4);
    return f;
  }
}

/** The advertisement a VrrpHeard message carries, as the VirtualRouter takes it. */
export function receivedAdvertisement(m: VrrpHeard): ReceivedAdvertisement {
  const repr = new VrrpRepr({ vrid: m.vrid, priority: m.priority, maxAdverInterval: m.maxAdverInterval, addresses: m.addresses });
  return { repr, src: m.src, ttl: m.ttl };
}
