// `netbranch leases`: the DHCP server's `leases` table of a running router through the external-lookup API,
// one line per lease in the shape of dnsmasq's lease file (actors/dhcp/lease-file.ts), with the flags, errors
// and --json of the other API commands (cli/api-commands.ts).
import type { Command } from 'commander';
import type { Client } from '../api/client.js';
import type { Entry } from '../api/protocol.js';
import { CodecError } from '../store/index.js';
import { leasesTable, LEASE_STATES, type LeaseState } from '../actors/dhcp/lease-table.js';
import { formatLeaseLine } from '../actors/dhcp/lease-file.js';
import { apiCommand, apiOutput, withClient, type ApiFlags } from './api-commands.js';
import { UsageError } from './usage.js';

type LeasesFlags = ApiFlags & { state: string; prefix?: string };

export function registerLeases(program: Command): void {
  apiCommand(program, 'leases', "the DHCP server's leases, one line each as dnsmasq's lease file has them: expiry (epoch s), MAC, address, hostname, client id",
    ['netbranch leases', 'netbranch leases --state offered,bound,declined,reserved', 'netbranch leases --prefix 10.201.0.1 --json'])
    .option('--state <s>', `only these states, comma-separated: ${LEASE_STATES.join(', ')}, or all`, 'bound')
    .option('--prefix <p>', 'only addresses starting with this, e.g. 10.201.0.1')
    .action((opts: LeasesFlags) => {
      const states = parseLeaseStates(opts.state);
      return withClient(opts, (c) => listLeases(c, opts, states));
    });
}

/** `--state offered,bound` (or `all`) as table states; an unknown name is a usage error naming the valid ones. */
export function parseLeaseStates(text: string): Set<LeaseState> {
  const names = text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (names.includes('all')) return new Set(LEASE_STATES);
  const out = new Set<LeaseState>();
  for (const name of names) {
    if (!(LEASE_STATES as readonly string[]).includes(name)) throw new UsageError(`--state: no lease state '${name}' (states: ${LEASE_STATES.join(', ')}, all)`);
    out.add(name as LeaseState);
  }
  if (!out.size) throw new UsageError('--state: name at least one state, e.g. --state bound');
  return out;
}

/** A line per lease in the chosen states, page by page; --json: `{table, entries}`. */
async function listLeases(c: Client, opts: LeasesFlags, states: Set<LeaseState>): Promise<void> {
  const entries: Entry[] = [];
  let lines: string[] = [];
  for await (const e of c.listAll('leases', { prefix: opts.prefix })) {
    const state = (e.value as { state?: unknown } | null)?.state;
    if (!states.has(state as LeaseState)) continue;
    if (opts.json) { entries.push(e); continue; }
    lines.push(lineOf(e));
    if (lines.length >= 1000) { out(lines.join('\n')); lines = []; }
  }
  if (opts.json) return out(JSON.stringify({ table: 'leases', entries }));
  if (lines.length) out(lines.join('\n'));
}

/** One lease's line; a row the table's codec refuses is shown as it came. */
function lineOf(e: Entry): string {
  try {
    return formatLeaseLine(leasesTable.key.decode(e.key), leasesTable.value.decode(e.value, `leases/${e.key}`));
  } catch (err) {
    if (err instanceof CodecError) return `${e.key} ${JSON.stringify(e.value)}`;
    throw err;
  }
}

function out(text: string): void {
  apiOutput.out(text + '\n');
}
