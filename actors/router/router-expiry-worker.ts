// The router's expiry actor: every tick it removes expired ARP entries and NAT flows whose
// conntrack timeout is up, on its own branch; a concurrent use of a flow still wins the merge.
// It also removes `frag` rows past their deadline that no packet actor removed (one crashed meanwhile).
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { ArpCache } from '../iface/arp-cache.js';
import { arpTable } from '../iface/arp-table.js';
import { expireAbandoned, fragTable } from '../iface/frag-table.js';
import { NatEngine } from './nat-engine.js';
import { natTable } from './nat-table.js';
import { routerSchema } from './router-schema.js';

const init = actorInit('router-expiry');
const rt = new ActorRuntime(routerSchema(), init);
const replica = await rt.start();
const arp = new ArpCache(replica.table(arpTable));
const nat = new NatEngine(replica.table(natTable));
const frag = replica.table(fragTable);
let ticks = 0;
let fragExpired = 0;
rt.counters = () => ({ ticks, arpExpired: arp.counters.expired, natExpired: nat.counters.expired, fragExpired });

/** Removes abandoned reassembly rows (frag-table.ts); returns how many. */
function expireFragments(now: number): number {
  const n = expireAbandoned(frag, now);
  fragExpired += n;
  return n;
}
setInterval(() => {
  ticks++;
  const now = Date.now();
  if (arp.expire(now) + nat.expire(now) + expireFragments(now) > 0) rt.push();
}, init.tickMs);
