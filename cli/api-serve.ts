// The flags that make a command serve the external-lookup API (router and sim alike), checked at
// start: a bad address or tokens file is a usage error (exit 2) naming the flag.
import type { Command } from 'commander';
import { defaultApiSocket } from '../api/client.js';
import { loadTokens } from '../api/server/tokens.js';
import { isLoopback } from '../api/server/lookup-server.js';
import { firstListenerProblem } from '../api/server/listeners.js';
import type { LookupInit } from '../api/server/listeners.js';
import { UsageError } from './usage.js';

export function addApiOptions(cmd: Command): Command {
  return cmd
    .option('--api [where]', `serve the external-lookup API on a Unix socket (mode 0600): unix:PATH, or no value for ${defaultApiSocket()}`)
    .option('--api-tcp <host:port>', 'also serve it on loopback TCP (every request needs a token: --tokens)')
    .option('--http <host:port>', 'the web page, /metrics and a read-only JSON view of the tables on loopback HTTP (data needs Authorization: Bearer TOKEN; needs --tokens)')
    .option('--tokens <file>', 'API tokens and their scopes: {"tokens": [{"name", "token", "scopes": ["read:*", "write:arp", "admin"]}]}');
}

function hostPort(flag: string, v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${flag} must be HOST:PORT on loopback, e.g. 127.0.0.1:7070, got '${v}'`);
  const host = m[1] ?? m[2];
  if (!isLoopback(host)) throw new UsageError(`${flag}: ${host} is not a loopback address; the API is served on loopback only`);
  return { host, port };
}

/** A tokens file's warning, one line on stderr. */
function warnLine(msg: string): void {
  process.stderr.write(`netbranch: warning: ${msg}\n`);
}

/** The lookup actor's settings from the flags, or undefined when no API is asked for. */
export function parseApiOptions(opts: Record<string, unknown>, tables: readonly string[], role: string, warn: (msg: string) => void = warnLine): LookupInit | undefined {
  const api = opts.api as string | boolean | undefined;
  const tcpFlag = opts.apiTcp as string | undefined;
  const httpFlag = opts.http as string | undefined;
  const tokensFile = opts.tokens as string | undefined;
  if (api === undefined && tcpFlag === undefined && httpFlag === undefined) {
    if (tokensFile !== undefined) throw new UsageError('--tokens needs --api, --api-tcp or --http');
    return undefined;
  }
  let unix: string | undefined;
  if (api === true) unix = defaultApiSocket();
  else if (typeof api === 'string') {
    if (api.startsWith('tcp:')) throw new UsageError('--api takes a Unix socket (unix:PATH); use --api-tcp HOST:PORT for TCP');
    unix = api.startsWith('unix:') ? api.slice(5) : api;
    if (!unix.startsWith('/')) throw new UsageError(`--api needs an absolute socket path, got '${api}'`);
  }
  const tcp = tcpFlag === undefined ? undefined : hostPort('--api-tcp', tcpFlag);
  const http = httpFlag === undefined ? undefined : hostPort('--http', httpFlag);
  if ((tcp || http) && tokensFile === undefined) throw new UsageError(`${tcp ? '--api-tcp' : '--http'} needs --tokens FILE: every request over TCP must carry a token`);
  let tokens: LookupInit['tokens'] = [];
  if (tokensFile !== undefined) {
    try {
      const t = loadTokens(tokensFile, tables);
      tokens = t.tokens;
      for (const w of t.warnings) warn(w);
    } catch (err) {
      throw new UsageError(`--tokens: ${(err as Error).message}`);
    }
  }
  return { unix, tcp, http, tokens, role };
}

/** Before anything starts: a listener that cannot start (a live server on the socket, a taken port) is one line and exit 2. */
export async function checkApiListeners(api: LookupInit | undefined): Promise<void> {
  const problem = api ? await firstListenerProblem(api) : undefined;
  if (problem !== undefined) throw new UsageError(problem);
}
