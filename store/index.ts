// netbranch's versioned store: typed tables, branches, commutative merges, deltas between threads.
export { Store, type StoreOptions, type StoreStats } from './store.js';
export { Branch, type Change, type CommitOptions, type MergeOutcome, type WatchEvent, type Watcher } from './branch.js';
export { BranchTable } from './branch-table.js';
export { type Commit, type CommitKind, type ConflictRecord, changeCount } from './commit.js';
export { Table, table, Schema, type TableSpec } from './table.js';
export { keys, values, showValue, type KeyCodec, type ValueCodec } from './codec.js';
export * from './merge.js';
export { deepEqual, compareCanonical } from './canonical.js';
export * from './errors.js';
export * from './replica/delta.js';
export { ReplicaHost, type ReplicaHostOptions } from './replica/replica-host.js';
export { Replica, ReplicaTable } from './replica/replica.js';
export { OutgoingPush, HeadApply } from './replica/replica-steps.js';
export { RecordReader, RecordWriter, CHUNK, type EntryVisitor } from './replica/records.js';
export { MergeCycle, FLUSH_STEP, type MergeCycleHooks } from './replica/merge-cycle.js';
export { startThread, siblingModule, comlinkEndpoint } from './thread.js';
export type { Logger } from './logger.js';
export type { TableView, BranchView } from './view.js';
