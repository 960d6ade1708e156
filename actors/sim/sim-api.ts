// `netbranch sim --api`: one node's tables served on the external-lookup API from a lookup actor on its
// own fork of the node's primary (ARP writes: static entries only).
import { ipv4ToString } from '../../wire/index.js';
import { LookupServer } from '../../api/server/lookup-server.js';
import { BranchSource } from '../../api/server/source.js';
import { HttpView } from '../../api/server/http-view.js';
import { openListeners, type LookupInit } from '../../api/server/listeners.js';
import type { ApiLog } from '../../api/server/log-limiter.js';
import { LocalActor } from '../runtime/local-actor.js';
import { hostApiRules } from '../host/host-api.js';
import type { SimNode } from './sim-node.js';

export interface SimApi {
  actor: LocalActor;
  server: LookupServer;
  http: HttpView;
}

/**
 * Node `n`'s lookup actor and server, listening where `api` says, announced in one line on `out`. A listener that
 * cannot open is a RangeError naming its flag (`--api-tcp 127.0.0.1:7070: address in use`), nothing left open.
 */
export async function serveSimApi(
  api: LookupInit, n: number, node: SimNode, o: { mergeIntervalMs: number; now: number; clock: () => number; log?: ApiLog }, out: (line: string) => void,
): Promise<SimApi> {
  const actor = new LocalActor('lookup', node.store.main, o.mergeIntervalMs, o.now);
  const server = new LookupServer(new BranchSource(actor.branch, node.store.main), { role: 'sim', tokens: api.tokens, log: o.log, clock: o.clock, tables: hostApiRules });
  const http = new HttpView(server);
  try {
    await openListeners(api, server, http);
  } catch (err) {
    await server.close();
    await http.close();
    throw new RangeError((err as Error).message);
  }
  out(`api: node${n}'s tables (${node.iface.name}, ${ipv4ToString(node.iface.ip)}) on${api.unix ? ` unix:${api.unix}` : ''}${api.tcp ? ` tcp:${api.tcp.host}:${api.tcp.port}` : ''}${api.http ? ` http://${api.http.host}:${api.http.port}/api` : ''}`);
  return { actor, server, http };
}

/** The actor's final merge, and the server's listeners closed. */
export async function closeSimApi(a: SimApi, now: number): Promise<void> {
  a.actor.tick(now, true);
  await a.server.close();
  await a.http.close();
}
