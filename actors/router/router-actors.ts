// The router's actors on two links: N packet actors, each with a ring on the inside and on the
// outside network, plus the expiry actor, all supervised and merging into one primary. Which actor
// a frame goes to is steering.ts's rule.
import { ReplicaHost, Store, siblingModule, type Logger } from '../../store/index.js';
import { forwardMaps, steer, type ForwardMaps } from './steering.js';
import type { Link } from '../../wire/link/link.js';
import { Dispatcher } from '../runtime/dispatcher.js';
import { dnatTable } from './dnat-table.js';
import type { NetInterface } from '../iface/net-interface.js';
import { routerTables } from './router-schema.js';
import { Supervisor } from '../runtime/supervisor.js';
import type { LookupInit } from '../../api/server/listeners.js';

export interface RouterActorsOptions {
  inside: NetInterface;
  outside: NetInterface;
  gateway?: number;
  packetActors?: number;
  mergeIntervalMs?: number;
  store?: 'memory' | 'hashtable';
  maxFlows?: number;
  logger?: Logger;
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
    this.store = opts.primary ?? new Store(routerTables);
    this.host = new ReplicaHost(this.store.main);
    this.supervisor = new Supervisor(this.host, { mergeIntervalMs: opts.mergeIntervalMs, logger: opts.logger });
    this.unwatch = this.watchForwards();
    this.refreshForwards();
    const pick = (outbound: boolean) => (f: Uint8Array, actors: number) => steer(f, outbound, this.forwards, actors);
    this.insideDispatcher = new Dispatcher(insideLink, n, 1 << 22, pick(true));
    this.outsideDispatcher = new Dispatcher(outsideLink, n, 1 << 22, pick(false));
    for (let i = 0; i < n; i++) this.spawnPacketActor(i, n);
    // The hashtable baseline merges nothing: no expiry on a primary, no tables to serve.
    if ((opts.store ?? 'memory') === 'memory') this.spawnExpiryAndLookup(opts.api);
  }

  /** Rebuilds the forwards whenever a commit on the primary changes the `dnat` table; returns the unwatch. */
  private watchForwards(): () => void {
    const dnatIndex = (this.store.schema.tables as readonly unknown[]).indexOf(dnatTable);
    if (dnatIndex < 0) return () => false;
    return this.store.main.watch((ev) => {
      const changed = ev.commit.changes[dnatIndex];
      if (changed !== undefined && changed.length > 0) this.refreshForwards();
    });
  }

  /** Packet actor `i` of `n`: a fresh ring on each network for every incarnation, detached while it is down. */
  private spawnPacketActor(i: number, n: number): void {
    const { opts } = this;
    const store = opts.store ?? 'memory';
    this.supervisor.spawn({
      name: `packet-${i}`,
      kind: 'router-packet',
      module: siblingModule(import.meta.url, './router-worker'),
      prepare: () => ({
        merging: store === 'memory',
        router: {
          insideLink: this.insideDispatcher.connect(i),
          outsideLink: this.outsideDispatcher.connect(i),
          inside: opts.inside,
          outside: opts.outside,
          gateway: opts.gateway,
          actor: i,
          actors: n,
          store,
          maxFlows: opts.maxFlows,
        },
      }),
      onDown: () => {
        this.insideDispatcher.disconnect(i);
        this.outsideDispatcher.disconnect(i);
      },
    });
  }

  /** The expiry actor, and the lookup actor when the API is served. */
  private spawnExpiryAndLookup(api: LookupInit | undefined): void {
    this.supervisor.spawn({ name: 'expiry', kind: 'router-expiry', module: siblingModule(import.meta.url, './router-expiry-worker'), prepare: () => ({ tickMs: 1_000 }) });
    if (api) this.supervisor.spawn({ name: 'lookup', kind: 'lookup', module: siblingModule(import.meta.url, '../lookup/lookup-worker'), prepare: () => ({ lookup: api }) });
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
