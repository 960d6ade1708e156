// One node of the simulated network: its own store, packet actors and an ARP-expiry actor on forks
// of it, and a small messaging application over TCP (the default) or UDP that talks to other nodes.
import { Store, type Branch } from '../../store/index.js';
import type { Link } from '../../wire/link/link.js';
import { ArpCache } from '../iface/arp-cache.js';
import { arpTable } from '../iface/arp-table.js';
import { tcpTable } from '../tcp/tcp-table.js';
import { fragTable } from '../iface/frag-table.js';
import type { TcpCounters } from '../tcp/tcp-counters.js';
import { flowHash, isArpReply } from '../runtime/dispatcher.js';
import { HostStack } from '../host/host-stack.js';
import { LocalActor } from '../runtime/local-actor.js';
import type { NetInterface } from '../iface/net-interface.js';
import { stackTables } from '../host/host-schema.js';
import { prng } from './prng.js';
import type { SimMessenger } from './sim-messenger.js';
import { TcpMessenger } from './tcp-messenger.js';
import { UdpMessenger } from './udp-messenger.js';

export type SimProto = 'tcp' | 'udp';

export function isSimProto(v: unknown): v is SimProto {
  return v === 'tcp' || v === 'udp';
}

export interface SimNodeOptions {
  packetActors: number;
  mergeIntervalMs: number;
  ttlMs: number;
  now: number;
  /** What carries the messages (default tcp). */
  proto?: SimProto;
  /** Seeds each endpoint's initial sequence numbers, so a seed replays the same run. */
  seed?: number;
  /** The node's primary, already loaded (from git); default a new empty one. */
  store?: Store;
}

export class SimNode {
  readonly store: Store;
  readonly actors: LocalActor[];
  readonly stacks: HostStack[];
  readonly expiry: LocalActor;
  readonly messenger: SimMessenger;
  readonly proto: SimProto;
  private readonly expiryCache: ArpCache;
  private nextExpiryTick: number;

  constructor(readonly iface: NetInterface, readonly link: Link, opts: SimNodeOptions, private clock: () => number) {
    this.store = opts.store ?? new Store(stackTables, { clock, retention: 256 });
    this.proto = opts.proto ?? 'tcp';
    if (opts.store) forgetEarlierRun(this.store.main, opts.now);
    this.actors = [];
    this.stacks = [];
    for (let i = 0; i < opts.packetActors; i++) {
      const a = new LocalActor(`packet-${i}`, this.store.main, opts.mergeIntervalMs, opts.now);
      // Each actor's endpoint writes its connections to the actor's own branch; its ISNs come from the run's seed.
      const isn = prng(((opts.seed ?? 0) ^ Math.imul(iface.ip, 0x9e3779b1) ^ (i + 1)) >>> 0);
      const tcp = { table: a.branch.table(tcpTable), isn: () => Math.floor(isn() * 2 ** 32) };
      this.stacks.push(new HostStack(iface, a.branch.table(arpTable), (f) => link.send(f), { arp: { ttlMs: opts.ttlMs }, tcp, fragTable: a.branch.table(fragTable) }));
      this.actors.push(a);
    }
    this.messenger = this.proto === 'tcp' ? new TcpMessenger(this.stacks, iface, clock) : new UdpMessenger(this.stacks);
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

  /** Sends the node's next message to `dst`. */
  send(dst: number, now: number): void {
    this.messenger.send(dst, now);
  }

  /** Timers: ARP retries and TCP's, the expiry actor's 1 s tick, the application's, and every actor's merge interval. */
  tick(now: number): void {
    for (const s of this.stacks) s.poll(now);
    this.messenger.tick(now);
    if (now >= this.nextExpiryTick) {
      this.nextExpiryTick = now + 1_000;
      this.expiryCache.expire(now);
    }
    this.mergeActors(now, false);
    this.expiry.tick(now);
  }

  /** Final merge of every actor. */
  flush(now: number): void {
    this.mergeActors(now, true);
    this.expiry.tick(now, true);
  }

  /**
   * Each endpoint's connection rows go to its actor's branch before the actor's merge. Once a step is often
   * enough: a step is already a batch of frames, and a row written twice between merges is one edit.
   */
  private mergeActors(now: number, force: boolean): void {
    for (let i = 0; i < this.actors.length; i++) {
      this.stacks[i].tcp.flush(now);
      this.actors[i].tick(now, force);
    }
  }

  get sent(): number { return this.messenger.counters.sent; }
  get received(): number { return this.messenger.counters.received; }
  get acked(): number { return this.messenger.counters.acked; }

  /** The TCP endpoints' counters, summed over the node's actors. */
  tcpCounters(): TcpCounters {
    const sum = { ...this.stacks[0].tcp.counters };
    for (const s of this.stacks.slice(1)) for (const k of Object.keys(sum) as (keyof TcpCounters)[]) sum[k] += s.tcp.counters[k];
    return sum;
  }

  get expired(): number {
    return this.expiryCache.counters.expired;
  }

  get entries(): number {
    return this.store.main.table(arpTable).size;
  }

  /** Connection rows in the node's primary. */
  get tcpRows(): number {
    return this.store.main.table(tcpTable).size;
  }
}

/**
 * A node starts holding no connection and no half-reassembled datagram: rows an earlier run left in a loaded
 * store describe what no endpoint holds any more, and nothing would ever delete them.
 */
function forgetEarlierRun(main: Branch, now: number): void {
  for (const view of [main.table(tcpTable), main.table(fragTable)]) {
    for (const [k] of [...view.entries()]) view.delete(k);
  }
  main.commit({ author: 'sim', message: 'connections and reassemblies of an earlier run are gone', time: now });
}
