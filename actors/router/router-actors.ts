// The router's actors on two networks: N packet actors plus the expiry actor, all supervised and
// merging into one primary. Frames reach the packet actors one of two ways: each actor reads and
// writes its own queue of each TAP (the kernel steering by port, SPSC hand-off rings for the rest:
// the main thread touches no packet), or the main thread's dispatchers pass them over rings (any
// Link: tests, benches, captures). Which actor owns a frame is steering.ts's rule either way.
// With failover, the pair's state machine runs here (failover.ts) and the packet actors follow it.
import { ReplicaHost, Store, siblingModule, type Logger } from '../../store/index.js';
import { forwardMaps, steer, type ForwardMaps } from './steering.js';
import type { Link } from '../../wire/link/link.js';
import { ringLinkPair, type RingLinkEnd } from '../../wire/link/ring-link.js';
import { TapError, TapQueueSet } from '../../wire/link/tap.js';
import { Dispatcher } from '../runtime/dispatcher.js';
import { dnatTable } from './dnat-table.js';
import type { NetInterface } from '../iface/net-interface.js';
import { routerTables } from './router-schema.js';
import { Supervisor } from '../runtime/supervisor.js';
import type { LookupInit } from '../../api/server/listeners.js';
import type { RouterFrames, RouterServicesInit } from '../runtime/messages.js';
import type { EchoLoadInit } from '../sim/echo-peers.js';
import type { ActorReport, PeerSyncReport, StackReport } from '../../api/protocol.js';
import { gatherReport } from '../runtime/stack-report.js';
import { DEFAULT_MAX_FLOWS } from './nat-engine.js';
import { interfaceInfo } from '../iface/net-interface.js';
import { prefixed } from '../runtime/counters.js';
import { macToString, vrrpVirtualMac } from '../../wire/index.js';
import { Failover, receivedAdvertisement, type FailoverOptions } from './failover.js';

const silent: Logger = { info() {}, warn() {}, error() {} };

/** The main thread's dispatchers (with --dispatcher or --pcap) as one more line of the report. */
function dispatcherReport(inside: Dispatcher, outside: Dispatcher): ActorReport {
  return {
    name: 'dispatcher', kind: 'dispatcher', incarnation: 1, base: 0, pendingEdits: 0, pushes: 0, heads: 0, conflicts: 0, rejected: 0, resyncs: 0,
    counters: { ...prefixed('inside', inside.counters), ...prefixed('outside', outside.counters) },
  };
}

/** How frames on TAP queues reach their owner: the kernel's eBPF steering program (plus hand-off for the rest), or hand-off alone. */
export type Steering = 'kernel' | 'handoff';

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
  /** Queues mode: ask the kernel to steer by port (default), or hand every misplaced frame over ('handoff'). */
  steering?: Steering;
  /** Queues mode: each actor busy-polls its queues this many µs after frames (TapOptions.spinUs). Default 50. */
  spinUs?: number;
  /** Queues mode: the queues were opened with IFF_VNET_HDR (segment offload): frames carry a virtio-net header. */
  vnetHdr?: boolean;
  /** A benchmark: no networks (both null); each packet actor forwards for peers simulated in its own thread. */
  echo?: EchoLoadInit;
  /** The router's own services (DHCP server, DNS cache, outside DHCP client), run in every packet actor. */
  services?: RouterServicesInit;
  /** With a git backend: its counters for the stack report (read when a report is gathered). */
  gitStats?: () => Record<string, number>;
  /**
   * One of a failover pair (docs/ha.md): both routers have the same addresses and, on both links, the MAC
   * vrrpVirtualMac(vrid); the one VRRP elects master forwards, the other stays silent.
   */
  failover?: FailoverOptions;
  /** With --peer: the sync with the peer routers for the stack report (read when a report is gathered). */
  peers?: (now: number) => Promise<PeerSyncReport>;
}

export class RouterActors {
  readonly store: Store;
  readonly host: ReplicaHost;
  readonly supervisor: Supervisor;
  /** Null in queues mode: frames never pass through this thread. */
  readonly insideDispatcher: Dispatcher | null = null;
  readonly outsideDispatcher: Dispatcher | null = null;
  /** Queues mode: how frames reach their owner (the kernel refusing the program leaves 'handoff'). Null with dispatchers. */
  readonly steering: Steering | null = null;
  /** The port-forward rules as the dispatchers use them, rebuilt from the primary's `dnat` table whenever a commit changes it. */
  forwards: ForwardMaps = { inside: new Map(), outside: new Map() };
  private readonly unwatch: () => void;
  private readonly startedAt = Date.now();
  readonly packetActors: number;
  /** Null without `failover`. Started by ready(), stopped by stop(). */
  readonly failover: Failover | null = null;

  /**
   * `inside`/`outside`: two Links, read on this thread and dispatched to the actors over rings; or two TapQueueSets
   * with one queue per packet actor, which each actor reads and writes in its own thread.
   */
  constructor(readonly inside: Link | TapQueueSet | null, readonly outside: Link | TapQueueSet | null, readonly opts: RouterActorsOptions) {
    const queues = inside instanceof TapQueueSet && outside instanceof TapQueueSet;
    if (opts.failover) checkVirtualMac(opts.failover.vrid, opts);
    if (!queues && (inside instanceof TapQueueSet || outside instanceof TapQueueSet)) throw new TypeError('RouterActors: both networks as TapQueueSets, or both as Links');
    if ((inside === null || outside === null) !== (opts.echo !== undefined)) throw new TypeError('RouterActors: null networks go with `echo`, and only with it');
    const n = queues ? inside.size : (opts.packetActors ?? 2);
    if (queues && outside.size !== n) throw new RangeError(`RouterActors: ${inside.name} has ${n} queues, ${outside.name} ${outside.size}`);
    this.store = opts.primary ?? new Store(routerTables);
    this.host = new ReplicaHost(this.store.main);
    this.supervisor = new Supervisor(this.host, { mergeIntervalMs: opts.mergeIntervalMs, logger: opts.logger });
    this.unwatch = this.watchForwards();
    this.refreshForwards();
    if (opts.failover) this.failover = this.startFailover(opts.failover);
    let frames: (i: number) => RouterFrames;
    if (opts.echo) {
      const echo = opts.echo;
      frames = () => ({ echo });
    } else if (queues) {
      this.steering = steerQueues(inside, outside, opts.steering ?? 'kernel', opts.logger);
      frames = queueFrames(inside, outside, opts);
    } else {
      const pick = (outbound: boolean) => (f: Uint8Array, actors: number) => steer(f, outbound, this.forwards, actors);
      const ins = (this.insideDispatcher = new Dispatcher(inside as Link, n, 1 << 22, pick(true)));
      const outs = (this.outsideDispatcher = new Dispatcher(outside as Link, n, 1 << 22, pick(false)));
      frames = (i) => ({ rings: { inside: ins.connect(i), outside: outs.connect(i) } });
    }
    for (let i = 0; i < n; i++) this.spawnPacketActor(i, n, frames);
    this.packetActors = n;
    this.supervisor.reporter = (now) => this.report(now);
    // The hashtable baseline merges nothing: no expiry on a primary, no tables to serve.
    if ((opts.store ?? 'memory') === 'memory') this.spawnExpiryAndLookup(opts.api);
  }

  /** The stack's counters now: each actor's, the primary's, the merges', git's; in dispatcher mode the main thread's too. */
  async report(now: number): Promise<StackReport> {
    const failover = this.failover;
    const r = await gatherReport({
      role: 'router', supervisor: this.supervisor, store: this.store, git: this.opts.gitStats, startedAt: this.startedAt,
      limits: { nat: (this.opts.maxFlows ?? DEFAULT_MAX_FLOWS) * this.packetActors },
      ...(failover ? { failover: () => failover.report() } : {}),
      ...(this.opts.peers ? { peers: this.opts.peers } : {}),
    }, now);
    if (this.insideDispatcher && this.outsideDispatcher) r.actors.push(dispatcherReport(this.insideDispatcher, this.outsideDispatcher));
    return r;
  }

  /**
   * The pair's state machine, heard through the packet actors; what it sends goes out through the lowest-numbered
   * packet actor that is up. It stays silent (every actor a backup) until ready() starts it.
   */
  private startFailover(f: FailoverOptions): Failover {
    const failover = new Failover(f, this.opts.inside, (adverts, announce, timeoutMs) => {
      const h = this.supervisor.actors.find((a) => a.spec.kind === 'router-packet' && a.up);
      return h === undefined ? Promise.resolve(false) : this.supervisor.failoverSend(h, adverts, announce, timeoutMs);
    }, this.opts.logger ?? silent, Date.now());
    this.supervisor.onVrrp = (m, now) => void failover.heard(receivedAdvertisement(m), now);
    return failover;
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

  /**
   * Packet actor `i` of `n`. With dispatchers: a fresh ring on each network for every incarnation, detached while
   * it is down. With queues: the same queues and hand-off rings for every incarnation; they stay attached while it
   * is down (the kernel numbers attached queues densely, so detaching one would move the others' flows), and what
   * arrives for it meanwhile waits in them.
   */
  private spawnPacketActor(i: number, n: number, frames: (i: number) => RouterFrames): void {
    const { opts } = this;
    const store = opts.store ?? 'memory';
    this.supervisor.spawn({
      name: `packet-${i}`,
      kind: 'router-packet',
      module: siblingModule(import.meta.url, './router-worker'),
      prepare: () => ({
        merging: store === 'memory',
        router: {
          frames: frames(i), inside: opts.inside, outside: opts.outside, gateway: opts.gateway, actor: i, actors: n, store, maxFlows: opts.maxFlows, services: opts.services,
          ...(this.failover ? { failover: { forwarding: this.failover.forwarding } } : {}),
        },
      }),
      onDown: () => {
        this.insideDispatcher?.disconnect(i);
        this.outsideDispatcher?.disconnect(i);
      },
    });
  }

  /** The expiry actor, and the lookup actor when the API is served. */
  private spawnExpiryAndLookup(api: LookupInit | undefined): void {
    this.supervisor.spawn({ name: 'expiry', kind: 'router-expiry', module: siblingModule(import.meta.url, './router-expiry-worker'), prepare: () => ({ tickMs: 1_000 }) });
    if (api) this.supervisor.spawn({ name: 'lookup', kind: 'lookup', module: siblingModule(import.meta.url, '../lookup/lookup-worker'), prepare: () => ({ lookup: { ...api, interfaces: [interfaceInfo('inside', this.opts.inside), interfaceInfo('outside', this.opts.outside)] }, stack: 'router' as const }) });
  }

  /** Resolves when every actor is serving; then the failover starts (as a backup, silent). */
  async ready(): Promise<void> {
    await this.supervisor.ready();
    void this.failover?.startup(Date.now());
  }

  /** Rebuilds the dispatchers' port-forward maps from the primary's `dnat` table (a few entries). */
  refreshForwards(): void {
    if (!(this.store.schema.tables as readonly unknown[]).includes(dnatTable)) return;
    this.forwards = forwardMaps(this.store.main.table(dnatTable).entries(), this.opts.inside);
  }

  async stop(): Promise<void> {
    // A master says it leaves (priority 0) while its actors can still send it: the backup takes over at once.
    await this.failover?.shutdown(Date.now());
    this.unwatch();
    await this.supervisor.stop();
    this.insideDispatcher?.close();
    this.outsideDispatcher?.close();
  }
}

/** A failover pair shares one MAC on both links (the master's alone is ever heard): VRRP's virtual MAC for the VRID. */
function checkVirtualMac(vrid: number, opts: RouterActorsOptions): void {
  const mac = vrrpVirtualMac(vrid);
  if (opts.inside.mac === mac && opts.outside.mac === mac) return;
  throw new RangeError(`RouterActors: with failover both interfaces use the virtual MAC of VRID ${vrid}, ${macToString(mac)}`);
}

/** Asks the kernel to put each frame on its owner's queue: by source port inside, by destination port outside. */
function steerQueues(inside: TapQueueSet, outside: TapQueueSet, want: Steering, logger: Logger | undefined): Steering {
  if (want === 'handoff') return 'handoff';
  try {
    inside.steerByPort('src', inside.size);
    outside.steerByPort('dst', outside.size);
    return 'kernel';
  } catch (err) {
    if (!(err instanceof TapError)) throw err;
    logger?.warn({ reason: err.message }, 'the kernel refused the steering program: every misplaced frame is handed to its owner');
    return 'handoff';
  }
}

/** Each actor's queue of each TAP, and a hand-off ring pair between every two actors on each network (made once, kept for every incarnation). */
function queueFrames(inside: TapQueueSet, outside: TapQueueSet, opts: RouterActorsOptions): (i: number) => RouterFrames {
  const n = inside.size;
  const vnetHdr = opts.vnetHdr ?? false;
  // Hand-off carries the minority (or half, without the kernel's steering): smaller rings past 4 actors.
  const bytes = n <= 4 ? 1 << 21 : 1 << 19;
  const pairs = (side: string): (RingLinkEnd | null)[][] => {
    const ends: (RingLinkEnd | null)[][] = Array.from({ length: n }, () => new Array<RingLinkEnd | null>(n).fill(null));
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) [ends[i][j], ends[j][i]] = ringLinkPair(`${side}/handoff${i}-${j}`, bytes, { vnetHdr });
    }
    return ends;
  };
  const ins = pairs(inside.name);
  const outs = pairs(outside.name);
  const spinUs = opts.spinUs ?? 50;
  return (i) => ({ queues: { inside: inside.lend(i), outside: outside.lend(i), spinUs, vnetHdr }, handoff: { inside: ins[i], outside: outs[i] } });
}
