// A packet actor's thread: frames from the dispatcher's ring go through a HostStack whose ARP cache,
// TCP connection rows and reassembly rows are this actor's own replica of the primary; replies go back on the ring.
import type { Link } from '../../wire/link/link.js';
import { RingLink } from '../../wire/link/ring-link.js';
import { TapLink } from '../../wire/link/tap.js';
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { prefixed } from '../runtime/counters.js';
import { ArpRetryTimer } from '../iface/arp-retry-timer.js';
import { arpTable } from '../iface/arp-table.js';
import { tcpTable } from '../tcp/tcp-table.js';
import { fragTable } from '../iface/frag-table.js';
import { HostStack } from './host-stack.js';
import { stackSchema } from './host-schema.js';
import { TcpEcho } from './tcp-echo.js';
import { DeadlineTimer } from './deadline-timer.js';

const init = actorInit('host-packet');
const rt = new ActorRuntime(stackSchema(), init);
// Queues mode: this thread reads and writes its own queue of the TAP; else the dispatcher's ring.
const link: Link = 'tapQueue' in init.frames
  ? TapLink.fromFd(init.frames.tapQueue.fd, init.frames.tapQueue.name, { spinUs: init.frames.tapQueue.spinUs })
  : new RingLink(init.frames.ring);
const replica = await rt.start();
const stack = new HostStack(init.iface, replica.table(arpTable), (f) => link.send(f), {
  arp: init.arp, tcp: { ...init.tcp, table: replica.table(tcpTable) }, fragTable: replica.table(fragTable),
});
const echoes = (init.tcpEcho ?? []).map((port) => new TcpEcho(stack.tcp, port, Date.now));
// Connection rows the endpoint keeps dirty are written to the replica just before each push.
rt.beforePush = () => stack.tcp.flush(Date.now());
rt.counters = () => ({
  ...stack.counters, ...prefixed('arp', stack.arp.counters), ...prefixed('cache', stack.cache.counters), ...prefixed('resolver', stack.arp.resolver.counters),
  ...prefixed('tcp', stack.tcp.counters), 'tcp.connections': stack.tcp.connections, ...prefixed('frag', stack.reassembler.counters),
  ...Object.assign({}, ...echoes.map((e) => prefixed(`echo.${e.port}`, e.counters))),
});
const arpRetries = new ArpRetryTimer(() => stack.arp.resolver.pendingCount > 0, (now) => stack.poll(now));
const stackTimers = new DeadlineTimer(() => Math.min(stack.tcp.nextDeadline(), stack.reassembler.nextDeadline()), (now) => {
  stack.poll(now);
  rt.notePending(); // a timer may have changed rows (TIME-WAIT over, a datagram given up): they go with the next push
});
link.onFrames((frames) => {
  const now = Date.now();
  stack.receive(frames, now);
  rt.notePending();
  arpRetries.arm();
  stackTimers.arm(now);
});
