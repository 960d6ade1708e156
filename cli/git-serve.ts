// `netbranch git-serve`: the git server a failover pair shares its tables through (docs/ha.md). Every
// bare repository under --root is served over git's smart HTTP by git's own http-backend
// (store/git/git-http-backend.ts); --init makes the pair's repository the way the routers need it.
// Each request is one log line, so a sync that stops shows on this side too.
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { HTTP_BACKEND, initBareRepo, startGitHttpServer, type GitHttpRequestRecord } from '../store/git/git-http-backend.js';
import { listenProblem } from '../api/server/listeners.js';
import { addLogOptions, logOptions, stderrLogger } from './log.js';
import { ServiceNotifier } from './sd-notify.js';
import { trapStop } from './stop.js';
import { UsageError } from './usage.js';

export const DEFAULT_LISTEN = '127.0.0.1:8418';

interface GitServeConfig {
  root: string;
  host: string;
  port: number;
  init: string[];
}

export function registerGitServe(program: Command): void {
  addLogOptions(program
    .command('git-serve')
    .description("serve the bare git repositories under a directory over git's smart HTTP (git http-backend), for routers sharing their tables with --peer (docs/ha.md)")
    .option('--root <dir>', 'serve every bare repository under DIR: DIR/NAME.git is http://HOST:PORT/NAME.git (required)')
    .option('--listen <host:port>', `where to listen (no authentication: a trusted network, or loopback behind a TLS proxy)`, DEFAULT_LISTEN)
    .option('--init <name>', 'create DIR/NAME.git if missing: bare, pushes allowed, every pushed object checked (receive.fsckObjects); repeatable', (v: string, all: string[]) => [...all, v], [] as string[]))
    .action(runGitServe);
}

/** HOST:PORT (IPv6 in brackets); any address: the routers of a pair are usually on other machines. */
function listenFlag(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen must be HOST:PORT, e.g. ${DEFAULT_LISTEN}, got '${v}'`);
  return { host: m[1] ?? m[2], port };
}

/** A repository's name as --init takes it: one path component, `.git` added when missing. */
function repoName(v: string): string {
  const name = v.endsWith('.git') ? v : `${v}.git`;
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*\.git$/.test(name) || name.includes('..')) throw new UsageError(`--init must be a repository name (letters, digits, '.', '_', '-'), got '${v}'`);
  return name;
}

function checkedConfig(opts: Record<string, unknown>): GitServeConfig {
  if (opts.root === undefined) throw new UsageError('--root DIR is required: the directory whose bare repositories are served');
  const root = resolve(String(opts.root));
  let isDir = false;
  try { isDir = statSync(root).isDirectory(); } catch { throw new UsageError(`--root ${root}: no such directory`); }
  if (!isDir) throw new UsageError(`--root ${root}: not a directory`);
  try { accessSync(HTTP_BACKEND, constants.X_OK); } catch { throw new UsageError(`${HTTP_BACKEND} is missing: install git (Debian package git)`); }
  return { root, ...listenFlag(String(opts.listen ?? DEFAULT_LISTEN)), init: (opts.init as string[] ?? []).map(repoName) };
}

/** The bare repositories directly under the root (a directory with HEAD and objects/). */
function servedRepos(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && readdirSync(resolve(root, d.name)).includes('HEAD'))
    .map((d) => d.name)
    .sort();
}

/** One line a request; refusals louder (a 5xx is the server's fault, a 4xx usually a client's). */
function logRequest(log: Logger, r: GitHttpRequestRecord): void {
  const line = { method: r.method, path: r.path, status: r.status, ms: r.ms, bytesIn: r.bytesIn, bytesOut: r.bytesOut, remote: r.remote, ...(r.backend ? { backend: r.backend } : {}) };
  const msg = `${r.method} ${r.path} ${r.status}`;
  if (r.status >= 500) log.error(line, msg);
  else if (r.status >= 400) log.warn(line, msg);
  else log.info(line, msg);
}

async function runGitServe(opts: Record<string, unknown>): Promise<void> {
  const c = checkedConfig(opts);
  const log = stderrLogger('git-serve', logOptions(opts));
  for (const name of c.init) {
    try { initBareRepo(c.root, name); } catch (err) { throw new UsageError(`--init ${name}: ${(err as Error).message.split('\n')[0]}`); }
  }
  const stop = trapStop();
  let server;
  try {
    server = await startGitHttpServer({ root: c.root, host: c.host, port: c.port, onRequest: (r) => logRequest(log, r) });
  } catch (err) {
    stop.dispose();
    throw new UsageError(`--listen ${c.host}:${c.port}: ${listenProblem(err)}`);
  }
  const repos = servedRepos(c.root);
  if (repos.length === 0) log.warn({ root: c.root }, 'no bare repositories under the root yet (make one with --init NAME)');
  log.info({ url: server.url, root: c.root, repos }, 'serving');
  process.stdout.write(JSON.stringify({ event: 'ready', url: server.url, root: c.root, repos }) + '\n');
  const notify = ServiceNotifier.fromEnv((msg) => log.warn(msg));
  notify.ready(`serving ${repos.length} repositories on ${server.url}`);
  const reason = await stop.requested;
  notify.stopping(`stopping (${reason})`);
  log.info({ signal: reason, requests: server.counts.requests, backendErrors: server.counts.backendErrors }, 'stopping');
  await server.stop();
  stop.dispose();
}
