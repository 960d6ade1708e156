// Receive-side scaling on the main thread: frames from a link go to one packet actor by a hash of
// their flow, through a shared-memory ring; what the actors send goes back out on the link. A flow
// sticks to one actor; while an actor is down its flows go to the next live one.
import { EtherType, ETHERNET_HEADER_LEN, IpProtocol } from '../../wire/index.js';
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

/** An ARP reply, or a gratuitous announcement (sender = target address). */
export function isArpReply(f: Uint8Array): boolean {
  if (f.length < ETHERNET_HEADER_LEN + 28 || f[12] !== 0x08 || f[13] !== 0x06) return false;
  if (f[ETHERNET_HEADER_LEN + 7] === 2) return true;
  const s = ETHERNET_HEADER_LEN + 14;
  const t = ETHERNET_HEADER_LEN + 24;
  return f[s] === f[t] && f[s + 1] === f[t + 1] && f[s + 2] === f[t + 2] && f[s + 3] === f[t + 3];
}

/** A hash of the frame's flow: IPv4 addresses, protocol and ports; ARP by sender address. */
export function flowHash(f: Uint8Array): number {
  if (f.length < ETHERNET_HEADER_LEN + 20) return 0;
  const type = (f[12] << 8) | f[13];
  let h = 0x811c9dc5;
  const mix = (x: number) => { h = Math.imul(h ^ x, 0x01000193); };
  if (type === EtherType.Ipv4) {
    const ip = ETHERNET_HEADER_LEN;
    const ihl = (f[ip] & 0x0f) * 4;
    // Order-independent in the two addresses, so both directions of a flow hash alike.
    const a = ((f[ip + 12] << 24) | (f[ip + 13] << 16) | (f[ip + 14] << 8) | f[ip + 15]) >>> 0;
    const b = ((f[ip + 16] << 24) | (f[ip + 17] << 16) | (f[ip + 18] << 8) | f[ip + 19]) >>> 0;
    mix((a ^ b) >>> 0);
    const proto = f[ip + 9];
    mix(proto);
    const l4 = ip + ihl;
    if ((proto === IpProtocol.Tcp || proto === IpProtocol.Udp) && f.length >= l4 + 4) {
      const sp = (f[l4] << 8) | f[l4 + 1];
      const dp = (f[l4 + 2] << 8) | f[l4 + 3];
      mix(sp ^ dp);
    }
  } else if (type === EtherType.Arp && f.length >= ETHERNET_HEADER_LEN + 28) {
    const s = ETHERNET_HEADER_LEN + 14;
    mix(((f[s] << 24) | (f[s + 1] << 16) | (f[s + 2] << 8) | f[s + 3]) >>> 0);
  }
  return (h >>> 0) & 0x7fffffff;
}
