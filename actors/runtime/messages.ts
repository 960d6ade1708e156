// Every message between the main thread and an actor thread, one named interface each (as piscina
// does). Deltas travel as msgpack bytes (store/replica/delta.ts); control calls go over comlink (control.ts).
import type { RingLinkEnd } from '../../wire/link/ring-link.js';
import type { NetInterface } from '../iface/net-interface.js';
import type { ArpCacheOptions } from '../iface/arp-cache.js';
import type { MessagePort } from 'node:worker_threads';
import type { LookupInit } from '../../api/server/listeners.js';

export type ActorKind = 'packet' | 'arp-expiry' | 'lookup';

/** workerData of every actor thread. */
export interface ActorInit {
  kind: ActorKind;
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
  /** Packet actors: their end of the frame ring link, and the interface they serve. */
  link?: RingLinkEnd;
  iface?: NetInterface;
  arp?: ArpCacheOptions;
  /** ARP-expiry actor: tick period (ms). */
  tickMs?: number;
  /** False: no merge loop at all (the router's `--store hashtable` baseline). */
  merging?: boolean;
  /** The primary's head commit, shared (ReplicaHost.headCell): an idle merge tick checks it instead of pulling. */
  headCell?: SharedArrayBuffer;
  /** Router packet actors. */
  router?: RouterActorInit;
  /** The external-lookup actor: where it serves and whom. */
  lookup?: LookupInit;
}

/** What a router packet actor needs: its rings on both networks and the routing/NAT set-up. */
export interface RouterActorInit {
  insideLink: RingLinkEnd;
  outsideLink: RingLinkEnd;
  inside: NetInterface;
  outside: NetInterface;
  gateway?: number;
  actor: number;
  actors: number;
  /** 'memory': tables on a replica of the primary; 'hashtable': plain Maps, nothing merged. */
  store: 'memory' | 'hashtable';
  maxFlows?: number;
}

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

export type FromActor = DeltaPost | ResyncRequest | ActorReady | ActorLog | HistoryQuery;

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
  entries: { seq: number; time: number; author: string; message: string; value: unknown }[];
  error?: string;
}

export type ToActor = ReplicaPost | HistoryAnswer;

/** What every actor answers over comlink. */
export interface ActorControl {
  stats(): Promise<ActorStats>;
  /** Pushes pending edits now and resolves once the primary's answer is applied. */
  flush(): Promise<void>;
  setMergeInterval(ms: number): Promise<void>;
  /** Turns the merge loop off (benchmarks: throughput with and without it). */
  setMerging(on: boolean): Promise<void>;
}

export interface ActorStats {
  name: string;
  kind: ActorKind;
  incarnation: number;
  base: number;
  pendingEdits: number;
  pushes: number;
  heads: number;
  conflicts: number;
  rejected: number;
  resyncs: number;
  counters: Record<string, number>;
}
