// What the lookup server reads and writes: its own branch of the tables. In the router that is the
// lookup actor's replica (fresh at every merge, changes from head deltas); in the sim, a fork of a
// node's primary on the main thread. Either way the server never touches the packet actors.
import type { Branch, HeadDeltaMessage, Replica, Schema, TableView } from '../../store/index.js';
import type { CommitsResult, DiffResult, HistoryEntry, StackReport, SyncResult } from '../protocol.js';
import { commitsOf, diffOf } from './commit-view.js';

export interface SourceHistory {
  complete: boolean;
  entries: HistoryEntry[];
}

/** One changed entry: table index, key (internal form), new value (undefined: removed). */
export type SourceChange = readonly [table: number, key: string | number, value: unknown];

export interface LookupSource {
  readonly schema: Schema;
  table(index: number): TableView<string | number, unknown>;
  /** After writes: hand them to the merge loop. */
  written(): void;
  /** Calls `fn` with every batch of changes; `reset` when everything may have changed (a resync). */
  subscribe(fn: (changes: readonly SourceChange[]) => void, reset: () => void): () => void;
  history(table: number, key: string | number, limit: number): Promise<SourceHistory>;
  /** The primary's newest commits (readable form). */
  commits(limit: number): Promise<CommitsResult>;
  /** What changed between two commits of the primary. */
  diff(from: number, to: number | undefined, limit: number): Promise<DiffResult>;
  /** The whole stack's counters; undefined where nothing gathers them. */
  report(): Promise<StackReport | undefined>;
  /** A sync with the peer routers now; absent where there are none to sync with (a host, a sim). */
  sync?(): Promise<SyncResult>;
}

/** What ReplicaSource needs of the actor that holds the replica (actors/runtime/actor-runtime.ts). */
export interface ReplicaActor {
  readonly schema: Schema;
  onHead: ((head: HeadDeltaMessage) => void) | null;
  onResync: (() => void) | null;
  /** Hands the replica's edits to the merge loop now. */
  push(): unknown;
  history(table: number, key: string | number, limit: number): Promise<{ complete: boolean; entries: SourceHistory['entries']; error?: string }>;
  /** A question answered on the main thread, where the primary lives (actor-runtime's PrimaryQuery). */
  query(q: { op: 'report' } | { op: 'commits'; limit: number } | { op: 'diff'; from: number; to?: number; limit: number } | { op: 'sync' }, timeoutMs?: number): Promise<unknown>;
}

/** The router's lookup actor: a replica on its own thread. */
export class ReplicaSource implements LookupSource {
  private readonly subs = new Set<{ fn: (c: readonly SourceChange[]) => void; reset: () => void }>();

  constructor(private readonly replica: Replica, private readonly rt: ReplicaActor) {
    rt.onHead = (head) => this.onHead(head);
    rt.onResync = () => { for (const s of this.subs) s.reset(); };
  }

  get schema(): Schema {
    return this.rt.schema;
  }

  table(index: number): TableView<string | number, unknown> {
    return this.replica.tables[index] as unknown as TableView<string | number, unknown>;
  }

  written(): void {
    this.rt.push();
  }

  subscribe(fn: (c: readonly SourceChange[]) => void, reset: () => void): () => void {
    const s = { fn, reset };
    this.subs.add(s);
    return () => this.subs.delete(s);
  }

  private onHead(head: HeadDeltaMessage): void {
    if (this.subs.size === 0 || head.tables.length === 0) return;
    const changes: SourceChange[] = [];
    for (const tc of head.tables) {
      const ti = this.schema.index(tc.table);
      const t = this.table(ti);
      // The value now (an edit of ours may sit over what the primary sent).
      for (const [k] of tc.set) changes.push([ti, k, t.get(k)]);
      for (const k of tc.del) changes.push([ti, k, t.get(k)]);
    }
    for (const s of this.subs) s.fn(changes);
  }

  async history(table: number, key: string | number, limit: number): Promise<SourceHistory> {
    const a = await this.rt.history(table, key, limit);
    if (a.error) throw new Error(a.error);
    return { complete: a.complete, entries: a.entries };
  }

  commits(limit: number): Promise<CommitsResult> {
    return this.rt.query({ op: 'commits', limit }) as Promise<CommitsResult>;
  }

  diff(from: number, to: number | undefined, limit: number): Promise<DiffResult> {
    return this.rt.query({ op: 'diff', from, to, limit }) as Promise<DiffResult>;
  }

  report(): Promise<StackReport | undefined> {
    return this.rt.query({ op: 'report' }) as Promise<StackReport>;
  }

  /** A push, fetch and merge can take a sync timeout or two: the question waits as long (docs/ha.md). */
  sync(): Promise<SyncResult> {
    return this.rt.query({ op: 'sync' }, 60_000) as Promise<SyncResult>;
  }
}

/** The sim: a fork of a node's primary, merged by the sim's clock. */
export class BranchSource implements LookupSource {
  /** `reporter`: the stack's report, where the caller gathers one. */
  constructor(private readonly branch: Branch, private readonly primary: Branch, private readonly onWrite: () => void = () => {},
    private readonly reporter?: () => Promise<StackReport>) {}

  async commits(limit: number): Promise<CommitsResult> {
    return commitsOf(this.primary, limit);
  }

  async diff(from: number, to: number | undefined, limit: number): Promise<DiffResult> {
    return diffOf(this.primary, from, to, limit);
  }

  async report(): Promise<StackReport | undefined> {
    return this.reporter?.();
  }

  get schema(): Schema {
    return this.branch.store.schema;
  }

  table(index: number): TableView<string | number, unknown> {
    return this.branch.tables[index] as unknown as TableView<string | number, unknown>;
  }

  written(): void {
    this.branch.commit({ author: 'lookup' });
    this.onWrite();
  }

  subscribe(fn: (c: readonly SourceChange[]) => void, _reset: () => void): () => void {
    return this.branch.watch((ev) => {
      if (ev.commit.kind === 'commit') return; // our own writes: the server reported them already
      const changes: SourceChange[] = ev.changes.map(({ table, key }) => {
        const ti = this.schema.index(table);
        return [ti, key, this.branch.tables[ti].get(key)];
      });
      if (changes.length) fn(changes);
    });
  }

  async history(table: number, key: string | number, limit: number): Promise<SourceHistory> {
    const h = this.primary.history(table, key, limit);
    return { complete: h.complete, entries: h.commits.map(({ commit: c, value }) => ({ seq: c.seq, time: c.time, author: c.author, message: c.message, value })) };
  }
}
