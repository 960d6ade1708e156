// What passes between the stress runner and its branch tasks: the job, the control messages beside the
// encoded replica messages on the job's port, and the report a task returns.
import type { MessagePort } from 'node:worker_threads';
import type { ArpEntry } from '../iface/arp-table.js';
import type { OpKind } from './stress-edits.js';

/** What one branch's task is given; `port` is transferred (transferList). */
export interface StressJob {
  branch: number;
  /** Its replica id on the primary. */
  replica: string;
  seed: number;
  ops: number;
  /** Distinct ARP addresses; counters get max(1, keys / 4) keys. */
  keys: number;
  counters: number;
  /** Chance, per op, of pushing a delta at that moment (skipped while a push is in flight). */
  mergeProbability: number;
  /** The primary's SnapshotMessage, DeltaCodec-encoded. */
  snapshot: Uint8Array;
  port: MessagePort;
  /** Ops between progress messages. */
  progressEvery: number;
}

/** A branch's final view, sorted by key: what its replica holds after the final pull. */
export interface StressView {
  arp: [number, ArpEntry][];
  counters: [string, number][];
}

export interface StressTaskReport {
  branch: number;
  replica: string;
  ops: number;
  opCounts: Record<OpKind, number>;
  /** Deltas sent with edits, and empty ones (pulls). */
  pushes: number;
  pulls: number;
  heads: number;
  rejected: number;
  resyncs: number;
  /** Conflicts the primary reported in this branch's merges, plus those of its own rebases. */
  conflicts: number;
  /** Total amount added to each counter key by this branch. */
  increments: Record<string, number>;
  view: StressView;
  /** Time spent between 'go' and the final pull's answer. */
  ms: number;
}

/**
 * Messages on the job's port besides encoded replica messages (Uint8Array, both ways).
 * branch → primary: ready (loaded, waiting for go), progress, drained (every edit pushed and answered),
 * resync (base released: send a fresh snapshot). primary → branch: go, final-pull.
 */
export type StressControl =
  | { type: 'ready' }
  | { type: 'go' }
  | { type: 'progress'; ops: number }
  | { type: 'drained' }
  | { type: 'resync' }
  | { type: 'final-pull' };
