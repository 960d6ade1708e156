// The router's expiry actor: every tick it removes expired ARP entries and NAT flows whose
// conntrack timeout is up, on its own branch; a concurrent use of a flow still wins the merge.
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { ArpCache } from '../iface/arp-cache.js';
import { arpTable } from '../iface/arp-table.js';
import { NatEngine } from './nat-engine.js';
import { natTable } from './nat-table.js';
import { routerSchema } from './router-schema.js';

const init = actorInit('router-expiry');
const rt = new ActorRuntime(routerSchema(), init);
const replica = await rt.start();
const arp = new ArpCache(replica.table(arpTable));
const nat = new NatEngine(replica.table(natTable));
let ticks = 0;
rt.counters = () => ({ ticks, arpExpired: arp.counters.expired, natExpired: nat.counters.expired });
setInterval(() => {
  ticks++;
  const now = Date.now();
  if (arp.expire(now) + nat.expire(now) > 0) rt.push();
}, init.tickMs);
