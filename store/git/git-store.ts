// Persists a primary branch to git: the branch's commits mark entries dirty, and a flush (every
// interval and at close) renders them to files and hands them to the GitRepo, on a worker thread by
// default, so nothing on the data path ever waits for git. Commits pushed to the `edits` branch with
// plain git are parsed file by file and merged with the tables' own merge rules; files an edit had
// rejected are kept on the `rejected` branch. One process per repository: GitRepo.open takes its lock.
import type { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { comlinkEndpoint, siblingModule, startThread } from '../thread.js';
import type { Branch } from '../branch.js';
import type { Logger } from '../logger.js';
import { changeCount } from '../commit.js';
import { CodecError } from '../errors.js';
import { entryPath, parseEntry, parseEntryPath, renderEntry } from './git-layout.js';
import { releaseAtExit, releaseLock } from './git-lock.js';
import { GitRepo, type EditsResult, type FlushResult, type GitRepoOptions, type LoadResult, type RepoStats } from './git-repo.js';
import type { RejectedEdit } from './git-rejected.js';

export interface GitStoreOptions extends GitRepoOptions {
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
}

/** The repository, here or on a worker: every call is async either way. */
type RepoPort = Pick<GitRepo, 'open' | 'flush' | 'readEdits' | 'stats' | 'close'>;

export interface EditOutcome {
  head: string;
  applied: number;
  unchanged: number;
  rejected: { path: string; reason: string }[];
  conflicts: number;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

const silent: Logger = { info() {}, warn() {}, error() {} };

export class GitStore {
  readonly stats: GitStoreStats = {
    flushes: 0, flushErrors: 0, lastFlushMs: 0, lastFlushChanges: 0, objectsWritten: 0, bytesWritten: 0,
    editsMerged: 0, editEntriesApplied: 0, editFilesRejected: 0, editErrors: 0, squashedCommits: 0, prunedObjects: 0,
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
    const repoOpts: GitRepoOptions = { historyCommits: opts.historyCommits, branch: opts.branch, editsBranch: opts.editsBranch, maxFileBytes: opts.maxFileBytes, readOnly: opts.readOnly, pruneGraceMs: opts.pruneGraceMs };
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

  /** Runs whatever is due at `now` (ms): a flush every interval, an edits poll. Never waits. */
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
    if (this.pendingChanges() === 0 && this.mergedEdits === null) return null;
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
      const r = await this.repo.flush({ files, message: edits ? `${message}\n\n${edits.note}` : message, time: now, mergedEdits: edits?.head, rejected: edits?.rejected });
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
    const out: EditOutcome = { head: edits.head, applied: 0, unchanged: 0, rejected: [...edits.refused], conflicts: 0 };
    const schema = this.branch.store.schema;
    const tables = this.branch.tables;
    const seen = new Set<string>();
    const changes: [number, string | number, unknown, unknown][] = [];
    for (const f of edits.files) {
      try {
        const { table, key } = parseEntryPath(schema, f.path);
        const t = tables[table];
        const seenKey = `${table}\0${String(key)}`;
        if (seen.has(seenKey)) throw new Error('two files name this entry');
        seen.add(seenKey);
        const theirs = f.text === null ? undefined : parseEntry(t.def, f.text, f.path);
        let old: unknown;
        try {
          old = f.baseText === null ? undefined : parseEntry(t.def, f.baseText, f.path);
        } catch {
          old = undefined; // the base file was itself bad: treat the entry as new there
        }
        changes.push([table, key, theirs, old]);
      } catch (err) {
        out.rejected.push({ path: f.path, reason: oneLine(err instanceof CodecError ? `${err.reason}${err.path !== f.path ? ` (at ${err.path})` : ''}` : (err as Error).message) });
      }
    }
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

  async repoStats(): Promise<RepoStats> {
    return this.repo.stats();
  }

  /** Stops the timers, writes what is left, and stops the worker. */
  async close(now = Date.now()): Promise<FlushResult | null> {
    if (this.timer) clearInterval(this.timer);
    this.closed = true;
    while (this.polling) await this.polling.catch(() => null);
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
