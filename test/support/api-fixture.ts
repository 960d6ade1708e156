// A store's tables served on the external-lookup API as a lookup actor serves them, for CLI tests of the API
// commands: rows committed to a primary, forked for the lookup actor, served on a Unix socket and on TCP.
import { join } from 'node:path';
import { Store, type Branch, type Table } from '../../store/index.js';
import { LocalActor } from '../../actors/runtime/local-actor.js';
import { BranchSource } from '../../api/server/source.js';
import { LookupServer } from '../../api/server/lookup-server.js';
import type { TableRule } from '../../api/server/requests.js';

export interface ApiFixture { unix: string; tcp: string; close: () => Promise<void> }

/** `fill` writes the rows on the primary (committed if it wrote any); `token` reads everything over TCP. */
export async function serveTables(dir: string, o: {
  tables: Table<any, any>[]; fill: (main: Branch) => void; rules: Readonly<Record<string, TableRule>>; now: number; token: string;
}): Promise<ApiFixture> {
  const store = new Store(o.tables, { clock: () => o.now });
  o.fill(store.main);
  if (store.main.hasUncommitted()) store.main.commit({ author: 'test', message: 'rows' });
  const actor = new LocalActor('lookup', store.main, 100, o.now);
  actor.tick(o.now, true);
  const server = new LookupServer(new BranchSource(actor.branch, store.main), {
    role: 'test', tokens: [{ name: 'reader', token: o.token, scopes: ['read:*'] }], clock: () => o.now, tables: o.rules,
  });
  const path = join(dir, 'api.sock');
  await server.listenUnix(path);
  const port = await server.listenTcp('127.0.0.1', 0);
  return { unix: `unix:${path}`, tcp: `tcp:127.0.0.1:${port}`, close: () => server.close() };
}
