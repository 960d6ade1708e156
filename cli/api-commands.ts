// The external-lookup API from the command line: `netbranch arp`, `nat`, `tables`, `get`, `set`, `rm`,
// `log`, `watch`, each a client of a running router's (or simulation's) API socket (api/client.ts).
// Human output by default, `--json` for scripts. A server error prints `netbranch: CODE: message`
// and exits 1; no socket to connect to exits 1 with a hint; bad flags exit 2.
import type { Command } from 'commander';
import { ApiError, connect, ConnectError, defaultApiSocket, parseWhere, type Client, type ConnectOptions, type Watch, type Where } from '../api/client.js';
import type { ChangeEvent, Entry, HelloResult } from '../api/protocol.js';
import { macToString, parseMac, WireError } from '../wire/index.js';
import { numberFlag, UsageError } from './usage.js';
import { trapStop } from './stop.js';
import { formatArpEntry, formatChange, formatHistoryEntry, formatNatValue, formatTables, isForwarded, outsideAddress } from './api-format.js';
import { formatFields } from './time-format.js';

export interface ApiFlags {
  api?: string;
  token?: string;
  json?: boolean;
  timeout?: string;
}

type ListFlags = ApiFlags & { prefix?: string };
type WatchFlags = ListFlags & { count?: string; seconds?: string };

export function registerApiCommands(program: Command): void {
  tablesCommand(program);
  arpCommand(program);
  natCommand(program);
  getCommand(program);
  setCommand(program);
  rmCommand(program);
  logCommand(program);
  watchCommand(program);
}

function tablesCommand(program: Command): void {
  apiCommand(program, 'tables', "the tables the API serves (hello's answer): name, whether it takes writes, a key's form",
    ['netbranch tables', 'netbranch tables --api tcp:127.0.0.1:7070 --token "$TOKEN" --json'])
    .action((opts: ApiFlags) => withClient(opts, async (c) => {
      const hello = await c.hello();
      if (opts.json) return out(JSON.stringify(hello));
      out(formatTables(hello.tables));
      out(`(${hello.server} ${hello.role}, protocol ${hello.protocol}; this connection's scopes: ${hello.scopes.length ? hello.scopes.join(' ') : 'none'})`);
    }));
}

function arpCommand(program: Command): void {
  apiCommand(program, 'arp', 'the ARP table, like `ip neigh`: address, MAC, dynamic (and when it expires) or static; then a count',
    ['netbranch arp', 'netbranch arp --prefix 10.201.0. --json'])
    .option('--prefix <p>', 'only addresses starting with this, e.g. 10.201.0.')
    .action((opts: ListFlags) => withClient(opts, async (c) => {
      const now = await tablesNow(c);
      const n = await listTable(c, 'arp', opts, (e) => formatArpEntry(e.key, e.value, now));
      if (!opts.json) out(counted(n, 'entry', 'entries'));
    }));
}

function natCommand(program: Command): void {
  apiCommand(program, 'nat', 'the NAT flows, like `conntrack -L`: protocol and its number, seconds left, TCP state, both directions with counters, [UNREPLIED]/[ASSURED]; then a count',
    ['netbranch nat', 'netbranch nat --prefix tcp:10.201.0.2:'])
    .option('--prefix <p>', 'only flow keys starting with this, e.g. udp: or tcp:10.201.0.2:')
    .addHelpText('after', `
The reply direction's dst= is the router's outside address, as hello reports it; a server that does not
report it (or an outside address still waiting for its DHCP lease) leaves that dst= out. The last line
counts the flows ("0 flows" for an empty table). --json prints {table, entries} with the raw rows.
`)
    .action((opts: ListFlags) => withClient(opts, async (c) => {
      const hello = await c.hello();
      const now = helloNow(hello);
      const outsideIp = outsideAddress(hello);
      const rules = opts.json ? new Map<string, unknown>() : await forwardRules(c);
      const n = await listTable(c, 'nat', opts, (e) => formatNatValue(e.value, now, { forwarded: isForwarded(e.value, rules), outsideIp }));
      if (!opts.json) out(counted(n, 'flow', 'flows'));
    }));
}

/** `0 flows`, `1 flow`, `3 flows`. */
function counted(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function getCommand(program: Command): void {
  apiCommand(program, 'get', 'one entry, a field a line (times relative: `expires: in 41s`); --json for the raw answer',
    ['netbranch get arp 10.201.0.2', 'netbranch get nat udp:10.201.0.2:40000:10.202.0.2:53 --json'])
    .argument('<table>', 'arp, nat, dnat (netbranch tables lists them)')
    .argument('<key>', 'the key as shown: 10.201.0.2, udp:10.201.0.2:40000:10.202.0.2:53, tcp:8080')
    .action((table: string, key: string, opts: ApiFlags) => withClient(opts, async (c) => {
      const r = await c.get(table, key);
      out(opts.json ? JSON.stringify(r) : formatFields(r.value, await tablesNow(c)).join('\n'));
    }));
}

function setCommand(program: Command): void {
  apiCommand(program, 'set', 'set an entry (needs the write scope): VALUE is JSON; for arp a bare MAC means a static entry',
    ['netbranch set arp 10.201.0.9 02:00:00:00:00:09',
      `netbranch set dnat tcp:8080 '{"proto":"tcp","port":8080,"insideIp":"10.201.0.2","insidePort":80,"created":0}'`])
    .argument('<table>', 'a writable table: arp, dnat')
    .argument('<key>', 'the key as shown: 10.201.0.9, tcp:8080')
    .argument('<value>', 'the value as JSON, or for arp just the MAC ({mac, expires: 0, kind: "static"})')
    .action((table: string, key: string, text: string, opts: ApiFlags) => {
      const value = parseValue(table, text);
      return withClient(opts, async (c) => {
        const r = await c.set(table, key, value);
        out(opts.json ? JSON.stringify(r) : `set ${r.table} ${r.key} = ${JSON.stringify(r.value)}`);
      });
    });
}

function rmCommand(program: Command): void {
  apiCommand(program, 'rm', 'remove an entry (needs the write scope); removing one that is not there is not an error',
    ['netbranch rm arp 10.201.0.9', 'netbranch rm nat udp:10.201.0.2:40000:10.202.0.2:53'])
    .argument('<table>', 'arp, nat, dnat')
    .argument('<key>', 'the key as shown')
    .action((table: string, key: string, opts: ApiFlags) => withClient(opts, async (c) => {
      const r = await c.delete(table, key);
      if (opts.json) return out(JSON.stringify(r));
      out(r.existed ? `removed ${r.table} ${r.key}` : `${r.table} ${r.key}: no such entry, nothing removed`);
    }));
}

function logCommand(program: Command): void {
  apiCommand(program, 'log', "an entry's history, newest first: `#seq 3m 5s ago author: message`, then the value after it",
    ['netbranch log arp 10.201.0.2', 'netbranch log dnat tcp:8080 --limit 5 --json'])
    .argument('<table>', 'arp, nat, dnat')
    .argument('<key>', 'the key as shown')
    .option('--limit <n>', 'at most this many changes')
    .action((table: string, key: string, opts: ApiFlags & { limit?: string }) => {
      const limit = opts.limit === undefined ? undefined : numberFlag('--limit', opts.limit, 1, 100_000, true);
      return withClient(opts, async (c) => {
        const r = await c.history(table, key, limit);
        if (opts.json) return out(JSON.stringify(r));
        const now = await tablesNow(c);
        const lines = r.entries.flatMap((e) => formatHistoryEntry(e, now));
        if (!r.entries.length) lines.push(`no changes recorded for ${r.table} ${r.key}`);
        if (!r.complete) lines.push('(older changes were released from the log)');
        out(lines.join('\n'));
      });
    });
}

function watchCommand(program: Command): void {
  apiCommand(program, 'watch', 'print one line per change to a table until Ctrl-C (or --count changes, or --seconds)',
    ['netbranch watch arp', 'netbranch watch nat --prefix tcp: --count 10 --json'])
    .argument('<table>', 'arp, nat, dnat')
    .option('--prefix <p>', 'only keys starting with this')
    .option('--count <n>', 'stop after this many changes')
    .option('--seconds <s>', 'stop after this many seconds')
    .action((table: string, opts: WatchFlags) => {
      const bounds = streamBounds(opts);
      return withClient(opts, async (c) => {
        const now = opts.json ? Date.now : await tablesClock(c);
        const w = await c.watch(table, { prefix: opts.prefix });
        await followWatch(w, bounds, (ev) => {
          out(opts.json ? JSON.stringify({ table: ev.table, key: ev.key, value: ev.value }) : formatChange(ev.table, ev.key, ev.value, now()));
          return true;
        });
      });
    });
}

/** How long a stream runs: `--count` printed lines, `--seconds`; both unbounded when not given. */
export interface StreamBounds { count: number; seconds: number | undefined }

/** `--count N` and `--seconds S` (usage errors when out of range). */
export function streamBounds(opts: { count?: string; seconds?: string }): StreamBounds {
  return {
    count: opts.count === undefined ? Infinity : numberFlag('--count', opts.count, 1, 1e12, true),
    seconds: opts.seconds === undefined ? undefined : numberFlag('--seconds', opts.seconds, 0.001, 1e7),
  };
}

/**
 * Hands each change of `w` to `handle` (true: it printed one, which counts towards `--count`) until the
 * bounds, Ctrl-C, SIGTERM or a closed stdout; the server ending the watch exits 1. `prepare` runs first,
 * with the stop already armed, while changes queue up (the events command lists the table there).
 */
export async function followWatch(w: Watch, bounds: StreamBounds, handle: (ev: ChangeEvent) => boolean, prepare?: () => Promise<void>): Promise<void> {
  const stop = () => { void w.close(); };
  const timer = bounds.seconds === undefined ? undefined : setTimeout(stop, bounds.seconds * 1000);
  const trap = trapStop({ onStdoutClosed: true }); // Ctrl-C, SIGTERM, or `watch … | head` having read enough
  void trap.requested.then(stop);
  let seen = 0;
  try {
    await prepare?.();
    for await (const ev of w) {
      if (handle(ev) && ++seen >= bounds.count) break;
    }
  } finally {
    clearTimeout(timer);
    trap.dispose();
    await w.close();
  }
  // Ended by the server (shutdown, a lost replica), not by a bound or Ctrl-C: worth a non-zero status.
  if (w.endReason !== undefined) {
    apiOutput.err(`netbranch: the server ended the watch: ${w.endReason}\n`);
    process.exitCode = 1;
  }
}

/** A command with the flags every API command has, and an example in its --help. */
export function apiCommand(program: Command, name: string, description: string, examples: string[]): Command {
  return program
    .command(name)
    .description(description)
    .option('--api <where>', `the API: unix:PATH or tcp:HOST:PORT (default: $NETBRANCH_API, else ${defaultApiSocket()})`)
    .option('--token <token>', 'authenticate with this token (default: $NETBRANCH_TOKEN); TCP needs one')
    .option('--json', 'machine-readable output: one JSON document (JSON lines for watch and events)')
    .option('--timeout <ms>', 'ms to wait for each answer', '10000')
    .addHelpText('after', `\nExample${examples.length > 1 ? 's' : ''}:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`);
}

/** The address from --api, NETBRANCH_API, or the default socket; a malformed one is a usage error. */
export function resolveApi(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Where {
  const [source, text] = flag !== undefined ? ['--api', flag] : env.NETBRANCH_API ? ['NETBRANCH_API', env.NETBRANCH_API] : ['', defaultApiSocket(env)];
  try {
    return parseWhere(text);
  } catch (err) {
    throw new UsageError(`${source || 'the default API socket'}: ${(err as Error).message}`);
  }
}

/** Connects, runs `fn`, closes; API and connection errors become one line on stderr and exit status 1. */
export async function withClient(opts: ApiFlags, fn: (c: Client) => Promise<void>, extra: Pick<ConnectOptions, 'watchBuffer'> = {}): Promise<void> {
  const where = resolveApi(opts.api);
  const timeoutMs = numberFlag('--timeout', opts.timeout ?? '10000', 1, 3_600_000);
  const token = opts.token ?? (process.env.NETBRANCH_TOKEN || undefined);
  let client: Client | undefined;
  try {
    client = await connect(where, { token, timeoutMs, ...extra });
    await fn(client);
  } catch (err) {
    if (err instanceof ConnectError) {
      apiOutput.err(`netbranch: ${cannotConnect(err)}\n`);
    } else if (err instanceof ApiError) {
      apiOutput.err(`netbranch: ${err.code}: ${err.message}\n`);
    } else {
      throw err;
    }
    process.exitCode = 1;
  } finally {
    await client?.close();
  }
}

/** One line: which socket, why, and what to do about it. */
export function cannotConnect(err: ConnectError): string {
  const why: Record<string, string> = {
    ENOENT: 'no such socket',
    ECONNREFUSED: 'nothing is listening there',
    EACCES: 'permission denied',
    ETIMEDOUT: 'timed out',
    ENOTSOCK: 'not a socket',
  };
  const reason = (err.errno && why[err.errno]) ?? err.cause.message;
  return `cannot connect to the API at ${err.where} (${reason}); is the router running with --api ${err.where}? `
    + 'Name another socket with --api unix:PATH or tcp:HOST:PORT, or set NETBRANCH_API';
}

/** The tables' clock now (hello's `now`: simulated time in a sim), else this machine's. */
export async function tablesNow(c: Client): Promise<number> {
  return helloNow(await c.hello());
}

/** Hello's `now`, or this machine's clock from a server that does not say. */
function helloNow(hello: HelloResult): number {
  return typeof hello.now === 'number' ? hello.now : Date.now();
}

/** The tables' clock for a command that runs on (watch, events): hello's `now`, moved on by this machine's clock since. */
export async function tablesClock(c: Client): Promise<() => number> {
  const offset = helloNow(await c.hello()) - Date.now();
  return () => Date.now() + offset;
}

/** The port-forward rules (by key, `tcp:8080`), to print forwarded flows as conntrack prints DNAT; none if unreadable. */
export async function forwardRules(c: Client): Promise<Map<string, unknown>> {
  const rules = new Map<string, unknown>();
  if (!c.server?.tables.some((t) => t.name === 'dnat')) return rules;
  try {
    for await (const e of c.listAll('dnat')) rules.set(e.key, e.value);
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'forbidden') throw err;
  }
  return rules;
}

/** Prints the entries (--json: one `{table, entries}` document); resolves to how many there were. */
async function listTable(c: Client, table: string, opts: ListFlags, line: (e: Entry) => string): Promise<number> {
  if (opts.json) {
    const entries: Entry[] = [];
    for await (const e of c.listAll(table, { prefix: opts.prefix })) entries.push(e);
    out(JSON.stringify({ table, entries }));
    return entries.length;
  }
  // Page by page, so a big table starts printing at once.
  let lines: string[] = [];
  let n = 0;
  for await (const e of c.listAll(table, { prefix: opts.prefix })) {
    lines.push(line(e));
    n++;
    if (lines.length >= 1000) { out(lines.join('\n')); lines = []; }
  }
  if (lines.length) out(lines.join('\n'));
  return n;
}

/** Where the commands write (tests swap these to run the CLI in-process). */
export const apiOutput = {
  out: (text: string): void => { process.stdout.write(text); },
  err: (text: string): void => { process.stderr.write(text); },
};

export function out(text: string): void {
  apiOutput.out(text + '\n');
}

/** VALUE of `set`: JSON, or for arp a bare MAC (a static entry). */
export function parseValue(table: string, text: string): unknown {
  const mac = table === 'arp' ? staticMac(text) : undefined;
  if (mac !== undefined) return { mac, expires: 0, kind: 'static' };
  try {
    return JSON.parse(text);
  } catch {
    const hint = table === 'arp' ? ", or a MAC like 02:00:00:00:00:09 for a static entry" : '';
    throw new UsageError(`VALUE must be JSON${hint}, got '${text}'`);
  }
}

/** A bare MAC (wire's parser), written as the arp table shows one; undefined when the text is none. */
function staticMac(text: string): string | undefined {
  try {
    return macToString(parseMac(text));
  } catch (err) {
    if (err instanceof WireError) return undefined;
    throw err;
  }
}
