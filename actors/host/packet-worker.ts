// A packet actor's thread: frames from the dispatcher's ring go through a HostStack whose ARP cache
// is this actor's own replica of the primary; replies go back on the ring.
import type { Link } from '../../wire/link/link.js';
import { RingLink } from '../../wire/link/ring-link.js';
import { TapLink } from '../../wire/link/tap.js';
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { prefixed } from '../runtime/counters.js';
import { ArpRetryTimer } from '../iface/arp-retry-timer.js';
import { arpTable } from '../iface/arp-table.js';
import { HostStack } from './host-stack.js';
import { stackSchema } from './host-schema.js';

const init = actorInit('host-packet');
const rt = new ActorRuntime(stackSchema(), init);
// Queues mode: this thread reads and writes its own queue of the TAP; else the dispatcher's ring.
const link: Link = 'tapQueue' in init.frames
  ? TapLink.fromFd(init.frames.tapQueue.fd, init.frames.tapQueue.name, { spinUs: init.frames.tapQueue.spinUs })
  : new RingLink(init.frames.ring);
const replica = await rt.start();
const stack = new HostStack(init.iface, replica.table(arpTable), (f) => link.send(f), { arp: init.arp });
rt.counters = () => ({ ...stack.counters, ...prefixed('arp', stack.arp.counters), ...prefixed('cache', stack.cache.counters), ...prefixed('resolver', stack.arp.resolver.counters) });
const arpRetries = new ArpRetryTimer(() => stack.arp.resolver.pendingCount > 0, (now) => stack.poll(now));
link.onFrames((frames) => {
  stack.receive(frames, Date.now());
  rt.notePending();
  arpRetries.arm();
});
