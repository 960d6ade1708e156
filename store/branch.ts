// A branch: tables with overlays, a bounded commit log, O(1) forks, and three-way merges per key
// whose merge base is recorded at fork and sync time, never searched for.
import { BranchTable, cellValue, type Cell } from './branch-table.js';
import type { Commit, CommitKind, ConflictRecord } from './commit.js';
import { BaseReleasedError, StoreError, UnknownCommitError } from './errors.js';
import { lazy } from './merge.js';
import type { Table } from './table.js';
import type { BranchStore } from './branch-store.js';

export interface CommitOptions {
  author?: string;
  message?: string;
  time?: number;
  /** Make a commit even when nothing changed. */
  allowEmpty?: boolean;
}

/** One changed entry handed to a merge: table index, key, and the new value (undefined = deleted). */
export type Change = readonly [table: number, key: string | number, value: unknown];

export interface MergeOutcome {
  /** The commit made on the target, or null when there was nothing to merge. */
  commit: Commit | null;
  fastForward: boolean;
  conflicts: number;
}

export interface WatchEvent {
  commit: Commit;
  changes: { table: string; key: string | number }[];
}

export type Watcher = (event: WatchEvent) => void;

const EMPTY_SET: ReadonlySet<never> = new Set();

export class Branch {
  parent: Branch | null;
  /** The parent's commit this branch reads through to (its merge base with the parent). */
  baseSeq: number;
  headSeq: number;
  readonly tables: BranchTable[];
  /** Forks of this branch (allocated on first fork: forks must stay cheap). */
  private forks: Set<Branch> | null = null;
  /** Replicas on other threads based on this branch, by id: the commit each last synced to. */
  private replicaPins: Map<string, number> | null = null;
  /** Retained commits of this branch, oldest first. */
  readonly commits: Commit[] = [];
  /** Commits before this were released; no read, diff or merge may start earlier. */
  horizon: number;
  private watchers: Set<Watcher> | null = null;
  private closed = false;

  constructor(readonly store: BranchStore, readonly name: string, parent: Branch | null, root?: Commit) {
    this.parent = parent;
    this.baseSeq = parent ? parent.headSeq : 0;
    this.headSeq = this.baseSeq;
    this.horizon = this.baseSeq;
    this.tables = store.schema.tables.map((def, i) => new BranchTable(def, i, this, parent ? parent.tables[i] : null));
    if (root) this.commits.push(root);
  }

  /** The typed view of one table on this branch. */
  table<K extends string | number, V>(def: Table<K, V>): BranchTable<K, V> {
    return this.tables[this.store.schema.indexOf(def)] as unknown as BranchTable<K, V>;
  }

  /** A table by name (for tools and the API); throws UnknownTableError. */
  tableByName(name: string): BranchTable {
    return this.tables[this.store.schema.index(name)];
  }

  assertOpen(): void {
    if (this.closed) throw new StoreError('branch-closed', `branch '${this.name}' is closed`);
  }

  /** A new branch reading this one's head commit: O(1), whatever the size of the tables. */
  fork(name = `${this.name}~${this.store.nextBranchId()}`): Branch {
    this.assertOpen();
    const child = new Branch(this.store, name, this);
    (this.forks ??= new Set()).add(child);
    return child;
  }

  /** Releases this branch's pin on its parent's history. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.parent?.forks?.delete(this);
    this.parent?.collect();
  }

  /** Replicas' bases, by replica id; the ReplicaHost keeps them. */
  get replicaBases(): Map<string, number> {
    return (this.replicaPins ??= new Map());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  hasUncommitted(): boolean {
    return this.tables.some((t) => t.work.size !== 0);
  }

  /** Commits the uncommitted edits; returns null when they change nothing (unless allowEmpty). */
  commit(opts: CommitOptions = {}): Commit | null {
    this.assertOpen();
    const seq = this.store.peekSeq();
    const changes: (string | number)[][] = [];
    for (const t of this.tables) {
      if (t.work.size === 0) continue;
      for (const [k, cell] of t.work) writeChanged(t, k, cellValue(cell), t.committedValue(k), seq, changes);
      t.clearWork();
    }
    if (changes.length === 0 && !opts.allowEmpty) return null;
    return this.record('commit', [this.headSeq], changes, [], opts);
  }

  /** Drops uncommitted edits. */
  discard(): void {
    for (const t of this.tables) t.clearWork();
  }

  /**
   * Merges a child branch's committed edits into this branch (three-way per changed key, with the
   * child's recorded base as ancestor), then syncs the child onto the result.
   */
  merge(child: Branch, opts: CommitOptions = {}): MergeOutcome {
    this.assertOpen();
    child.assertOpen();
    if (child.parent !== this) throw new StoreError('not-a-child', `'${child.name}' was not forked from '${this.name}'; merge it into '${child.parent?.name ?? 'nothing'}'`);
    const changes = child.ownEdits();
    if (changes.length === 0) {
      child.sync();
      return { commit: null, fastForward: true, conflicts: 0 };
    }
    const out = this.mergeChanges(changes, child.baseSeq, {
      author: opts.author ?? child.name,
      message: opts.message ?? `merge ${child.name}`,
      time: opts.time,
      otherParent: child.headSeq,
    });
    child.sync(changes);
    return out;
  }

  /**
   * The merge primitive shared by in-thread forks and replicas on other threads: `changes` were made
   * on top of this branch's commit `baseSeq`. Never throws on a conflict: the table resolves it.
   */
  mergeChanges(
    changes: Iterable<Change>,
    baseSeq: number,
    meta: { author: string; message: string; time?: number; otherParent?: number },
    /** Filled with every change's resulting value, so a caller need not look the keys up again. */
    results?: Change[],
  ): MergeOutcome {
    if (baseSeq < this.horizon) throw new BaseReleasedError(meta.author, baseSeq, this.horizon);
    if (baseSeq > this.headSeq) throw new UnknownCommitError(baseSeq, this.name);
    const fastForward = baseSeq === this.headSeq;
    const seq = this.store.peekSeq();
    const conflicts: ConflictRecord[] = [];
    const keysByTable: (string | number)[][] = [];
    for (const [ti, k, theirs] of changes) {
      const t = this.tables[ti];
      const ours = t.committedValue(k);
      let result: unknown;
      if (fastForward || !t.changedSince(k, baseSeq)) {
        result = theirs; // only their side changed it: the merge function is for concurrent changes
      } else {
        // Both changed it. Equal sides are merged too: two increments of a counter are not one.
        result = mergeEntry(t, k, lazy(() => t.valueAt(k, baseSeq)), ours, theirs, conflicts);
      }
      results?.push([ti, k, result]);
      writeChanged(t, k, result, ours, seq, keysByTable);
    }
    const parents = meta.otherParent === undefined ? [this.headSeq] : [this.headSeq, meta.otherParent];
    const commit = this.recordMerge(fastForward ? 'fast-forward' : 'merge', parents, keysByTable, conflicts, meta);
    if (fastForward) this.store.stats.fastForwards++;
    return { commit, fastForward, conflicts: conflicts.length };
  }

  /**
   * Merges edits made outside the store (a commit pushed with git) whose ancestor is not a commit of
   * this branch: each change carries the entry's value in the edit's base. Three-way per entry, by
   * the table's merge function, exactly as a branch's merge; one merge commit.
   */
  mergeWithAncestors(
    changes: Iterable<readonly [table: number, key: string | number, theirs: unknown, ancestor: unknown]>,
    meta: { author: string; message: string; time?: number },
  ): MergeOutcome {
    this.assertOpen();
    const seq = this.store.peekSeq();
    const conflicts: ConflictRecord[] = [];
    const keysByTable: (string | number)[][] = [];
    for (const [ti, k, theirs, old] of changes) {
      const t = this.tables[ti];
      const ours = t.committedValue(k);
      if (t.def.equal(theirs, old)) continue; // the edit left it alone
      const result = t.def.equal(ours, old) ? theirs : mergeEntry(t, k, () => old, ours, theirs, conflicts);
      writeChanged(t, k, result, ours, seq, keysByTable);
    }
    if (keysByTable.length === 0 && conflicts.length === 0) return { commit: null, fastForward: false, conflicts: 0 };
    const commit = this.recordMerge('merge', [this.headSeq], keysByTable, conflicts, meta);
    return { commit, fastForward: false, conflicts: conflicts.length };
  }

  /**
   * Moves this branch's base to its parent's head after a merge (its committed overlay is now in the
   * parent) or when it has nothing of its own. `pushed` are the changes the parent just merged.
   */
  sync(pushed: readonly Change[] = []): Commit | null {
    const p = this.parent;
    if (!p) return null;
    const touched = p.changedBetween(this.baseSeq, p.headSeq);
    for (const t of this.tables) for (const k of t.committed.keys()) (touched[t.index] ??= new Set()).add(k);
    for (const [ti, k] of pushed) (touched[ti] ??= new Set()).add(k);
    if (touched.every((s) => !s || s.size === 0) && this.baseSeq === p.headSeq) return null;
    const before: Map<string | number, unknown>[] = [];
    touched.forEach((ks, ti) => {
      if (!ks) return;
      const t = this.tables[ti];
      const m = new Map<string | number, unknown>();
      for (const k of ks) m.set(k, t.committedValue(k));
      before[ti] = m;
    });
    for (const t of this.tables) t.clearCommitted();
    this.baseSeq = p.headSeq;
    const seq = this.store.peekSeq();
    const changes: (string | number)[][] = [];
    before.forEach((m, ti) => {
      if (!m) return;
      const t = this.tables[ti];
      for (const [k, b] of m) {
        const now = t.committedValue(k);
        if (t.def.equal(b, now)) continue;
        t.recordChange(k, b, seq);
        (changes[ti] ??= []).push(k);
        this.rebaseWork(t, k, b, now);
      }
    });
    return this.record('sync', [this.headSeq, p.headSeq], changes, [], { message: `sync from ${p.name}`, author: this.name, allowEmpty: true });
  }

  /** An uncommitted edit of a key whose committed value moved from `was` to `now` is re-merged over `now`. */
  private rebaseWork(t: BranchTable, k: string | number, was: unknown, now: unknown): void {
    const w = t.work.get(k);
    if (w === undefined || t.def.equal(was, now)) return; // nothing moved under the edit
    const r = t.def.mergeSettled(() => was, now, cellValue(w), () => { this.store.stats.conflicts++; });
    if (r === undefined) t.delete(k);
    else t.set(k, r);
  }

  /**
   * Moves this branch onto its parent's head keeping its own committed edits (git rebase): each
   * edit is re-merged over the parent's newer value. With no edits of its own this is a sync.
   */
  pull(): Commit | null {
    const p = this.parent;
    if (!p) return null;
    const own = this.ownEdits();
    if (own.length === 0) return this.sync();
    let conflicts = 0;
    const rebased = this.remergedOver(p, own, () => { conflicts++; });
    // Uncommitted edits were made over this branch's own committed values: set them aside, and
    // re-merge them over the rebased values once those are written (sync alone would use the parent's).
    const work = this.takeWork();
    const synced = this.sync();
    const seq = this.store.peekSeq();
    const changes: (string | number)[][] = [];
    for (const [ti, k, v] of rebased) writeChanged(this.tables[ti], k, v, this.tables[ti].committedValue(k), seq, changes);
    this.store.stats.conflicts += conflicts;
    const out = changes.length === 0 ? synced : this.record('commit', [this.headSeq], changes, [], { message: `rebase onto ${p.name}`, author: this.name, allowEmpty: true });
    this.restoreWork(work);
    return out;
  }

  /** This branch's committed edits since its base, as changes (a root's: its whole tables). */
  private ownEdits(): Change[] {
    const out: Change[] = [];
    for (const t of this.tables) for (const [k, c] of t.committed) out.push([t.index, k, cellValue(c)]);
    return out;
  }

  /** Own edits re-merged over the parent's value, where the parent changed the key since this branch's base. */
  private remergedOver(p: Branch, own: readonly Change[], onConflict: () => void): Change[] {
    const base = this.baseSeq;
    return own.map(([ti, k, mine]): Change => {
      const t = p.tables[ti];
      if (!t.changedSince(k, base)) return [ti, k, mine];
      return [ti, k, t.def.mergeSettled(lazy(() => t.valueAt(k, base)), t.committedValue(k), mine, onConflict)];
    });
  }

  /** Takes the uncommitted edits off every table, each with the committed value it was made over. */
  private takeWork(): [k: string | number, edit: Cell<unknown>, was: unknown][][] {
    return this.tables.map((t) => {
      const saved: [string | number, Cell<unknown>, unknown][] = [];
      for (const [k, w] of t.work) saved.push([k, w, t.committedValue(k)]);
      t.clearWork();
      return saved;
    });
  }

  /** Puts edits taken by takeWork back, each re-merged where its key's committed value moved. */
  private restoreWork(work: [k: string | number, edit: Cell<unknown>, was: unknown][][]): void {
    work.forEach((saved, ti) => {
      const t = this.tables[ti];
      for (const [k, w, was] of saved) {
        const v = cellValue(w);
        if (v === undefined) t.delete(k);
        else t.set(k, v);
        this.rebaseWork(t, k, was, t.committedValue(k));
      }
    });
  }

  /** Keys changed on this branch by commits after `from` up to `to`, per table index. */
  changedBetween(from: number, to: number): (Set<string | number> | undefined)[] {
    if (from < this.horizon) throw new BaseReleasedError(this.name, from, this.horizon);
    const out: (Set<string | number> | undefined)[] = [];
    for (let i = this.firstAfter(from); i < this.commits.length && this.commits[i].seq <= to; i++) {
      this.commits[i].changes.forEach((ks, ti) => {
        if (!ks) return;
        const s = (out[ti] ??= new Set());
        for (const k of ks) s.add(k);
      });
    }
    return out;
  }

  private firstAfter(seq: number): number {
    let lo = 0;
    let hi = this.commits.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.commits[mid].seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Retained commits, newest first. */
  log(limit = Infinity): Commit[] {
    const out: Commit[] = [];
    for (let i = this.commits.length - 1; i >= 0 && out.length < limit; i--) out.push(this.commits[i]);
    return out;
  }

  /**
   * The retained commits that changed one entry, newest first, with its value after each; `complete`
   * is false when older changes may have been released from the log (see retention).
   */
  history(tableIndex: number, key: string | number, limit = 100): { commits: { commit: Commit; value: unknown }[]; complete: boolean } {
    const t = this.tables[tableIndex];
    const out: { commit: Commit; value: unknown }[] = [];
    for (let i = this.commits.length - 1; i >= 0 && out.length < limit; i--) {
      const c = this.commits[i];
      const ks = c.changes[tableIndex];
      if (ks !== undefined && ks.includes(key)) out.push({ commit: c, value: t.valueAt(key, c.seq) });
    }
    return { commits: out, complete: out.length < limit && this.horizon === 0 };
  }

  /** Looks a retained commit up by sequence number. */
  commitAt(seq: number): Commit {
    const i = this.firstAfter(seq - 1);
    const c = this.commits[i];
    if (!c || c.seq !== seq) throw new UnknownCommitError(seq, this.name);
    return c;
  }

  /** Entries that differ between two commits of this branch. */
  diff(from: number, to: number = this.headSeq): { table: string; key: string | number; before: unknown; after: unknown }[] {
    this.checkSeq(from);
    this.checkSeq(to);
    const [lo, hi] = from <= to ? [from, to] : [to, from];
    const out: { table: string; key: string | number; before: unknown; after: unknown }[] = [];
    this.changedBetween(lo, hi).forEach((ks, ti) => {
      if (!ks) return;
      const t = this.tables[ti];
      for (const k of [...ks].sort()) {
        const before = t.valueAt(k, from);
        const after = t.valueAt(k, to);
        if (!t.def.equal(before, after)) out.push({ table: t.name, key: k, before, after });
      }
    });
    return out;
  }

  /** Makes a commit that puts every entry changed since `seq` back to its value at `seq`. */
  revert(seq: number, opts: CommitOptions = {}): Commit | null {
    this.assertOpen();
    this.checkSeq(seq);
    const changes: (string | number)[][] = [];
    const commitSeq = this.store.peekSeq();
    this.changedBetween(seq, this.headSeq).forEach((ks, ti) => {
      if (!ks) return;
      const t = this.tables[ti];
      const target = [...ks].map((k) => [k, t.valueAt(k, seq)] as const);
      for (const [k, v] of target) writeChanged(t, k, v, t.committedValue(k), commitSeq, changes);
    });
    if (changes.length === 0 && !opts.allowEmpty) return null;
    return this.record('revert', [this.headSeq], changes, [], { message: opts.message ?? `revert to #${seq}`, ...opts, allowEmpty: true });
  }

  /** Calls `fn` after every commit on this branch (commits, merges, syncs, reverts). */
  watch(fn: Watcher): () => void {
    const ws = (this.watchers ??= new Set());
    ws.add(fn);
    return () => ws.delete(fn);
  }

  private checkSeq(seq: number): void {
    if (seq < this.horizon || seq > this.headSeq) throw new UnknownCommitError(seq, this.name);
  }

  private record(
    kind: CommitKind,
    parents: number[],
    changes: (string | number)[][],
    conflicts: ConflictRecord[],
    opts: CommitOptions,
  ): Commit {
    const seq = this.store.takeSeq();
    const commit: Commit = {
      seq,
      kind,
      branch: this.name,
      parents,
      author: opts.author ?? this.name,
      time: opts.time ?? this.store.now(),
      message: opts.message ?? '',
      conflicts,
      changes,
    };
    this.commits.push(commit);
    this.headSeq = seq;
    this.store.stats.commits++;
    this.collect();
    if (this.watchers !== null && this.watchers.size) this.notify(commit);
    return commit;
  }

  /** Records a merge's commit and counts it, with its conflicts, in the store's stats. */
  private recordMerge(kind: CommitKind, parents: number[], changes: (string | number)[][], conflicts: ConflictRecord[], meta: { author: string; message: string; time?: number }): Commit {
    const commit = this.record(kind, parents, changes, conflicts, { author: meta.author, message: meta.message, time: meta.time, allowEmpty: true });
    this.store.stats.merges++;
    this.store.stats.conflicts += conflicts.length;
    return commit;
  }

  private notify(commit: Commit): void {
    const changes: { table: string; key: string | number }[] = [];
    commit.changes.forEach((ks, ti) => ks?.forEach((key) => changes.push({ table: this.tables[ti].name, key })));
    for (const w of this.watchers ?? EMPTY_SET) {
      try {
        w({ commit, changes });
      } catch {
        this.store.stats.watchErrors++; // a watcher's failure must not break a commit
      }
    }
  }

  /** The oldest commit someone may still merge from: children's and replicas' bases. */
  pinned(): number {
    let min = Infinity;
    if (this.forks) for (const c of this.forks) if (c.baseSeq < min) min = c.baseSeq;
    if (this.replicaPins) for (const b of this.replicaPins.values()) if (b < min) min = b;
    return min;
  }

  /** Releases commits beyond the retention window that no live branch or replica is based on. */
  collect(): void {
    const keep = this.store.retention;
    if (this.commits.length <= keep) return;
    const cutoff = Math.min(this.commits[this.commits.length - keep].seq, this.pinned());
    let n = 0;
    while (n < this.commits.length - 1 && this.commits[n].seq < cutoff) n++;
    if (n === 0) return;
    this.commits.splice(0, n);
    for (const t of this.tables) t.release(cutoff);
    this.horizon = this.commits[0].seq;
    this.store.stats.released += n;
  }

  /** History records kept, for the benchmarks and the bounded-history test. */
  historySize(): number {
    let n = 0;
    for (const t of this.tables) n += t.historySize();
    return n;
  }
}

/** One entry's three-way merge by its table's rules; a conflict is settled and recorded. */
function mergeEntry(t: BranchTable, k: string | number, old: () => unknown, ours: unknown, theirs: unknown, conflicts: ConflictRecord[]): unknown {
  return t.def.mergeSettled(old, ours, theirs, (c) => { conflicts.push({ table: t.def.name, key: k, reason: c.reason }); });
}

/** Writes `value` as `k`'s committed value for commit `seq` unless it equals `current`; a written key is noted in `keys`. */
function writeChanged(t: BranchTable, k: string | number, value: unknown, current: unknown, seq: number, keys: (string | number)[][]): void {
  if (t.def.equal(current, value)) return;
  t.writeCommitted(k, value, current, seq);
  (keys[t.index] ??= []).push(k);
}
