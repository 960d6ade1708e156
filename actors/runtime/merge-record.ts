// What the primary's merges of actor deltas cost and settled: a duration histogram and conflicts by table, kept on the
// main thread where the merges run (Supervisor), read by the stack report.
import type { Branch, Commit } from '../../store/index.js';
import { BucketHistogram } from './histogram.js';

export class MergeRecord {
  readonly durations = new BucketHistogram();
  readonly conflictsByTable: Record<string, number> = {};
  private lastSeen: number;

  constructor(private readonly primary: Branch) {
    this.lastSeen = primary.headSeq;
  }

  /** After one delta was merged (`ms` long): counts the conflicts of the commit it made, if it made one. */
  merged(ms: number): void {
    this.durations.record(ms);
    const head = this.primary.headSeq;
    if (head === this.lastSeen) return;
    this.lastSeen = head;
    this.countConflicts(this.primary.commitAt(head));
  }

  private countConflicts(c: Commit): void {
    for (const { table } of c.conflicts) this.conflictsByTable[table] = (this.conflictsByTable[table] ?? 0) + 1;
  }
}
