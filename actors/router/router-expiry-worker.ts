// The router's expiry actor: every tick it removes expired ARP entries and NAT flows whose
// conntrack timeout is up, on its own branch; a concurrent use of a flow still wins the merge.
// It also removes `frag` rows past their deadline that no packet actor removed (one crashed meanwhile).
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { ArpCache } from '../iface/arp-cache.js';
import { arpTable } from '../iface/arp-table.js';
import { fragTable } from '../iface/frag-table.js';
import { NatEngine } from './nat-engine.js';
import { natTable } from './nat-table.js';
import { routerSchema } from './router-schema.js';

const init = actorInit('router-expiry');
const rt = new ActorRuntime(routerSchema(), init);
const replica = await rt.start();
const arp = new ArpCache(replica.table(arpTable));
const nat = new NatEngine(replica.table(natTable));
const frag = replica.table(fragTable);
/** Past its deadline by this much, a row's actor is gone: a live one removes it at its next poll (once a second). */
const FRAG_GRACE_MS = 5_000;
let ticks = 0;
let fragExpired = 0;
rt.counters = () => ({ ticks, arpExpired: arp.counters.expired, natExpired: nat.counters.expired, fragExpired });

/** Removes abandoned reassembly rows; returns how many. */
function expireFragments(now: number): number {
  if (frag.sizeBound === 0) return 0;
  const gone: string[] = [];
  for (const [k, e] of frag.entries()) if (e.deadline + FRAG_GRACE_MS <= now) gone.push(k);
  for (const k of gone) frag.delete(k);
  fragExpired += gone.length;
  return gone.length;
}
setInterval(() => {
  ticks++;
  const now = Date.now();
  if (arp.expire(now) + nat.expire(now) + expireFragments(now) > 0) rt.push();
}, init.tickMs);
