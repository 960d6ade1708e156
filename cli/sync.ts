// `netbranch sync`: a router with --peer syncs with its peers now (push, fetch, merge; docs/ha.md) instead of
// at the next interval, and says what it merged; a failed step is one line and exit 1.
import type { Command } from 'commander';
import type { SyncResult } from '../api/protocol.js';
import { apiCommand, out, withClient, type ApiFlags } from './api-commands.js';

export function registerSync(program: Command): void {
  apiCommand(program, 'sync', "a router with --peer: push its tables to the git server and merge its peers' now, not at the next --sync-interval (needs admin)",
    ['netbranch sync --api unix:/run/netbranch/api.sock', 'netbranch sync --api tcp:127.0.0.1:7070 --token "$TOKEN" --json'])
    .action((opts: ApiFlags) => withClient(opts, async (c) => {
      const r = await c.sync();
      if (opts.json) out(JSON.stringify(r));
      else out(syncLines(r).join('\n'));
      if (r.failed) process.exitCode = 1;
    }));
}

export function syncLines(r: SyncResult): string[] {
  const lines = r.merged.map((m) => `merged peer ${m.peer} ${m.head.slice(0, 12)}: ${m.applied} entries applied, ${m.rejected} files rejected, ${m.conflicts} conflicts settled by rule`);
  if (r.failed) lines.push(`sync failed at ${r.failed.step} (${r.failed.reason}): ${r.failed.message}`);
  else if (!r.merged.length) lines.push('synced: pushed, and no peer had anything new');
  else lines.push('synced');
  return lines;
}
