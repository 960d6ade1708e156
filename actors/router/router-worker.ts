// A router packet actor's thread: frames from its own queue of each TAP (or from the dispatchers'
// rings; router-links.ts) go through a Router whose ARP and NAT tables are this actor's replica of
// the primary (or, in the hashtable baseline, plain Maps); NAT counters coalesced per flow are
// written to the branch just before each merge. The port-forward rules (`dnat`) are always read
// from the replica: operators write them to the primary, and they arrive with the next merge (in
// the hashtable baseline, which never merges, the rules are those of the snapshot it started from).
// The router's own services (DHCP, DNS, the outside lease) run here too, on this actor's branch.
// In a failover pair the main thread decides master or backup (failover.ts); the actor reads it per frame.
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { prefixed } from '../runtime/counters.js';
import { ArpRetryTimer } from '../iface/arp-retry-timer.js';
import { arpTable, type ArpEntry } from '../iface/arp-table.js';
import { dnatTable } from './dnat-table.js';
import { fragTable, type FragEntry } from '../iface/frag-table.js';
import { forwardMaps, steer, type ForwardMaps } from './steering.js';
import { openRouterLinks } from './router-links.js';
import { MapTable } from './map-table.js';
import { natTable, type NatEntry } from './nat-table.js';
import { Router } from './router.js';
import { routerSchema } from './router-schema.js';
import type { TableView } from '../../store/index.js';
import { DeadlineTimer } from '../host/deadline-timer.js';
import { leasesTable } from '../dhcp/lease-table.js';
import { clientLeaseTable } from '../dhcp/client-lease-table.js';
import { AddressPool } from '../dhcp/address-pool.js';
import { dnsTable } from '../dns/dns-table.js';
import { LocalServices } from './local-services.js';

const init = actorInit('router-packet');
const cfg = init.router;
const rt = new ActorRuntime(routerSchema(), init);
const replica = await rt.start();
const hashtable = cfg.store === 'hashtable';
const arp: TableView<number, ArpEntry> = hashtable ? new MapTable() : replica.table(arpTable);
const nat: TableView<string, NatEntry> = hashtable ? new MapTable() : replica.table(natTable);
const frag: TableView<string, FragEntry> = hashtable ? new MapTable() : replica.table(fragTable);
// The port-forward rules steer frames too (steering.ts): re-read after every merge and resync (a few entries).
const dnat = replica.table(dnatTable);
let forwards: ForwardMaps = forwardMaps(dnat.entries(), cfg.inside);
let services: LocalServices | null = null;
let serviceTimers: DeadlineTimer | null = null;
rt.onRebase = rt.onResync = () => {
  forwards = forwardMaps(dnat.entries(), cfg.inside);
  if (services === null) return;
  // The `dhcp-client` row may carry a new outside address: a lease the owner got, or an operator's edit.
  const now = Date.now();
  services.sync(now);
  serviceTimers?.arm(now);
};
const { inside, outside, handoff, steered, echo } = openRouterLinks(cfg, () => forwards);
const router = new Router(
  { inside: cfg.inside, outside: cfg.outside, gateway: cfg.gateway, nat: { actor: cfg.actor, actors: cfg.actors, maxEntries: cfg.maxFlows } },
  { arp, nat, dnat, frag },
  (f) => inside.send(f),
  (f) => outside.send(f),
);
if (cfg.failover !== undefined) {
  const forwarding = new Int32Array(cfg.failover.forwarding);
  router.failover = {
    active: () => Atomics.load(forwarding, 0) === 1,
    heard: ({ repr, src, ttl }) => rt.vrrpHeard({ vrid: repr.vrid, priority: repr.priority, maxAdverInterval: repr.maxAdverInterval, addresses: repr.addresses, src, ttl }),
  };
  rt.onFailoverSend = (m) => {
    router.failoverSend(m.adverts, m.announce);
    return true;
  };
}
const svc = cfg.services;
if (svc !== undefined && (svc.dhcpRange !== undefined || svc.dns || svc.outsideDhcp)) {
  services = new LocalServices(router, {
    leases: hashtable ? new MapTable() : replica.table(leasesTable),
    dhcpClient: hashtable ? new MapTable() : replica.table(clientLeaseTable),
    dns: hashtable ? new MapTable() : replica.table(dnsTable),
  }, router.sendInside, router.sendOutside, {
    actor: cfg.actor, actors: cfg.actors, outsideDhcp: svc.outsideDhcp,
    dhcp: svc.dhcpRange ? { pool: new AddressPool(svc.dhcpRange[0], svc.dhcpRange[1]), leaseMs: svc.leaseMs } : undefined,
    dns: svc.dns ? { upstream: svc.dnsUpstream } : undefined,
  });
}
if (steered !== null) {
  // Queues: a datagram reassembled here whose port another actor owns goes on to it (router.ts, DatagramHandOff).
  router.handOff = {
    me: cfg.actor,
    actors: cfg.actors,
    owner: (f, outbound) => steer(f, outbound, forwards, cfg.actors, cfg.actor),
    send: (f, owner, outbound) => (outbound ? steered.inside : steered.outside).handTo(owner, f),
  };
}
// Coalesced NAT writes, at most `limit` a slice of the merge cycle; returns how many wait (none with no live flow).
rt.beforePush = (limit) => (router.nat.activeFlows > 0 ? router.flush(Date.now(), limit) : 0);
rt.counters = () => ({
  ...router.counters,
  ...prefixed('nat', router.nat.counters),
  ...prefixed('icmp', router.icmpErrors.counters),
  ...prefixed('frag', router.fragCounters),
  ...prefixed('reasm', router.reassembler.counters),
  'reasm.pending': router.reassembler.pending,
  'reasm.memoryBytes': router.reassembler.memoryBytes,
  'nat.flows': hashtable ? nat.size : router.nat.activeFlows,
  ...(handoff ? { ...prefixed('handoff.inside', handoff.inside), ...prefixed('handoff.outside', handoff.outside) } : {}),
  ...prefixed('link.inside', inside.counters),
  ...prefixed('link.outside', outside.counters),
  ...(echo ? { 'echo.forwarded': echo.forwarded } : {}),
  ...(services ? services.stats() : {}),
  ...(router.failover ? { 'arp.silenced': router.insideArp.counters.silenced + router.outsideArp.counters.silenced } : {}),
});
const arpRetries = new ArpRetryTimer(
  () => router.insideArp.resolver.pendingCount + router.outsideArp.resolver.pendingCount > 0,
  (now) => router.poll(now),
);
// Reassembly deadlines (30 s) need no finer clock than a second; the check is one comparison when nothing waits.
setInterval(() => {
  const now = Date.now();
  if (router.reassembler.nextDeadline() <= now) {
    router.poll(now);
    rt.notePending();
  }
}, 1000);
// The services' timers (DHCP probes and expiries, DNS timeouts, the client's T1/T2, the DNS endpoint's TCP).
serviceTimers = services === null ? null : new DeadlineTimer(() => services!.nextDeadline(), (now) => {
  services!.poll(now);
  rt.notePending();
  arpRetries.arm();
});
inside.onFrames((frames) => {
  const now = Date.now();
  router.receiveInside(frames, now);
  rt.notePending();
  arpRetries.arm();
  serviceTimers?.arm(now);
});
outside.onFrames((frames) => {
  const now = Date.now();
  router.receiveOutside(frames, now);
  rt.notePending();
  arpRetries.arm();
  serviceTimers?.arm(now);
});
if (services !== null) {
  const now = Date.now();
  services.start(now);
  arpRetries.arm();
  serviceTimers!.arm(now);
}
if (hashtable) {
  setInterval(() => {
    const now = Date.now();
    router.flush(now); // nothing merges: the baseline expires its own flows
    router.nat.expire(now);
  }, 100);
}
echo?.start();
