// An actor on this thread: a fork of the node's primary, merged back every merge interval of the
// (possibly simulated) clock. The simulation runs the same actor logic as the worker threads do,
// on Branch forks instead of replicas.
import type { Branch, BranchView } from '../../store/index.js';

export class LocalActor {
  readonly branch: Branch;
  private nextMerge: number;
  merges = 0;

  constructor(readonly name: string, readonly primary: Branch, readonly mergeIntervalMs: number, now: number) {
    this.branch = primary.fork(name);
    this.nextMerge = now + mergeIntervalMs;
  }

  get view(): BranchView {
    return this.branch;
  }

  /** Commits and merges when the interval is up (or at once with `force`). */
  tick(now: number, force = false): void {
    if (!force && now < this.nextMerge) return;
    this.nextMerge = now + this.mergeIntervalMs;
    this.branch.commit({ author: this.name, time: now });
    if (this.primary.merge(this.branch, { author: this.name, time: now }).commit) this.merges++;
  }
}
