// An in-process learning L2 switch: any number of ports, each a Link (a ring to a node on this or another thread,
// a TAP, anything), MAC learning with aging, flooding of broadcast, multicast and unknown destinations.
import { macToString } from '../ethernet.js';
import type { Link } from './link.js';
import { RingLink, ringLinkPair, type RingLinkEnd } from './ring-link.js';

/** MAC addresses as 48-bit numbers, as wire/ethernet.ts has them. */
const TWO32 = 0x1_0000_0000;

interface MacEntry {
  port: number;
  lastSeen: number;
}

/** Where each source address was last seen; entries not refreshed for `agingMs` are gone. Time is always an argument. */
export class MacTable {
  private readonly entries = new Map<number, MacEntry>();

  constructor(
    readonly agingMs = 300_000,
    readonly maxEntries = 8192,
  ) {}

  /** Records that `mac` sent from `port` at `now`. False when the table is full of live entries (not learned). */
  learn(mac: number, port: number, now: number): boolean {
    const e = this.entries.get(mac);
    if (e !== undefined) {
      e.port = port;
      e.lastSeen = now;
      return true;
    }
    if (this.entries.size >= this.maxEntries && (this.expire(now) === 0 || this.entries.size >= this.maxEntries)) return false;
    this.entries.set(mac, { port, lastSeen: now });
    return true;
  }

  /** The port `mac` was last seen on, or undefined when unknown or aged out. */
  lookup(mac: number, now: number): number | undefined {
    const e = this.entries.get(mac);
    if (e === undefined) return undefined;
    if (now - e.lastSeen >= this.agingMs) {
      this.entries.delete(mac);
      return undefined;
    }
    return e.port;
  }

  /** Removes every entry older than the aging time; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [mac, e] of this.entries) {
      if (now - e.lastSeen >= this.agingMs) {
        this.entries.delete(mac);
        n++;
      }
    }
    return n;
  }

  /** Forgets every address learned on `port` (the port went away). */
  forgetPort(port: number): void {
    for (const [mac, e] of this.entries) if (e.port === port) this.entries.delete(mac);
  }

  get size(): number {
    return this.entries.size;
  }

  /** For display and tests: 'aa:bb:cc:dd:ee:ff' -> port and last-seen time. */
  snapshot(): { mac: string; port: number; lastSeen: number }[] {
    return [...this.entries].map(([mac, e]) => ({ mac: macToString(mac), port: e.port, lastSeen: e.lastSeen }));
  }
}

export interface VirtualSwitchOptions {
  /** MAC entries not refreshed for this long are forgotten (ms of `clock`). Default 300 s, as 802.1D. */
  agingMs?: number;
  maxEntries?: number;
  /** The time frames arriving on ports are stamped with, in ms; a test passes a simulated clock. */
  clock?: () => number;
}

export interface SwitchCounters {
  /** Frames sent to exactly one known port. */
  forwarded: number;
  /** Frames copied to every other port (broadcast, multicast, unknown destination). */
  flooded: number;
  /** Frames dropped because the destination sits on the port they came from. */
  filtered: number;
  /** Frames shorter than an Ethernet header. */
  runts: number;
  /** Egress copies a port refused (its queue or ring was full). */
  egressDropped: number;
  /** Source addresses not learned because the table was full. */
  tableFull: number;
}

interface Port {
  link: Link;
  /** Links the switch made (connect) are closed with the port; attached ones belong to the caller. */
  owned: boolean;
}

export class VirtualSwitch {
  readonly macTable: MacTable;
  readonly counters: SwitchCounters = { forwarded: 0, flooded: 0, filtered: 0, runts: 0, egressDropped: 0, tableFull: 0 };
  private readonly ports: (Port | undefined)[] = [];
  private readonly clock: () => number;
  private lastSweep = -Infinity;

  constructor(options: VirtualSwitchOptions = {}) {
    this.macTable = new MacTable(options.agingMs ?? 300_000, options.maxEntries ?? 8192);
    this.clock = options.clock ?? (() => performance.now());
  }

  /** Makes `link` a port: frames it receives are switched, frames for it are sent on it. Returns the port number. */
  attach(link: Link): number {
    return this.addPort(link, false);
  }

  /** A new port with a node on this thread: the returned link is the node's end of the cable. */
  connect(capacity = 1 << 20): RingLink {
    const [node, sw] = ringLinkPair(`switch/${this.ports.length}`, capacity);
    this.addPort(new RingLink(sw), true);
    return new RingLink(node);
  }

  /** A new port with a node on another thread: post the returned end there and open it with `new RingLink(end)`. */
  connectRemote(capacity = 1 << 20): RingLinkEnd {
    const [node, sw] = ringLinkPair(`switch/${this.ports.length}`, capacity);
    this.addPort(new RingLink(sw), true);
    return node;
  }

  /** Removes a port: no more frames from it or to it; its learned addresses are forgotten. */
  detach(port: number): void {
    const p = this.ports[port];
    if (p === undefined) return;
    this.ports[port] = undefined;
    p.link.onFrames(null);
    if (p.owned) p.link.close();
    this.macTable.forgetPort(port);
  }

  /** The link behind a port, for its counters. */
  port(port: number): Link | undefined {
    return this.ports[port]?.link;
  }

  get portCount(): number {
    let n = 0;
    for (const p of this.ports) if (p !== undefined) n++;
    return n;
  }

  /**
   * Switches a batch of frames that arrived on `port` at `now`: learn each source, then forward, flood or filter.
   * Ports call this on every batch; tests call it directly with a simulated time.
   */
  input(port: number, frames: readonly Uint8Array[], now: number): void {
    if (now - this.lastSweep >= this.macTable.agingMs / 4) {
      this.lastSweep = now;
      this.macTable.expire(now);
    }
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (f.length < 14) {
        this.counters.runts++;
        continue;
      }
      if ((f[6] & 1) === 0) {
        const src = ((f[6] << 8) | f[7]) * TWO32 + (((f[8] << 24) | (f[9] << 16) | (f[10] << 8) | f[11]) >>> 0);
        if (!this.macTable.learn(src, port, now)) this.counters.tableFull++;
      }
      if ((f[0] & 1) === 0) {
        const dst = ((f[0] << 8) | f[1]) * TWO32 + (((f[2] << 24) | (f[3] << 16) | (f[4] << 8) | f[5]) >>> 0);
        const out = this.macTable.lookup(dst, now);
        if (out !== undefined) {
          if (out === port) this.counters.filtered++;
          else {
            this.counters.forwarded++;
            this.emit(out, f);
          }
          continue;
        }
      }
      this.counters.flooded++;
      for (let p = 0; p < this.ports.length; p++) if (p !== port) this.emit(p, f);
    }
  }

  /** Forgets addresses not seen for the aging time; also done as frames arrive, so only an idle switch needs a call. */
  age(now: number): number {
    this.lastSweep = now;
    return this.macTable.expire(now);
  }

  /** Detaches every port, closing the links the switch made. */
  close(): void {
    for (let p = 0; p < this.ports.length; p++) this.detach(p);
  }

  private addPort(link: Link, owned: boolean): number {
    const id = this.ports.length;
    this.ports.push({ link, owned });
    link.onFrames((frames) => this.input(id, frames, this.clock()));
    return id;
  }

  private emit(port: number, frame: Uint8Array): void {
    const p = this.ports[port];
    if (p !== undefined && !p.link.send(frame)) this.counters.egressDropped++;
  }
}
