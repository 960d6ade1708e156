// The external-lookup actor: its own replica of the router's tables, kept fresh by the merge loop,
// serving the API (and the HTTP view) from its own thread. Reads never touch the packet actors;
// writes go to its replica and merge back with the tables' normal rules.
import { ActorRuntime } from './actor-runtime.js';
import { HttpView } from './http-view.js';
import { LookupServer } from './lookup-server.js';
import { ReplicaSource } from './lookup-source.js';
import { routerSchema } from './router-schema.js';

const rt = new ActorRuntime(routerSchema());
const init = rt.init.lookup;
if (!init) throw new Error('the lookup actor needs its lookup settings');
const replica = await rt.start({ announce: false }); // ready once the sockets listen
const source = new ReplicaSource(replica, rt);
const server = new LookupServer(source, {
  role: init.role,
  tokens: init.tokens,
  maxFrame: init.maxFrame,
  maxConnections: init.maxConnections,
  log: (level, msg, fields) => rt.log(level, fields && Object.keys(fields).length ? `${msg} ${JSON.stringify(fields)}` : msg),
});
const http = new HttpView(server);
try {
  if (init.unix) await server.listenUnix(init.unix);
  if (init.tcp) await server.listenTcp(init.tcp.host, init.tcp.port);
  if (init.http) await http.listen(init.http.host, init.http.port);
} catch (err) {
  // A listener that cannot start is fatal for this actor: the supervisor logs it and retries.
  rt.log('error', `lookup: cannot listen: ${(err as Error).message}`);
  throw err;
}
rt.log('info', `lookup: serving${init.unix ? ` unix:${init.unix}` : ''}${init.tcp ? ` tcp:${init.tcp.host}:${init.tcp.port}` : ''}${init.http ? ` http://${init.http.host}:${init.http.port}/api` : ''}`);
rt.announce();
rt.counters = () => ({ ...server.counters, httpRequests: http.requests, httpErrors: http.errors });
