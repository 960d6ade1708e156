// Persists a primary branch to git: the branch's commits mark entries dirty, and a flush (every
// interval and at close) renders them to files and hands them to the GitRepo, on a worker thread by
// default, so nothing on the data path ever waits for git. Commits pushed to the `edits` branch with
// plain git are parsed file by file and merged with the tables' own merge rules; files an edit had
// rejected are kept on the `rejected` branch. With a peers' server (issue 17) it also syncs: pushes
// its branch, fetches the peer routers' and merges what they changed the same way, each merge
// recorded as a parent of the next commit. One process per repository: GitRepo.open takes its lock.
import type { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { comlinkEndpoint, siblingModule, startThread } from '../thread.js';
import type { Branch } from '../branch.js';
import type { Logger } from '../logger.js';
import { changeCount } from '../commit.js';
import { entryPath, parseEntry, parseEntryPath, renderEntry } from './git-layout.js';
import { releaseAtExit, releaseLock } from './git-lock.js';
import { peerChanges } from './git-peer.js';
import type { GitRemoteStats, RemoteFailure } from './git-remote.js';
import { GitRepo, type EditsResult, type FlushResult, type GitRepoOptions, type LoadResult, type PeerDiff, type RepoStats } from './git-repo.js';
import type { RejectedEdit } from './git-rejected.js';

export interface PeerSyncOptions {
  /** The shared server's repository, e.g. http://host/tables.git. */
  url: string;
  /** This router's name: its branch there is `routers/<name>`. */
  name: string;
  /** How often to sync (ms); default 1000. */
  syncMs?: number;
  /** Longest a push or fetch may take (ms). */
  timeoutMs?: number;
}

export interface GitStoreOptions extends Omit<GitRepoOptions, 'remote'> {
  /** Peer routers to sync with through a shared git server. */
  remote?: PeerSyncOptions;
  /** How often dirty entries are written out (ms). */
  flushIntervalMs?: number;
  /** How often the edits branch is looked at (ms). */
  editsPollMs?: number;
  /** Run the repository on its own worker thread (default) or on the caller's. */
  thread?: boolean;
  logger?: Logger;
}

export interface GitStoreStats {
  flushes: number;
  flushErrors: number;
  lastFlushMs: number;
  lastFlushChanges: number;
  objectsWritten: number;
  bytesWritten: number;
  editsMerged: number;
  editEntriesApplied: number;
  editFilesRejected: number;
  editErrors: number;
  squashedCommits: number;
  prunedObjects: number;
  /** Syncs that completed, and those a push, fetch, read or flush failed (each logged at error level). */
  peerSyncs: number;
  peerSyncErrors: number;
  /** Peers' heads merged, their entries that changed ours, files rejected, conflicts settled by the merge rules. */
  peerMerges: number;
  peerEntriesApplied: number;
  peerFilesRejected: number;
  peerConflicts: number;
}

/** One peer router as last seen: its head, and when our primary last held all it had. */
export interface PeerState {
  /** Its head as last merged (or first seen). */
  head: string;
  /** `now` of the last fetch that listed it. */
  seenAt: number;
  /** `now` when its head as of then was merged (or held nothing new): `now - syncedAt` is its lag. */
  syncedAt: number;
}

export interface SyncOutcome {
  /** The step that failed (null: none), and why. */
  failed: null | { step: 'flush' | 'push' | 'fetch' | 'read'; reason: RemoteFailure; message: string };
  merged: { peer: string; head: string; applied: number; rejected: { path: string; reason: string }[]; conflicts: number }[];
}

export interface SyncStatus {
  remote: GitRemoteStats | null;
  peers: (PeerState & { name: string; lagMs: number })[];
  /** Syncs failed in a row (0: the last one worked). */
  failingFor: number;
}

/** The repository, here or on a worker: every call is async either way. */
type RepoPort = Pick<GitRepo, 'open' | 'flush' | 'readEdits' | 'stats' | 'close' | 'push' | 'fetch' | 'readPeer' | 'remoteStats'>;

export interface EditOutcome {
  head: string;
  applied: number;
  unchanged: number;
  rejected: { path: string; reason: string }[];
  conflicts: number;
}

/** While syncs keep failing, the error is logged again this often (the first failure at once). */
const SYNC_FAILURE_LOG_MS = 30_000;

const silent: Logger = { info() {}, warn() {}, error() {} };

export class GitStore {
  readonly stats: GitStoreStats = {
    flushes: 0, flushErrors: 0, lastFlushMs: 0, lastFlushChanges: 0, objectsWritten: 0, bytesWritten: 0,
    editsMerged: 0, editEntriesApplied: 0, editFilesRejected: 0, editErrors: 0, squashedCommits: 0, prunedObjects: 0,
    peerSyncs: 0, peerSyncErrors: 0, peerMerges: 0, peerEntriesApplied: 0, peerFilesRejected: 0, peerConflicts: 0,
  };
  readonly flushIntervalMs: number;
  readonly editsPollMs: number;
  /** Dirty keys by table index. */
  private dirty: Set<string | number>[];
  /** What the commits since the last flush were: merges by author, conflicts. */
  private authors = new Map<string, number>();
  private conflicts: string[] = [];
  private conflictCount = 0;
  /** An edit merged into the primary and not yet written: the next flush records it (and polling waits). */
  private mergedEdits: { head: string; note: string; rejected: RejectedEdit } | null = null;
  /** Peers' heads merged into the primary and not yet written: the next flush makes them parents, moving the merge base past them. */
  private mergedPeers = new Map<string, { head: string; note: string }>();
  private readonly peerSync: PeerSyncOptions | null;
  private readonly peerState = new Map<string, PeerState>();
  private syncing: Promise<SyncOutcome | null> | null = null;
  private nextSync = 0;
  private failingFor = 0;
  private failureLoggedAt = -Infinity;
  private failureLogged = '';
  private lock: string | null = null;
  private flushing: Promise<FlushResult | null> | null = null;
  private polling: Promise<EditOutcome | null> | null = null;
  private nextFlush = 0;
  private nextPoll = 0;
  private loading = false;
  private unwatch: () => void;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly log: Logger;
  /** Opened to read only (opts.readOnly): it never flushes nor merges edits. */
  readonly readOnly: boolean;
  head: string | null = null;

  private constructor(readonly dir: string, readonly branch: Branch, private readonly repo: RepoPort, private readonly worker: Worker | null, opts: GitStoreOptions) {
    this.flushIntervalMs = opts.flushIntervalMs ?? 1_000;
    this.editsPollMs = opts.editsPollMs ?? 500;
    this.log = opts.logger ?? silent;
    this.readOnly = opts.readOnly ?? false;
    this.peerSync = opts.remote ?? null;
    this.dirty = branch.tables.map(() => new Set());
    this.unwatch = branch.watch((ev) => {
      if (this.loading) return;
      ev.commit.changes.forEach((ks, ti) => { if (ks) for (const k of ks) this.dirty[ti].add(k); });
      if (ev.changes.length) this.authors.set(ev.commit.author, (this.authors.get(ev.commit.author) ?? 0) + 1);
      for (const c of ev.commit.conflicts) {
        this.conflictCount++;
        if (this.conflicts.length < 20) this.conflicts.push(`${this.conflictPath(c.table, c.key)}: ${c.reason} (merging ${ev.commit.author})`);
      }
    });
  }

  /** A conflicting entry named by its file's path: keys may be packed (NAT flows), never raw in a message. */
  private conflictPath(table: string, key: string | number): string {
    const def = this.branch.store.schema.tables.find((t) => t.name === table);
    return def ? entryPath(def, key) : `${table}/${JSON.stringify(key)}`;
  }

  /**
   * Opens (or creates) the repository at `dir` and loads its branch into `branch`, which should be a
   * fresh primary: what git holds becomes one commit, before any actor forks from it.
   */
  static async open(dir: string, branch: Branch, opts: GitStoreOptions = {}): Promise<GitStore> {
    const repoOpts: GitRepoOptions = { historyCommits: opts.historyCommits, branch: opts.branch, editsBranch: opts.editsBranch, maxFileBytes: opts.maxFileBytes, readOnly: opts.readOnly, pruneGraceMs: opts.pruneGraceMs,
      remote: opts.remote ? { url: opts.remote.url, name: opts.remote.name, timeoutMs: opts.remote.timeoutMs } : undefined };
    let repo: RepoPort;
    let worker: Worker | null = null;
    if (opts.thread === false) {
      repo = new GitRepo(dir, repoOpts);
    } else {
      worker = startThread(siblingModule(import.meta.url, './git-worker'), { workerData: { dir, opts: repoOpts } });
      worker.unref();
      repo = Comlink.wrap<GitRepo>(comlinkEndpoint(worker)) as unknown as RepoPort;
    }
    const gs = new GitStore(dir, branch, repo, worker, opts);
    let loaded: LoadResult;
    try {
      loaded = await repo.open();
    } catch (err) {
      await worker?.terminate();
      gs.unwatch();
      throw err;
    }
    if (loaded.lock) {
      gs.lock = loaded.lock;
      releaseAtExit(loaded.lock); // the worker's own exit hook would not run when this thread exits
    }
    gs.load(loaded);
    return gs;
  }

  private load(loaded: LoadResult): void {
    this.head = loaded.head;
    const tables = this.branch.tables;
    const bad: { path: string; reason: string }[] = [];
    for (const [path, text] of loaded.files) {
      try {
        const { table, key } = parseEntryPath(this.branch.store.schema, path);
        tables[table].set(key, parseEntry(tables[table].def, text, path) as never);
      } catch (err) {
        bad.push({ path, reason: (err as Error).message });
      }
    }
    for (const b of bad) this.log.error(b, 'git: entry in the repository cannot be read; left out');
    this.loading = true;
    try {
      this.branch.commit({ author: 'git', message: `load ${loaded.head ? loaded.head.slice(0, 12) : 'new repository'} from ${this.dir}` });
    } finally {
      this.loading = false;
    }
    if (loaded.tookOverFrom !== null) this.log.warn({ dir: this.dir, pid: loaded.tookOverFrom }, `git: took over the lock of pid ${loaded.tookOverFrom}, which is no longer running`);
    if (loaded.swept) this.log.warn({ swept: loaded.swept }, 'git: removed what an interrupted flush left (temporary files, unreachable objects)');
    if (loaded.sweepKept) this.log.info({ dir: this.dir, kept: loaded.sweepKept }, 'git: an interrupted flush left objects too young to delete (a push may be landing): a later history cut removes them');
    if (loaded.sweepSkipped) this.log.warn({ dir: this.dir, why: loaded.sweepSkipped }, 'git: an interrupted flush left objects; kept them, being unsure');
    this.log.info({ dir: this.dir, head: loaded.head, entries: loaded.files.length - bad.length }, 'git: loaded');
  }

  /** Refuses what writes to the repository when it was opened read-only. */
  private writable(what: string): void {
    if (this.readOnly) throw new Error(`git:${this.dir} was opened read-only: it cannot ${what}`);
  }

  /** Starts the flush and edits-poll timers on the real clock. */
  start(tickMs = 100): this {
    this.writable('start flushing and merging edits');
    this.timer = setInterval(() => this.tick(Date.now()), tickMs);
    this.timer.unref();
    return this;
  }

  /** Runs whatever is due at `now` (ms): a flush every interval, an edits poll, a sync with peers. Never waits. */
  tick(now: number): void {
    this.writable('flush or merge edits');
    if (this.closed) return;
    if (now >= this.nextPoll && this.polling === null && this.mergedEdits === null) {
      this.nextPoll = now + this.editsPollMs;
      void this.pollEdits(now);
    }
    if (now >= this.nextFlush && this.flushing === null) {
      this.nextFlush = now + this.flushIntervalMs;
      void this.flush(now);
    }
    if (this.peerSync && now >= this.nextSync && this.syncing === null) {
      this.nextSync = now + (this.peerSync.syncMs ?? 1_000);
      void this.sync(now);
    }
  }

  pendingChanges(): number {
    let n = 0;
    for (const s of this.dirty) n += s.size;
    return n;
  }

  /** Writes the dirty entries as one commit; resolves with it (null: nothing to write). */
  async flush(now: number): Promise<FlushResult | null> {
    this.writable('flush');
    while (this.flushing) await this.flushing.catch(() => null);
    if (this.pendingChanges() === 0 && this.mergedEdits === null && this.mergedPeers.size === 0) return null;
    const p = this.flushOnce(now);
    this.flushing = p;
    try {
      return await p;
    } finally {
      this.flushing = null;
    }
  }

  private async flushOnce(now: number): Promise<FlushResult | null> {
    // The values are taken now, in one go (values are immutable, so this is a snapshot)...
    const taken = this.dirty;
    this.dirty = this.branch.tables.map(() => new Set());
    const snap: [number, string | number, unknown][] = [];
    taken.forEach((ks, ti) => { const t = this.branch.tables[ti]; for (const k of ks) snap.push([ti, k, t.committedValue(k)]); });
    const message = this.message(snap.length);
    const edits = this.mergedEdits;
    const peers = this.mergedPeers;
    this.mergedPeers = new Map();
    this.authors = new Map();
    this.conflicts = [];
    this.conflictCount = 0;
    // ...and rendered in slices, so a big flush never holds the thread for long.
    const files: [string, string | null][] = [];
    for (let i = 0; i < snap.length; i++) {
      const [ti, k, v] = snap[i];
      const def = this.branch.tables[ti].def;
      files.push([entryPath(def, k), v === undefined ? null : renderEntry(def, v)]);
      if ((i & 511) === 511) await new Promise((r) => setImmediate(r));
    }
    try {
      const notes = [edits?.note, ...[...peers.values()].map((p) => p.note)].filter((n) => n !== undefined);
      const r = await this.repo.flush({ files, message: [message, ...notes].join('\n\n'), time: now, mergedEdits: edits?.head, rejected: edits?.rejected, mergedPeers: [...peers.values()].map((p) => p.head) });
      if (edits) this.mergedEdits = null;
      this.stats.flushes++;
      this.stats.lastFlushMs = r.ms;
      this.stats.lastFlushChanges = files.length;
      this.stats.objectsWritten += r.objects;
      this.stats.bytesWritten += r.bytes;
      this.stats.squashedCommits += r.squashed;
      this.stats.prunedObjects += r.pruned;
      if (r.oid) this.head = r.oid;
      return r;
    } catch (err) {
      // Nothing is lost: the keys are dirty again and the next flush writes their newest values.
      taken.forEach((ks, ti) => { for (const k of ks) this.dirty[ti].add(k); });
      for (const [peer, m] of peers) if (!this.mergedPeers.has(peer)) this.mergedPeers.set(peer, m);
      this.stats.flushErrors++;
      this.log.error({ err: (err as Error).message, dir: this.dir }, 'git: flush failed; will retry');
      throw err;
    }
  }

  private message(changes: number): string {
    const merges = [...this.authors].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const total = merges.reduce((n, [, c]) => n + c, 0);
    const lines = [`netbranch: ${changes} ${changes === 1 ? 'entry' : 'entries'} from ${total} ${total === 1 ? 'commit' : 'commits'} (${merges.map(([a, c]) => `${a} ×${c}`).join(', ') || 'none'})`];
    if (this.conflictCount) {
      lines.push('', `Conflicts resolved: ${this.conflictCount}`, ...this.conflicts.map((c) => `  ${c}`));
      if (this.conflictCount > this.conflicts.length) lines.push(`  … and ${this.conflictCount - this.conflicts.length} more`);
    }
    return lines.join('\n');
  }

  /** Merges a new commit on the edits branch, if there is one; resolves with what it did. */
  async pollEdits(now: number): Promise<EditOutcome | null> {
    this.writable('merge edits');
    while (this.polling) await this.polling.catch(() => null);
    const p = this.pollOnce(now);
    this.polling = p;
    try {
      return await p;
    } finally {
      this.polling = null;
    }
  }

  private async pollOnce(now: number): Promise<EditOutcome | null> {
    // One edit at a time: the last one merged is written (as a merge commit) before the next is read.
    if (this.mergedEdits) await this.flush(now).catch(() => null);
    if (this.mergedEdits) return null;
    let edits: EditsResult | null;
    try {
      edits = await this.repo.readEdits();
    } catch (err) {
      this.stats.editErrors++;
      this.log.error({ err: (err as Error).message }, 'git: cannot read the edits branch');
      return null;
    }
    if (!edits || this.closed) return null;
    const out = this.applyEdits(edits);
    const note = [`Merge edits ${edits.head.slice(0, 12)} (${edits.author}: ${edits.subject}): ${out.applied} applied, ${out.unchanged} unchanged, ${out.rejected.length} rejected, ${out.conflicts} conflicts`];
    for (const r of out.rejected) note.push(`  rejected ${r.path}: ${r.reason}`);
    const blobs = new Map([...edits.files, ...edits.refused].map((f) => [f.path, f]));
    const files = out.rejected.map((r) => ({ ...r, oid: blobs.get(r.path)?.oid ?? null, mode: blobs.get(r.path)?.mode ?? null }));
    this.mergedEdits = { head: edits.head, note: note.join('\n'), rejected: { edit: edits.head, author: edits.author, subject: edits.subject, files } };
    // The merge is written at once, so the edit shows up in git as merged within the poll interval.
    this.nextFlush = 0;
    this.tick(now);
    return out;
  }

  /**
   * Each file is checked on its own: a malformed one is rejected (logged with its path and the
   * reason) and the rest of the commit applies. The edit merges three-way, per entry, with the
   * file at the merge base as the ancestor and the table's merge function deciding.
   */
  applyEdits(edits: EditsResult): EditOutcome {
    const { changes, rejected } = peerChanges(this.branch.store.schema, edits);
    const out: EditOutcome = { head: edits.head, applied: 0, unchanged: 0, rejected, conflicts: 0 };
    for (const r of out.rejected) this.log.error({ path: r.path, reason: r.reason, edit: edits.head }, 'git: edit rejected');
    const m = this.branch.mergeWithAncestors(changes, { author: `git edits ${edits.head.slice(0, 12)}`, message: `merge edits ${edits.head.slice(0, 12)}: ${edits.subject}` });
    out.applied = m.commit ? changeCount(m.commit) : 0;
    out.unchanged = changes.length - out.applied;
    out.conflicts = m.conflicts;
    this.stats.editsMerged++;
    this.stats.editEntriesApplied += out.applied;
    this.stats.editFilesRejected += out.rejected.length;
    this.log.info({ edit: edits.head, applied: out.applied, unchanged: out.unchanged, rejected: out.rejected.length, conflicts: out.conflicts }, 'git: edits merged');
    return out;
  }

  /**
   * Syncs with the peer routers now: writes what is dirty, pushes our branch, fetches theirs, and
   * merges each peer's changes as git edits are merged (per entry, the tables' own rules deciding),
   * writing each merge at once as a commit whose parents include the peer's head. A failure is
   * counted and logged at error level with its reason; the next sync tries again.
   */
  async sync(now: number): Promise<SyncOutcome | null> {
    this.writable('sync with peers');
    if (this.peerSync === null) throw new Error(`git:${this.dir} has no peers' server (GitStoreOptions.remote)`);
    while (this.syncing) await this.syncing.catch(() => null);
    if (this.closed) return null;
    const p = this.syncOnce(now);
    this.syncing = p;
    try {
      return await p;
    } finally {
      this.syncing = null;
    }
  }

  /** A sync now, between the interval's (a router's on-demand sync). */
  syncNow(now: number): Promise<SyncOutcome | null> {
    return this.sync(now);
  }

  private async syncOnce(now: number): Promise<SyncOutcome> {
    const out: SyncOutcome = { failed: null, merged: [] };
    // Our merges of earlier syncs must be written first: the merge base is read from the repository.
    const written = await this.flushed(now);
    if (written) return this.syncFailed(now, out, 'flush', 'other', written);
    // A router with nothing written yet has no branch to push: it only takes the peers' tables.
    const pushed = this.head === null ? null : await this.repo.push(now);
    if (pushed && !pushed.ok) return this.syncFailed(now, out, 'push', pushed.reason, pushed.message);
    const fetched = await this.repo.fetch(now);
    if (!fetched.ok) return this.syncFailed(now, out, 'fetch', fetched.reason, fetched.message);
    for (const [peer, head] of fetched.value) {
      const known = this.peerState.get(peer);
      const state = { head: known?.head ?? head, seenAt: now, syncedAt: known?.syncedAt ?? 0 };
      this.peerState.set(peer, state);
      if (this.closed) break;
      if (known?.head !== head) {
        const failed = await this.mergePeerHead(peer, head, now, out);
        if (failed) return this.syncFailed(now, out, failed.step, 'other', failed.message);
      }
      state.head = head;
      state.syncedAt = now;
    }
    this.stats.peerSyncs++;
    if (this.failingFor) this.log.warn({ failedSyncs: this.failingFor }, 'git: peer sync works again');
    this.failingFor = 0;
    return out;
  }

  /** Reads what a peer's head changed, merges it and writes the merge; resolves with what failed (null: nothing). */
  private async mergePeerHead(peer: string, head: string, now: number, out: SyncOutcome): Promise<{ step: 'read' | 'flush'; message: string } | null> {
    let diff: PeerDiff | null;
    try {
      diff = await this.repo.readPeer(head);
    } catch (err) {
      return { step: 'read', message: `peer ${peer} ${head.slice(0, 12)}: ${(err as Error).message}` };
    }
    // Nothing changed since the merge base (it merged only us): recording it would only bounce merges back and forth.
    if (!diff || (diff.files.length === 0 && diff.refused.length === 0)) return null;
    out.merged.push(this.mergePeer(peer, diff));
    const failed = await this.flushed(now);
    return failed ? { step: 'flush', message: failed } : null;
  }

  /** Writes what is pending; resolves with why it could not (null: written, or nothing to write). */
  private async flushed(now: number): Promise<string | null> {
    try {
      await this.flush(now);
      return this.mergedPeers.size ? 'a peer merge is still unwritten' : null;
    } catch (err) {
      return `flush: ${(err as Error).message}`;
    }
  }

  /** Counts a failed sync; logs it at error level at once (and at each new step or reason), else every SYNC_FAILURE_LOG_MS while it keeps failing. */
  private syncFailed(now: number, out: SyncOutcome, step: NonNullable<SyncOutcome['failed']>['step'], reason: RemoteFailure, message: string): SyncOutcome {
    out.failed = { step, reason, message };
    this.stats.peerSyncErrors++;
    this.failingFor++;
    // A new step or reason is news (the server went from slow to refusing): logged at once too.
    const kind = `${step}/${reason}`;
    if (this.failingFor === 1 || kind !== this.failureLogged || now - this.failureLoggedAt >= SYNC_FAILURE_LOG_MS) {
      this.failureLoggedAt = now;
      this.failureLogged = kind;
      this.log.error({ step, reason, message, failedSyncs: this.failingFor }, `git: peer sync failed at ${step} (${reason}); tables are not being shared`);
    }
    return out;
  }

  /** One peer's changes merged into the primary; the next flush records its head as a parent. */
  private mergePeer(peer: string, diff: PeerDiff): SyncOutcome['merged'][number] {
    const head12 = diff.head.slice(0, 12);
    const { changes, rejected } = peerChanges(this.branch.store.schema, diff);
    for (const r of rejected) this.log.error({ path: r.path, reason: r.reason, peer, head: diff.head }, 'git: peer file rejected');
    const m = this.branch.mergeWithAncestors(changes, { author: `peer ${peer} ${head12}`, message: `merge peer ${peer} ${head12}` });
    const applied = m.commit ? changeCount(m.commit) : 0;
    const lines = [`Merge peer ${peer} ${head12}: ${applied} applied, ${changes.length - applied} unchanged, ${rejected.length} rejected, ${m.conflicts} conflicts`];
    for (const r of rejected) lines.push(`  rejected ${r.path}: ${r.reason}`);
    // A merge that changed nothing is not recorded: the base stays put, and re-merging no-ops changes
    // nothing later either; recording it would bounce empty merge commits between routers forever.
    if (applied > 0) this.mergedPeers.set(peer, { head: diff.head, note: lines.join('\n') });
    this.stats.peerMerges++;
    this.stats.peerEntriesApplied += applied;
    this.stats.peerFilesRejected += rejected.length;
    this.stats.peerConflicts += m.conflicts;
    this.log.info({ peer, head: diff.head, applied, rejected: rejected.length, conflicts: m.conflicts }, 'git: peer merged');
    return { peer, head: diff.head, applied, rejected, conflicts: m.conflicts };
  }

  /** The peers as last seen, with their lag at `now`, and the remote's counters (failures by reason). */
  async syncStatus(now: number): Promise<SyncStatus> {
    const peers = [...this.peerState].map(([name, p]) => ({ name, ...p, lagMs: now - p.syncedAt }));
    return { remote: await this.repo.remoteStats(), peers: peers.sort((a, b) => (a.name < b.name ? -1 : 1)), failingFor: this.failingFor };
  }

  async repoStats(): Promise<RepoStats> {
    return this.repo.stats();
  }

  /** Stops the timers, writes what is left, and stops the worker. */
  async close(now = Date.now()): Promise<FlushResult | null> {
    if (this.timer) clearInterval(this.timer);
    this.closed = true;
    while (this.polling) await this.polling.catch(() => null);
    while (this.syncing) await this.syncing.catch(() => null);
    let r: FlushResult | null = null;
    try {
      if (!this.readOnly) r = await this.flush(now);
    } finally {
      this.unwatch();
      try {
        await this.repo.close();
      } finally {
        if (this.lock) releaseLock(this.lock);
        await this.worker?.terminate();
      }
    }
    return r;
  }
}
