// One VRRP virtual router (RFC 5798 §6.4): the state machine that decides whether this router of a failover pair is
// the master (answers ARP for the shared addresses, forwards) or a backup (silent, watching the master's adverts).
// Pure: time is an argument (`receive(adv, now)`, `poll(now)`, `nextDeadline()`) and I/O comes back as actions.
import {
  VRRP_MAX_ADVER_INTERVAL, VRRP_MULTICAST_IPV4, VRRP_PRIORITY_LEAVING, VRRP_PRIORITY_OWNER, VRRP_TTL, VrrpPacket, VrrpRepr,
} from '../../wire/vrrp.js';

/** The wire interval unit (centiseconds) in the milliseconds `now` counts. */
const CS = 10;

export type VirtualRouterState = 'initialize' | 'backup' | 'master';

/** What the caller does for the state machine, in order. */
export type VirtualRouterAction =
  /** Send this advertisement from the primary address to 224.0.0.18 with TTL 255. */
  | { kind: 'advertise'; repr: VrrpRepr }
  /** Now master: broadcast a gratuitous ARP for each address, then answer ARP for them and forward. */
  | { kind: 'master'; announce: readonly number[] }
  /** Now backup (or stopped): answer no ARP for the addresses, forward nothing. */
  | { kind: 'backup' };

/** An advertisement as received: the parsed message, and the IPv4 source and TTL it came with. */
export interface ReceivedAdvertisement {
  repr: VrrpRepr;
  /** The sender's primary address: breaks ties between equal priorities (§6.4.3). */
  src: number;
  ttl: number;
}

export interface VirtualRouterConfig {
  vrid: number;
  /** 255 when this router owns the addresses, 1..254 otherwise (§6.1). */
  priority: number;
  /** The virtual addresses. */
  addresses: readonly number[];
  /** This router's own address on the link, the source of its advertisements. */
  primaryIp: number;
  /** Advertisement_Interval in centiseconds (default 100: 1 s). */
  advertisementInterval?: number;
  /** Preempt_Mode: a higher-priority backup takes over from a lower-priority master (default true). */
  preempt?: boolean;
}

export interface VirtualRouterCounters {
  received: number;
  /** Drops, one reason each (§7.1). */
  badTtl: number;
  otherVrid: number;
  /** Advertisements of a lower-priority master that a preempting backup ignores, or that a master outranks. */
  ignored: number;
  becameMaster: number;
  becameBackup: number;
}

export class VirtualRouter {
  readonly counters: VirtualRouterCounters = { received: 0, badTtl: 0, otherVrid: 0, ignored: 0, becameMaster: 0, becameBackup: 0 };
  private st: VirtualRouterState = 'initialize';
  /** Master_Adver_Interval (cs): the interval the master we follow advertises, ours while we are master. */
  private masterAdverInterval: number;
  /** Adver_Timer (master) or Master_Down_Timer (backup); Infinity in Initialize. */
  private deadline = Infinity;
  private readonly advertisementInterval: number;
  private readonly preempt: boolean;

  constructor(private readonly cfg: VirtualRouterConfig) {
    this.advertisementInterval = cfg.advertisementInterval ?? 100;
    this.preempt = cfg.preempt ?? true;
    this.masterAdverInterval = this.advertisementInterval;
    if (cfg.priority === VRRP_PRIORITY_LEAVING) throw new RangeError('vrrp priority 0 means a master is leaving; use 1..255');
    // Emit once now, so a VRID or interval the wire cannot carry fails at start-up rather than at failover.
    const adv = this.advertisement(cfg.priority);
    adv.emit(VrrpPacket.newUnchecked(new Uint8Array(adv.bufferLen())), cfg.primaryIp, VRRP_MULTICAST_IPV4);
  }

  get state(): VirtualRouterState { return this.st; }
  get priority(): number { return this.cfg.priority; }

  /** Skew_Time in ms: a lower priority waits longer, so the best backup takes over first. */
  get skewTime(): number { return ((256 - this.cfg.priority) * this.masterAdverInterval * CS) / 256; }
  /** Master_Down_Interval in ms: three missed adverts and the skew. */
  get masterDownInterval(): number { return 3 * this.masterAdverInterval * CS + this.skewTime; }

  /** Adver_Timer while master, Master_Down_Timer while backup; Infinity while initializing. */
  nextDeadline(): number { return this.deadline; }

  /** The Startup event (§6.4.1): the owner becomes master at once, any other router a backup. */
  startup(now: number): VirtualRouterAction[] {
    if (this.st !== 'initialize') return [];
    if (this.cfg.priority === VRRP_PRIORITY_OWNER) return this.becomeMaster(now);
    return this.becomeBackup(this.advertisementInterval, now);
  }

  /** The Shutdown event: a master says it is leaving (priority 0), so a backup takes over after Skew_Time. */
  shutdown(): VirtualRouterAction[] {
    const was = this.st;
    this.st = 'initialize';
    this.deadline = Infinity;
    if (was === 'master') return [this.advertise(VRRP_PRIORITY_LEAVING), { kind: 'backup' }];
    return [];
  }

  /** The timer due at `now`: a master advertises again, a backup that heard nothing takes over. */
  poll(now: number): VirtualRouterAction[] {
    if (now < this.deadline) return [];
    if (this.st === 'master') {
      this.deadline = now + this.advertisementInterval * CS;
      return [this.advertise(this.cfg.priority)];
    }
    if (this.st === 'backup') return this.becomeMaster(now);
    return [];
  }

  /** An advertisement from the link (§6.4.2, §6.4.3), after its codec checks; the TTL and VRID are checked here (§7.1). */
  receive(adv: ReceivedAdvertisement, now: number): VirtualRouterAction[] {
    this.counters.received++;
    if (adv.ttl !== VRRP_TTL) { this.counters.badTtl++; return []; }
    if (adv.repr.vrid !== this.cfg.vrid) { this.counters.otherVrid++; return []; }
    if (this.st === 'backup') return this.receiveAsBackup(adv.repr, now);
    if (this.st === 'master') return this.receiveAsMaster(adv, now);
    return [];
  }

  /** The advertisement this router sends, with `priority` (0 as it leaves). */
  advertisement(priority: number): VrrpRepr {
    return new VrrpRepr({ vrid: this.cfg.vrid, priority, maxAdverInterval: this.advertisementInterval, addresses: [...this.cfg.addresses] });
  }

  private receiveAsBackup(adv: VrrpRepr, now: number): VirtualRouterAction[] {
    if (adv.priority === VRRP_PRIORITY_LEAVING) {
      this.deadline = now + this.skewTime;
      return [];
    }
    if (this.preempt && adv.priority < this.cfg.priority) {
      // Let the Master_Down_Timer run out: we take over from the lower-priority master.
      this.counters.ignored++;
      return [];
    }
    this.follow(adv.maxAdverInterval, now);
    return [];
  }

  private receiveAsMaster(adv: ReceivedAdvertisement, now: number): VirtualRouterAction[] {
    const theirs = adv.repr.priority;
    if (theirs === VRRP_PRIORITY_LEAVING) {
      // Another master leaving: advertise at once so the backups do not take over after Skew_Time.
      this.deadline = now + this.advertisementInterval * CS;
      return [this.advertise(this.cfg.priority)];
    }
    const mine = this.cfg.priority;
    if (theirs > mine || (theirs === mine && adv.src >>> 0 > this.cfg.primaryIp >>> 0)) {
      return this.becomeBackup(adv.repr.maxAdverInterval, now);
    }
    this.counters.ignored++;
    return [];
  }

  private becomeMaster(now: number): VirtualRouterAction[] {
    this.st = 'master';
    this.counters.becameMaster++;
    this.masterAdverInterval = this.advertisementInterval;
    this.deadline = now + this.advertisementInterval * CS;
    return [this.advertise(this.cfg.priority), { kind: 'master', announce: this.cfg.addresses }];
  }

  private becomeBackup(masterInterval: number, now: number): VirtualRouterAction[] {
    this.st = 'backup';
    this.counters.becameBackup++;
    this.follow(masterInterval, now);
    return [{ kind: 'backup' }];
  }

  /** Takes the master's interval and restarts the Master_Down_Timer from it. */
  private follow(masterInterval: number, now: number): void {
    this.masterAdverInterval = Math.min(Math.max(masterInterval, 1), VRRP_MAX_ADVER_INTERVAL);
    this.deadline = now + this.masterDownInterval;
  }

  private advertise(priority: number): VirtualRouterAction {
    return { kind: 'advertise', repr: this.advertisement(priority) };
  }
}
