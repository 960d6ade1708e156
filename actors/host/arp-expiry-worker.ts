// The ARP-expiry actor's thread: every tick it removes expired dynamic entries on its own branch;
// the merge loop carries the removals to the primary, where a concurrent refresh still wins.
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { ArpCache } from '../iface/arp-cache.js';
import { arpTable } from '../iface/arp-table.js';
import { stackSchema } from './host-schema.js';

const init = actorInit('arp-expiry');
const rt = new ActorRuntime(stackSchema(), init);
const replica = await rt.start();
const cache = new ArpCache(replica.table(arpTable), init.arp);
let ticks = 0;
rt.counters = () => ({ ticks, expired: cache.counters.expired });
setInterval(() => {
  ticks++;
  if (cache.expire(Date.now()) > 0) rt.push();
}, init.tickMs);
