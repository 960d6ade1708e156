// Deleting loose objects no ref needs while git pushes may land, as git's own prune does: an object
// younger than a grace period is never deleted, nor is anything a young object reaches (a push's
// objects leave quarantine before its ref moves, and may lean on old objects it did not send).
// Doomed objects are first moved aside, then the repository is looked at once more (a push under
// way, refs that moved, objects written meanwhile); what that finds needed goes back, the rest goes.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { looseFiles, loosePath, readLoose } from './git-object.js';
import { reachable, refTips, shallowCommits, type ObjectReader, type RefTip } from './git-reach.js';

/**
 * Loose objects younger than this are never deleted. A push's objects leave git's quarantine
 * before its ref moves (its `update` hook runs in between), so for a moment they are unreachable
 * and new; 60 s outlasts that step by far. (git's own prune waits two weeks: it runs rarely.)
 */
export const PRUNE_GRACE_MS = 60_000;

/** Where doomed objects wait for the last look (a start puts back whatever a kill left there). */
const ASIDE = 'netbranch-prune';

export interface PruneContext {
  gitdir: string;
  read: ObjectReader;
  /** The refs the caller judged liveness by: any that moved since is walked again. */
  tips: RefTip[];
  /** Objects known live: the last look stops there. */
  live: (oid: string) => boolean;
  /** The wall clock (file times are the wall clock's), and the grace. */
  now: number;
  graceMs: number;
}

export interface PruneResult {
  removed: number;
  /** Commits kept whose parents are gone (a push built on history cut off meanwhile): the caller lists them in `shallow`. */
  shallow: string[];
  /** Candidates kept (young, or needed after all): a later prune may take them. */
  kept: string[];
  /** Why nothing was deleted, if so. */
  skipped: string | null;
}

const asidePath = (gitdir: string, oid: string) => join(gitdir, ASIDE, oid);

/** A push is under way while git's quarantine directory exists (its objects are not in place yet). */
export function pushUnderWay(gitdir: string): boolean {
  const names = fs.existsSync(join(gitdir, 'objects')) ? fs.readdirSync(join(gitdir, 'objects')) : [];
  return names.some((d) => d.startsWith('tmp_objdir-') || d.startsWith('incoming-'));
}

function mtime(path: string): number | null {
  try {
    return fs.statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/** Deletes the candidates that are still garbage at the last look; see the file's comment. */
export async function prune(candidates: Iterable<string>, cx: PruneContext): Promise<PruneResult> {
  const all = [...candidates];
  if (pushUnderWay(cx.gitdir)) return { removed: 0, shallow: [], kept: all, skipped: 'a git push is under way' };
  const young = cx.now - cx.graceMs;
  const kept: string[] = [];
  const aside: string[] = [];
  fs.mkdirSync(join(cx.gitdir, ASIDE), { recursive: true });
  for (const oid of all) {
    const t = mtime(loosePath(cx.gitdir, oid));
    if (t === null) continue; // gone, or packed by a `git gc`: git's own prune takes it from there
    if (t >= young) kept.push(oid);
    else if (moveAside(cx.gitdir, oid)) aside.push(oid);
  }
  if (aside.length === 0) return finish(cx.gitdir, { removed: 0, shallow: [], kept, skipped: null });
  const underWay = pushUnderWay(cx.gitdir);
  let needed: Set<string>;
  const shallow = new Set<string>();
  try {
    needed = underWay ? new Set(aside) : await neededAfterAll(cx, new Set(aside), young, shallow);
  } catch (err) {
    restore(cx.gitdir, aside); // in doubt, nothing goes
    throw err;
  }
  restore(cx.gitdir, aside.filter((o) => needed.has(o)));
  let removed = 0;
  for (const oid of aside) {
    if (needed.has(oid)) kept.push(oid);
    else if (unlink(asidePath(cx.gitdir, oid))) removed++;
  }
  return finish(cx.gitdir, { removed, shallow: [...shallow], kept, skipped: underWay ? 'a git push is under way' : null });
}

/**
 * The last look, with the doomed objects aside (a push checking for one now finds it missing and
 * is refused, never half-accepted): what refs that moved and young objects reach, and young ones
 * moved aside (a writer freshened them). A commit it keeps whose parent is gone goes in `shallow`.
 */
async function neededAfterAll(cx: PruneContext, aside: Set<string>, young: number, shallow: Set<string>): Promise<Set<string>> {
  const before = new Set(cx.tips.map((t) => `${t.name} ${t.oid}`));
  const roots = (await refTips(cx.gitdir)).filter((t) => !before.has(`${t.name} ${t.oid}`)).map((t) => t.oid);
  roots.push(...youngLoose(cx.gitdir, young), ...youngPacked(cx.gitdir, young));
  for (const oid of aside) if ((mtime(asidePath(cx.gitdir, oid)) ?? -Infinity) >= young) roots.push(oid);
  const read: ObjectReader = (oid) => (aside.has(oid) ? Promise.resolve(readLoose(asidePath(cx.gitdir, oid))) : cx.read(oid));
  const gone = async (oid: string) => !cx.live(oid) && !aside.has(oid) && (await cx.read(oid).then(() => false, () => true));
  const reach = await reachable(read, roots, {
    shallow: await shallowCommits(cx.gitdir),
    stop: cx.live,
    parents: async (commit, parents) => {
      const there: string[] = [];
      for (const p of parents) {
        if (await gone(p)) shallow.add(commit);
        else there.push(p);
      }
      return there;
    },
  });
  return reach.objects;
}

function youngLoose(gitdir: string, young: number): string[] {
  const out: string[] = [];
  for (const { oid, path } of looseFiles(gitdir)) if (oid !== null && (mtime(path) ?? -Infinity) >= young) out.push(oid);
  return out;
}

/** The objects of packs written within the grace (a push of many objects lands as a pack). */
function youngPacked(gitdir: string, young: number): string[] {
  const packdir = join(gitdir, 'objects', 'pack');
  const out: string[] = [];
  for (const f of fs.existsSync(packdir) ? fs.readdirSync(packdir) : []) {
    if (!f.endsWith('.idx') || (mtime(join(packdir, f.replace(/\.idx$/, '.pack'))) ?? -Infinity) < young) continue;
    try {
      out.push(...packIndexOids(fs.readFileSync(join(packdir, f))));
    } catch {
      // half written: the push is still under way, and its quarantine said so
    }
  }
  return out;
}

/** The object ids a pack index lists (version 2, or the original version 1). */
export function packIndexOids(idx: Buffer): string[] {
  const v2 = idx.readUInt32BE(0) === 0xff744f63;
  const fanout = v2 ? 8 : 0;
  const n = idx.readUInt32BE(fanout + 255 * 4);
  const first = fanout + 256 * 4;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const at = v2 ? first + i * 20 : first + i * 24 + 4;
    out.push(idx.toString('hex', at, at + 20));
  }
  return out;
}

function moveAside(gitdir: string, oid: string): boolean {
  try {
    fs.renameSync(loosePath(gitdir, oid), asidePath(gitdir, oid));
    return true;
  } catch {
    return false;
  }
}

function restore(gitdir: string, oids: string[]): void {
  for (const oid of oids) {
    fs.mkdirSync(join(gitdir, 'objects', oid.slice(0, 2)), { recursive: true });
    fs.renameSync(asidePath(gitdir, oid), loosePath(gitdir, oid));
  }
}

function unlink(path: string): boolean {
  try {
    fs.unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

function finish(gitdir: string, r: PruneResult): PruneResult {
  fs.rmSync(join(gitdir, ASIDE), { recursive: true, force: true });
  return r;
}

/** Puts back what a kill left aside mid-prune (the sweep that follows judges it again); returns how many. */
export function restoreAside(gitdir: string): number {
  const dir = join(gitdir, ASIDE);
  if (!fs.existsSync(dir)) return 0;
  const oids = fs.readdirSync(dir).filter((f) => /^[0-9a-f]{40}$/.test(f));
  restore(gitdir, oids);
  fs.rmSync(dir, { recursive: true, force: true });
  return oids.length;
}
