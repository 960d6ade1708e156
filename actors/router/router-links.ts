// A router packet actor's two links, in its own thread: the dispatcher's rings, its own queue of
// each TAP steered to the actor that owns each frame (steered-link.ts), or a benchmark's peers
// simulated in this thread. Which actor owns a frame is steering.ts's rule, with the port-forward
// rules this actor's replica holds.
import { RingLink } from '../../wire/link/ring-link.js';
import { TapLink } from '../../wire/link/tap.js';
import type { Link } from '../../wire/link/link.js';
import type { RouterActorInit } from '../runtime/messages.js';
import { SteeredLink, type HandoffCounters } from './steered-link.js';
import { steer, type ForwardMaps } from './steering.js';
import { EchoPeers } from '../sim/echo-peers.js';

export interface RouterLinks {
  inside: Link;
  outside: Link;
  /** Hand-off counters per side; none when frames come from the dispatcher. */
  handoff: { inside: HandoffCounters; outside: HandoffCounters } | null;
  /** The steered queues (reassembled datagrams are handed on through them); none when frames come from the dispatcher. */
  steered: { inside: SteeredLink; outside: SteeredLink } | null;
  /** The benchmark's in-thread peers, started once the router is wired. */
  echo: EchoPeers | null;
}

/** Opens the actor's links; `forwards()` gives the port-forward maps in force (they change with merges). */
export function openRouterLinks(cfg: RouterActorInit, forwards: () => ForwardMaps): RouterLinks {
  const f = cfg.frames;
  if ('rings' in f) return { inside: new RingLink(f.rings.inside), outside: new RingLink(f.rings.outside), handoff: null, steered: null, echo: null };
  if ('echo' in f) {
    const echo = new EchoPeers(f.echo, cfg.inside, cfg.outside, cfg.actor, cfg.actors);
    return { inside: echo.inside, outside: echo.outside, handoff: null, steered: null, echo };
  }
  const { queues, handoff } = f;
  const opts = { spinUs: queues.spinUs, vnetHdr: queues.vnetHdr };
  const side = (outbound: boolean) => {
    const end = outbound ? queues.inside : queues.outside;
    const own = TapLink.fromFd(end.fd, end.name, opts);
    const peers = (outbound ? handoff.inside : handoff.outside).map((e) => (e === null ? null : new RingLink(e, { vnetHdr: queues.vnetHdr })));
    // A frame with no port to translate (ARP requests, anything the router only answers or drops) stays where it is;
    // a fragment goes to its datagram's owner (steering.ts).
    return new SteeredLink(own, peers, cfg.actor, (frame) => steer(frame, outbound, forwards(), cfg.actors, cfg.actor));
  };
  const inside = side(true);
  const outside = side(false);
  return { inside, outside, handoff: { inside: inside.handoff, outside: outside.handoff }, steered: { inside, outside }, echo: null };
}
