// What a branch needs of the store it belongs to: the schema, the store-wide commit sequence, the
// clock, retention and the counters. Store implements it; branch.ts depends on this, not on store.ts,
// so the two modules do not import each other.
import type { Schema } from './table.js';

export interface StoreStats {
  commits: number;
  merges: number;
  fastForwards: number;
  conflicts: number;
  released: number;
  watchErrors: number;
  rejectedDeltas: number;
}

export interface BranchStore {
  readonly schema: Schema;
  readonly retention: number;
  readonly stats: StoreStats;
  /** Commit timestamps (ms). */
  now(): number;
  /** The sequence number the next commit will take. */
  peekSeq(): number;
  takeSeq(): number;
  nextBranchId(): number;
}
