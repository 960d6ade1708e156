// `netbranch tcp`: the `tcp` table of a running process through the external-lookup API, like `ss -tan`
// (one line per connection, actors/tcp/tcp-format.ts), with the flags, errors and --json of the other
// API commands (cli/api-commands.ts).
import type { Command } from 'commander';
import type { Client } from '../api/client.js';
import type { Entry } from '../api/protocol.js';
import { CodecError } from '../store/index.js';
import { tcpTable, TCP_STATES, type TcpState } from '../actors/tcp/tcp-table.js';
import { formatTcpLine, ssState, tcpStateNamed, TCP_HEADER } from '../actors/tcp/tcp-format.js';
import { apiCommand, apiOutput, tablesNow, withClient, type ApiFlags } from './api-commands.js';
import { UsageError } from './usage.js';

type TcpFlags = ApiFlags & { state?: string; prefix?: string };

export function registerTcp(program: Command): void {
  apiCommand(program, 'tcp', 'the TCP connections, like `ss -tan`: state, bytes unacknowledged, both ends, timer and sequence numbers',
    ['netbranch tcp', 'netbranch tcp --state established,time-wait', 'netbranch tcp --prefix 10.0.0.1:80- --json'])
    .option('--state <s>', `only these states, comma-separated: ${TCP_STATES.join(', ')} (or as ss names them: ${TCP_STATES.map(ssState).join(', ')})`)
    .option('--prefix <p>', 'only connection keys starting with this, e.g. 10.0.0.1:80- (local address and port)')
    .action((opts: TcpFlags) => {
      const states = opts.state === undefined ? undefined : parseStates(opts.state);
      return withClient(opts, (c) => listConnections(c, opts, states));
    });
}

/** `--state established,TIME-WAIT` as table states; an unknown name is a usage error naming the valid ones. */
export function parseStates(text: string): Set<TcpState> {
  const out = new Set<TcpState>();
  for (const name of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const s = tcpStateNamed(name);
    if (!s) throw new UsageError(`--state: no TCP state '${name}' (states: ${TCP_STATES.join(', ')})`);
    out.add(s);
  }
  if (!out.size) throw new UsageError('--state: name at least one state, e.g. --state established');
  return out;
}

/** The header, then a line per connection in the chosen states, page by page; --json: `{table, entries}`. */
async function listConnections(c: Client, opts: TcpFlags, states: Set<TcpState> | undefined): Promise<void> {
  const now = opts.json ? 0 : await tablesNow(c);
  const entries: Entry[] = [];
  let lines = opts.json ? [] : [TCP_HEADER];
  for await (const e of c.listAll('tcp', { prefix: opts.prefix })) {
    const state = (e.value as { state?: unknown } | null)?.state;
    if (states && !states.has(state as TcpState)) continue;
    if (opts.json) { entries.push(e); continue; }
    lines.push(lineOf(e, now));
    if (lines.length >= 1000) { out(lines.join('\n')); lines = []; }
  }
  if (opts.json) return out(JSON.stringify({ table: 'tcp', entries }));
  if (lines.length) out(lines.join('\n'));
}

/** One connection's line; a value the table's codec refuses is shown as it came. */
function lineOf(e: Entry, now: number): string {
  try {
    return formatTcpLine(e.key, tcpTable.value.decode(e.value, `tcp/${e.key}`), now);
  } catch (err) {
    if (err instanceof CodecError) return `${e.key} ${JSON.stringify(e.value)}`;
    throw err;
  }
}

function out(text: string): void {
  apiOutput.out(text + '\n');
}
