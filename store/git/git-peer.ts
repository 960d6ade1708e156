// What a peer router changed, as changes for Branch.mergeWithAncestors: the files its fetched head
// changed since the merge base with our branch, each with the entry at that base as the ancestor.
// With no common history every ancestor is absent, and the tables' own merge rules decide. A file
// that does not parse is rejected on its own, with its path and reason; the rest still merge.
import { CodecError } from '../errors.js';
import type { Schema, Table } from '../table.js';
import { parseEntry, parseEntryPath } from './git-layout.js';
import { GitRepo, type EditFile, type PeerDiff, type RefusedFile, type VirtualBase } from './git-repo.js';

export type { PeerDiff };

export type PeerChange = [table: number, key: string | number, theirs: unknown, ancestor: unknown];

/** The files `peerHead` changed since its merge base with `ourHead` (null: we have no commit yet), read without opening the repository. */
export async function readPeer(dir: string, peerHead: string, ourHead: string | null, maxFileBytes?: number): Promise<PeerDiff | null> {
  return new GitRepo(dir, { readOnly: true, maxFileBytes }).readPeer(peerHead, ourHead);
}

/** The diff's files (a peer's, or an edit's) as merge changes; a file naming no entry, or not parsing, is rejected with why. */
export function peerChanges(schema: Schema, diff: { files: EditFile[]; refused: RefusedFile[] }): { changes: PeerChange[]; rejected: { path: string; reason: string }[] } {
  const rejected = diff.refused.map((r) => ({ path: r.path, reason: r.reason }));
  const changes: PeerChange[] = [];
  const seen = new Set<string>();
  for (const f of diff.files) {
    try {
      const { table, key } = parseEntryPath(schema, f.path);
      const def = schema.tables[table];
      const seenKey = `${table}\0${String(key)}`;
      if (seen.has(seenKey)) throw new Error('two files name this entry');
      seen.add(seenKey);
      const theirs = f.text === null ? undefined : parseEntry(def, f.text, f.path);
      const ancestor = f.bases ? virtualAncestor(def, f.path, f.bases) : baseEntry(def, f.baseText, f.path);
      changes.push([table, key, theirs, ancestor]);
    } catch (err) {
      const reason = err instanceof CodecError ? `${err.reason}${err.path !== f.path ? ` (at ${err.path})` : ''}` : (err as Error).message;
      rejected.push({ path: f.path, reason: reason.replace(/\s*\n\s*/g, ' ') });
    }
  }
  return { changes, rejected };
}

/** An entry as it was at a base; a file that was itself bad there counts as absent (the entry as new). */
function baseEntry(def: Table, text: string | null, path: string): unknown {
  try {
    return text === null ? undefined : parseEntry(def, text, path);
  } catch {
    return undefined;
  }
}

/** Several merge bases: the entry at each, merged by the table's rules over their own (virtual) merge base: git's recursive strategy, per entry. */
function virtualAncestor(def: Table, path: string, bases: VirtualBase | string | null): unknown {
  if (bases === null || typeof bases === 'string') return baseEntry(def, bases, path);
  const root = virtualAncestor(def, path, bases.root);
  const at = bases.texts.map((t) => baseEntry(def, t, path));
  return at.slice(1).reduce((v, b) => def.mergeSettled(() => root, v, b, () => {}), at[0]);
}
