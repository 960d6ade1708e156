// Receive-side scaling on the main thread: frames from a link go to one packet actor by a hash of
// their flow, through a shared-memory ring; what the actors send goes back out on the link. A flow
// sticks to one actor; while an actor is down its flows go to the next live one.
import {
  ArpOperation, ArpPacket, ARP_ETHERNET_IPV4_LEN, EtherType, EthernetPacket, ETHERNET_HEADER_LEN, IpProtocol, Ipv4Packet, IPV4_MIN_HEADER_LEN,
  NatPorts, PORTS_LEN,
} from '../../wire/index.js';
import type { Link } from '../../wire/link/link.js';
import { RingLink, ringLinkPair, type RingLinkEnd } from '../../wire/link/ring-link.js';

export interface DispatcherCounters {
  dispatched: number;
  noActor: number;
  ringFull: number;
  fromActors: number;
}

export class Dispatcher {
  private readonly rings: (RingLink | null)[];
  readonly counters: DispatcherCounters = { dispatched: 0, noActor: 0, ringFull: 0, fromActors: 0 };

  /** `pick` chooses the actor for a frame (default: a hash of its flow); ARP replies go to every actor. */
  constructor(
    readonly link: Link,
    readonly actors: number,
    private readonly ringBytes = 1 << 20,
    private readonly pick: (frame: Uint8Array, actors: number) => number = (f, n) => flowHash(f) % n,
  ) {
    this.rings = new Array(actors).fill(null);
    link.onFrames((frames) => {
      for (let i = 0; i < frames.length; i++) this.dispatch(frames[i]);
    });
  }

  /** Makes a fresh ring pair for actor `index`; returns the end to hand to its thread. */
  connect(index: number): RingLinkEnd {
    this.disconnect(index);
    const [mine, theirs] = ringLinkPair(`${this.link.name}/actor${index}`, this.ringBytes);
    const ring = new RingLink(mine);
    ring.onFrames((frames) => {
      this.counters.fromActors += frames.length;
      for (let i = 0; i < frames.length; i++) this.link.send(frames[i]);
    });
    this.rings[index] = ring;
    return theirs;
  }

  /** Stops sending to actor `index` (its thread is gone). */
  disconnect(index: number): void {
    const r = this.rings[index];
    if (r) r.close();
    this.rings[index] = null;
  }

  private dispatch(frame: Uint8Array): void {
    const n = this.actors;
    if (isArpReply(frame)) {
      // Any actor may be waiting for this answer: every one learns it (ARP is rare; requests are hashed).
      let sent = false;
      for (const r of this.rings) if (r !== null) sent = r.send(frame) || sent;
      if (sent) this.counters.dispatched++;
      else this.counters.noActor++;
      return;
    }
    let i = this.pick(frame, n);
    for (let tries = 0; tries < n; tries++, i = (i + 1) % n) {
      const r = this.rings[i];
      if (r === null) continue;
      if (r.send(frame)) this.counters.dispatched++;
      else this.counters.ringFull++;
      return;
    }
    this.counters.noActor++;
  }

  close(): void {
    for (let i = 0; i < this.rings.length; i++) this.disconnect(i);
    this.link.onFrames(null);
  }
}

// Views reused frame after frame: these run on the main thread for every frame, allocating nothing.
const eth = EthernetPacket.newUnchecked(new Uint8Array(64));
const arp = ArpPacket.newUnchecked(new Uint8Array(64));
const ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
const ports = NatPorts.newUnchecked(new Uint8Array(64));

/** FNV-1a's offset basis and prime (32-bit). */
const FNV_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** One FNV-1a step over a 32-bit word. */
function fnv(h: number, x: number): number {
  return Math.imul(h ^ x, FNV_PRIME);
}

/** Points `arp` at the frame's ARP packet; false when it is not a whole Ethernet/IPv4 ARP frame. */
function arpOf(f: Uint8Array): boolean {
  if (f.length < ETHERNET_HEADER_LEN + ARP_ETHERNET_IPV4_LEN || eth.reset(f).ethertype !== EtherType.Arp) return false;
  arp.resetIn(eth, ETHERNET_HEADER_LEN, f.length - ETHERNET_HEADER_LEN);
  return true;
}

/** An ARP reply, or a gratuitous announcement (sender = target address). */
export function isArpReply(f: Uint8Array): boolean {
  return arpOf(f) && (arp.operation === ArpOperation.Reply || arp.senderIp === arp.targetIp);
}

/** A hash of the frame's flow: IPv4 addresses, protocol and ports (a fragment: its datagram's identification); ARP by sender address. */
export function flowHash(f: Uint8Array): number {
  if (f.length < ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN) return 0;
  let h = FNV_BASIS;
  if (eth.reset(f).ethertype === EtherType.Ipv4) {
    ip.resetIn(eth, ETHERNET_HEADER_LEN, f.length - ETHERNET_HEADER_LEN);
    // Order-independent in the two addresses, so both directions of a flow hash alike.
    h = fnv(h, ip.src ^ ip.dst);
    const proto = ip.protocol;
    h = fnv(h, proto);
    // A fragment by its datagram (only the first holds ports), so every fragment of one lands on one actor.
    if (ip.isFragment) h = fnv(h, ip.ident);
    else if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) {
      const p = ports.of(ip, ip.length - ip.headerLength);
      if (p.length >= PORTS_LEN) h = fnv(h, p.srcPort ^ p.dstPort);
    }
  } else if (arpOf(f)) {
    h = fnv(h, arp.senderIp);
  }
  return (h >>> 0) & 0x7fffffff;
}
