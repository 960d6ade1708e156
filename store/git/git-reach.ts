// What a repository's refs reach, as git itself counts it: every ref (loose, packed, HEAD, reflogs),
// every parent of every commit (not just first parents: merged edits are second parents), annotated
// tags peeled, trees down to their blobs, and nothing behind a commit listed in `shallow`. One walk,
// with a stop predicate, serves the sweep, the history cut-off and the prune's last look.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TypedObject {
  type: string;
  body: Buffer;
}

/** Reads an object by id; throws if the repository does not have it. */
export type ObjectReader = (oid: string) => Promise<TypedObject>;

export interface RefTip {
  /** `refs/heads/main`, `HEAD`, or `logs/refs/heads/main` for a reflog entry. */
  name: string;
  oid: string;
}

const OID = /^[0-9a-f]{40}$/;

/** Where a repository directory keeps its git data: DIR itself (bare, as netbranch makes it) or DIR/.git. */
export function gitDirOf(dir: string): string {
  return existsSync(join(dir, '.git')) ? join(dir, '.git') : dir;
}

/** Every ref's object: loose refs (lock files are not refs), packed refs and their peeled targets, a detached HEAD, reflogs. */
export async function refTips(gitdir: string): Promise<RefTip[]> {
  const tips: RefTip[] = [];
  const walk = async (dir: string, name: string, each: (name: string, text: string) => void) => {
    let entries;
    try {
      entries = await readdir(join(gitdir, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) await walk(path, `${name}/${e.name}`, each);
      else if (e.isFile() && !e.name.endsWith('.lock')) each(`${name}/${e.name}`, await readFile(join(gitdir, path), 'utf8').catch(() => ''));
    }
  };
  await walk('refs', 'refs', (name, text) => {
    const oid = text.trim();
    if (OID.test(oid)) tips.push({ name, oid });
  });
  // packed-refs: `<oid> <ref>` lines, each maybe followed by `^<oid>`, the tag's peeled target.
  let ref = 'packed-refs';
  for (const line of (await readFile(join(gitdir, 'packed-refs'), 'utf8').catch(() => '')).split('\n')) {
    const peeled = line.startsWith('^');
    const [oid, name] = (peeled ? line.slice(1) : line).split(' ');
    if (!OID.test(oid ?? '')) continue;
    if (!peeled) ref = name ?? ref;
    tips.push({ name: peeled ? `${ref}^{}` : ref, oid });
  }
  const head = (await readFile(join(gitdir, 'HEAD'), 'utf8').catch(() => '')).trim();
  if (OID.test(head)) tips.push({ name: 'HEAD', oid: head });
  await walk('logs', 'logs', (name, text) => {
    for (const line of text.split('\n')) {
      for (const oid of line.split(' ', 2)) if (OID.test(oid) && !/^0+$/.test(oid)) tips.push({ name, oid });
    }
  });
  return tips;
}

export async function shallowCommits(gitdir: string): Promise<Set<string>> {
  const text = await readFile(join(gitdir, 'shallow'), 'utf8').catch(() => '');
  return new Set(text.split('\n').filter((l) => OID.test(l)));
}

/** A commit's tree and parents. */
export function parseCommit(body: Buffer): { tree: string; parents: string[] } {
  const text = body.toString('utf8');
  const end = text.indexOf('\n\n');
  let tree = '';
  const parents: string[] = [];
  for (const line of (end < 0 ? text : text.slice(0, end)).split('\n')) {
    if (line.startsWith('tree ')) tree = line.slice(5);
    else if (line.startsWith('parent ')) parents.push(line.slice(7));
  }
  return { tree, parents };
}

/** A tree's entries: mode, name, object id. */
export function parseTree(body: Buffer): { mode: string; name: string; oid: string }[] {
  const out: { mode: string; name: string; oid: string }[] = [];
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    const nul = body.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 21 > body.length) throw new Error('malformed tree');
    out.push({ mode: body.toString('latin1', i, sp), name: body.toString('utf8', sp + 1, nul), oid: body.toString('hex', nul + 1, nul + 21) });
    i = nul + 21;
  }
  return out;
}

/** The object an annotated tag points at; null if the body names none. */
export function tagTarget(body: Buffer): string | null {
  return /^object ([0-9a-f]{40})$/m.exec(body.toString('utf8'))?.[1] ?? null;
}

export interface WalkRules {
  /** Commits whose parents are not walked: git's `shallow` list. */
  shallow?: ReadonlySet<string>;
  /** Objects neither counted nor entered: already known live, or none of this walk's business. */
  stop?: (oid: string) => boolean;
  /** The parents of a commit to walk on (those past `shallow` never are); default: all. */
  parents?: (commit: string, parents: string[]) => Promise<string[]>;
  /** Objects to take at most; past it the walk gives up, incomplete. */
  budget?: number;
}

export interface Reached {
  objects: Set<string>;
  /** Objects the walk needed and could not read: the set is then incomplete, and nothing may be deleted on its word. */
  unreadable: string[];
  /** False when the budget ran out first. */
  complete: boolean;
}

/** Every object the tips reach. Blobs are counted unread; submodule links (160000) name no object here. */
export async function reachable(read: ObjectReader, tips: readonly string[], rules: WalkRules = {}): Promise<Reached> {
  const objects = new Set<string>();
  const unreadable: string[] = [];
  const stop = rules.stop ?? (() => false);
  const stack = [...tips];
  for (let budget = rules.budget ?? Infinity; stack.length;) {
    const oid = stack.pop()!;
    if (objects.has(oid) || stop(oid)) continue;
    if (budget-- <= 0) return { objects, unreadable, complete: false };
    objects.add(oid);
    let obj: TypedObject;
    try {
      obj = await read(oid);
    } catch {
      unreadable.push(oid);
      continue;
    }
    if (obj.type === 'commit') {
      const { tree, parents } = parseCommit(obj.body);
      stack.push(tree);
      if (!rules.shallow?.has(oid)) stack.push(...(rules.parents ? await rules.parents(oid, parents) : parents));
    } else if (obj.type === 'tag') {
      const target = tagTarget(obj.body);
      if (target) stack.push(target);
    } else if (obj.type === 'tree') {
      for (const e of parseTree(obj.body)) {
        if (e.mode === '40000') stack.push(e.oid);
        else if (e.mode !== '160000' && !stop(e.oid)) objects.add(e.oid);
      }
    }
  }
  return { objects, unreadable, complete: true };
}
