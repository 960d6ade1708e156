// A real git server for tests: git's own `git http-backend` run as CGI behind a small node http
// server on loopback, so pushes and fetches go through smart HTTP exactly as against a hosted
// remote. (isomorphic-git speaks smart HTTP only, so `git daemon`'s git:// would not do.)
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { git } from './git-cli.js';

export const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

export interface GitHttpServer {
  /** http://127.0.0.1:PORT: a repository `name.git` under the root is at `${url}/name.git`. */
  readonly url: string;
  readonly port: number;
  /** Requests served, and CGI runs that failed to start or exited non-zero. */
  readonly counts: { requests: number; backendErrors: number };
  /** Closes the listener, its connections, and every backend it started. */
  stop(): Promise<void>;
}

/** A bare repository under `root` that accepts pushes over HTTP, HEAD on `head`; returns its path. */
export function initBareRepo(root: string, name: string, head = 'main'): string {
  const dir = join(root, name);
  git(root, 'init', '-q', '--bare', '-b', head, dir);
  git(dir, 'config', 'http.receivepack', 'true');
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
    REMOTE_USER: 'netbranch-test',
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

/**
 * Reads the CGI header block off the backend's stdout, then writes the status and headers and pipes
 * the rest through: the response body is streamed, never held whole.
 */
function relayCgi(child: ChildProcess, res: ServerResponse): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n');
    if (end < 0) return;
    const sep = head[end] === 13 ? 4 : 2;
    child.stdout!.off('data', onData);
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    const rest = head.subarray(end + sep);
    if (rest.length) res.write(rest);
    child.stdout!.pipe(res);
  };
  child.stdout!.on('data', onData);
  child.stdout!.on('end', () => { if (!res.headersSent) res.writeHead(502).end('no CGI headers\n'); });
}

/** Starts serving every repository under `root` (port 0: the kernel picks one). */
export async function startGitHttpServer(root: string, port = 0): Promise<GitHttpServer> {
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  const counts = { requests: 0, backendErrors: 0 };
  const server: Server = createServer((req, res) => {
    counts.requests++;
    const child = spawn(HTTP_BACKEND, [], { env: cgiEnv(root, req), stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    child.on('error', () => { counts.backendErrors++; if (!res.headersSent) res.writeHead(502).end('backend did not start\n'); });
    child.on('exit', (code) => { children.delete(child); if (code !== 0) counts.backendErrors++; });
    child.stderr!.resume();
    child.stdin!.on('error', () => {}); // the backend may exit before reading all (a refused request)
    req.pipe(child.stdin!);
    relayCgi(child, res);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${bound}`,
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
