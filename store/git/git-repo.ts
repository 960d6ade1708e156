// The git repository behind a primary branch: a tree of entry files kept in memory so a flush
// rewrites only the trees above changed files, commits on `main` written object by object and the
// ref moved last (a crash leaves the previous commit), a bounded history (older commits cut off
// with git's own `shallow` file, their dead objects deleted), and edits read from the `edits` branch.
// One process at a time (git-lock.ts). A flush is bracketed by a marker file, so only a start after
// an interrupted flush sweeps; the sweep and the cut-off delete only loose objects no ref reaches
// (git-reach.ts), and only through the prune (git-prune.ts), which keeps what a landing push needs.
// Knows paths and texts only: which table an entry is and what it means is GitStore's business.
import * as fs from 'node:fs';
import { readdir, rename, rm, writeFile, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import git from 'isomorphic-git';
import { encodeCommit, encodeTree, LooseObjects, looseFiles, readLoose, type Ident, type TreeEntry } from './git-object.js';
import { releaseLock, takeLock } from './git-lock.js';
import { prune, PRUNE_GRACE_MS, restoreAside } from './git-prune.js';
import { gitDirOf, parseCommit, parseTree, reachable, refTips, shallowCommits, type ObjectReader, type RefTip, type TypedObject } from './git-reach.js';
import { GitRemote, PEER_REFS, type GitRemoteOptions, type GitRemoteStats, type RemoteResult } from './git-remote.js';
import { keptFiles, REJECTED_BRANCH, REJECTED_NOTE, rejectedMessage, rejectedNote, type RejectedEdit, type RejectedFile } from './git-rejected.js';

export interface GitRepoOptions {
  /** Commits of full history kept; older ones are cut off (squashed into the oldest kept). */
  historyCommits?: number;
  branch?: string;
  editsBranch?: string;
  /** Largest entry file accepted from an edit, in bytes. */
  maxFileBytes?: number;
  /** Only read what the branch holds: no lock (another process may be writing), no sweep, no flush, no edits. */
  readOnly?: boolean;
  /** Loose objects younger than this (ms, by file time) are never deleted; default PRUNE_GRACE_MS. Tests that count deletions pass 0. */
  pruneGraceMs?: number;
  /** The shared server peer routers sync through (git-remote.ts): pushes and fetches run here, between flushes. */
  remote?: Omit<GitRemoteOptions, 'branch'>;
}

export interface FlushBatch {
  /** Changed files: path and text, or null where the entry was removed. */
  files: [path: string, text: string | null][];
  message: string;
  /** Commit time, ms since the epoch. */
  time: number;
  /** An edits commit merged since the last flush: recorded as the second parent. */
  mergedEdits?: string;
  /** The files that edit had rejected: kept on the `rejected` branch. */
  rejected?: RejectedEdit;
  /** Peer routers' heads merged since the last flush: parents after the edit's, so the next merge base is past them. */
  mergedPeers?: string[];
}

export interface FlushResult {
  /** The new commit, or null when the batch changed nothing. */
  oid: string | null;
  objects: number;
  bytes: number;
  ms: number;
  /** Commits cut off the history by this flush, and objects deleted with them. */
  squashed: number;
  pruned: number;
}

export interface LoadResult {
  head: string | null;
  files: [path: string, text: string][];
  /** Leftovers of an interrupted flush deleted at start (temporary files, unreachable objects). */
  swept: number;
  /** Why an interrupted flush's unreachable objects were left in place (null: swept, or nothing to sweep). */
  sweepSkipped: string | null;
  /** Its unreachable objects kept for now, being younger than the prune's grace: a later history cut removes them. */
  sweepKept: number;
  /** The lock file this process holds, and the dead process it was taken over from, if any. */
  lock: string;
  tookOverFrom: number | null;
}

export interface EditFile {
  path: string;
  /** The file in the edit (null: deleted), and in the merge base (null: absent there). */
  text: string | null;
  baseText: string | null;
  /** The edit's blob and its mode (null: deleted). */
  oid: string | null;
  mode: string | null;
  /** Several merge bases (criss-cross merges): the file at each, and at their own merge base(s), to merge into one ancestor. */
  bases?: VirtualBase;
}

/** The file at several merge bases and, recursively, at theirs: merged by the table's rules it is the ancestor. */
export interface VirtualBase {
  texts: (string | null)[];
  root: VirtualBase | string | null;
}

/** Merge bases and, while they are several, their own merge bases: the commits a virtual base is built from. */
interface BaseGraph {
  commits: string[];
  root: BaseGraph | null;
}

/** A file an edit may not carry (not a regular file, too large): kept on `rejected` like a rejected one. */
export type RefusedFile = RejectedFile;

export interface EditsResult {
  head: string;
  base: string | null;
  author: string;
  subject: string;
  files: EditFile[];
  /** Paths refused before parsing (not a regular file, too large), with the reason. */
  refused: RefusedFile[];
}

/** What a peer router's head changed since its merge base with our branch. */
export interface PeerDiff {
  head: string;
  /** The merge base with our branch (null: no common history, or our branch is empty). */
  base: string | null;
  /** All of them: more than one after criss-cross merges (both routers merging each other at once). */
  bases: string[];
  files: EditFile[];
  refused: RefusedFile[];
}

export interface RepoStats {
  head: string | null;
  commitsKept: number;
  looseObjects: number;
  looseBytes: number;
  squashedCommits: number;
  prunedObjects: number;
}

interface Leaf {
  oid: string;
}

interface Dir {
  entries: Map<string, Leaf | Dir>;
  /** null until written: the tree's content changed since its last write. */
  oid: string | null;
}

/** What an interrupted flush's marker says: from when its objects date, and whether it was cutting history. */
interface Interruption {
  since: number;
  trimming: boolean;
}

/** One history cut: where it falls, and what stays live across it. */
interface CutPlan {
  boundary: Link;
  kept: Set<string>;
  cutOff: Set<string>;
  wasShallow: Set<string>;
  /** `rejected`'s own cut: its oldest kept commit, and the older ones that go. */
  rejected: { boundary: string | null; leaving: string[] };
  /** In main's kept history: a kept commit, or an object a kept commit's tree holds. */
  live: (oid: string) => boolean;
}

/** One of our commits: the flush that made it, and the heads it merged (an edit, peers' heads: its parents after the first). */
interface Link {
  oid: string;
  n: number;
  merged: string[];
}

const isDir = (n: Leaf | Dir): n is Dir => (n as Dir).entries !== undefined;
const sameTips = (a: RefTip[], b: RefTip[]): boolean => {
  const text = (t: RefTip[]) => t.map((x) => `${x.name} ${x.oid}`).sort().join('\n');
  return text(a) === text(b);
};
const NETBRANCH = { name: 'netbranch', email: 'netbranch@localhost' };
/** Present while a flush runs: found at start, it says the last one was interrupted. */
const FLUSH_MARKER = 'netbranch-flush';
/** The marker's text once the flush is cutting history: old objects may be half deleted. */
const TRIMMING = 'trimming\n';
/** A file's mtime may trail the marker's by the filesystem's granularity: objects this much older still count as the flush's. */
const MTIME_SLACK_MS = 2_000;
/** Garbage a prune kept for later, listed at close so the next run's first cut offers it again. */
const PRUNE_LATER = 'netbranch-prune-later';
/** Our temporary objects (git's own are `objects/xx/tmp_obj_*`: never touched). */
const OUR_TMP = /^tmp_obj_\d+_\d+$/;

export class GitRepo {
  readonly gitdir: string;
  readonly opts: Required<Omit<GitRepoOptions, 'remote'>>;
  /** The peers' server, when there is one. */
  private readonly remote: GitRemote | null;
  /** The tail of the writes so far: a flush, push or fetch starts when the one before has ended. */
  private serial: Promise<unknown> = Promise.resolve();
  private readonly objects: LooseObjects;
  private root: Dir = { entries: new Map(), oid: null };
  private head: string | null = null;
  /** Our commits on the branch, oldest first, with the flush number that made them and what they merged. */
  private chain: Link[] = [];
  private flushNo = 0;
  /** How many entries of the current tree point at each object (trees and blobs). */
  private readonly refs = new Map<string, number>();
  /** Objects no entry points at any more, and the flush whose commit first did without them. */
  private readonly deadAt = new Map<string, number>();
  private lastEdits: string | null = null;
  /** An edits head that could not be traced back to our history: it pins nothing. */
  private refusedEdits: string | null = null;
  private squashed = 0;
  private pruned = 0;
  private readonly cache = {};
  /** The root tree's id as last written: the head commit's reference to it. */
  private rootOid: string | null = null;
  private headTreeOid: string | null = null;
  /** The lock file held from open to close. */
  private lock: string | null = null;
  /** A flush of this run failed part-way: the marker stays, and close sweeps what it left. */
  private flushFailed = false;
  /** Garbage a prune kept for now (too young, or a push under way): the next cut offers it again. */
  private readonly deferred = new Set<string>();
  private readonly reader: ObjectReader = (oid) => this.readTyped(oid);

  constructor(dir: string, opts: GitRepoOptions = {}) {
    this.gitdir = gitDirOf(dir);
    this.opts = {
      historyCommits: Math.max(2, opts.historyCommits ?? 60),
      branch: opts.branch ?? 'main',
      editsBranch: opts.editsBranch ?? 'edits',
      maxFileBytes: opts.maxFileBytes ?? 64 * 1024,
      readOnly: opts.readOnly ?? false,
      pruneGraceMs: opts.pruneGraceMs ?? PRUNE_GRACE_MS,
    };
    this.objects = new LooseObjects(this.gitdir);
    this.remote = opts.remote ? new GitRemote(this.gitdir, { ...opts.remote, branch: this.opts.branch }) : null;
  }

  /**
   * One writer at a time: a fetch writes packs, refs and (for a shallow history) `shallow`, which a
   * flush's history cut reads and rewrites; calls over the worker would otherwise interleave.
   */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const p = this.serial.then(run, run);
    this.serial = p.catch(() => null);
    return p;
  }

  private peers(): GitRemote {
    if (this.remote === null) throw new Error(`${this.gitdir} has no peers' server configured (remote.url)`);
    if (this.opts.readOnly) throw new Error(`${this.gitdir} was opened read-only: it does not sync with peers`);
    return this.remote;
  }

  /** Our branch onto `routers/<name>` on the peers' server (git-remote.ts); a failure is returned, with its reason. */
  async push(now: number): Promise<RemoteResult<string>> {
    const remote = this.peers();
    return this.exclusive(() => remote.push(now));
  }

  /** The peers' branches into `refs/peers/*`; resolves with their heads by router name. */
  async fetch(now: number): Promise<RemoteResult<Map<string, string>>> {
    const remote = this.peers();
    return this.exclusive(() => remote.fetch(now));
  }

  /** The remote's counters (null: no peers' server). */
  remoteStats(): GitRemoteStats | null {
    return this.remote ? structuredClone(this.remote.stats) : null;
  }

  private get ref(): string {
    return `refs/heads/${this.opts.branch}`;
  }

  private get marker(): string {
    return join(this.gitdir, FLUSH_MARKER);
  }

  /**
   * Creates the repository (bare) if needed, takes its lock (throws StoreLockedError while another
   * process holds it), sweeps what an interrupted flush left, and reads the branch's files.
   */
  async open(): Promise<LoadResult> {
    if (this.opts.readOnly) return this.read();
    await this.create();
    const { path, tookOverFrom } = takeLock(this.gitdir);
    this.lock = path;
    try {
      const interrupted = this.interrupted();
      const files = await this.load(interrupted);
      const swept = await this.cleanUp(interrupted);
      return { head: this.head, files, ...swept, lock: path, tookOverFrom };
    } catch (err) {
      this.lock = null;
      releaseLock(path);
      throw err;
    }
  }

  /** The branch's files, as a writer (if any) last committed them. */
  private async read(): Promise<LoadResult> {
    if (!fs.existsSync(join(this.gitdir, 'HEAD'))) throw new Error(`${this.gitdir} is not a git repository`);
    this.head = await this.resolve(this.ref);
    const files: [string, string][] = [];
    if (this.head) this.root = await this.loadTree((await this.readCommitFast(this.head)).tree, '', files);
    return { head: this.head, files, swept: 0, sweepSkipped: null, sweepKept: 0, lock: '', tookOverFrom: null };
  }

  private async create(): Promise<void> {
    if (fs.existsSync(join(this.gitdir, 'HEAD'))) return;
    if (fs.existsSync(this.gitdir) && (await readdir(this.gitdir)).length > 0) {
      throw new Error(`${this.gitdir} is neither a git repository nor empty: give git:DIR a new or empty directory, or an existing netbranch repository`);
    }
    await git.init({ fs, gitdir: this.gitdir, bare: true, defaultBranch: this.opts.branch });
  }

  /** Reads the branch's files and history after putting back what a killed run left half done. */
  private async load(interrupted: Interruption | null): Promise<[path: string, text: string][]> {
    if (interrupted) this.clearRefLocks(interrupted.since);
    restoreAside(this.gitdir); // a kill mid-prune: judged again by the sweep that follows the load
    this.takeLater();
    this.head = await this.resolve(this.ref);
    const files: [string, string][] = [];
    if (this.head) {
      const { tree } = await this.readCommitFast(this.head);
      this.root = await this.loadTree(tree, '', files);
      this.inc(tree);
      this.rootOid = tree;
      this.headTreeOid = tree;
      await this.loadChain();
    }
    await this.dateDeaths();
    return files;
  }

  /** Removes our temporary files, and after an interrupted flush sweeps and drops its marker. */
  private async cleanUp(interrupted: Interruption | null): Promise<Pick<LoadResult, 'swept' | 'sweepSkipped' | 'sweepKept'>> {
    const swept = this.removeTemporaries();
    if (!interrupted) return { swept, sweepSkipped: null, sweepKept: 0 };
    const r = await this.sweep(interrupted);
    fs.rmSync(this.marker, { force: true });
    return { swept: swept + r.removed, sweepSkipped: r.skipped, sweepKept: r.kept };
  }

  /** The marker an interrupted flush left: from when its objects date, and whether it was cutting history. */
  private interrupted(): Interruption | null {
    try {
      const since = fs.statSync(this.marker).mtimeMs - MTIME_SLACK_MS;
      return { since, trimming: fs.readFileSync(this.marker, 'utf8') === TRIMMING };
    } catch {
      return null;
    }
  }

  /**
   * A kill between writing a ref's lock file and renaming it leaves the lock, and git would refuse to
   * move that ref while it exists. Only the locks the interrupted flush wrote go (not a pusher's).
   */
  private clearRefLocks(since: number): void {
    for (const name of [this.ref, `refs/heads/${this.opts.editsBranch}`, `refs/heads/${REJECTED_BRANCH}`, 'shallow']) {
      const lock = join(this.gitdir, `${name}.lock`);
      try {
        if (fs.statSync(lock).mtimeMs >= since) fs.unlinkSync(lock);
      } catch {
        // no such lock
      }
    }
  }

  /** What the last run's prunes kept for later (a cut judges it again, as garbage or not). */
  private takeLater(): void {
    const path = join(this.gitdir, PRUNE_LATER);
    const text = fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : '';
    for (const oid of text.split('\n')) if (/^[0-9a-f]{40}$/.test(oid)) this.deferred.add(oid);
  }

  /** Our temporary object files: a kill mid-write leaves one, and the lock says no writer of ours runs. */
  private removeTemporaries(): number {
    let n = 0;
    const objdir = join(this.gitdir, 'objects');
    for (const f of fs.existsSync(objdir) ? fs.readdirSync(objdir) : []) {
      if (!OUR_TMP.test(f)) continue;
      try { fs.unlinkSync(join(objdir, f)); } catch { /* gone already */ }
      n++;
    }
    return n;
  }

  /**
   * After an interrupted flush: the loose objects no ref reaches (git-reach.ts) that the flush wrote
   * (no older than its marker), or any such object when it was cutting history (the cut was deleting
   * them), go to the prune, which keeps young ones and what a push landing meanwhile needs. Deletes
   * nothing in doubt: an object the walk cannot read, a push under way (then a cut offers them again).
   */
  private async sweep(from: Interruption, followHidden = true): Promise<{ removed: number; kept: number; skipped: string | null }> {
    const tips = await refTips(this.gitdir);
    const reach = await reachable(this.reader, tips.map((t) => t.oid), { shallow: await shallowCommits(this.gitdir) });
    if (reach.unreadable.length) return { removed: 0, kept: 0, skipped: `${reach.unreadable.length} reachable objects cannot be read (${reach.unreadable[0]} first)` };
    const candidates = await this.unreachableLoose(reach.objects, from);
    // The wall clock, read after the walk and just before the prune: it compares file times, and every object is older.
    const r = await prune(candidates, { gitdir: this.gitdir, read: this.reader, tips, live: (oid) => reach.objects.has(oid), now: Date.now(), graceMs: this.opts.pruneGraceMs });
    for (const oid of r.kept) this.deferred.add(oid);
    if (r.shallow.length === 0) return { removed: r.removed, kept: r.kept.length, skipped: r.skipped };
    const was = await shallowCommits(this.gitdir);
    await this.writeShallow(new Set([...was, ...r.shallow]));
    const hidden = followHidden ? await this.sweepHidden(r.shallow.filter((c) => !was.has(c))) : 0;
    return { removed: r.removed + hidden, kept: r.kept.length, skipped: r.skipped };
  }

  /** Loose objects not in `reached`, written since `from.since` (any age when the flush was cutting history). */
  private async unreachableLoose(reached: Set<string>, from: Interruption): Promise<string[]> {
    const out: string[] = [];
    for (const { oid, path } of looseFiles(this.gitdir)) {
      if (oid === null || reached.has(oid)) continue;
      const mtime = await stat(path).then((st) => st.mtimeMs, () => -Infinity);
      if (from.trimming || mtime >= from.since) out.push(oid);
    }
    return out;
  }

  private async resolve(ref: string): Promise<string | null> {
    try {
      return await git.resolveRef({ fs, gitdir: this.gitdir, ref });
    } catch {
      return null;
    }
  }

  private async loadTree(oid: string, prefix: string, files: [string, string][]): Promise<Dir> {
    const dir: Dir = { entries: new Map(), oid };
    for (const e of await this.readTreeFast(oid)) {
      const path = prefix ? `${prefix}/${e.name}` : e.name;
      this.inc(e.oid);
      if (e.mode === '40000') dir.entries.set(e.name, await this.loadTree(e.oid, path, files));
      else if (e.mode.startsWith('100')) {
        dir.entries.set(e.name, { oid: e.oid });
        files.push([path, (await this.readObject(e.oid)).toString('utf8')]);
      }
    }
    return dir;
  }

  /**
   * An object's type and body: straight from the loose file when there is one (an inflate, no more:
   * start-up reads every kept tree), else through isomorphic-git, which also reads packs after a `git gc`.
   */
  private async readTyped(oid: string): Promise<TypedObject> {
    let loose: TypedObject | null;
    try {
      loose = readLoose(this.objects.path(oid));
    } catch {
      loose = null;
    }
    if (loose) return loose;
    const { type, object } = await git.readObject({ fs, gitdir: this.gitdir, oid, format: 'content', cache: this.cache });
    return { type, body: Buffer.from(object as Uint8Array) };
  }

  private async readObject(oid: string): Promise<Buffer> {
    return (await this.readTyped(oid)).body;
  }

  private async readTreeFast(oid: string): Promise<TreeEntry[]> {
    return parseTree(await this.readObject(oid)) as TreeEntry[];
  }

  private async readCommitFast(oid: string): Promise<{ tree: string; parents: string[] }> {
    const c = parseCommit(await this.readObject(oid));
    if (!/^[0-9a-f]{40}$/.test(c.tree)) throw new Error(`commit ${oid} has no tree`);
    return c;
  }

  /** The branch's first-parent chain back to the history cut-off. */
  private async loadChain(): Promise<void> {
    const shallow = await shallowCommits(this.gitdir);
    const found: { oid: string; merged: string[] }[] = [];
    let oid: string | undefined = this.head ?? undefined;
    while (oid) {
      let parents: string[];
      try {
        parents = (await this.readCommitFast(oid)).parents;
      } catch {
        found.push({ oid, merged: [] });
        break;
      }
      found.push({ oid, merged: parents.slice(1) });
      if (shallow.has(oid)) break;
      oid = parents[0];
    }
    found.reverse();
    this.chain = found.map((c, i) => ({ ...c, n: i + 1 }));
    this.flushNo = this.chain.length;
  }

  /**
   * One walk of the kept trees at start, newest commit first: dates the death of every object only
   * older commits use (from the commit after the newest one using it), so trimming the history later
   * deletes those too. Reachability for the sweep is git-reach.ts's business, not this walk's.
   */
  private async dateDeaths(): Promise<void> {
    const seen = new Set<string>();
    const visit = async (oid: string, n: number): Promise<void> => {
      if (seen.has(oid)) return;
      seen.add(oid);
      if (!this.refs.has(oid)) this.deadAt.set(oid, n + 1);
      for (const e of await this.readTreeFast(oid)) {
        if (e.mode === '40000') await visit(e.oid, n);
        else if (!seen.has(e.oid)) {
          seen.add(e.oid);
          if (!this.refs.has(e.oid)) this.deadAt.set(e.oid, n + 1);
        }
      }
    };
    for (let i = this.chain.length - 1; i >= 0; i--) {
      const { oid, n } = this.chain[i];
      try {
        await visit((await this.readCommitFast(oid)).tree, n);
      } catch {
        // a commit or tree already gone (cut off): nothing of it to date
      }
    }
  }

  private inc(oid: string): void {
    const n = this.refs.get(oid) ?? 0;
    this.refs.set(oid, n + 1);
    if (n === 0) this.deadAt.delete(oid);
  }

  private dec(oid: string | null): void {
    if (oid === null) return;
    const n = (this.refs.get(oid) ?? 1) - 1;
    if (n > 0) { this.refs.set(oid, n); return; }
    this.refs.delete(oid);
    this.deadAt.set(oid, this.flushNo + 1); // the commit this flush makes no longer has it
  }

  /**
   * Writes the batch's blobs and the trees above them, commits, then moves the branch; the marker
   * file brackets it all, so a start after a kill knows a flush was cut short (and a clean one does not).
   */
  async flush(batch: FlushBatch): Promise<FlushResult> {
    if (this.opts.readOnly) throw new Error(`${this.gitdir} was opened read-only`);
    return this.exclusive(() => this.flushNow(batch));
  }

  private async flushNow(batch: FlushBatch): Promise<FlushResult> {
    if (!this.flushFailed) fs.writeFileSync(this.marker, `${process.pid}\n`);
    try {
      const t0 = performance.now();
      const w0 = this.objects.written;
      const b0 = this.objects.bytes;
      const oid = await this.write(batch);
      const { squashed, pruned } = oid === null ? { squashed: 0, pruned: 0 } : await this.trimHistory();
      const r = { oid, objects: this.objects.written - w0, bytes: this.objects.bytes - b0, ms: performance.now() - t0, squashed, pruned };
      if (!this.flushFailed) fs.rmSync(this.marker, { force: true });
      return r;
    } catch (err) {
      this.flushFailed = true;
      throw err;
    }
  }

  /** Writes the batch and its commit, moving the branch; returns the commit (null: it changed nothing). */
  private async write(batch: FlushBatch): Promise<string | null> {
    for (const [path, text] of batch.files) {
      if (text === null) this.remove(path.split('/'));
      else this.put(path.split('/'), await this.objects.write('blob', Buffer.from(text)));
    }
    const tree = await this.writeTree(this.root);
    const parents = this.head ? [this.head] : [];
    if (batch.mergedEdits) parents.push(batch.mergedEdits);
    for (const p of batch.mergedPeers ?? []) if (!parents.includes(p)) parents.push(p);
    if (this.root.entries.size === 0 && parents.length === 0) return null;
    if (this.head && parents.length === 1 && tree === (await this.headTree())) return null;
    const when = { ...NETBRANCH, time: batch.time / 1000 };
    const oid = await this.objects.write('commit', encodeCommit({ tree, parents, author: when, committer: when, message: batch.message }));
    await this.writeRefFile(this.ref, oid);
    this.head = oid; // at once: should a step below fail, the next flush still builds on this commit
    this.headTreeOid = tree;
    this.flushNo++;
    this.chain.push({ oid, n: this.flushNo, merged: parents.slice(1) });
    if (batch.mergedEdits) await this.fastForwardEdits(batch.mergedEdits, oid);
    if (batch.rejected?.files.length) await this.recordRejected(batch.rejected, oid, when);
    return oid;
  }

  private async headTree(): Promise<string | null> {
    if (this.headTreeOid === null && this.head) {
      this.headTreeOid = (await git.readCommit({ fs, gitdir: this.gitdir, oid: this.head, cache: this.cache })).commit.tree;
    }
    return this.headTreeOid;
  }

  private put(segs: string[], oid: string): void {
    let dir = this.root;
    const path: Dir[] = [dir];
    for (let i = 0; i < segs.length - 1; i++) {
      let next = dir.entries.get(segs[i]);
      if (next === undefined || !isDir(next)) {
        if (next !== undefined) this.dec(next.oid); // a file where a directory belongs: replaced
        next = { entries: new Map(), oid: null };
        dir.entries.set(segs[i], next);
      }
      dir = next;
      path.push(dir);
    }
    const name = segs[segs.length - 1];
    const old = dir.entries.get(name);
    if (old !== undefined && !isDir(old) && old.oid === oid) return;
    if (old !== undefined) this.dropNode(old);
    dir.entries.set(name, { oid });
    this.inc(oid);
    this.markDirty(path);
  }

  /** Directories whose content changed: their old ids lose the reference their parents held. */
  private markDirty(path: Dir[]): void {
    for (const d of path) {
      if (d.oid === null) continue;
      if (d !== this.root) this.dec(d.oid);
      d.oid = null;
    }
  }

  private remove(segs: string[]): void {
    const path: Dir[] = [this.root];
    let dir = this.root;
    for (let i = 0; i < segs.length - 1; i++) {
      const next = dir.entries.get(segs[i]);
      if (next === undefined || !isDir(next)) return;
      dir = next;
      path.push(dir);
    }
    const old = dir.entries.get(segs[segs.length - 1]);
    if (old === undefined) return;
    this.dropNode(old);
    dir.entries.delete(segs[segs.length - 1]);
    this.markDirty(path);
    // Empty directories go too: git has no empty trees (their ids were released by markDirty).
    for (let i = path.length - 1; i > 0 && path[i].entries.size === 0; i--) path[i - 1].entries.delete(segs[i - 1]);
  }

  /** Drops a node's references (a directory replaced whole drops everything under it). */
  private dropNode(n: Leaf | Dir): void {
    if (isDir(n)) for (const c of n.entries.values()) this.dropNode(c);
    this.dec(n.oid);
  }

  private async writeTree(dir: Dir): Promise<string> {
    if (dir.oid !== null) return dir.oid;
    const entries: TreeEntry[] = [];
    for (const [name, n] of dir.entries) {
      if (isDir(n)) {
        const dirty = n.oid === null;
        const oid = await this.writeTree(n);
        if (dirty) this.inc(oid); // its old id was released when it went dirty (markDirty)
        entries.push({ name, mode: '40000', oid });
      } else {
        entries.push({ name, mode: '100644', oid: n.oid });
      }
    }
    const oid = await this.objects.write('tree', encodeTree(entries));
    if (dir === this.root) {
      this.dec(this.rootOid);
      this.inc(oid);
      this.rootOid = oid;
    }
    dir.oid = oid;
    return oid;
  }

  /** Moves our own branch: lock file, then rename (a kill leaves the old value or the new, never half). */
  private async writeRefFile(ref: string, oid: string): Promise<void> {
    const path = join(this.gitdir, ref);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(`${path}.lock`, `${oid}\n`);
    await rename(`${path}.lock`, path);
  }

  /**
   * Moves a ref others push to, by git's own protocol (the lock file created exclusively, so a push
   * holding it wins), and only if it still names `from`: a push that landed meanwhile is never undone.
   */
  private async moveRef(ref: string, from: string | null, to: string): Promise<boolean> {
    const path = join(this.gitdir, ref);
    await mkdir(dirname(path), { recursive: true });
    let fd: number;
    try {
      fd = fs.openSync(`${path}.lock`, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      fs.writeSync(fd, `${to}\n`);
      fs.closeSync(fd);
      if ((await this.resolve(ref)) !== from) {
        fs.unlinkSync(`${path}.lock`);
        return false;
      }
      await rename(`${path}.lock`, path);
      return true;
    } catch (err) {
      fs.rmSync(`${path}.lock`, { force: true });
      throw err;
    }
  }

  /** Once an edit is merged, `edits` moves to the merge commit (if nobody moved it meanwhile). */
  private async fastForwardEdits(merged: string, commit: string): Promise<void> {
    if (await this.moveRef(`refs/heads/${this.opts.editsBranch}`, merged, commit)) this.lastEdits = commit;
  }

  /** A commit on `rejected` holding the files an edit had rejected, as pushed, and a note saying why. */
  private async recordRejected(r: RejectedEdit, merge: string, when: Ident): Promise<void> {
    const ref = `refs/heads/${REJECTED_BRANCH}`;
    const parent = await this.resolve(ref);
    const note = await this.objects.write('blob', Buffer.from(rejectedNote(r, merge)));
    const files = keptFiles(r).map((f) => ({ path: f.path, mode: f.mode as TreeEntry['mode'], oid: f.oid! }));
    const tree = await this.writeFileTree([...files, { path: REJECTED_NOTE, mode: '100644', oid: note }]);
    const commit = await this.objects.write('commit', encodeCommit({ tree, parents: parent ? [parent] : [], author: when, committer: when, message: rejectedMessage(r, merge) }));
    await this.moveRef(ref, parent, commit); // lost to a concurrent push to `rejected`: the merge commit still lists the files
  }

  /** Writes the trees holding these files (path, mode, blob); returns the root's id. */
  private async writeFileTree(files: { path: string; mode: TreeEntry['mode']; oid: string }[]): Promise<string> {
    type Node = Map<string, Node | { mode: TreeEntry['mode']; oid: string }>;
    const root: Node = new Map();
    for (const f of files) {
      const segs = f.path.split('/');
      let dir = root;
      for (const seg of segs.slice(0, -1)) {
        let next = dir.get(seg);
        if (!(next instanceof Map)) {
          next = new Map();
          dir.set(seg, next);
        }
        dir = next;
      }
      dir.set(segs[segs.length - 1], { mode: f.mode, oid: f.oid });
    }
    const write = async (n: Node): Promise<string> => {
      const entries: TreeEntry[] = [];
      for (const [name, c] of n) entries.push(c instanceof Map ? { name, mode: '40000', oid: await write(c) } : { name, ...c });
      return this.objects.write('tree', encodeTree(entries));
    };
    return write(root);
  }

  /**
   * Cuts history older than the last `historyCommits` commits off, and deletes objects only it used.
   * Whatever a live commit needs stays: edits merged by kept commits, and the tip of every other ref
   * (an edit not merged yet, a tag); where their history reaches into what is cut off, they are cut
   * off there too (listed as shallow). `rejected` is cut to its last `historyCommits` commits alike.
   * A merged edit whose merge leaves the kept history goes with it, and `edits` never names a deleted
   * commit. Deletion goes through the prune (git-prune.ts): a push landing meanwhile keeps what it needs.
   */
  private async trimHistory(): Promise<{ squashed: number; pruned: number }> {
    const keep = this.opts.historyCommits;
    if (this.chain.length <= keep + Math.max(1, keep >> 2)) return { squashed: 0, pruned: 0 };
    const cut = Math.min(this.chain.length - keep, await this.unmergedEditBase(), await this.peerBase());
    if (cut < 1) return { squashed: 0, pruned: 0 };
    const boundary = this.chain[cut];
    const kept = new Set(this.chain.slice(cut).map((c) => c.oid));
    const cutOff = new Set(this.chain.slice(0, cut).map((c) => c.oid));
    await this.editsFollowMain(cutOff);
    const wasShallow = await shallowCommits(this.gitdir);
    const plan: CutPlan = {
      boundary, kept, cutOff, wasShallow,
      rejected: await this.rejectedCut(wasShallow),
      live: (oid) => kept.has(oid) || this.refs.has(oid) || (this.deadAt.get(oid) ?? 0) > boundary.n,
    };
    const merged = this.chain.slice(cut + 1).flatMap((c) => c.merged);
    const found = await this.liveSet(merged, plan);
    if (!found) return { squashed: 0, pruned: 0 };
    fs.writeFileSync(this.marker, TRIMMING); // from here on a kill leaves old objects half deleted: the next start sweeps them
    await this.writeShallow(found.shallow);
    const spared = (oid: string) => plan.live(oid) || found.protect.has(oid);
    const doomed = await this.doomed(cut, plan, spared);
    // The wall clock, read just before the prune: it compares file times, so every object the cut wrote is older.
    const r = await prune(doomed, { gitdir: this.gitdir, read: this.reader, tips: found.tips, live: spared, now: Date.now(), graceMs: this.opts.pruneGraceMs });
    for (const oid of r.kept) this.deferred.add(oid);
    if (r.shallow.length) await this.writeShallow(new Set([...found.shallow, ...r.shallow]));
    const hidden = await this.sweepHidden([...found.shallow, ...r.shallow].filter((c) => !wasShallow.has(c)));
    this.chain.splice(0, cut);
    this.squashed += cut;
    this.pruned += r.removed + hidden;
    return { squashed: cut, pruned: r.removed + hidden };
  }

  /**
   * A commit made shallow hides all its parents from git, also one that is still here (an unmerged
   * edit's own parent, when its other parent was cut off): no ref reaches that one any more, so the
   * sweep of everything unreachable runs once, under the prune's usual checks. Returns what it deleted.
   */
  private async sweepHidden(newShallow: string[]): Promise<number> {
    for (const c of newShallow) {
      const parents = await this.reader(c).then((o) => parseCommit(o.body).parents, () => [] as string[]);
      for (const p of parents) {
        if (await this.reader(p).then(() => true, () => false)) return (await this.sweep({ since: -Infinity, trimming: true }, false)).removed;
      }
    }
    return 0;
  }

  /** git's `shallow` list, written whole: a lock file renamed into place. */
  private async writeShallow(commits: Set<string>): Promise<void> {
    await writeFile(join(this.gitdir, 'shallow.lock'), `${[...commits].join('\n')}\n`);
    await rename(join(this.gitdir, 'shallow.lock'), join(this.gitdir, 'shallow'));
  }

  /** A merged edit's branch would name a deleted commit: it follows main instead (a fast-forward); should a push hold its lock, it stays and is kept like any ref. */
  private async editsFollowMain(cutOff: Set<string>): Promise<void> {
    const ref = `refs/heads/${this.opts.editsBranch}`;
    const edits = await this.resolve(ref);
    if (edits && cutOff.has(edits) && this.head && (await this.moveRef(ref, edits, this.head))) this.lastEdits = this.head;
  }

  /**
   * What the cut deletes: the cut-off commits, objects only they used (dead by the boundary), the
   * edits merged by commits that leave (the boundary's too: its parents are no longer walked), the
   * commits leaving `rejected`, and what an earlier prune kept for later; none that is `spared`.
   */
  private async doomed(cut: number, plan: CutPlan, spared: (oid: string) => boolean): Promise<string[]> {
    const doomed = new Set([...plan.cutOff, ...this.deferred]);
    this.deferred.clear();
    for (const [oid, n] of this.deadAt) {
      if (n > plan.boundary.n || spared(oid)) continue;
      doomed.add(oid);
      this.deadAt.delete(oid);
    }
    const leaving = [...this.chain.slice(0, cut + 1).flatMap((c) => c.merged), ...plan.rejected.leaving];
    plan.boundary.merged = [];
    const gone = await reachable(this.reader, leaving, { shallow: plan.wasShallow, stop: (oid) => spared(oid) || plan.cutOff.has(oid), budget: 100_000 });
    for (const oid of gone.objects) doomed.add(oid);
    return [...doomed].filter((oid) => !spared(oid));
  }

  /**
   * `rejected` keeps its newest `historyCommits` commits, like main: the oldest kept becomes a
   * shallow boundary and the older ones leave. Read from the tip back to the last boundary only.
   */
  private async rejectedCut(wasShallow: Set<string>): Promise<CutPlan['rejected']> {
    const chain: string[] = [];
    let oid = await this.resolve(`refs/heads/${REJECTED_BRANCH}`);
    while (oid && chain.length < 100_000) {
      chain.push(oid);
      if (wasShallow.has(oid)) break;
      oid = (await this.readCommitFast(oid).catch(() => ({ parents: [] as string[] }))).parents[0] ?? null;
    }
    const keep = this.opts.historyCommits;
    return chain.length <= keep ? { boundary: null, leaving: [] } : { boundary: chain[keep - 1], leaving: chain.slice(keep) };
  }

  /**
   * The oldest commit of ours that an edit not merged yet reaches, as an index into the chain: the cut
   * stops there until the edit is merged, or its merge base would be gone and the edit refused.
   * Infinity when there is no such edit (or it was refused already).
   */
  private async unmergedEditBase(): Promise<number> {
    const edits = await this.resolve(`refs/heads/${this.opts.editsBranch}`);
    const index = new Map(this.chain.map((c, i) => [c.oid, i]));
    if (!edits || edits === this.refusedEdits || index.has(edits) || this.chain.some((c) => c.merged.includes(edits))) return Infinity;
    let oldest = Infinity;
    const seen = new Set<string>();
    const stack = [edits];
    for (let budget = 10_000; stack.length && budget > 0; budget--) {
      const c = stack.pop()!;
      if (seen.has(c)) continue;
      seen.add(c);
      const i = index.get(c);
      if (i !== undefined) oldest = Math.min(oldest, i);
      else stack.push(...(await this.readCommitFast(c).catch(() => ({ parents: [] }))).parents);
    }
    return oldest;
  }

  /**
   * The oldest of our commits that is a merge base with a peer router's head (or a base of those), as an index into the
   * chain: the cut stops there, or the next merge of that peer would have no ancestor and count its
   * counters twice (the peers' own commits stay anyway: their refs keep them). Infinity: no peers.
   */
  private async peerBase(): Promise<number> {
    if (this.head === null) return Infinity;
    // A peer's commit is found through the commit of ours that merged it, which must not become the
    // boundary: a shallow commit hides its parents from the merge-base walk.
    const index = new Map<string, number>();
    this.chain.forEach((c, i) => { for (const m of c.merged) if (!index.has(m)) index.set(m, i - 1); });
    this.chain.forEach((c, i) => index.set(c.oid, i));
    let oldest = Infinity;
    const peers = await git.listRefs({ fs, gitdir: this.gitdir, filepath: PEER_REFS }).catch(() => [] as string[]);
    for (const peer of peers) {
      const head = await this.resolve(`${PEER_REFS}${peer}`);
      // Criss-crosses: the bases' own bases too, which the virtual base is built from.
      for (let g: BaseGraph | null = head ? await this.baseGraph(await this.mergeBases([head, this.head])) : null; g; g = g.root) {
        for (const b of g.commits) oldest = Math.min(oldest, index.get(b) ?? Infinity);
      }
    }
    return oldest;
  }

  /**
   * What must survive the cut: the objects of `merged` edits and of every ref's tip but our branch's,
   * and the shallow boundaries that keeps. Read twice: a ref that moved between (a push) means once
   * more, so a push that lands while we decide is kept too. Null when that cannot be settled.
   */
  private async liveSet(merged: string[], plan: CutPlan): Promise<{ protect: Set<string>; shallow: Set<string>; tips: RefTip[] } | null> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const tips = await refTips(this.gitdir);
      const found = await this.keepLive([...merged, ...tips.filter((t) => t.name !== this.ref).map((t) => t.oid)], plan);
      if (!found) return null;
      if (sameTips(tips, await refTips(this.gitdir))) return { ...found, tips };
    }
    return null;
  }

  /**
   * What live commits (and tags, and what they point at) reach, down to the kept history (git-reach.ts's
   * walk, stopping at what main's kept history holds anyway). A commit whose parent is cut off (or
   * missing) becomes a shallow boundary itself, and one that already is one stays one, as does
   * `rejected`'s new boundary. Null if the walk was cut short: nothing may be deleted on its word.
   */
  private async keepLive(starts: string[], plan: CutPlan): Promise<{ protect: Set<string>; shallow: Set<string> } | null> {
    const shallow = new Set([plan.boundary.oid]);
    const stopAt = new Set(plan.wasShallow);
    if (plan.rejected.boundary) stopAt.add(plan.rejected.boundary);
    const reach = await reachable(this.reader, starts, {
      shallow: stopAt,
      stop: plan.live,
      parents: async (commit, parents) => {
        const walkOn: string[] = [];
        for (const p of parents) {
          if (plan.kept.has(p)) continue;
          if (plan.cutOff.has(p) || !(await this.exists(p))) shallow.add(commit);
          else walkOn.push(p);
        }
        return walkOn;
      },
      budget: 100_000,
    });
    if (!reach.complete) return null;
    for (const c of stopAt) if (reach.objects.has(c)) shallow.add(c);
    return { protect: reach.objects, shallow };
  }

  private async exists(oid: string): Promise<boolean> {
    try {
      await this.readObject(oid);
      return true;
    } catch {
      return false;
    }
  }

  /** A new commit on the edits branch: the files it changed since its merge base with ours. */
  async readEdits(): Promise<EditsResult | null> {
    if (this.opts.readOnly) throw new Error(`${this.gitdir} was opened read-only: it merges no edits`);
    const head = await this.resolve(`refs/heads/${this.opts.editsBranch}`);
    if (!head || head === this.lastEdits || head === this.head) return null;
    this.lastEdits = head;
    const { commit } = await git.readCommit({ fs, gitdir: this.gitdir, oid: head, cache: this.cache });
    let base: string | null = null;
    if (this.head) {
      let bases: string[];
      try {
        bases = await git.findMergeBase({ fs, gitdir: this.gitdir, oids: [head, this.head], cache: this.cache });
      } catch (err) {
        this.refusedEdits = head;
        throw new Error(`the edits branch (${head.slice(0, 7)}) could not be traced back to ${this.opts.branch}: ${(err as Error).message}; rebase it onto ${this.opts.branch}`);
      }
      if (bases.length === 0) {
        this.refusedEdits = head;
        throw new Error(`the edits branch (${head.slice(0, 7)}) shares no history with ${this.opts.branch} (or is based on history cut off since); rebase it onto ${this.opts.branch}`);
      }
      base = bases[0];
      if (base === head) return null; // already part of our history
    }
    const baseTree = base ? (await git.readCommit({ fs, gitdir: this.gitdir, oid: base, cache: this.cache })).commit.tree : null;
    const files: EditFile[] = [];
    const refused: RefusedFile[] = [];
    await this.diffTrees(baseTree, commit.tree, '', files, refused);
    return { head, base, author: `${commit.author.name} <${commit.author.email}>`, subject: commit.message.split('\n')[0], files, refused };
  }

  /**
   * The files a peer router's head changed since its merge base with `ourHead` (our branch's head by
   * default). With no common history (or history cut off) the base is null and every ancestor absent.
   * Null when the head is already part of our history.
   */
  async readPeer(peerHead: string, ourHead: string | null = this.head): Promise<PeerDiff | null> {
    const bases = ourHead ? await this.mergeBases([peerHead, ourHead]) : [];
    if (bases.includes(peerHead)) return null;
    const files: EditFile[] = [];
    const refused: RefusedFile[] = [];
    const peerTree = await this.treeOf(peerHead);
    const baseTrees: string[] = [];
    for (const b of bases) baseTrees.push(await this.treeOf(b));
    await this.diffTrees(baseTrees[0] ?? null, peerTree, '', files, refused);
    if (bases.length > 1) await this.virtualBase(bases, baseTrees, peerTree, files, refused);
    return { head: peerHead, base: bases[0] ?? null, bases, files, refused };
  }

  /** The best common ancestors (several after criss-cross merges); none when history does not reach one (cut off). */
  private async mergeBases(oids: string[]): Promise<string[]> {
    return git.findMergeBase({ fs, gitdir: this.gitdir, oids, cache: this.cache }).catch(() => [] as string[]);
  }

  private async treeOf(commit: string): Promise<string> {
    return (await this.readCommitFast(commit)).tree;
  }

  /**
   * Criss-cross merges (two routers merging each other at once) leave several merge bases, and no
   * one of them is the ancestor: a counter would count the other base's increments twice. Like git's
   * recursive merge, the ancestor is the bases merged with their own merge base as theirs; here each
   * changed file carries its text at every base and at that root, for the table's rules to merge.
   */
  private async virtualBase(bases: string[], trees: string[], peerTree: string, files: EditFile[], refused: RefusedFile[]): Promise<void> {
    const seen = new Set([...files.map((f) => f.path), ...refused.map((r) => r.path)]);
    for (const t of trees.slice(1)) {
      const more: EditFile[] = [];
      const moreRefused: RefusedFile[] = [];
      await this.diffTrees(t, peerTree, '', more, moreRefused);
      for (const r of moreRefused) if (!seen.has(r.path)) { seen.add(r.path); refused.push(r); }
      for (const f of more) if (!seen.has(f.path)) { seen.add(f.path); files.push({ ...f, baseText: await this.textAt(trees[0], f.path) }); }
    }
    const graph = await this.baseGraph(bases);
    for (const f of files) f.bases = (await this.baseTexts(graph, f.path)) as VirtualBase;
  }

  /** The bases, and theirs while several (criss-crosses nest), down a few levels: deeper ones count as one. */
  private async baseGraph(commits: string[], depth = 0): Promise<BaseGraph> {
    if (commits.length < 2 || depth >= 8) return { commits: commits.slice(0, 1), root: null };
    const roots = await this.mergeBases(commits);
    return { commits, root: roots.length ? await this.baseGraph(roots, depth + 1) : null };
  }

  private async baseTexts(g: BaseGraph, path: string): Promise<VirtualBase | string | null> {
    const texts: (string | null)[] = [];
    for (const c of g.commits) texts.push(await this.textAt(await this.treeOf(c), path));
    if (g.commits.length < 2) return texts[0] ?? null;
    return { texts, root: g.root ? await this.baseTexts(g.root, path) : null };
  }

  /** The regular file at `path` under a tree (null: absent, not a file, or too large). */
  private async textAt(tree: string | null, path: string): Promise<string | null> {
    let node: { type: string; mode: string; oid: string } | undefined = tree ? { type: 'tree', mode: '40000', oid: tree } : undefined;
    for (const seg of path.split('/')) {
      if (node?.type !== 'tree') return null;
      node = (await this.treeEntries(node.oid)).get(seg);
    }
    if (!node || node.type !== 'blob') return null;
    return (await this.readText(node, path, [])) ?? null;
  }

  private async treeEntries(oid: string | null): Promise<Map<string, { type: string; mode: string; oid: string }>> {
    const m = new Map<string, { type: string; mode: string; oid: string }>();
    if (oid === null) return m;
    const { tree } = await git.readTree({ fs, gitdir: this.gitdir, oid, cache: this.cache });
    for (const e of tree) m.set(e.path, { type: e.type, mode: e.mode, oid: e.oid });
    return m;
  }

  private async diffTrees(a: string | null, b: string | null, prefix: string, files: EditFile[], refused: RefusedFile[]): Promise<void> {
    if (a === b) return;
    const ea = await this.treeEntries(a);
    const eb = await this.treeEntries(b);
    for (const name of new Set([...ea.keys(), ...eb.keys()])) {
      const x = ea.get(name);
      const y = eb.get(name);
      if (x && y && x.oid === y.oid && x.mode === y.mode) continue;
      const path = prefix ? `${prefix}/${name}` : name;
      const xTree = x?.type === 'tree' ? x.oid : null;
      const yTree = y?.type === 'tree' ? y.oid : null;
      if (xTree || yTree) await this.diffTrees(xTree, yTree, path, files, refused);
      const xFile = x && x.type !== 'tree' ? x : undefined;
      const yFile = y && y.type !== 'tree' ? y : undefined;
      if (!xFile && !yFile) continue;
      if (yFile && (yFile.type !== 'blob' || (yFile.mode !== '100644' && yFile.mode !== '100755'))) {
        refused.push({ path, reason: `not a regular file (mode ${yFile.mode})`, oid: yFile.type === 'blob' ? yFile.oid : null, mode: yFile.mode });
        continue;
      }
      const text = yFile ? await this.readText(yFile, path, refused) : null;
      if (yFile && text === undefined) continue;
      const baseText = xFile && xFile.type === 'blob' ? ((await this.readText(xFile, path, [])) ?? null) : null;
      files.push({ path, text: text ?? null, baseText, oid: yFile?.oid ?? null, mode: yFile?.mode ?? null });
    }
  }

  private async readText(f: { oid: string; mode: string }, path: string, refused: RefusedFile[]): Promise<string | undefined> {
    const body = await this.readObject(f.oid);
    if (body.length > this.opts.maxFileBytes) {
      refused.push({ path, reason: `file is ${body.length} bytes; entries are at most ${this.opts.maxFileBytes}`, oid: f.oid, mode: f.mode });
      return undefined;
    }
    return body.toString('utf8');
  }

  async stats(): Promise<RepoStats> {
    let looseObjects = 0;
    let looseBytes = 0;
    for (const { path } of looseFiles(this.gitdir)) {
      looseObjects++;
      looseBytes += (await stat(path)).size;
    }
    return { head: this.head, commitsKept: this.chain.length, looseObjects, looseBytes, squashedCommits: this.squashed, prunedObjects: this.pruned };
  }

  /**
   * Ends a run cleanly: sweeps what a failed flush of this run left (through the prune: pushes may
   * land), lists the garbage kept for later for the next run, removes the flush marker, and releases
   * the lock. Returns objects swept.
   */
  async close(): Promise<number> {
    if (this.lock === null) return 0;
    let swept = 0;
    const failed = this.flushFailed ? this.interrupted() : null;
    if (failed) swept = (await this.sweep(failed)).removed;
    const later = join(this.gitdir, PRUNE_LATER);
    if (this.deferred.size) fs.writeFileSync(later, `${[...this.deferred].join('\n')}\n`);
    else fs.rmSync(later, { force: true });
    fs.rmSync(this.marker, { force: true });
    releaseLock(this.lock);
    this.lock = null;
    return swept;
  }

  /** Removes the repository (tests and benchmarks). */
  async destroy(): Promise<void> {
    if (this.lock) releaseLock(this.lock);
    this.lock = null;
    await rm(this.gitdir, { recursive: true, force: true });
  }
}
