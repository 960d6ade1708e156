// `netbranch edits --store git:DIR`: the files rejected from edits pushed to a git store, newest
// first, with the reason and the edit commit each came from. Reads the repository's `rejected`
// branch directly: no lock and no running process needed, and safe beside the router writing it.
// The branch keeps the newest --git-history merges that rejected something (docs/git-store.md).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { listRejected, type RejectedEntry } from '../store/git/index.js';
import { numberFlag, storeFlag, UsageError } from './usage.js';

export function registerEdits(program: Command): void {
  program
    .command('edits')
    .description("the files rejected from edits pushed to a git store, newest first: path, reason, the edit commit they came from (read from the repository's `rejected` branch, which keeps the newest --git-history merges that rejected something)")
    .requiredOption('--store <git:DIR>', 'the repository, as given to the router (sim and demo: git:DIR/node<i>)')
    .option('--json', 'one JSON array: {path, reason, edit, author, subject, merge, commit, time, kept} per file')
    .option('--limit <n>', 'read at most the newest N merges that rejected something', '1000')
    .addHelpText('after', [
      '',
      'Examples:',
      '  $ netbranch edits --store git:/var/lib/netbranch',
      '  $ netbranch edits --store git:/tmp/nb/node0 --json',
      '  $ git -C /var/lib/netbranch show rejected:REJECTED.txt     # the last rejection, as git sees it',
      '',
    ].join('\n'))
    .action(async (opts: { store: string; json?: boolean; limit: string }) => {
      if (!String(opts.store).startsWith('git:')) throw new UsageError(`--store must be git:DIR (edits live in a git store), got '${opts.store}'`);
      const dir = storeFlag(opts.store, false).git!;
      const limit = numberFlag('--limit', opts.limit, 1, 10_000_000, true);
      let list: RejectedEntry[];
      try {
        list = await listRejected(dir, limit);
      } catch (err) {
        const hint = existsSync(join(dir, 'node0')) ? ` (sim and demo keep one per node: git:${join(dir, 'node0')})` : '';
        throw new UsageError(`--store git:${dir}: ${(err as Error).message}${hint}`);
      }
      if (opts.json) return out(JSON.stringify(list));
      if (list.length === 0) return out(`no rejected edit files in ${dir}`);
      for (const e of list) out(formatRejected(e, dir));
    });
}

export function formatRejected(e: RejectedEntry, dir: string): string {
  const shown = e.kept ? `; as pushed: git -C ${dir} show ${e.commit.slice(0, 12)}:${e.path}` : '';
  return `${e.path}: ${e.reason}\n  from edit ${e.edit.slice(0, 12)} (${e.author}: ${e.subject}), rejected ${new Date(e.time).toISOString()}${shown}`;
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}
