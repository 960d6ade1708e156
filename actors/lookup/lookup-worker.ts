// The external-lookup actor: its own replica of the router's tables, kept fresh by the merge loop,
// serving the API (and the HTTP view) from its own thread. Reads never touch the packet actors;
// writes go to its replica and merge back with the tables' normal rules.
import { ActorRuntime } from '../runtime/actor-runtime.js';
import { actorInit } from '../runtime/actor-init.js';
import { HttpView } from '../../api/server/http-view.js';
import { LookupServer } from '../../api/server/lookup-server.js';
import { ReplicaSource } from '../../api/server/source.js';
import { routerSchema } from '../router/router-schema.js';
import { openListeners } from '../../api/server/listeners.js';
import { routerApiRules } from '../router/router-api.js';

const actor = actorInit('lookup');
const rt = new ActorRuntime(routerSchema(), actor);
const init = actor.lookup;
const replica = await rt.start({ announce: false }); // ready once the sockets listen
const source = new ReplicaSource(replica, rt);
const server = new LookupServer(source, {
  role: init.role,
  tokens: init.tokens,
  tables: routerApiRules,
  maxFrame: init.maxFrame,
  maxConnections: init.maxConnections,
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
