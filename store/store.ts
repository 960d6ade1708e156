// The store: a schema of typed tables, the primary branch, and the store-wide commit sequence.
import { Branch } from './branch.js';
import type { Commit } from './commit.js';
import { Schema, type Table } from './table.js';
import type { BranchStore, StoreStats } from './branch-store.js';

export type { StoreStats };

export interface StoreOptions {
  /** Commits each branch keeps for log, diff and revert beyond those a live base needs. */
  retention?: number;
  /** Time source for commit timestamps (ms); tests pass a simulated clock. */
  clock?: () => number;
  /** Name of the primary branch. */
  primary?: string;
}

export class Store implements BranchStore {
  readonly schema: Schema;
  readonly main: Branch;
  readonly retention: number;
  readonly stats: StoreStats = { commits: 0, merges: 0, fastForwards: 0, conflicts: 0, released: 0, watchErrors: 0, rejectedDeltas: 0 };
  private seq = 0;
  private branchIds = 0;
  private readonly clock: () => number;

  constructor(tables: readonly Table<any, any>[], opts: StoreOptions = {}) {
    this.schema = new Schema(tables);
    this.retention = Math.max(1, opts.retention ?? 1024);
    this.clock = opts.clock ?? Date.now;
    const name = opts.primary ?? 'main';
    const root: Commit = { seq: 0, kind: 'root', branch: name, parents: [], author: 'store', time: this.clock(), message: 'empty store', conflicts: [], changes: [] };
    this.main = new Branch(this, name, null, root);
  }

  now(): number {
    return this.clock();
  }

  /** The sequence number the next commit will take. */
  peekSeq(): number {
    return this.seq + 1;
  }

  takeSeq(): number {
    return ++this.seq;
  }

  nextBranchId(): number {
    return ++this.branchIds;
  }
}
