// One node of the simulated network: its own store, packet actors and an ARP-expiry actor on forks
// of it, and a small UDP application that talks to other nodes.
import { Store } from '../../store/index.js';
import type { Link } from '../../wire/link/link.js';
import { ArpCache } from '../iface/arp-cache.js';
import { arpTable } from '../iface/arp-table.js';
import { flowHash, isArpReply } from '../runtime/dispatcher.js';
import { HostStack } from '../host/host-stack.js';
import { LocalActor } from '../runtime/local-actor.js';
import type { NetInterface } from '../iface/net-interface.js';
import { stackTables } from '../host/host-schema.js';

export const SIM_PORT = 7777;

export interface SimNodeOptions {
  packetActors: number;
  mergeIntervalMs: number;
  ttlMs: number;
  now: number;
  /** The node's primary, already loaded (from git); default a new empty one. */
  store?: Store;
}

export class SimNode {
  readonly store: Store;
  readonly actors: LocalActor[];
  readonly stacks: HostStack[];
  readonly expiry: LocalActor;
  private readonly expiryCache: ArpCache;
  private nextExpiryTick: number;
  sent = 0;
  received = 0;
  acked = 0;

  constructor(readonly iface: NetInterface, readonly link: Link, opts: SimNodeOptions, private clock: () => number) {
    this.store = opts.store ?? new Store(stackTables, { clock, retention: 256 });
    this.actors = [];
    this.stacks = [];
    for (let i = 0; i < opts.packetActors; i++) {
      const a = new LocalActor(`packet-${i}`, this.store.main, opts.mergeIntervalMs, opts.now);
      const stack = new HostStack(iface, a.branch.table(arpTable), (f) => link.send(f), { arp: { ttlMs: opts.ttlMs } });
      stack.onUdp = (src, srcPort, dstPort, payload, now) => this.onMessage(stack, src, srcPort, dstPort, payload, now);
      this.actors.push(a);
      this.stacks.push(stack);
    }
    this.expiry = new LocalActor('arp-expiry', this.store.main, opts.mergeIntervalMs, opts.now);
    this.expiryCache = new ArpCache(this.expiry.branch.table(arpTable), { ttlMs: opts.ttlMs });
    this.nextExpiryTick = opts.now + 1_000;
    link.onFrames((frames) => {
      const now = this.clock();
      for (const f of frames) {
        if (isArpReply(f)) for (const s of this.stacks) s.receiveOne(f, now);
        else this.stacks[flowHash(f) % this.stacks.length].receiveOne(f, now);
      }
    });
  }

  /** Sends one message to `dst` from the actor its flow hashes to. */
  send(dst: number, now: number): void {
    const stack = this.stacks[(dst >>> 0) % this.stacks.length];
    this.sent++;
    stack.sendUdp(dst, SIM_PORT, SIM_PORT, new TextEncoder().encode(`hello ${this.sent}`), now);
  }

  private onMessage(stack: HostStack, src: number, srcPort: number, _dstPort: number, payload: Uint8Array, now: number): void {
    if (payload[0] === 0x68 /* 'h' */) {
      this.received++;
      stack.sendUdp(src, SIM_PORT, srcPort, new TextEncoder().encode('ack'), now);
    } else {
      this.acked++;
    }
  }

  /** Timers: ARP retries, the expiry actor's 1 s tick, and every actor's merge interval. */
  tick(now: number): void {
    for (const s of this.stacks) s.poll(now);
    if (now >= this.nextExpiryTick) {
      this.nextExpiryTick = now + 1_000;
      this.expiryCache.expire(now);
    }
    for (const a of this.actors) a.tick(now);
    this.expiry.tick(now);
  }

  /** Final merge of every actor. */
  flush(now: number): void {
    for (const a of this.actors) a.tick(now, true);
    this.expiry.tick(now, true);
  }

  get expired(): number {
    return this.expiryCache.counters.expired;
  }

  get entries(): number {
    return this.store.main.table(arpTable).size;
  }
}
