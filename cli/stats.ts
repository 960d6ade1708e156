// `netbranch stats`: the `stats` op's answer as a table (cli/stats-format.ts, the lines the router's SIGUSR1
// prints too): tables, actors' frames and merges, NAT inserts and drops, merge times, git, the API server.
// `--json` prints the raw answer. A server with no stack behind it (a test fixture) has only its own counters.
import type { Command } from 'commander';
import type { StatsResult } from '../api/protocol.js';
import { apiCommand, out, withClient, type ApiFlags } from './api-commands.js';
import { formatServerStats, formatStats } from './stats-format.js';

export function registerStats(program: Command): void {
  apiCommand(program, 'stats', "the stack's counters as a table: tables (entries, limit), actors (frames in/out/dropped, merges, restarts), NAT inserts and drops by reason, merge times, git, API requests",
    ['netbranch stats', 'netbranch stats --api tcp:127.0.0.1:7070 --token "$TOKEN" --json'])
    .action((opts: ApiFlags) => withClient(opts, async (c) => {
      const r = await c.stats();
      if (opts.json) return out(JSON.stringify(r));
      out(statsLines(r).join('\n'));
    }));
}

/** The report's table, or, with no stack behind the server, its own counters and a line saying so. */
export function statsLines(r: StatsResult): string[] {
  const { stack, ...rest } = r;
  // An older server answers its counters alone, without the per-op and per-code maps.
  const server = { ...rest, requestsByOp: rest.requestsByOp ?? {}, errorsByCode: rest.errorsByCode ?? {} };
  if (stack !== undefined) return formatStats(stack, server);
  return [...formatServerStats(server), 'stack report: absent (this server has no stack behind it: only its own counters are shown)'];
}
