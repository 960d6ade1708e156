// Every message between the main thread and an actor thread, one named interface each (as piscina
// does). Deltas travel as msgpack bytes (store/replica/delta.ts); control calls go over comlink (control.ts).
import type { TcpEndpointOptions } from '../tcp/tcp-endpoint.js';
import type { RingLinkEnd } from '../../wire/link/ring-link.js';
import type { NetInterface } from '../iface/net-interface.js';
import type { ArpCacheOptions } from '../iface/arp-cache.js';
import type { MessagePort } from 'node:worker_threads';
import type { LookupInit } from '../../api/server/listeners.js';
import type { ActorReport, HistoryEntry } from '../../api/protocol.js';
import type { TapQueueEnd } from '../../wire/link/tap.js';
import type { EchoLoadInit } from '../sim/echo-peers.js';

/** What every actor thread gets in its workerData, whatever its kind. */
export interface ActorInitBase {
  /** Replica id on the primary: `${name}#${incarnation}`, new on every restart. */
  replicaId: string;
  name: string;
  incarnation: number;
  /** How often the actor pushes its delta (ms). */
  mergeIntervalMs: number;
  /** Push sooner when this many edits wait. */
  maxPendingEdits: number;
  /** The port comlink control calls arrive on. */
  control: MessagePort;
  /** False: no merge loop at all (the router's `--store hashtable` baseline). */
  merging?: boolean;
  /** The primary's head commit, shared (ReplicaHost.headCell): an idle merge tick checks it instead of pulling. */
  headCell?: SharedArrayBuffer;
}

/** A host packet actor (actors/host/packet-worker.ts): the interface it serves and where its frames come from. */
export interface HostPacketInit extends ActorInitBase {
  kind: 'host-packet';
  iface: NetInterface;
  arp?: ArpCacheOptions;
  /** Its end of the dispatcher's ring, or (queues mode) its own queue of the TAP, read on its own thread. */
  frames: { ring: RingLinkEnd } | { tapQueue: TapQueueEnd & { spinUs: number } };
  /** TCP ports the actor runs an echo service on (every packet actor listens: a flow may land on any of them). */
  tcpEcho?: number[];
  /** Its TCP endpoint's buffers and limits (the endpoint's defaults when absent). */
  tcp?: HostTcpInit;
}

/** The plain-number part of TcpEndpointOptions a packet actor's endpoint is started with. */
export type HostTcpInit = Pick<TcpEndpointOptions, 'mss' | 'rcvBuffer' | 'sndBuffer' | 'backlog' | 'maxHalfOpen' | 'timeWaitMs'>;

/** The host's ARP-expiry actor (actors/host/arp-expiry-worker.ts). */
export interface ArpExpiryInit extends ActorInitBase {
  kind: 'arp-expiry';
  arp?: ArpCacheOptions;
  /** Tick period (ms). */
  tickMs: number;
}

/** A router packet actor (actors/router/router-worker.ts). */
export interface RouterPacketInit extends ActorInitBase {
  kind: 'router-packet';
  router: RouterActorInit;
}

/**
 * Where a router packet actor's frames come from: rings from the main thread's dispatchers, or its own queue of each
 * TAP plus a hand-off ring to and from every other actor (`handoff.inside[j]`, null at its own index).
 */
export type RouterFrames =
  | { rings: { inside: RingLinkEnd; outside: RingLinkEnd } }
  /** A benchmark's peers simulated in the actor's own thread (actors/sim/echo-peers.ts). */
  | { echo: EchoLoadInit }
  | {
    queues: { inside: TapQueueEnd; outside: TapQueueEnd; spinUs: number; vnetHdr: boolean };
    handoff: { inside: (RingLinkEnd | null)[]; outside: (RingLinkEnd | null)[] };
  };

/** What a router packet actor needs: its frames on both networks and the routing/NAT set-up. */
export interface RouterActorInit {
  frames: RouterFrames;
  inside: NetInterface;
  outside: NetInterface;
  gateway?: number;
  actor: number;
  actors: number;
  /** 'memory': tables on a replica of the primary; 'hashtable': plain Maps, nothing merged. */
  store: 'memory' | 'hashtable';
  maxFlows?: number;
  /** The router's own services (actors/router/local-services.ts); none: it only routes. */
  services?: RouterServicesInit;
  /** Failover (actors/router/failover.ts); none: always forwarding, VRRP not heard. */
  failover?: RouterFailoverInit;
}

/** A packet actor's side of the failover pair: the main thread's VirtualRouter decides, the actor reads the answer per frame. */
export interface RouterFailoverInit {
  /** One Int32: 1 while this router is the master (forward, answer ARP, run the services), 0 otherwise (silent). */
  forwarding: SharedArrayBuffer;
}

/** Which of the router's own services run, and their settings (plain data: it crosses to the actor thread). */
export interface RouterServicesInit {
  /** The DHCP server's range, first and last address (--dhcp-range). */
  dhcpRange?: [number, number];
  /** Its lease length, ms (--lease). */
  leaseMs?: number;
  /** The DNS cache's upstream (--dns-upstream); absent with `dns`: the outside lease's DNS server. */
  dnsUpstream?: number;
  /** Run the DNS cache on the inside address. */
  dns?: boolean;
  /** The outside address comes from DHCP (--outside NAME:dhcp). */
  outsideDhcp?: boolean;
}

/** The router's expiry actor (actors/router/router-expiry-worker.ts): ARP entries and NAT flows. */
export interface RouterExpiryInit extends ActorInitBase {
  kind: 'router-expiry';
  /** Tick period (ms). */
  tickMs: number;
}

/** Whose tables a lookup actor serves: the router's schema and API rules, or a host's (arp, tcp, frag). */
export type LookupStack = 'router' | 'host';

/** The external-lookup actor (actors/lookup/lookup-worker.ts): where it serves, whom, and which stack's tables. */
export interface LookupActorInit extends ActorInitBase {
  kind: 'lookup';
  lookup: LookupInit;
  /** Picks the schema the replica is built from: it must be the primary's, or deltas would not decode. */
  stack: LookupStack;
}

/** workerData of every actor thread, one named interface per kind. */
export type ActorInit = HostPacketInit | ArpExpiryInit | RouterPacketInit | RouterExpiryInit | LookupActorInit;

export type ActorKind = ActorInit['kind'];

/** The init of one kind of actor. */
export type ActorInitOf<K extends ActorKind> = Extract<ActorInit, { kind: K }>;

/** What the supervisor fills in for every actor (actors/runtime/supervisor.ts). */
type SupervisorFields = 'replicaId' | 'name' | 'incarnation' | 'mergeIntervalMs' | 'maxPendingEdits' | 'control' | 'headCell';

/** The rest of one kind's init: what the supervisor's caller gives for each (re)start (ActorSpec.prepare). */
export type ActorInitPart<K extends ActorKind> = Omit<ActorInitOf<K>, SupervisorFields | 'kind'>;

/**
 * What stats call an actor: a packet actor is 'packet' whether it serves a host or the router
 * (the router's SIGUSR1 summary and the tests pick packet actors by it).
 */
export type StatsKind = 'packet' | Exclude<ActorKind, 'host-packet' | 'router-packet'>;

/** actor → main: a delta (DeltaMessage bytes) to merge. */
export interface DeltaPost {
  type: 'delta';
  bytes: Uint8Array;
}

/** actor → main: the replica's base was released; send a fresh snapshot. */
export interface ResyncRequest {
  type: 'resync';
}

/** actor → main: the actor has its snapshot and is serving. */
export interface ActorReady {
  type: 'ready';
}

/** actor → main: something the supervisor should log (the actor has no logger of its own). */
export interface ActorLog {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  msg: string;
}

/** actor → main: an entry's history (the primary's log lives on the main thread). */
export interface HistoryQuery {
  type: 'history';
  id: number;
  table: number;
  key: string | number;
  limit: number;
}

/** What the lookup actor may ask of the primary's side beyond an entry's history: the stack's report, commits, a diff. */
export type PrimaryQueryBody =
  | { op: 'report' }
  | { op: 'commits'; limit: number }
  | { op: 'diff'; from: number; to?: number; limit: number }
  | { op: 'sync' };

/** actor → main: a question only the main thread can answer (the primary, the supervisor and the stack live there). */
export interface PrimaryQuery {
  type: 'query';
  id: number;
  query: PrimaryQueryBody;
}

/**
 * actor → main: a VRRP advertisement a router packet actor heard on the inside, its codec's checks passed (checksum
 * included); the TTL and VRID are the VirtualRouter's to judge (actors/router/virtual-router.ts).
 */
export interface VrrpHeard {
  type: 'vrrp-heard';
  vrid: number;
  priority: number;
  /** Centiseconds. */
  maxAdverInterval: number;
  addresses: number[];
  /** The IPv4 source and TTL it came with. */
  src: number;
  ttl: number;
}

/** actor → main: the FailoverSend `id` was handled; `sent` false when the actor has no failover to send with. */
export interface FailoverSent {
  type: 'failover-sent';
  id: number;
  sent: boolean;
}

export type FromActor = DeltaPost | ResyncRequest | ActorReady | ActorLog | HistoryQuery | PrimaryQuery | VrrpHeard | FailoverSent;

/** main → actor: SnapshotMessage, HeadDeltaMessage or DeltaRejectedMessage bytes. */
export interface ReplicaPost {
  type: 'replica';
  bytes: Uint8Array;
}

/** main → actor: the answer to a HistoryQuery. */
export interface HistoryAnswer {
  type: 'history';
  id: number;
  complete: boolean;
  entries: HistoryEntry[];
  error?: string;
}

/** main → actor: the answer to a PrimaryQuery (StackReport, CommitsResult or DiffResult), or why there is none. */
export interface PrimaryAnswer {
  type: 'query';
  id: number;
  result?: unknown;
  error?: string;
}

/**
 * main → router packet actor: whole frames to send on its inside link (VRRP advertisements built on the main thread),
 * then, with `announce`, a gratuitous ARP for each of its addresses (it just became the master). Answered by FailoverSent.
 */
export interface FailoverSend {
  type: 'failover-send';
  id: number;
  adverts: Uint8Array[];
  announce: boolean;
}

export type ToActor = ReplicaPost | HistoryAnswer | PrimaryAnswer | FailoverSend;

/** What every actor answers over comlink. */
export interface ActorControl {
  stats(): Promise<ActorStats>;
  /** Pushes pending edits now and resolves once the primary's answer is applied. */
  flush(): Promise<void>;
  setMergeInterval(ms: number): Promise<void>;
  /** Turns the merge loop off (benchmarks: throughput with and without it). */
  setMerging(on: boolean): Promise<void>;
}

/** An actor's stats: the API's ActorReport, with its kind narrowed. */
export interface ActorStats extends ActorReport {
  kind: StatsKind;
}
