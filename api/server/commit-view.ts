// The primary's commits and diffs in the API's readable form (keys and values as the tables show them): answered on
// the thread that holds the primary — the main thread of a router or host (for its lookup actor), the sim's own.
import { showValue, type Branch } from '../../store/index.js';
import type { CommitInfo, CommitsResult, DiffResult } from '../protocol.js';

/** The newest `limit` retained commits, newest first. */
export function commitsOf(branch: Branch, limit: number): CommitsResult {
  const tables = branch.store.schema.tables;
  const commits: CommitInfo[] = branch.log(limit).map((c) => {
    const changes: Record<string, number> = {};
    c.changes.forEach((ks, ti) => { if (ks?.length) changes[tables[ti].name] = ks.length; });
    return {
      seq: c.seq, kind: c.kind, parents: [...c.parents], author: c.author, time: c.time, message: c.message, changes,
      conflicts: c.conflicts.map((x) => ({ table: x.table, key: showKey(branch, x.table, x.key), reason: x.reason })),
    };
  });
  return { head: branch.headSeq, commits, complete: commits.length < limit && branch.horizon === 0 };
}

/** Up to `limit` entries that differ between commits `from` and `to` (default: the head). Throws for a released commit. */
export function diffOf(branch: Branch, from: number, to: number | undefined, limit: number): DiffResult {
  const end = to ?? branch.headSeq;
  const all = branch.diff(from, end);
  const changes = all.slice(0, limit).map((d) => {
    const t = branch.store.schema.tables[branch.store.schema.index(d.table)];
    const show = (v: unknown) => (v === undefined ? null : showValue(t.value, v));
    return { table: d.table, key: t.key.encode(d.key as never), before: show(d.before), after: show(d.after) };
  });
  return { from, to: end, changes, more: all.length > limit };
}

function showKey(branch: Branch, table: string, key: string | number): string {
  const { schema } = branch.store;
  return schema.tables[schema.index(table)].key.encode(key as never);
}
