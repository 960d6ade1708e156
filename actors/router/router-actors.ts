// The router's actors on two links: N packet actors, each with a ring on the inside and on the
// outside network, plus the expiry actor, all supervised and merging into one primary. Which actor
// a frame goes to is steering.ts's rule.
import { ReplicaHost, Store, siblingModule } from '../../store/index.js';
import { forwardMaps, steer, type ForwardMaps } from './steering.js';
import type { Link } from '../../wire/link/link.js';
import { Dispatcher } from '../runtime/dispatcher.js';
import { dnatTable } from './dnat-table.js';
import type { NetInterface } from '../iface/net-interface.js';
import { routerTables } from './router-schema.js';
import { Supervisor, type SupervisorLogger } from '../runtime/supervisor.js';
import type { LookupInit } from '../../api/server/listeners.js';

export interface RouterActorsOptions {
  inside: NetInterface;
  outside: NetInterface;
  gateway?: number;
  packetActors?: number;
  mergeIntervalMs?: number;
  store?: 'memory' | 'hashtable';
  maxFlows?: number;
  logger?: SupervisorLogger;
  /** The primary to use (already loaded, e.g. from git); default a new empty one. */
  primary?: Store;
  /** Serve the external-lookup API from its own actor (actors/lookup/lookup-worker.ts). */
  api?: LookupInit;
}

export class RouterActors {
  readonly store: Store;
  readonly host: ReplicaHost;
  readonly supervisor: Supervisor;
  readonly insideDispatcher: Dispatcher;
  readonly outsideDispatcher: Dispatcher;
  /** The port-forward rules as the dispatchers use them, rebuilt from the primary's `dnat` table whenever a commit changes it. */
  forwards: ForwardMaps = { inside: new Map(), outside: new Map() };
  private readonly unwatch: () => void;

  constructor(readonly insideLink: Link, readonly outsideLink: Link, readonly opts: RouterActorsOptions) {
    const n = opts.packetActors ?? 2;
    const mode = opts.store ?? 'memory';
    this.store = opts.primary ?? new Store(routerTables);
    this.host = new ReplicaHost(this.store.main);
    this.supervisor = new Supervisor(this.host, { mergeIntervalMs: opts.mergeIntervalMs, logger: opts.logger });
    const pick = (outbound: boolean) => (f: Uint8Array, actors: number) => steer(f, outbound, this.forwards, actors);
    const dnatIndex = (this.store.schema.tables as readonly unknown[]).indexOf(dnatTable);
    this.unwatch = dnatIndex < 0 ? () => false : this.store.main.watch((ev) => {
      const changed = ev.commit.changes[dnatIndex];
      if (changed !== undefined && changed.length > 0) this.refreshForwards();
    });
    this.refreshForwards();
    this.insideDispatcher = new Dispatcher(insideLink, n, 1 << 22, pick(true));
    this.outsideDispatcher = new Dispatcher(outsideLink, n, 1 << 22, pick(false));
    for (let i = 0; i < n; i++) {
      this.supervisor.spawn({
        name: `packet-${i}`,
        kind: 'packet',
        module: siblingModule(import.meta.url, './router-worker'),
        prepare: () => ({
          merging: mode === 'memory',
          router: {
            insideLink: this.insideDispatcher.connect(i),
            outsideLink: this.outsideDispatcher.connect(i),
            inside: opts.inside,
            outside: opts.outside,
            gateway: opts.gateway,
            actor: i,
            actors: n,
            store: mode,
            maxFlows: opts.maxFlows,
          },
        }),
        onDown: () => {
          this.insideDispatcher.disconnect(i);
          this.outsideDispatcher.disconnect(i);
        },
      });
    }
    if (mode === 'memory') {
      this.supervisor.spawn({ name: 'expiry', kind: 'arp-expiry', module: siblingModule(import.meta.url, './router-expiry-worker'), prepare: () => ({ tickMs: 1_000 }) });
    }
    if (opts.api && mode === 'memory') {
      const lookup = opts.api;
      this.supervisor.spawn({ name: 'lookup', kind: 'lookup', module: siblingModule(import.meta.url, '../lookup/lookup-worker'), prepare: () => ({ lookup }) });
    }
  }

  ready(): Promise<void> {
    return this.supervisor.ready();
  }

  /** Rebuilds the dispatchers' port-forward maps from the primary's `dnat` table (a few entries). */
  refreshForwards(): void {
    if (!(this.store.schema.tables as readonly unknown[]).includes(dnatTable)) return;
    this.forwards = forwardMaps(this.store.main.table(dnatTable).entries(), this.opts.inside);
  }

  async stop(): Promise<void> {
    this.unwatch();
    await this.supervisor.stop();
    this.insideDispatcher.close();
    this.outsideDispatcher.close();
  }
}
