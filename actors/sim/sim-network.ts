// The simulated network: nodes on one VirtualSwitch, each on its own cable, and the messages (TCP or
// UDP) between them. Each node messages a peer from its current window of peers; the window moves every `peerShiftS`.
import type { PcapWriter } from '../../wire/pcap.js';
import { VirtualSwitch } from '../../wire/link/virtual-switch.js';
import type { Store } from '../../store/index.js';
import { localMac } from '../iface/net-interface.js';
import { SimCable } from './sim-link.js';
import { SimNode, type SimProto } from './sim-node.js';
import { prng } from './prng.js';
import type { SimClock } from './sim-clock.js';

export interface SimNetworkOptions {
  nodes: number;
  seed: number;
  packetActors?: number;
  mergeIntervalMs?: number;
  ttlMs?: number;
  /** What carries the messages (default tcp). */
  proto?: SimProto;
  /** Seconds between a node's messages (on average). */
  messageEveryS?: number;
  /** Simulated seconds after which each node switches to other peers (so old entries expire). */
  peerShiftS?: number;
}

/** Delivery rounds per step at most: frames move until the network is quiet, bounded. */
const MAX_ROUNDS = 16;

export class SimNetwork {
  readonly nodes: SimNode[] = [];
  /** Frames sent by any node. */
  frames = 0;
  private readonly cables: SimCable[] = [];
  /** When each node sends its next message. */
  private readonly next: number[] = [];
  private readonly rand: () => number;
  private readonly every: number;
  private readonly shift: number;

  /** `stores[i]`, when given, is node i's primary, already loaded; every frame is recorded in `pcap`. */
  constructor(o: SimNetworkOptions, clock: SimClock, stores: readonly Store[] | undefined, pcap: PcapWriter | null) {
    this.rand = prng(o.seed);
    this.every = (o.messageEveryS ?? 1) * 1000;
    this.shift = (o.peerShiftS ?? 40) * 1000;
    const sw = new VirtualSwitch({ clock: () => clock.now });
    for (let i = 0; i < o.nodes; i++) {
      const cable = new SimCable(`node${i}`);
      cable.a.tap = (f) => { this.frames++; pcap?.write(f, clock.wallMs() * 1000); };
      sw.attach(cable.b);
      const iface = { name: `sim${i}`, mac: localMac(0x0a00 + i), ip: ((10 << 24) | (0 << 16) | (0 << 8) | (i + 1)) >>> 0, prefix: 24 };
      const opts = { packetActors: o.packetActors ?? 2, mergeIntervalMs: o.mergeIntervalMs ?? 100, ttlMs: o.ttlMs ?? 60_000, now: clock.now, proto: o.proto, seed: o.seed, store: stores?.[i] };
      this.nodes.push(new SimNode(iface, cable.a, opts, () => clock.now));
      this.cables.push(cable);
      this.next.push(Math.floor(this.rand() * this.every));
    }
  }

  /** Every node's initial ARP broadcast. */
  announce(): void {
    for (const n of this.nodes) n.stacks[0].arp.announce();
  }

  /** One step at `now`: the messages due, frames moved, every node's timers. */
  step(now: number): void {
    this.sendDue(now);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let moved = 0;
      for (const c of this.cables) moved += c.deliver();
      if (moved === 0) break;
    }
    for (const n of this.nodes) n.tick(now);
  }

  /** Final merge of every node's actors. */
  flush(now: number): void {
    for (const n of this.nodes) n.flush(now);
  }

  private sendDue(now: number): void {
    const nodes = this.nodes;
    for (let i = 0; i < nodes.length; i++) {
      if (now < this.next[i]) continue;
      this.next[i] = now + Math.floor(this.every * (0.5 + this.rand()));
      const phase = Math.floor(now / this.shift);
      const k = 1 + ((phase * 3 + Math.floor(this.rand() * 3)) % (nodes.length - 1));
      nodes[i].send(nodes[(i + k) % nodes.length].iface.ip, now);
    }
  }
}
