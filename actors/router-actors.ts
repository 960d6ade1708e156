// The router's actors on two links: N packet actors, each with a ring on the inside and on the
// outside network, plus the expiry actor, all supervised and merging into one primary. Inside
// frames go to the actor that owns the flow's source port (or echo identifier); return traffic goes
// to the owner of the port it is addressed to: the actor that made the binding.
import { ReplicaHost, Store, siblingModule } from '../store/index.js';
import { EtherType, ETHERNET_HEADER_LEN, IpProtocol } from '../wire/index.js';
import type { Link } from '../wire/link.js';
import { Dispatcher, flowHash } from './dispatcher.js';
import { portOwner } from './nat.js';
import type { NetInterface } from './net-interface.js';
import { routerTables } from './router-schema.js';
import { Supervisor, type SupervisorLogger } from './supervisor.js';

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
}

/** The port that decides a frame's actor: source port inside, destination port outside (ICMP: the echo identifier). */
export function natPort(f: Uint8Array, outbound: boolean): number {
  if (f.length < ETHERNET_HEADER_LEN + 20 || ((f[12] << 8) | f[13]) !== EtherType.Ipv4) return -1;
  const ip = ETHERNET_HEADER_LEN;
  const l4 = ip + (f[ip] & 0x0f) * 4;
  const proto = f[ip + 9];
  if (f.length < l4 + 8) return -1;
  if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) return outbound ? (f[l4] << 8) | f[l4 + 1] : (f[l4 + 2] << 8) | f[l4 + 3];
  if (proto !== IpProtocol.Icmp) return -1;
  const type = f[l4];
  if (type === 8 || type === 0) return (f[l4 + 4] << 8) | f[l4 + 5];
  if ((type === 3 || type === 11) && f.length >= l4 + 8 + 28) {
    // An error: the quoted datagram left through us, so its source port (or echo id) is ours.
    const q = l4 + 8;
    const ql4 = q + (f[q] & 0x0f) * 4;
    if (f.length < ql4 + 8) return -1;
    const qp = f[q + 9];
    if (qp === IpProtocol.Tcp || qp === IpProtocol.Udp) return (f[ql4] << 8) | f[ql4 + 1];
    if (qp === IpProtocol.Icmp) return (f[ql4 + 4] << 8) | f[ql4 + 5];
  }
  return -1;
}

export class RouterActors {
  readonly store: Store;
  readonly host: ReplicaHost;
  readonly supervisor: Supervisor;
  readonly insideDispatcher: Dispatcher;
  readonly outsideDispatcher: Dispatcher;

  constructor(readonly insideLink: Link, readonly outsideLink: Link, readonly opts: RouterActorsOptions) {
    const n = opts.packetActors ?? 2;
    const mode = opts.store ?? 'memory';
    this.store = opts.primary ?? new Store(routerTables);
    this.host = new ReplicaHost(this.store.main);
    this.supervisor = new Supervisor(this.host, { mergeIntervalMs: opts.mergeIntervalMs, logger: opts.logger });
    const pick = (outbound: boolean) => (f: Uint8Array, actors: number) => {
      const port = natPort(f, outbound);
      return port < 0 ? flowHash(f) % actors : portOwner(port, actors);
    };
    this.insideDispatcher = new Dispatcher(insideLink, n, 1 << 22, pick(true));
    this.outsideDispatcher = new Dispatcher(outsideLink, n, 1 << 22, pick(false));
    for (let i = 0; i < n; i++) {
      this.supervisor.spawn({
        name: `packet-${i}`,
        kind: 'packet',
        module: siblingModule(import.meta.url, './router-actor'),
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
      this.supervisor.spawn({ name: 'expiry', kind: 'arp-expiry', module: siblingModule(import.meta.url, './router-expiry-actor'), prepare: () => ({ tickMs: 1_000 }) });
    }
  }

  ready(): Promise<void> {
    return this.supervisor.ready();
  }

  async stop(): Promise<void> {
    await this.supervisor.stop();
    this.insideDispatcher.close();
    this.outsideDispatcher.close();
  }
}
