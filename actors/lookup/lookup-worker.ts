// The external-lookup actor: its own replica of a stack's tables (the router's, or a host's), kept fresh by
// the merge loop, serving the API (and the HTTP view) from its own thread. Reads never touch the packet actors;
// writes go to its replica and merge back with the tables' normal rules.
import type { Schema } from '../../store/index.js';
import type { TableRule } from '../../api/server/requests.js';
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import type { LookupStack } from '../runtime/messages.js';
import { HttpView } from '../../api/server/http-view.js';
import { LookupServer } from '../../api/server/lookup-server.js';
import { ReplicaSource } from '../../api/server/source.js';
import { openListeners } from '../../api/server/listeners.js';
import { routerSchema } from '../router/router-schema.js';
import { leasedInterfaces, routerApiRules } from '../router/router-api.js';
import { stackSchema } from '../host/host-schema.js';
import { hostApiRules } from '../host/host-api.js';

/** Each stack's schema (the same list its primary is built from) and what the API may do with its tables. */
const STACKS: Record<LookupStack, { schema: () => Schema; rules: Readonly<Record<string, TableRule>> }> = {
  router: { schema: routerSchema, rules: routerApiRules },
  host: { schema: stackSchema, rules: hostApiRules },
};

const actor = actorInit('lookup');
const stack = STACKS[actor.stack];
if (!stack) throw new Error(`lookup: no stack '${actor.stack}' (router or host)`);
const rt = new ActorRuntime(stack.schema(), actor);
const init = actor.lookup;
const replica = await rt.start({ announce: false }); // ready once the sockets listen
const source = new ReplicaSource(replica, rt);
const server = new LookupServer(source, {
  role: init.role,
  tokens: init.tokens,
  tables: stack.rules,
  maxFrame: init.maxFrame,
  maxConnections: init.maxConnections,
  interfaces: init.interfaces && (() => (actor.stack === 'router' ? leasedInterfaces(init.interfaces!, replica) : init.interfaces!)),
  log: (level, msg, fields) => rt.log(level, fields && Object.keys(fields).length ? `${msg} ${JSON.stringify(fields)}` : msg),
});
const http = new HttpView(server);
try {
  await openListeners(init, server, http);
} catch (err) {
  // Before `announce`: a start-up failure, which the supervisor retries once and then gives up with this reason.
  await server.close(); // a Unix socket already made is removed, not left for the retry to find
  await http.close();
  throw err;
}
rt.log('info', `lookup: serving${init.unix ? ` unix:${init.unix}` : ''}${init.tcp ? ` tcp:${init.tcp.host}:${init.tcp.port}` : ''}${init.http ? ` http://${init.http.host}:${init.http.port}/api` : ''}`);
rt.announce();
rt.counters = () => ({ ...server.counters, httpRequests: http.requests, httpErrors: http.errors });
