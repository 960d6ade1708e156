// A commit: who changed which keys, when, why, and which conflicts its merge resolved.

export type CommitKind = 'root' | 'commit' | 'merge' | 'fast-forward' | 'sync' | 'revert';

export interface ConflictRecord {
  readonly table: string;
  readonly key: string | number;
  readonly reason: string;
}

export interface Commit {
  /** Store-wide sequence number; commits are ordered by it and named by it (`#42`). */
  readonly seq: number;
  readonly kind: CommitKind;
  readonly branch: string;
  /** First parent: this branch's previous head; second (merges, syncs): the other side's head. */
  readonly parents: readonly number[];
  /** Which actor or replica made it. */
  readonly author: string;
  readonly time: number;
  readonly message: string;
  readonly conflicts: readonly ConflictRecord[];
  /** Changed keys, indexed by table index (absent = none). */
  readonly changes: ReadonlyArray<ReadonlyArray<string | number> | undefined>;
}

export function changeCount(c: Commit): number {
  let n = 0;
  for (const ks of c.changes) n += ks ? ks.length : 0;
  return n;
}
