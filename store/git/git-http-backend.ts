// The git server the routers of a pair share their tables through (issue 17): git's own
// `git http-backend` run as CGI behind a small node http server, so pushes and fetches are git's smart
// HTTP exactly as against a hosted remote. (isomorphic-git speaks smart HTTP only, so `git daemon`'s
// git:// would not do.) `netbranch git-serve` runs it for operators; the tests run it in-process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';

/** Debian's `git` package puts it here. */
export const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

/** One request served, for the log: what was asked, how it ended, how long it took, bytes each way. */
export interface GitHttpRequestRecord {
  method: string;
  path: string;
  status: number;
  ms: number;
  bytesIn: number;
  bytesOut: number;
  remote: string;
  /** The backend's stderr (why it refused), trimmed; empty when it said nothing. */
  backend: string;
}

export interface GitHttpServerOptions {
  /** Every bare repository under it is served: `${url}/NAME.git`. */
  root: string;
  host?: string;
  /** 0: the kernel picks one. */
  port?: number;
  /** Told of every request once its response has ended. */
  onRequest?: (r: GitHttpRequestRecord) => void;
}

export interface GitHttpServer {
  /** http://HOST:PORT: a repository `name.git` under the root is at `${url}/name.git`. */
  readonly url: string;
  readonly port: number;
  /** Requests served, and CGI runs that failed to start or exited non-zero. */
  readonly counts: { requests: number; backendErrors: number };
  /** Closes the listener, its connections, and every backend it started. */
  stop(): Promise<void>;
}

/**
 * Run after each push: so that `git clone URL` checks out a router's tables, HEAD must name a branch
 * that exists, and which router pushes first is not known when the repository is made.
 */
const POST_RECEIVE = `#!/bin/sh
# netbranch: point HEAD at a router's branch while the one it names does not exist (a clone then checks one out).
git rev-parse -q --verify HEAD >/dev/null && exit 0
first=$(git for-each-ref --count=1 --format='%(refname)' refs/heads/routers/)
[ -n "$first" ] && git symbolic-ref HEAD "$first"
exit 0
`;

/**
 * A bare repository `root/name` for a pair's tables, unless one is there: pushes over HTTP allowed,
 * every pushed object checked (`receive.fsckObjects`: a corrupt pack is refused whole), HEAD on
 * `head` until a push makes a router's branch (the post-receive hook). Returns its path.
 */
export function initBareRepo(root: string, name: string, head = 'routers/a'): string {
  const dir = join(root, name);
  if (existsSync(join(dir, 'HEAD'))) return dir;
  const git = (...args: string[]) => execFileSync('git', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
  git('init', '-q', '--bare', '-b', head, dir);
  git('-C', dir, 'config', 'http.receivepack', 'true');
  git('-C', dir, 'config', 'receive.fsckObjects', 'true');
  const hook = join(dir, 'hooks', 'post-receive');
  writeFileSync(hook, POST_RECEIVE);
  chmodSync(hook, 0o755);
  return dir;
}

/** CGI's request variables: the fixed ones, then every header as HTTP_*. */
function cgiEnv(root: string, req: IncomingMessage): NodeJS.ProcessEnv {
  const u = new URL(req.url ?? '/', 'http://127.0.0.1');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(u.pathname),
    QUERY_STRING: u.search.slice(1),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    // http.receivepack is honoured only for an authenticated user: authentication is the network's job here.
    REMOTE_USER: 'netbranch',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
  };
  if (req.headers['content-length'] !== undefined) env.CONTENT_LENGTH = req.headers['content-length'];
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') env[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`] = value;
  }
  return env;
}

/** The CGI header block: the status (`Status:`, default 200) and the other headers. */
function cgiHeaders(block: string): { status: number; headers: [string, string][] } {
  let status = 200;
  const headers: [string, string][] = [];
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { status, headers };
}

/**
 * Reads the CGI header block off the backend's stdout, then writes the status and headers and pipes
 * the rest through: the response body is streamed, never held whole.
 */
function relayCgi(child: ChildProcess, res: ServerResponse): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf('\r\n\r\n');
    const end = crlf >= 0 ? crlf : head.indexOf('\n\n');
    if (end < 0) return;
    child.stdout!.off('data', onData);
    const { status, headers } = cgiHeaders(head.subarray(0, end).toString('latin1'));
    for (const [name, value] of headers) res.setHeader(name, value);
    res.writeHead(status);
    const rest = head.subarray(end + (crlf >= 0 ? 4 : 2));
    if (rest.length) res.write(rest);
    child.stdout!.pipe(res);
  };
  child.stdout!.on('data', onData);
  child.stdout!.on('end', () => { if (!res.headersSent) res.writeHead(502).end('no CGI headers\n'); });
}

/** One request: the backend started for it, the body in, the answer out, the record once it ends. */
function serveOne(opts: GitHttpServerOptions, req: IncomingMessage, res: ServerResponse, children: Set<ChildProcess>, counts: GitHttpServer['counts']): void {
  const started = Date.now();
  counts.requests++;
  let bytesIn = 0;
  let bytesOut = 0;
  let backend = '';
  req.on('data', (c: Buffer) => { bytesIn += c.length; });
  const child = spawn(HTTP_BACKEND, [], { env: cgiEnv(opts.root, req), stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.on('error', () => { counts.backendErrors++; if (!res.headersSent) res.writeHead(502).end('backend did not start\n'); });
  child.on('exit', (code) => { children.delete(child); if (code !== 0) counts.backendErrors++; });
  child.stdout!.on('data', (c: Buffer) => { bytesOut += c.length; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (backend.length < 2000) backend += d; });
  child.stdin!.on('error', () => {}); // the backend may exit before reading all (a refused request)
  req.pipe(child.stdin!);
  relayCgi(child, res);
  res.on('close', () => {
    const u = new URL(req.url ?? '/', 'http://x');
    opts.onRequest?.({
      method: req.method ?? '?', path: u.pathname + u.search, status: res.statusCode, ms: Date.now() - started,
      bytesIn, bytesOut, remote: req.socket.remoteAddress ?? '', backend: backend.trim().slice(0, 500),
    });
  });
}

/** Starts serving every repository under `opts.root`; rejects with the listen error (EADDRINUSE, …). */
export async function startGitHttpServer(opts: GitHttpServerOptions): Promise<GitHttpServer> {
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  const counts = { requests: 0, backendErrors: 0 };
  const server: Server = createServer((req, res) => serveOne(opts, req, res, children, counts));
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port ?? 0, host, exclusive: true }, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    counts,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      for (const c of children) c.kill('SIGKILL'); // only the backends this server spawned
      await closed;
    },
  };
}
