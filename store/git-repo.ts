// The git repository behind a primary branch: a tree of entry files kept in memory so a flush
// rewrites only the trees above changed files, commits on `main` written object by object and the
// ref moved last (a crash leaves the previous commit), a bounded history (older commits cut off
// with git's own `shallow` file, their dead objects deleted), and edits read from the `edits` branch.
// Knows paths and texts only: which table an entry is and what it means is GitStore's business.
import * as fs from 'node:fs';
import { readdir, readFile, rename, rm, unlink, writeFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import git from 'isomorphic-git';
import { encodeCommit, encodeTree, LooseObjects, type TreeEntry } from './git-object.js';

export interface GitRepoOptions {
  /** Commits of full history kept; older ones are cut off (squashed into the oldest kept). */
  historyCommits?: number;
  branch?: string;
  editsBranch?: string;
  /** Largest entry file accepted from an edit, in bytes. */
  maxFileBytes?: number;
}

export interface FlushBatch {
  /** Changed files: path and text, or null where the entry was removed. */
  files: [path: string, text: string | null][];
  message: string;
  /** Commit time, ms since the epoch. */
  time: number;
  /** An edits commit merged since the last flush: recorded as the second parent. */
  mergedEdits?: string;
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
}

export interface EditFile {
  path: string;
  /** The file in the edit (null: deleted), and in the merge base (null: absent there). */
  text: string | null;
  baseText: string | null;
}

export interface EditsResult {
  head: string;
  base: string | null;
  author: string;
  subject: string;
  files: EditFile[];
  /** Paths refused before parsing (not a regular file, too large), with the reason. */
  refused: { path: string; reason: string }[];
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

const isDir = (n: Leaf | Dir): n is Dir => (n as Dir).entries !== undefined;
const NETBRANCH = { name: 'netbranch', email: 'netbranch@localhost' };

export class GitRepo {
  readonly gitdir: string;
  readonly opts: Required<GitRepoOptions>;
  private readonly objects: LooseObjects;
  private root: Dir = { entries: new Map(), oid: null };
  private head: string | null = null;
  /** Our commits on the branch, oldest first, with the flush number that made them and the edit they merged. */
  private chain: { oid: string; n: number; edit?: string }[] = [];
  private flushNo = 0;
  /** How many entries of the current tree point at each object (trees and blobs). */
  private readonly refs = new Map<string, number>();
  /** Objects no entry points at any more, and the flush whose commit first did without them. */
  private readonly deadAt = new Map<string, number>();
  private lastEdits: string | null = null;
  private squashed = 0;
  private pruned = 0;
  private readonly cache = {};
  /** The root tree's id as last written: the head commit's reference to it. */
  private rootOid: string | null = null;
  private headTreeOid: string | null = null;

  constructor(dir: string, opts: GitRepoOptions = {}) {
    this.gitdir = fs.existsSync(join(dir, '.git')) ? join(dir, '.git') : dir;
    this.opts = {
      historyCommits: Math.max(2, opts.historyCommits ?? 60),
      branch: opts.branch ?? 'main',
      editsBranch: opts.editsBranch ?? 'edits',
      maxFileBytes: opts.maxFileBytes ?? 64 * 1024,
    };
    this.objects = new LooseObjects(this.gitdir);
  }

  private get ref(): string {
    return `refs/heads/${this.opts.branch}`;
  }

  /** Creates the repository (bare) if needed, sweeps what a crash left, and reads the branch's files. */
  async open(): Promise<LoadResult> {
    if (!fs.existsSync(join(this.gitdir, 'HEAD'))) {
      if (fs.existsSync(this.gitdir) && (await readdir(this.gitdir)).length > 0) {
        throw new Error(`${this.gitdir} is neither a git repository nor empty: give git:DIR a new or empty directory, or an existing netbranch repository`);
      }
      await git.init({ fs, gitdir: this.gitdir, bare: true, defaultBranch: this.opts.branch });
    }
    // A kill between writing a lock file and renaming it leaves the lock: git would refuse to move
    // the branch (or the cut-off) while it exists. Only we write these two.
    await unlink(join(this.gitdir, `${this.ref}.lock`)).catch(() => {});
    await unlink(join(this.gitdir, 'shallow.lock')).catch(() => {});
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
    const swept = await this.sweep();
    return { head: this.head, files, swept };
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
   * An object's body: straight from the loose file when there is one (an inflate, no more: start-up
   * reads every kept tree), else through isomorphic-git, which also reads packs after a `git gc`.
   */
  private async readObject(oid: string): Promise<Buffer> {
    let raw: Buffer | null = null;
    try {
      raw = inflateSync(fs.readFileSync(this.objects.path(oid))); // sync: 7× faster than awaiting each file (bench)
    } catch {
      raw = null;
    }
    if (raw) return raw.subarray(raw.indexOf(0) + 1);
    const { object } = await git.readObject({ fs, gitdir: this.gitdir, oid, format: 'content', cache: this.cache });
    return Buffer.from(object as Uint8Array);
  }

  private async readTreeFast(oid: string): Promise<TreeEntry[]> {
    const body = await this.readObject(oid);
    const out: TreeEntry[] = [];
    let i = 0;
    while (i < body.length) {
      const sp = body.indexOf(0x20, i);
      const nul = body.indexOf(0, sp);
      out.push({ mode: body.toString('latin1', i, sp) as TreeEntry['mode'], name: body.toString('utf8', sp + 1, nul), oid: body.toString('hex', nul + 1, nul + 21) });
      i = nul + 21;
    }
    return out;
  }

  private async readCommitFast(oid: string): Promise<{ tree: string; parents: string[] }> {
    const text = (await this.readObject(oid)).toString('utf8');
    const head = text.slice(0, text.indexOf('\n\n'));
    let tree = '';
    const parents: string[] = [];
    for (const line of head.split('\n')) {
      if (line.startsWith('tree ')) tree = line.slice(5);
      else if (line.startsWith('parent ')) parents.push(line.slice(7));
    }
    if (!/^[0-9a-f]{40}$/.test(tree)) throw new Error(`commit ${oid} has no tree`);
    return { tree, parents };
  }

  /** The branch's first-parent chain back to the history cut-off. */
  private async loadChain(): Promise<void> {
    const shallow = await this.shallowSet();
    const found: { oid: string; edit?: string }[] = [];
    let oid: string | undefined = this.head ?? undefined;
    while (oid) {
      let parents: string[];
      try {
        parents = (await this.readCommitFast(oid)).parents;
      } catch {
        found.push({ oid });
        break;
      }
      found.push({ oid, edit: parents[1] });
      if (shallow.has(oid)) break;
      oid = parents[0];
    }
    found.reverse();
    this.chain = found.map((c, i) => ({ ...c, n: i + 1 }));
    this.flushNo = this.chain.length;
  }

  private async shallowSet(): Promise<Set<string>> {
    try {
      return new Set((await readFile(join(this.gitdir, 'shallow'), 'utf8')).split('\n').filter(Boolean));
    } catch {
      return new Set();
    }
  }

  /**
   * One walk of the kept history at start, newest commit first. It finds what is reachable, so what a
   * crash left (temporary files, an interrupted flush's objects, objects that died before a restart)
   * is deleted; and it dates the death of every object only older commits use (from the commit after
   * the newest one using it), so trimming the history later deletes those too.
   */
  private async sweep(): Promise<number> {
    const objdir = join(this.gitdir, 'objects');
    let subdirs: string[];
    try {
      subdirs = await readdir(objdir);
    } catch {
      return 0;
    }
    const reachable = new Set<string>();
    const visit = async (oid: string, n: number): Promise<void> => {
      if (reachable.has(oid)) return;
      reachable.add(oid);
      if (!this.refs.has(oid)) this.deadAt.set(oid, n + 1);
      for (const e of await this.readTreeFast(oid)) {
        if (e.mode === '40000') await visit(e.oid, n);
        else if (!reachable.has(e.oid)) {
          reachable.add(e.oid);
          if (!this.refs.has(e.oid)) this.deadAt.set(e.oid, n + 1);
        }
      }
    };
    for (let i = this.chain.length - 1; i >= 0; i--) {
      const { oid, n } = this.chain[i];
      reachable.add(oid);
      try {
        await visit((await this.readCommitFast(oid)).tree, n);
      } catch {
        // a commit or tree already gone (packed away, or cut off): nothing of it to track
      }
    }
    const shallow = await this.shallowSet();
    for (const ref of await this.refNames()) {
      const oid = await this.resolve(ref);
      if (oid) await this.markHistory(oid, reachable, shallow);
    }
    let swept = 0;
    for (const d of subdirs) {
      if (d.startsWith('tmp_obj_')) {
        try { fs.unlinkSync(join(objdir, d)); } catch { /* gone already */ }
        swept++;
        continue;
      }
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of await readdir(join(objdir, d))) {
        if (!reachable.has(d + f)) {
          try { fs.unlinkSync(join(objdir, d, f)); } catch { /* gone already */ }
          swept++;
        }
      }
    }
    return swept;
  }

  private async refNames(): Promise<string[]> {
    try {
      // isomorphic-git lists lock files too (`main.lock`): they are no branches.
      return (await git.listBranches({ fs, gitdir: this.gitdir })).filter((b) => !b.endsWith('.lock')).map((b) => `refs/heads/${b}`);
    } catch {
      return [];
    }
  }

  /** Marks a commit's history (every parent, up to the shallow cut-off) and their trees. */
  private async markHistory(oid: string, seen: Set<string>, shallow: Set<string>): Promise<void> {
    const stack = [oid];
    while (stack.length) {
      const c = stack.pop()!;
      if (seen.has(c)) continue;
      const parents = await this.markCommit(c, seen);
      if (!shallow.has(c)) stack.push(...parents);
    }
  }

  private async markCommit(oid: string, seen: Set<string>): Promise<string[]> {
    seen.add(oid);
    try {
      const { tree, parents } = await this.readCommitFast(oid);
      await this.markTree(tree, seen);
      return parents;
    } catch {
      return [];
    }
  }

  private async markTree(oid: string, seen: Set<string>): Promise<void> {
    if (seen.has(oid)) return;
    seen.add(oid);
    for (const e of await this.readTreeFast(oid)) {
      if (e.mode === '40000') await this.markTree(e.oid, seen);
      else seen.add(e.oid);
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

  /** Writes the batch's blobs and the trees above them, commits, then moves the branch. */
  async flush(batch: FlushBatch): Promise<FlushResult> {
    const t0 = performance.now();
    const w0 = this.objects.written;
    const b0 = this.objects.bytes;
    for (const [path, text] of batch.files) {
      if (text === null) this.remove(path.split('/'));
      else this.put(path.split('/'), await this.objects.write('blob', Buffer.from(text)));
    }
    const tree = await this.writeTree(this.root);
    if (this.root.entries.size === 0 && this.head === null && !batch.mergedEdits) {
      return { oid: null, objects: this.objects.written - w0, bytes: this.objects.bytes - b0, ms: performance.now() - t0, squashed: 0, pruned: 0 };
    }
    const parents = this.head ? [this.head] : [];
    if (batch.mergedEdits) parents.push(batch.mergedEdits);
    if (this.head && !batch.mergedEdits && tree === (await this.headTree())) {
      return { oid: null, objects: this.objects.written - w0, bytes: this.objects.bytes - b0, ms: performance.now() - t0, squashed: 0, pruned: 0 };
    }
    const when = { ...NETBRANCH, time: batch.time / 1000 };
    const oid = await this.objects.write('commit', encodeCommit({ tree, parents, author: when, committer: when, message: batch.message }));
    await this.writeRefFile(this.ref, oid);
    if (batch.mergedEdits) await this.fastForwardEdits(batch.mergedEdits, oid);
    this.head = oid;
    this.headTreeOid = tree;
    this.flushNo++;
    this.chain.push({ oid, n: this.flushNo, edit: batch.mergedEdits });
    const { squashed, pruned } = await this.trimHistory();
    return { oid, objects: this.objects.written - w0, bytes: this.objects.bytes - b0, ms: performance.now() - t0, squashed, pruned };
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

  private async writeRefFile(ref: string, oid: string): Promise<void> {
    const path = join(this.gitdir, ref);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(`${path}.lock`, `${oid}\n`);
    await rename(`${path}.lock`, path);
  }

  /** Once an edit is merged, `edits` moves to the merge commit (if nobody moved it meanwhile). */
  private async fastForwardEdits(merged: string, commit: string): Promise<void> {
    const ref = `refs/heads/${this.opts.editsBranch}`;
    if ((await this.resolve(ref)) === merged) {
      await this.writeRefFile(ref, commit);
      this.lastEdits = commit;
    }
  }

  /**
   * Cuts history older than the last `historyCommits` commits off, and deletes objects only it used.
   * Edits stay whole while a kept commit merged them (or while not merged yet): where their own
   * history reaches into what is cut off, they are cut off there too (listed as shallow). An edit
   * whose merge leaves the kept history is deleted with it, and `edits` never names a deleted commit.
   */
  private async trimHistory(): Promise<{ squashed: number; pruned: number }> {
    const keep = this.opts.historyCommits;
    if (this.chain.length <= keep + Math.max(1, keep >> 2)) return { squashed: 0, pruned: 0 };
    const cut = this.chain.length - keep;
    const boundary = this.chain[cut];
    const kept = new Set(this.chain.slice(cut).map((c) => c.oid));
    const cutOff = new Set(this.chain.slice(0, cut).map((c) => c.oid));
    const editsRef = `refs/heads/${this.opts.editsBranch}`;
    const edits = await this.resolve(editsRef);
    const protect = new Set<string>();
    const shallow = new Set([boundary.oid]);
    const live = this.chain.slice(cut + 1).flatMap((c) => (c.edit ? [c.edit] : []));
    if (edits && !kept.has(edits) && !cutOff.has(edits)) live.push(edits);
    await this.keepEdits(live, kept, cutOff, protect, shallow);
    await writeFile(join(this.gitdir, 'shallow.lock'), `${[...shallow].join('\n')}\n`);
    await rename(join(this.gitdir, 'shallow.lock'), join(this.gitdir, 'shallow'));
    if (edits && cutOff.has(edits) && this.head) {
      // A merged edit's branch would name a deleted commit: it follows main instead (a fast-forward).
      await this.writeRefFile(editsRef, this.head);
      this.lastEdits = this.head;
    }
    const doomed = new Set(cutOff);
    for (const [oid, n] of this.deadAt) {
      if (n <= boundary.n && !protect.has(oid)) {
        doomed.add(oid);
        this.deadAt.delete(oid);
      }
    }
    // Edits merged by commits that leave (the boundary's too: its parents are no longer walked).
    const leaving = this.chain.slice(0, cut + 1).flatMap((c) => (c.edit ? [c.edit] : []));
    boundary.edit = undefined;
    const gone = new Set<string>();
    const stack = [...leaving];
    for (let budget = 10_000; stack.length && budget > 0; budget--) {
      const c = stack.pop()!;
      if (gone.has(c) || kept.has(c) || cutOff.has(c) || protect.has(c)) continue;
      stack.push(...(await this.markCommit(c, gone)));
    }
    for (const oid of gone) {
      if (!protect.has(oid) && !kept.has(oid) && !this.refs.has(oid) && !((this.deadAt.get(oid) ?? 0) > boundary.n)) doomed.add(oid);
    }
    let pruned = 0;
    for (const oid of doomed) {
      if (protect.has(oid)) continue;
      try {
        fs.unlinkSync(this.objects.path(oid));
        pruned++;
      } catch {
        // already gone, or packed by a `git gc`: git's own prune takes it from there
      }
    }
    this.chain.splice(0, cut);
    this.squashed += cut;
    this.pruned += pruned;
    return { squashed: cut, pruned };
  }

  /**
   * Marks edit commits (merged by kept commits, or not merged yet) and their trees as needed, down to
   * the kept history; an edit whose parent is cut off (or missing) becomes a shallow boundary itself.
   */
  private async keepEdits(starts: string[], kept: Set<string>, cutOff: Set<string>, protect: Set<string>, shallow: Set<string>): Promise<void> {
    const stack = [...starts];
    const seen = new Set<string>();
    for (let budget = 10_000; stack.length && budget > 0; budget--) {
      const c = stack.pop()!;
      if (kept.has(c) || seen.has(c)) continue;
      seen.add(c);
      for (const p of await this.markCommit(c, protect)) {
        if (kept.has(p)) continue;
        if (cutOff.has(p) || !(await this.exists(p))) shallow.add(c);
        else stack.push(p);
      }
    }
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
        throw new Error(`the edits branch (${head.slice(0, 7)}) could not be traced back to ${this.opts.branch}: ${(err as Error).message}; rebase it onto ${this.opts.branch}`);
      }
      if (bases.length === 0) throw new Error(`the edits branch (${head.slice(0, 7)}) shares no history with ${this.opts.branch} (or is based on history cut off since); rebase it onto ${this.opts.branch}`);
      base = bases[0];
      if (base === head) return null; // already part of our history
    }
    const baseTree = base ? (await git.readCommit({ fs, gitdir: this.gitdir, oid: base, cache: this.cache })).commit.tree : null;
    const files: EditFile[] = [];
    const refused: { path: string; reason: string }[] = [];
    await this.diffTrees(baseTree, commit.tree, '', files, refused);
    return { head, base, author: `${commit.author.name} <${commit.author.email}>`, subject: commit.message.split('\n')[0], files, refused };
  }

  private async treeEntries(oid: string | null): Promise<Map<string, { type: string; mode: string; oid: string }>> {
    const m = new Map<string, { type: string; mode: string; oid: string }>();
    if (oid === null) return m;
    const { tree } = await git.readTree({ fs, gitdir: this.gitdir, oid, cache: this.cache });
    for (const e of tree) m.set(e.path, { type: e.type, mode: e.mode, oid: e.oid });
    return m;
  }

  private async diffTrees(a: string | null, b: string | null, prefix: string, files: EditFile[], refused: { path: string; reason: string }[]): Promise<void> {
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
        refused.push({ path, reason: `not a regular file (mode ${yFile.mode})` });
        continue;
      }
      const text = yFile ? await this.readText(yFile.oid, path, refused) : null;
      if (yFile && text === undefined) continue;
      const baseText = xFile && xFile.type === 'blob' ? ((await this.readText(xFile.oid, path, [])) ?? null) : null;
      files.push({ path, text: text ?? null, baseText });
    }
  }

  private async readText(oid: string, path: string, refused: { path: string; reason: string }[]): Promise<string | undefined> {
    const body = await this.readObject(oid);
    if (body.length > this.opts.maxFileBytes) {
      refused.push({ path, reason: `file is ${body.length} bytes; entries are at most ${this.opts.maxFileBytes}` });
      return undefined;
    }
    return body.toString('utf8');
  }

  async stats(): Promise<RepoStats> {
    let looseObjects = 0;
    let looseBytes = 0;
    const objdir = join(this.gitdir, 'objects');
    for (const d of await readdir(objdir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of await readdir(join(objdir, d))) {
        looseObjects++;
        looseBytes += (await stat(join(objdir, d, f))).size;
      }
    }
    return { head: this.head, commitsKept: this.chain.length, looseObjects, looseBytes, squashedCommits: this.squashed, prunedObjects: this.pruned };
  }

  /** Removes the repository (tests and benchmarks). */
  async destroy(): Promise<void> {
    await rm(this.gitdir, { recursive: true, force: true });
  }
}
