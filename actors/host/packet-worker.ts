// A packet actor's thread: frames from the dispatcher's ring go through a HostStack whose ARP cache
// is this actor's own replica of the primary; replies go back on the ring.
import type { Link } from '../../wire/link/link.js';
import { RingLink } from '../../wire/link/ring-link.js';
import { TapLink } from '../../wire/link/tap.js';
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { ArpRetryTimer } from '../iface/arp-retry-timer.js';
import { arpTable } from '../iface/arp-table.js';
import { HostStack } from './host-stack.js';
import { stackSchema } from './host-schema.js';
import type { PacketActorQueue } from './host-actors.js';

const rt = new ActorRuntime(stackSchema());
const init = rt.init as typeof rt.init & PacketActorQueue;
if ((!init.link && !init.tapQueue) || !init.iface) throw new Error('a packet actor needs a link (ring or TAP queue) and an interface');
// Queues mode: this thread reads and writes its own queue of the TAP; else the dispatcher's ring.
const link: Link = init.tapQueue
  ? TapLink.fromFd(init.tapQueue.fd, init.tapQueue.name, { spinUs: init.tapQueue.spinUs })
  : new RingLink(init.link!);
const replica = await rt.start();
const stack = new HostStack(init.iface, replica.table(arpTable), (f) => link.send(f), { arp: init.arp });
rt.counters = () => ({ ...stack.counters, ...prefixed('arp', stack.arp.counters), ...prefixed('cache', stack.cache.counters), ...prefixed('resolver', stack.arp.resolver.counters) });
const arpRetries = new ArpRetryTimer(() => stack.arp.resolver.pendingCount > 0, (now) => stack.poll(now));
link.onFrames((frames) => {
  stack.receive(frames, Date.now());
  rt.notePending();
  arpRetries.arm();
});

function prefixed(p: string, o: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) out[`${p}.${k}`] = v as number;
  return out;
}
