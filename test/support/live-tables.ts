// The router's tables served on the external-lookup API while the test changes them: rows written to the
// primary in the API's readable form and merged into the lookup actor's branch at once, so watches see them
// (as the packet actors' merges would reach a router's lookup actor). Also a stack report, a clock and the
// interfaces hello reports, for the CLI commands that show them (events, nat, stats).
import { join } from 'node:path';
import { Store } from '../../store/index.js';
import { routerTables } from '../../actors/router/router-schema.js';
import { routerApiRules } from '../../actors/router/router-api.js';
import { LocalActor } from '../../actors/runtime/local-actor.js';
import { BranchSource } from '../../api/server/source.js';
import { LookupServer } from '../../api/server/lookup-server.js';
import type { InterfaceInfo, StackReport } from '../../api/protocol.js';

export type Change = [table: string, key: string, shown: unknown];

export interface LiveTables {
  /** `unix:/path/api.sock`. */
  unix: string;
  server: LookupServer;
  /** The tables' clock (ms); the test moves it. */
  now: number;
  /** Writes the rows (undefined: removes), commits them on the primary and merges them to the lookup actor. */
  edit(changes: Change[], message?: string): void;
  close(): Promise<void>;
}

export async function serveLive(dir: string, o: { now: number; report?: () => StackReport; interfaces?: InterfaceInfo[] }): Promise<LiveTables> {
  const live = { now: o.now } as LiveTables;
  const store = new Store(routerTables, { clock: () => live.now });
  const primary = store.main;
  const actor = new LocalActor('lookup', primary, 100, live.now);
  const reporter = o.report ? async () => o.report!() : undefined;
  const server = new LookupServer(new BranchSource(actor.branch, primary, () => {}, reporter), {
    role: 'router', tokens: [], clock: () => live.now, tables: routerApiRules, ...(o.interfaces ? { interfaces: () => o.interfaces! } : {}),
  });
  const path = join(dir, 'api.sock');
  await server.listenUnix(path);
  return Object.assign(live, {
    unix: `unix:${path}`,
    server,
    edit(changes: Change[], message = 'test edit') {
      for (const [table, key, shown] of changes) {
        const i = store.schema.index(table);
        const t = store.schema.tables[i];
        const k = t.key.decode(key);
        if (shown === undefined) primary.tables[i].delete(k);
        else primary.tables[i].set(k, t.value.decode(shown, `${table}/${key}`));
      }
      primary.commit({ author: 'net', message });
      live.now += 100;
      actor.tick(live.now, true);
    },
    close: () => server.close(),
  });
}
