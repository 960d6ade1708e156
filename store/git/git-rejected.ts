// Rejected edit files stay visible: each merge that rejects something adds a commit to the `rejected`
// branch whose tree holds those files as they were pushed, beside a REJECTED.txt saying why. The
// commit message carries the same list in a form read back by `netbranch edits` (listRejected).
// The branch shares no history with `main`, so it never holds cut-off history in place; it is cut to
// its newest commits like `main` (GitRepo.rejectedCut), so `netbranch edits` lists the recent ones.
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { gitDirOf, shallowCommits } from './git-reach.js';

export const REJECTED_BRANCH = 'rejected';
export const REJECTED_NOTE = 'REJECTED.txt';

export interface RejectedFile {
  path: string;
  reason: string;
  /** The file as pushed (a blob) and its mode; null where the edit deleted it or it is no file. */
  oid: string | null;
  mode: string | null;
}

export interface RejectedEdit {
  /** The edit commit the files came from. */
  edit: string;
  author: string;
  subject: string;
  files: RejectedFile[];
}

export interface RejectedEntry {
  path: string;
  reason: string;
  edit: string;
  author: string;
  subject: string;
  /** The merge commit on main that recorded the rejection. */
  merge: string;
  /** The commit on `rejected` holding the file: `git show COMMIT:PATH` prints it as pushed. */
  commit: string;
  /** When it was rejected, ms since the epoch (the stack's clock: simulated time under the sim). */
  time: number;
  /** Whether the file itself is kept in that commit (a deleted file, or one named like the note, is not). */
  kept: boolean;
}

/** The files whose blobs go into the commit's tree (the note's own name is taken by the note). */
export function keptFiles(r: RejectedEdit): RejectedFile[] {
  return r.files.filter((f) => f.oid !== null && f.mode !== null && /^1(00644|00755|20000)$/.test(f.mode) && f.path !== REJECTED_NOTE);
}

export function rejectedMessage(r: RejectedEdit, merge: string): string {
  const n = r.files.length;
  return [
    `Rejected ${n} ${n === 1 ? 'file' : 'files'} from edits ${r.edit.slice(0, 12)} (${r.author}: ${r.subject})`,
    '',
    `Edit: ${r.edit}`,
    `Author: ${r.author}`,
    `Subject: ${r.subject}`,
    `Merge: ${merge}`,
    // The path quoted as JSON: a path may hold ': ' or worse, a reason is one line.
    ...r.files.map((f) => `Rejected: ${JSON.stringify(f.path)}: ${f.reason}`),
  ].join('\n');
}

export function rejectedNote(r: RejectedEdit, merge: string): string {
  const kept = new Set(keptFiles(r).map((f) => f.path));
  return [
    `These files, pushed to edits in ${r.edit} (${r.author}: ${r.subject}),`,
    `were rejected when that edit was merged into main as ${merge}. The rest of the edit applied.`,
    'Fix each file and push it to edits again.',
    '',
    ...r.files.flatMap((f) => [f.path, `  ${f.reason}${kept.has(f.path) ? '' : ' (the file is not kept here)'}`]),
    '',
  ].join('\n');
}

/** Reads `"path": reason` back, where path is a JSON string. */
function parseRejectedLine(text: string): { path: string; reason: string } | null {
  if (!text.startsWith('"')) return null;
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '\\') { i++; continue; }
    if (text[i] !== '"') continue;
    try {
      const path = JSON.parse(text.slice(0, i + 1)) as string;
      return text.startsWith(': ', i + 1) ? { path, reason: text.slice(i + 3) } : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** The rejected files a commit on `rejected` records; none if its message is not one netbranch wrote. */
export function parseRejected(message: string, commit: string, time: number): Omit<RejectedEntry, 'kept'>[] {
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(message)?.[1] ?? '';
  const edit = field('Edit');
  if (!/^[0-9a-f]{40}$/.test(edit)) return [];
  const out: Omit<RejectedEntry, 'kept'>[] = [];
  for (const line of message.split('\n')) {
    if (!line.startsWith('Rejected: ')) continue;
    const f = parseRejectedLine(line.slice('Rejected: '.length));
    if (f) out.push({ ...f, edit, author: field('Author'), subject: field('Subject'), merge: field('Merge'), commit, time });
  }
  return out;
}

/**
 * Every rejected file recorded on the `rejected` branch, newest first, read straight from the
 * repository (no lock: safe beside a running writer, which moves the ref last). At most `limit` commits.
 */
export async function listRejected(dir: string, limit = 1000): Promise<RejectedEntry[]> {
  const gitdir = gitDirOf(dir);
  if (!fs.existsSync(join(gitdir, 'HEAD'))) throw new Error(`${dir} is not a git repository`);
  let oid: string;
  try {
    oid = await git.resolveRef({ fs, gitdir, ref: `refs/heads/${REJECTED_BRANCH}` });
  } catch {
    return [];
  }
  const cache = {};
  const out: RejectedEntry[] = [];
  const shallow = await shallowCommits(gitdir);
  for (let i = 0; i < limit && oid; i++) {
    const { commit } = await git.readCommit({ fs, gitdir, oid, cache });
    for (const e of parseRejected(commit.message, oid, commit.committer.timestamp * 1000)) {
      out.push({ ...e, kept: await git.readBlob({ fs, gitdir, oid, filepath: e.path, cache }).then(() => true, () => false) });
    }
    if (shallow.has(oid)) break;
    oid = commit.parent[0];
  }
  return out;
}
