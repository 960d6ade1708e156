// Masquerade for one packet actor: finds or makes a flow's binding, keeps connection state, and
// coalesces what every packet touches (last-seen, counters) into one store write per flow per merge
// interval. Ports come from this actor's own slice, so return traffic is dispatched back to it.
// Port forwarding (DNAT) makes flows the other way round: opened from outside, on a rule's port.
import type { TableView } from '../../store/index.js';
import { expiresAt, initialState, nextState } from './conntrack.js';
import { dnatKey, isForwardedFlow, type DnatRule } from './dnat-table.js';
import { natKey, natReverseKey, type ConnState, type NatEntry, type NatProto } from './nat-table.js';

const FIRST = 1024;
const SPAN = 65536 - FIRST;

/** Which of `actors` packet actors owns an outside port (or ICMP identifier). */
export function portOwner(port: number, actors: number): number {
  if (actors <= 1) return 0;
  if (port < FIRST) return port % actors;
  return Math.min(actors - 1, Math.floor(((port - FIRST) * actors) / SPAN));
}

/** The ports [from, to) actor `index` allocates from. */
export function portSlice(index: number, actors: number): [number, number] {
  return [FIRST + Math.ceil((index * SPAN) / actors), FIRST + Math.ceil(((index + 1) * SPAN) / actors)];
}

export interface NatOptions {
  actor?: number;
  actors?: number;
  /** Most flows this actor tracks; past it new flows are dropped (counted). */
  maxEntries?: number;
  /** Most candidate ports tried for one new flow: the search is bounded, never a spin. */
  portSearchLimit?: number;
  /** The time the engine starts at (for which flows it indexes as live). */
  now?: number;
}

export interface NatCounters {
  created: number;
  outbound: number;
  inbound: number;
  preserved: number;
  tableFull: number;
  portsExhausted: number;
  noBinding: number;
  reverseRebuilds: number;
  flushedWrites: number;
  expired: number;
  /** Flows made by a port-forward rule. */
  forwardCreated: number;
  /** Forwards refused: the rule's inside end already talks to that remote end through another binding, or a live flow holds the port towards it. */
  forwardClash: number;
  /** Masquerade port candidates skipped because a port-forward rule takes them. */
  forwardPortsSkipped: number;
}

/** What a packet changed since the flow's last store write. */
interface HotFlow {
  entry: NatEntry;
  state: NatEntry['state'];
  lastSeen: number;
  pktsOut: number;
  pktsIn: number;
  bytesOut: number;
  bytesIn: number;
  dirty: boolean;
  /** Made by a port-forward rule: opened from outside, so conntrack's original direction is inbound. */
  forwarded: boolean;
}

export class NatEngine {
  readonly actor: number;
  readonly actors: number;
  readonly maxEntries: number;
  readonly portSearchLimit: number;
  readonly counters: NatCounters = {
    created: 0, outbound: 0, inbound: 0, preserved: 0, tableFull: 0, portsExhausted: 0, noBinding: 0, reverseRebuilds: 0, flushedWrites: 0, expired: 0,
    forwardCreated: 0, forwardClash: 0, forwardPortsSkipped: 0,
  };
  /** Return traffic's key → the flow's key, for flows this actor has seen. */
  private readonly reverse = new Map<string, string>();
  private readonly hot = new Map<string, HotFlow>();
  /** Flows with unwritten changes: a flush writes these, not every flow it remembers. */
  private dirty: [string, HotFlow][] = [];
  /** Where the bounded sweep for idle flows goes on next time. */
  private sweep: IterableIterator<[string, HotFlow]> | null = null;
  private cursor: number;
  private readonly slice: [number, number];
  private lastRebuild = -Infinity;

  /**
   * `rules`: the port-forward rules (the `dnat` table), if any: their outside ports are never handed
   * out to masqueraded flows, and flows they made are tracked in their own direction.
   */
  constructor(readonly table: TableView<string, NatEntry>, opts: NatOptions = {}, readonly rules?: TableView<string, DnatRule>) {
    this.actor = opts.actor ?? 0;
    this.actors = opts.actors ?? 1;
    this.maxEntries = opts.maxEntries ?? 65_536;
    this.portSearchLimit = opts.portSearchLimit ?? 2_048;
    this.slice = portSlice(this.actor, this.actors);
    this.cursor = this.slice[0];
    // A new incarnation starts from the primary's flows: index them before handing out any port.
    this.rebuildReverse(opts.now ?? 0, true);
  }

  /**
   * An inside → outside packet: returns the flow's outside port, or -1 to drop it (table full, no
   * port). `len` is the IP packet's length, for the byte counters.
   */
  outbound(proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): number {
    const key = natKey(proto, insideIp, insidePort, remoteIp, remotePort);
    let h = this.live(key, now);
    if (h === undefined) {
      // An expired flow's port is offered again first: the remote end may still know it.
      const e = this.create(key, proto, insideIp, insidePort, remoteIp, remotePort, this.table.get(key)?.outPort ?? insidePort, now);
      if (e === null) return -1;
      h = this.warm(key, e, false);
    }
    this.counters.outbound++;
    const next = nextState(h.state, proto, !h.forwarded, tcpFlags);
    h.pktsOut++;
    h.bytesOut += len;
    this.touch(key, h, next, now);
    return h.entry.outPort;
  }

  /** An outside → inside packet to `outPort`: returns the flow, or undefined when there is none. */
  inbound(proto: NatProto, outPort: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): NatEntry | undefined {
    const rkey = natReverseKey(proto, outPort, remoteIp, remotePort);
    let key = this.reverse.get(rkey);
    if (key === undefined && this.rebuildReverse(now)) key = this.reverse.get(rkey);
    if (key === undefined) {
      this.counters.noBinding++;
      return undefined;
    }
    let h = this.hot.get(key);
    if (h === undefined) {
      const stored = this.table.get(key);
      if (stored === undefined) {
        this.reverse.delete(rkey);
        this.counters.noBinding++;
        return undefined;
      }
      h = this.warm(key, stored);
    }
    if (h.entry.outPort !== outPort || expiresAt(h.state, h.lastSeen) <= now) {
      this.counters.noBinding++;
      return undefined;
    }
    return this.received(key, h, proto, tcpFlags, len, now);
  }

  /**
   * The first packet of a connection opened from outside through a port-forward rule (the caller
   * found the rule, after `inbound` found no flow): makes the flow whose inside end is the rule's
   * target and whose outside port is the rule's, `outPort`, whichever actor's slice that falls in.
   * Returns the flow, or undefined to drop the packet (table full, or a clash; counted).
   */
  forward(proto: NatProto, outPort: number, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): NatEntry | undefined {
    const key = natKey(proto, insideIp, insidePort, remoteIp, remotePort);
    let h = this.live(key, now);
    if (h === undefined) {
      if (this.full()) return undefined;
      // A flow made before the rule may still hold the port towards this remote end: it keeps it.
      if (this.taken(proto, outPort, remoteIp, remotePort, now)) {
        this.counters.forwardClash++;
        return undefined;
      }
      const e = this.add(key, proto, insideIp, insidePort, remoteIp, remotePort, outPort, now);
      this.counters.forwardCreated++;
      h = this.warm(key, e, true);
    }
    // The target already talks to this remote end from the same port through a masquerade binding.
    if (h.entry.outPort !== outPort) {
      this.counters.forwardClash++;
      return undefined;
    }
    return this.received(key, h, proto, tcpFlags, len, now);
  }

  /** An outside → inside packet of a known flow: state, last-seen and counters. */
  private received(key: string, h: HotFlow, proto: NatProto, tcpFlags: number, len: number, now: number): NatEntry {
    this.counters.inbound++;
    const next = nextState(h.state, proto, h.forwarded, tcpFlags);
    h.pktsIn++;
    h.bytesIn += len;
    this.touch(key, h, next, now);
    return h.entry;
  }

  /** A packet of the flow at `now`: last-seen, a place in the next flush, the state after it. */
  private touch(key: string, h: HotFlow, next: ConnState, now: number): void {
    h.lastSeen = now;
    if (!h.dirty) { h.dirty = true; this.dirty.push([key, h]); }
    if (next !== h.state) {
      h.state = next;
      this.write(key, h); // a state change is written at once; only counters and last-seen wait
    }
  }

  /** The flow return traffic to `outPort` belongs to, without touching its state or counters. */
  peek(proto: NatProto, outPort: number, remoteIp: number, remotePort: number): NatEntry | undefined {
    const key = this.reverse.get(natReverseKey(proto, outPort, remoteIp, remotePort));
    const e = key === undefined ? undefined : (this.hot.get(key)?.entry ?? this.table.get(key));
    return e !== undefined && e.outPort === outPort ? e : undefined;
  }

  /**
   * Writes what packets changed since the last flush (one store write per active flow, O(flows
   * touched)), then looks at up to `sweepLimit` remembered flows and forgets the idle ones.
   */
  flush(now: number, sweepLimit = 1024): void {
    const d = this.dirty;
    this.dirty = [];
    for (const [key, h] of d) if (h.dirty && this.hot.get(key) === h) this.write(key, h);
    let it = this.sweep ?? this.hot.entries();
    for (let i = 0; i < sweepLimit; i++) {
      const n = it.next();
      if (n.done) { it = this.hot.entries(); break; }
      const [key, h] = n.value;
      if (!h.dirty && expiresAt(h.state, h.lastSeen) <= now) {
        this.hot.delete(key);
        const rk = natReverseKey(h.entry.proto, h.entry.outPort, h.entry.remoteIp, h.entry.remotePort);
        if (this.reverse.get(rk) === key) this.reverse.delete(rk); // the port may serve another flow by now
      }
    }
    this.sweep = it;
  }

  /** Removes flows whose idle time is up (the expiry actor); returns how many. */
  expire(now: number): number {
    const dead: string[] = [];
    for (const [key, e] of this.table.entries()) if (expiresAt(e.state, e.lastSeen) <= now) dead.push(key);
    for (const key of dead) {
      this.table.delete(key);
      this.hot.delete(key);
    }
    this.counters.expired += dead.length;
    return dead.length;
  }

  get activeFlows(): number {
    return this.hot.size;
  }

  /** The flow's hot record if it is live at `now` (warmed from the table if need be), else undefined. */
  private live(key: string, now: number): HotFlow | undefined {
    const h = this.hot.get(key);
    if (h !== undefined && expiresAt(h.state, h.lastSeen) > now) return h;
    const stored = this.table.get(key);
    return stored !== undefined && expiresAt(stored.state, stored.lastSeen) > now ? this.warm(key, stored) : undefined;
  }

  /** `forwarded`: whether a port-forward rule made the flow; by default read off the rules (once per flow and incarnation). */
  private warm(key: string, e: NatEntry, forwarded = this.rules !== undefined && isForwardedFlow(e, this.rules)): HotFlow {
    const h: HotFlow = { entry: e, state: e.state, lastSeen: e.lastSeen, pktsOut: 0, pktsIn: 0, bytesOut: 0, bytesIn: 0, dirty: false, forwarded };
    this.hot.set(key, h);
    this.reverse.set(natReverseKey(e.proto, e.outPort, e.remoteIp, e.remotePort), key);
    return h;
  }

  private write(key: string, h: HotFlow): void {
    // Counters are added to what the store holds now, so other actors' and merges' counts are kept.
    const cur = this.table.get(key) ?? h.entry;
    // A merge may have settled two bindings of this flow on the other one: adopt it, never write ours back over it.
    if (cur.outPort !== h.entry.outPort) {
      this.reverse.delete(natReverseKey(h.entry.proto, h.entry.outPort, h.entry.remoteIp, h.entry.remotePort));
      this.reverse.set(natReverseKey(cur.proto, cur.outPort, cur.remoteIp, cur.remotePort), key);
    }
    // A literal, not a spread: every entry keeps one shape, and this runs once per active flow per merge.
    const e: NatEntry = {
      proto: cur.proto,
      insideIp: cur.insideIp,
      insidePort: cur.insidePort,
      remoteIp: cur.remoteIp,
      remotePort: cur.remotePort,
      outPort: cur.outPort,
      state: h.state,
      created: cur.created,
      lastSeen: Math.max(cur.lastSeen, h.lastSeen),
      pktsOut: cur.pktsOut + h.pktsOut,
      pktsIn: cur.pktsIn + h.pktsIn,
      bytesOut: cur.bytesOut + h.bytesOut,
      bytesIn: cur.bytesIn + h.bytesIn,
    };
    this.table.set(key, e);
    h.entry = e;
    h.pktsOut = h.pktsIn = h.bytesOut = h.bytesIn = 0;
    h.dirty = false;
    this.counters.flushedWrites++;
  }

  private create(key: string, proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, preferred: number, now: number): NatEntry | null {
    if (this.full()) return null;
    const port = this.allocate(proto, preferred, remoteIp, remotePort, now);
    if (port < 0) {
      this.counters.portsExhausted++;
      return null;
    }
    if (port === insidePort) this.counters.preserved++;
    return this.add(key, proto, insideIp, insidePort, remoteIp, remotePort, port, now);
  }

  /** Past `maxEntries` flows, new ones are dropped (counted). */
  private full(): boolean {
    if (this.table.sizeBound < this.maxEntries || this.table.size < this.maxEntries) return false;
    this.counters.tableFull++;
    return true;
  }

  /** A new flow, stored with its binding. */
  private add(key: string, proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, outPort: number, now: number): NatEntry {
    const e: NatEntry = {
      proto, insideIp, insidePort, remoteIp, remotePort, outPort, state: initialState(proto),
      created: now, lastSeen: now, pktsOut: 0, pktsIn: 0, bytesOut: 0, bytesIn: 0,
    };
    this.table.set(key, e);
    this.counters.created++;
    return e;
  }

  /**
   * The preferred port if this actor owns it and it is free towards this remote end; else a bounded
   * search of the slice. A port a port-forward rule takes is never handed out (not even kept).
   */
  private allocate(proto: NatProto, preferred: number, remoteIp: number, remotePort: number, now: number): number {
    // Only TCP and UDP ports can be forwarded; with no rules at all this costs one size check.
    const rules = proto !== 'icmp' && this.rules !== undefined && this.rules.sizeBound !== 0 ? this.rules : undefined;
    if (portOwner(preferred, this.actors) === this.actor && !this.taken(proto, preferred, remoteIp, remotePort, now) && !this.reserved(rules, proto, preferred)) return preferred;
    const [lo, hi] = this.slice;
    const span = hi - lo;
    for (let i = 0; i < Math.min(span, this.portSearchLimit); i++) {
      const p = this.cursor;
      this.cursor = this.cursor + 1 >= hi ? lo : this.cursor + 1;
      if (!this.taken(proto, p, remoteIp, remotePort, now) && !this.reserved(rules, proto, p)) return p;
    }
    return -1;
  }

  /** A port some port-forward rule takes (whatever the rule's target: it is the rule's port). */
  private reserved(rules: TableView<string, DnatRule> | undefined, proto: NatProto, port: number): boolean {
    if (rules === undefined || !rules.has(dnatKey(proto as 'tcp' | 'udp', port))) return false;
    this.counters.forwardPortsSkipped++;
    return true;
  }

  /** A port is taken towards a remote end while a live flow holds it; a dead flow's index entry is dropped. */
  private taken(proto: NatProto, port: number, remoteIp: number, remotePort: number, now: number): boolean {
    const rkey = natReverseKey(proto, port, remoteIp, remotePort);
    const key = this.reverse.get(rkey);
    if (key === undefined) return false;
    const e = this.hot.get(key)?.entry ?? this.table.get(key);
    if (e !== undefined && e.outPort === port && expiresAt(this.hot.get(key)?.state ?? e.state, this.hot.get(key)?.lastSeen ?? e.lastSeen) > now) return true;
    this.reverse.delete(rkey);
    return false;
  }

  /** Rebuilds the return-traffic index from the table (a restarted actor, or flows merged in); at most once a second. */
  private rebuildReverse(now: number, force = false): boolean {
    if (!force && now - this.lastRebuild < 1_000) return false;
    this.lastRebuild = now;
    this.counters.reverseRebuilds++;
    // Every flow, not only this actor's ports: while another actor is down its return traffic comes here.
    for (const [key, e] of this.table.entries()) {
      const rk = natReverseKey(e.proto, e.outPort, e.remoteIp, e.remotePort);
      const held = this.reverse.get(rk);
      if (held !== undefined && held !== key) {
        const other = this.table.get(held);
        if (other !== undefined && other.outPort === e.outPort && expiresAt(other.state, other.lastSeen) > now) continue; // a live flow keeps it
      }
      this.reverse.set(rk, key);
    }
    return true;
  }
}
