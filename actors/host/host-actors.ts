// Starts a stack's actors on one link: N packet actors (ARP, ping, TCP) behind a dispatcher, the ARP-expiry
// actor and, when asked, the lookup actor serving the API, all supervised and merging into one primary.
// Used by the TAP stack, the tests and benches.
import { ReplicaHost, Store } from '../../store/index.js';
import type { Link } from '../../wire/link/link.js';
import { TapQueueSet } from '../../wire/link/tap.js';
import type { ArpCacheOptions } from '../iface/arp-cache.js';
import { Dispatcher } from '../runtime/dispatcher.js';
import type { NetInterface } from '../iface/net-interface.js';
import { stackTables } from './host-schema.js';
import { Supervisor } from '../runtime/supervisor.js';
import { gatherReport } from '../runtime/stack-report.js';
import type { StackReport } from '../../api/protocol.js';
import { interfaceInfo } from '../iface/net-interface.js';
import type { HostPacketInit, HostTcpInit } from '../runtime/messages.js';
import { siblingModule } from '../../store/thread.js';
import type { Logger } from '../../store/index.js';
import type { LookupInit } from '../../api/server/listeners.js';

export interface StackActorsOptions {
  packetActors?: number;
  mergeIntervalMs?: number;
  arp?: ArpCacheOptions;
  expiryTickMs?: number;
  logger?: Logger;
  store?: Store;
  /** Queues mode: each packet actor busy-polls its TAP queue this many µs after frames (TapOptions.spinUs). Default 50. */
  spinUs?: number;
  /** TCP ports every packet actor runs an echo service on. */
  tcpEcho?: number[];
  /** The packet actors' TCP endpoints' buffers and limits. */
  tcp?: HostTcpInit;
  /** Serve the external-lookup API (arp, tcp, frag) from its own actor (actors/lookup/lookup-worker.ts). */
  api?: LookupInit;
}

export class StackActors {
  readonly store: Store;
  readonly host: ReplicaHost;
  readonly supervisor: Supervisor;
  private readonly startedAt = Date.now();
  /** Null in queues mode: frames never pass through this thread. */
  readonly dispatcher: Dispatcher | null;

  /**
   * `link`: any Link, read on this thread and dispatched to the actors over rings. A `TapQueueSet` instead (one queue
   * per packet actor): each actor reads and writes its own queue in its own thread, the kernel spreading flows over
   * the queues; a crashed actor's queue is detached until its next incarnation takes it back.
   */
  constructor(readonly link: Link | TapQueueSet, readonly iface: NetInterface, opts: StackActorsOptions = {}) {
    const queues = link instanceof TapQueueSet ? link : null;
    const n = queues ? queues.size : (opts.packetActors ?? 2);
    this.store = opts.store ?? new Store(stackTables);
    this.host = new ReplicaHost(this.store.main);
    this.supervisor = new Supervisor(this.host, { mergeIntervalMs: opts.mergeIntervalMs, logger: opts.logger });
    const dispatcher = link instanceof TapQueueSet ? null : new Dispatcher(link, n);
    this.dispatcher = dispatcher;
    const spinUs = opts.spinUs ?? 50;
    // Queues mode: each actor reads its own queue of the TAP; else its ring of the dispatcher.
    const frames = (i: number): HostPacketInit['frames'] => (queues ? { tapQueue: { ...queues.lend(i), spinUs } } : { ring: dispatcher!.connect(i) });
    for (let i = 0; i < n; i++) {
      this.supervisor.spawn({
        name: `packet-${i}`,
        kind: 'host-packet',
        module: siblingModule(import.meta.url, './packet-worker'),
        prepare: () => ({ iface, arp: opts.arp, frames: frames(i), tcpEcho: opts.tcpEcho, tcp: opts.tcp }),
        onDown: () => (queues ? queues.reclaim(i) : dispatcher!.disconnect(i)),
      });
    }
    this.supervisor.spawn({
      name: 'arp-expiry',
      kind: 'arp-expiry',
      module: siblingModule(import.meta.url, './arp-expiry-worker'),
      prepare: () => ({ arp: opts.arp, tickMs: opts.expiryTickMs ?? 1_000 }),
    });
    const api = opts.api;
    if (api) this.supervisor.spawn({ name: 'lookup', kind: 'lookup', module: siblingModule(import.meta.url, '../lookup/lookup-worker'), prepare: () => ({ lookup: { ...api, interfaces: [interfaceInfo('host', iface)] }, stack: 'host' as const }) });
    this.supervisor.reporter = (now) => this.report(now);
  }

  /** The stack's counters now: each actor's, the primary's, the merges'. */
  report(now: number): Promise<StackReport> {
    return gatherReport({ role: 'host', supervisor: this.supervisor, store: this.store, startedAt: this.startedAt }, now);
  }

  ready(): Promise<void> {
    return this.supervisor.ready();
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
    this.dispatcher?.close();
  }
}
