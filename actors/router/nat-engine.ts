// Masquerade for one packet actor: finds or makes a flow's binding, keeps connection state, and
// coalesces what every packet touches (last-seen, counters) into one store write per flow per merge
// interval. Ports come from this actor's own slice, so return traffic is dispatched back to it.
// Port forwarding (DNAT) makes flows the other way round: opened from outside, on a rule's port.
// The actor's memory of its flows is typed (FlowColumns, indexed by FlowSlots on integer keys): a
// packet of a known flow allocates nothing; the store's string keys and entries are built only when
// a flow is made or read off the table, and when its changes are written.
import type { TableView } from '../../store/index.js';
import { IpProtocol } from '../../wire/index.js';
import { expiresAt, expiresAtCode, initialState, nextState, stateCode } from './conntrack.js';
import { dnatKey, isForwardedFlow, type DnatRule } from './dnat-table.js';
import { COLD, DIRTY, FlowColumns, FORWARDED, USED } from './flow-columns.js';
import { FlowSlots } from './flow-slots.js';
import { CONN_STATES, natKey, type NatEntry, type NatProto } from './nat-table.js';

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
  /** Flows removed at once because the outside address changed under them (actors/router/nat-remap.ts). */
  remapExpired: number;
}

/** Remembered flows one flush looks at for idle ones (and at most 16 times as many slots). */
const SWEEP = 1024;
/** Flows the typed storage holds before its first growth (less when maxEntries is smaller). */
const INITIAL_FLOWS = 65_536;
/** Flows one engine (one packet actor) holds before new ones are dropped, unless told otherwise (--max-flows). */
export const DEFAULT_MAX_FLOWS = 65_536;

function protoCode(p: NatProto): number {
  return p === 'tcp' ? IpProtocol.Tcp : p === 'udp' ? IpProtocol.Udp : IpProtocol.Icmp;
}

function protoName(code: number): NatProto {
  return code === IpProtocol.Tcp ? 'tcp' : code === IpProtocol.Udp ? 'udp' : 'icmp';
}

export class NatEngine {
  readonly actor: number;
  readonly actors: number;
  readonly maxEntries: number;
  readonly portSearchLimit: number;
  readonly counters: NatCounters = {
    created: 0, outbound: 0, inbound: 0, preserved: 0, tableFull: 0, portsExhausted: 0, noBinding: 0, reverseRebuilds: 0, flushedWrites: 0, expired: 0,
    forwardCreated: 0, forwardClash: 0, forwardPortsSkipped: 0, remapExpired: 0,
  };
  private readonly flows: FlowColumns;
  /** A flow's inside 5-tuple, (protocol << 16 | inside port, inside address, remote address, remote port) → its slot. */
  private readonly byTuple: FlowSlots;
  /** Return traffic's (protocol << 16 | outside port, 0, remote address, remote port) → the flow's slot. */
  private readonly byReturn: FlowSlots;
  /** Flows a packet touched since they were read off the table (the slots without COLD). */
  private hot = 0;
  /** Where the bounded sweep for idle flows goes on next time. */
  private sweepAt = 0;
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
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_FLOWS;
    this.portSearchLimit = opts.portSearchLimit ?? 2_048;
    this.slice = portSlice(this.actor, this.actors);
    this.cursor = this.slice[0];
    const n = Math.min(this.maxEntries, INITIAL_FLOWS);
    this.flows = new FlowColumns(n);
    this.byTuple = new FlowSlots(n);
    this.byReturn = new FlowSlots(n);
    // A new incarnation starts from the primary's flows: index them before handing out any port.
    this.rebuildReverse(opts.now ?? 0, true);
  }

  /**
   * An inside → outside packet: returns the flow's outside port, or -1 to drop it (table full, no
   * port). `len` is the IP packet's length, for the byte counters.
   */
  outbound(proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): number {
    let s = this.hotFlow(proto, insideIp, insidePort, remoteIp, remotePort, now);
    if (s < 0) s = this.open(proto, insideIp, insidePort, remoteIp, remotePort, now);
    if (s < 0) return -1;
    const f = this.flows;
    this.counters.outbound++;
    f.pktsOut[s]++;
    f.bytesOut[s] += len;
    this.touch(s, proto, !f.has(s, FORWARDED), tcpFlags, now);
    return f.outPort[s];
  }

  /** An outside → inside packet to `outPort`: returns the flow's slot (see insideIp, insidePort), or -1 when there is none. */
  inbound(proto: NatProto, outPort: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): number {
    const a = (protoCode(proto) << 16) | outPort;
    let s = this.byReturn.find(a, 0, remoteIp, remotePort);
    if (s < 0 && this.rebuildReverse(now)) s = this.byReturn.find(a, 0, remoteIp, remotePort);
    if (s >= 0 && this.flows.has(s, COLD)) s = this.warmCold(s);
    const f = this.flows;
    if (s < 0 || !this.returnsTo(s, a, remoteIp, remotePort) || expiresAtCode(f.state[s], f.lastSeen[s]) <= now) {
      this.counters.noBinding++;
      return -1;
    }
    return this.received(s, proto, tcpFlags, len, now);
  }

  /**
   * The first packet of a connection opened from outside through a port-forward rule (the caller
   * found the rule, after `inbound` found no flow): makes the flow whose inside end is the rule's
   * target and whose outside port is the rule's, `outPort`, whichever actor's slice that falls in.
   * Returns the flow's slot, or -1 to drop the packet (table full, or a clash; counted).
   */
  forward(proto: NatProto, outPort: number, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, tcpFlags: number, len: number, now: number): number {
    let s = this.hotFlow(proto, insideIp, insidePort, remoteIp, remotePort, now);
    if (s < 0) s = this.openForward(proto, outPort, insideIp, insidePort, remoteIp, remotePort, now);
    if (s < 0) return -1;
    // The target already talks to this remote end from the same port through a masquerade binding.
    if (this.flows.outPort[s] !== outPort) {
      this.counters.forwardClash++;
      return -1;
    }
    return this.received(s, proto, tcpFlags, len, now);
  }

  /** The inside address of the flow in slot `s`. */
  insideIp(s: number): number {
    return this.flows.insideIp[s];
  }

  /** The inside port (ICMP: echo identifier) of the flow in slot `s`. */
  insidePort(s: number): number {
    return this.flows.insidePort[s];
  }

  /** The flow return traffic to `outPort` belongs to, without touching its state or counters: its slot, or -1. */
  returning(proto: NatProto, outPort: number, remoteIp: number, remotePort: number): number {
    const a = (protoCode(proto) << 16) | outPort;
    let s = this.byReturn.find(a, 0, remoteIp, remotePort);
    if (s >= 0 && this.flows.has(s, COLD)) s = this.reload(s);
    return s >= 0 && this.returnsTo(s, a, remoteIp, remotePort) ? s : -1;
  }

  /** The flow return traffic to `outPort` belongs to, as the store holds it (or as this actor knows it, before it is written). */
  peek(proto: NatProto, outPort: number, remoteIp: number, remotePort: number): NatEntry | undefined {
    const s = this.returning(proto, outPort, remoteIp, remotePort);
    return s < 0 ? undefined : (this.table.get(this.keyOf(s)) ?? this.known(s));
  }

  /**
   * Writes what packets changed since the last flush, at most `limit` flows (one store write per
   * active flow, O(flows touched)), then looks at a bounded number of remembered flows and forgets the
   * idle ones. Returns how many flows are still dirty (0: all written), so the work can be sliced.
   */
  flush(now: number, limit = Infinity): number {
    const f = this.flows;
    for (let n = 0; n < limit; ) {
      const s = f.nextQueued();
      if (s < 0) break;
      if (f.has(s, DIRTY)) { this.write(s); n++; }
    }
    this.sweepIdle(now);
    return f.dirtyCount;
  }

  /** Removes flows whose idle time is up (the expiry actor); returns how many. */
  expire(now: number): number {
    const dead: NatEntry[] = [];
    for (const [, e] of this.table.entries()) if (expiresAt(e.state, e.lastSeen) <= now) dead.push(e);
    for (const e of dead) {
      this.table.delete(natKey(e.proto, e.insideIp, e.insidePort, e.remoteIp, e.remotePort));
      const s = this.byTuple.find((protoCode(e.proto) << 16) | e.insidePort, e.insideIp, e.remoteIp, e.remotePort);
      if (s >= 0) this.forget(s);
    }
    this.counters.expired += dead.length;
    return dead.length;
  }

  /**
   * Removes every flow of `proto` from the table (this actor's branch) and from this actor's memory, at
   * once: the outside address changed and such flows cannot follow it (nat-remap.ts argues which).
   * Returns how many rows it removed, how many other rows the table keeps untouched, and how many of
   * those are live at `now` (one walk of the table: it is the cost of a remap).
   */
  dropProtocol(proto: NatProto, now: number): { dropped: number; kept: number; live: number } {
    const dead: string[] = [];
    let kept = 0, live = 0;
    for (const [k, e] of this.table.entries()) {
      if (e.proto === proto) {
        dead.push(k);
        continue;
      }
      kept++;
      if (expiresAt(e.state, e.lastSeen) > now) live++;
    }
    for (const k of dead) this.table.delete(k);
    // Cold slots too: a flow read off the table must not be warmed again from a replica that still has it.
    const f = this.flows, code = protoCode(proto);
    for (let s = 0; s < f.capacity; s++) if (f.has(s, USED) && f.proto[s] === code) this.forget(s);
    this.counters.remapExpired += dead.length;
    return { dropped: dead.length, kept, live };
  }

  get activeFlows(): number {
    return this.hot;
  }

  /** The slot of the flow if a packet touched it and it is live at `now`, else -1 (the table must be asked). */
  private hotFlow(proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, now: number): number {
    const s = this.byTuple.find((protoCode(proto) << 16) | insidePort, insideIp, remoteIp, remotePort);
    if (s < 0) return -1;
    const f = this.flows;
    return f.has(s, COLD) || expiresAtCode(f.state[s], f.lastSeen[s]) <= now ? -1 : s;
  }

  /** A masquerade flow this actor does not hold live: the table's, if live there, else a new binding. */
  private open(proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, now: number): number {
    const key = natKey(proto, insideIp, insidePort, remoteIp, remotePort);
    const stored = this.table.get(key);
    if (stored !== undefined && expiresAt(stored.state, stored.lastSeen) > now) return this.warm(stored);
    if (this.full()) return -1;
    // An expired flow's port is offered again first: the remote end may still know it.
    const port = this.allocate(proto, stored?.outPort ?? insidePort, remoteIp, remotePort, now);
    if (port < 0) {
      this.counters.portsExhausted++;
      return -1;
    }
    if (port === insidePort) this.counters.preserved++;
    return this.warm(this.add(key, proto, insideIp, insidePort, remoteIp, remotePort, port, now), false);
  }

  /** A forwarded flow this actor does not hold live: the table's, if live there, else a new one on the rule's port. */
  private openForward(proto: NatProto, outPort: number, insideIp: number, insidePort: number, remoteIp: number, remotePort: number, now: number): number {
    const key = natKey(proto, insideIp, insidePort, remoteIp, remotePort);
    const stored = this.table.get(key);
    if (stored !== undefined && expiresAt(stored.state, stored.lastSeen) > now) return this.warm(stored);
    if (this.full()) return -1;
    // A flow made before the rule may still hold the port towards this remote end: it keeps it.
    if (this.taken(proto, outPort, remoteIp, remotePort, now)) {
      this.counters.forwardClash++;
      return -1;
    }
    this.counters.forwardCreated++;
    return this.warm(this.add(key, proto, insideIp, insidePort, remoteIp, remotePort, outPort, now), true);
  }

  /** An outside → inside packet of a known flow: state, last-seen and counters. */
  private received(s: number, proto: NatProto, tcpFlags: number, len: number, now: number): number {
    const f = this.flows;
    this.counters.inbound++;
    f.pktsIn[s]++;
    f.bytesIn[s] += len;
    this.touch(s, proto, f.has(s, FORWARDED), tcpFlags, now);
    return s;
  }

  /** A packet of the flow at `now`: last-seen, a place in the next flush, the state after it. */
  private touch(s: number, proto: NatProto, outbound: boolean, tcpFlags: number, now: number): void {
    const f = this.flows;
    f.lastSeen[s] = now;
    f.markDirty(s);
    const state = CONN_STATES[f.state[s]];
    const next = nextState(state, proto, outbound, tcpFlags);
    if (next !== state) {
      f.state[s] = stateCode(next);
      this.write(s); // a state change is written at once; only counters and last-seen wait
    }
  }

  /** Return traffic's index word for the flow in slot `s` matches `a` and the remote end. */
  private returnsTo(s: number, a: number, remoteIp: number, remotePort: number): boolean {
    const f = this.flows;
    return ((f.proto[s] << 16) | f.outPort[s]) === a && f.remoteIp[s] === remoteIp >>> 0 && f.remotePort[s] === remotePort;
  }

  /** The store's key of the flow in slot `s` (built when the table is read or written, never per packet of a known flow). */
  private keyOf(s: number): string {
    const f = this.flows;
    return natKey(protoName(f.proto[s]), f.insideIp[s], f.insidePort[s], f.remoteIp[s], f.remotePort[s]);
  }

  /** The flow in slot `s` as this actor knows it, counters zero: the base of a write when the table has lost it. */
  private known(s: number): NatEntry {
    const f = this.flows;
    return {
      proto: protoName(f.proto[s]), insideIp: f.insideIp[s], insidePort: f.insidePort[s], remoteIp: f.remoteIp[s], remotePort: f.remotePort[s],
      outPort: f.outPort[s], state: CONN_STATES[f.state[s]], created: f.created[s], lastSeen: f.lastSeen[s], pktsOut: 0, pktsIn: 0, bytesOut: 0, bytesIn: 0,
    };
  }

  /** The slot of `e`'s flow: the one this actor has, or a new COLD one indexed by its tuple. */
  private slotFor(e: NatEntry): number {
    const a = (protoCode(e.proto) << 16) | e.insidePort;
    let s = this.byTuple.find(a, e.insideIp, e.remoteIp, e.remotePort);
    if (s >= 0) return s;
    const f = this.flows;
    s = f.alloc();
    f.proto[s] = protoCode(e.proto);
    f.insideIp[s] = e.insideIp;
    f.insidePort[s] = e.insidePort;
    f.remoteIp[s] = e.remoteIp;
    f.remotePort[s] = e.remotePort;
    f.outPort[s] = e.outPort;
    f.flags[s] |= COLD;
    this.byTuple.set(a, e.insideIp, e.remoteIp, e.remotePort, s);
    return s;
  }

  /** Takes binding, state, last-seen and created from `e` (the table's), indexing its return traffic. */
  private load(s: number, e: NatEntry): void {
    const f = this.flows;
    if (f.outPort[s] !== e.outPort) this.unindexReturn(s);
    f.outPort[s] = e.outPort;
    f.state[s] = stateCode(e.state);
    f.lastSeen[s] = e.lastSeen;
    f.created[s] = e.created;
    this.byReturn.set((f.proto[s] << 16) | e.outPort, 0, e.remoteIp, e.remotePort, s);
  }

  /**
   * Makes `e` (the table's) a flow packets touch, counting from zero. `forwarded`: whether a
   * port-forward rule made it; by default read off the rules (once per flow and incarnation).
   */
  private warm(e: NatEntry, forwarded = this.rules !== undefined && isForwardedFlow(e, this.rules)): number {
    const f = this.flows;
    const s = this.slotFor(e);
    f.clean(s);
    this.load(s, e);
    if (f.has(s, COLD)) this.hot++;
    f.flags[s] = (f.flags[s] & ~(COLD | FORWARDED)) | (forwarded ? FORWARDED : 0);
    return s;
  }

  /** A COLD flow a packet touched: warmed from the table, or forgotten (-1) when the table no longer has it. */
  private warmCold(s: number): number {
    const stored = this.table.get(this.keyOf(s));
    if (stored !== undefined) return this.warm(stored);
    this.forget(s);
    return -1;
  }

  /** A COLD flow read again from the table (staying COLD), or forgotten (-1) when the table no longer has it. */
  private reload(s: number): number {
    const stored = this.table.get(this.keyOf(s));
    if (stored !== undefined) {
      this.load(s, stored);
      return s;
    }
    this.forget(s);
    return -1;
  }

  /** Drops the flow from this actor's memory (the table keeps what was written). */
  private forget(s: number): void {
    const f = this.flows;
    this.byTuple.delete((f.proto[s] << 16) | f.insidePort[s], f.insideIp[s], f.remoteIp[s], f.remotePort[s]);
    this.unindexReturn(s);
    if (!f.has(s, COLD)) this.hot--;
    f.release(s);
  }

  /** Removes the return-traffic index entry of slot `s`'s binding, if it still points there (the port may serve another flow by now). */
  private unindexReturn(s: number): void {
    const f = this.flows;
    const a = (f.proto[s] << 16) | f.outPort[s];
    if (this.byReturn.find(a, 0, f.remoteIp[s], f.remotePort[s]) === s) this.byReturn.delete(a, 0, f.remoteIp[s], f.remotePort[s]);
  }

  /** Looks at up to SWEEP remembered flows from where the last sweep stopped and forgets those idle and written. */
  private sweepIdle(now: number): void {
    const f = this.flows;
    for (let seen = 0, visited = 0; seen < SWEEP && visited < 16 * SWEEP && visited < f.capacity; visited++) {
      const s = this.sweepAt;
      this.sweepAt = s + 1 >= f.capacity ? 0 : s + 1;
      if (!f.has(s, USED)) continue;
      seen++;
      if (f.has(s, DIRTY) || expiresAtCode(f.state[s], f.lastSeen[s]) > now) continue;
      // Another actor may have kept a flow this one only read alive: ask the table before forgetting it.
      // Only a live entry is loaded: a dead one's binding may be a live flow's by now, and loading would index it over that flow.
      if (f.has(s, COLD)) {
        const stored = this.table.get(this.keyOf(s));
        if (stored !== undefined && expiresAt(stored.state, stored.lastSeen) > now) {
          this.load(s, stored);
          continue;
        }
      }
      this.forget(s);
    }
  }

  private write(s: number): void {
    const f = this.flows;
    const key = this.keyOf(s);
    // Counters are added to what the store holds now, so other actors' and merges' counts are kept.
    const cur = this.table.get(key) ?? this.known(s);
    // A merge may have settled two bindings of this flow on the other one: adopt it, never write ours back over it.
    if (cur.outPort !== f.outPort[s]) {
      this.unindexReturn(s);
      f.outPort[s] = cur.outPort;
      this.byReturn.set((f.proto[s] << 16) | cur.outPort, 0, cur.remoteIp, cur.remotePort, s);
    }
    // A literal, not a spread: every entry keeps one shape, and this runs once per active flow per merge.
    const e: NatEntry = {
      proto: cur.proto,
      insideIp: cur.insideIp,
      insidePort: cur.insidePort,
      remoteIp: cur.remoteIp,
      remotePort: cur.remotePort,
      outPort: cur.outPort,
      state: CONN_STATES[f.state[s]],
      created: cur.created,
      lastSeen: Math.max(cur.lastSeen, f.lastSeen[s]),
      pktsOut: cur.pktsOut + f.pktsOut[s],
      pktsIn: cur.pktsIn + f.pktsIn[s],
      bytesOut: cur.bytesOut + f.bytesOut[s],
      bytesIn: cur.bytesIn + f.bytesIn[s],
    };
    this.table.set(key, e);
    f.clean(s);
    this.counters.flushedWrites++;
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
    const a = (protoCode(proto) << 16) | port;
    let s = this.byReturn.find(a, 0, remoteIp, remotePort);
    if (s < 0) return false;
    if (this.flows.has(s, COLD)) s = this.reload(s);
    if (s >= 0 && this.returnsTo(s, a, remoteIp, remotePort) && this.live(s, now)) return true;
    if (this.byReturn.find(a, 0, remoteIp, remotePort) >= 0) this.byReturn.delete(a, 0, remoteIp, remotePort);
    return false;
  }

  /** The flow in slot `s` holds `outPort` live at `now` (a COLD one as the table says). */
  private holds(s: number, outPort: number, now: number): boolean {
    if (!this.flows.has(s, COLD)) return this.live(s, now);
    const e = this.table.get(this.keyOf(s));
    return e !== undefined && e.outPort === outPort && expiresAt(e.state, e.lastSeen) > now;
  }

  private live(s: number, now: number): boolean {
    return expiresAtCode(this.flows.state[s], this.flows.lastSeen[s]) > now;
  }

  /** Rebuilds the return-traffic index from the table (a restarted actor, or flows merged in); at most once a second. */
  private rebuildReverse(now: number, force = false): boolean {
    if (!force && now - this.lastRebuild < 1_000) return false;
    this.lastRebuild = now;
    this.counters.reverseRebuilds++;
    // Every flow, not only this actor's ports: while another actor is down its return traffic comes here.
    for (const [, e] of this.table.entries()) this.indexReturn(e, now);
    return true;
  }

  /** Indexes `e`'s return traffic (its flow's slot COLD if this actor has none), unless another live flow holds that binding. */
  private indexReturn(e: NatEntry, now: number): void {
    const a = (protoCode(e.proto) << 16) | e.outPort;
    const held = this.byReturn.find(a, 0, e.remoteIp, e.remotePort);
    const s = this.slotFor(e);
    if (held >= 0 && held !== s && this.returnsTo(held, a, e.remoteIp, e.remotePort) && this.holds(held, e.outPort, now)) return; // a live flow keeps it
    if (this.flows.has(s, COLD)) this.load(s, e);
    else this.byReturn.set(a, 0, e.remoteIp, e.remotePort, s);
  }
}
