// What a repository's refs reach, as git itself counts it: every ref (loose, packed, HEAD, reflogs),
// every parent of every commit (not just first parents: merged edits are second parents), annotated
// tags peeled, trees down to their blobs, and nothing behind a commit listed in `shallow`.
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

export interface Reached {
  objects: Set<string>;
  /** Objects the walk needed and could not read: the set is then incomplete, and nothing may be deleted on its word. */
  unreadable: string[];
}

/** Every object the tips reach. Blobs are counted unread; submodule links (160000) name no object here. */
export async function reachable(read: ObjectReader, tips: readonly string[], shallow: ReadonlySet<string>): Promise<Reached> {
  const objects = new Set<string>();
  const unreadable: string[] = [];
  const stack = [...tips];
  while (stack.length) {
    const oid = stack.pop()!;
    if (objects.has(oid)) continue;
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
      if (!shallow.has(oid)) stack.push(...parents);
    } else if (obj.type === 'tag') {
      const target = /^object ([0-9a-f]{40})$/m.exec(obj.body.toString('utf8'))?.[1];
      if (target) stack.push(target);
    } else if (obj.type === 'tree') {
      for (const e of parseTree(obj.body)) {
        if (e.mode === '40000') stack.push(e.oid);
        else if (e.mode !== '160000') objects.add(e.oid);
      }
    }
  }
  return { objects, unreadable };
}
