// The live web page on the HTTP view (`--http 127.0.0.1:PORT`):
//   GET /  (and /index.html, /app.js, /style.css, /favicon.svg)   the page: no token, it holds no data
//   GET /api/TABLE/events?prefix=&coalesce=MS                      one table's changes as Server-Sent Events
// The page asks for a token once and sends it as a Bearer header on every fetch, its event stream included.
// Its files are plain files in api/server/web/ (no build step, no framework), read from the package root.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpContext, HttpRoute } from './http-view.js';
import { RequestError } from './requests.js';
import type { LookupServer } from './lookup-server.js';
import { DEFAULT_COALESCE_MS, EVENT_STREAM_HEADERS, EventStream, MAX_COALESCE_MS } from './event-stream.js';

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** Self only: no inline script or style, no other origin; the page's SVG is drawn through the DOM. */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function webRoutes(api: LookupServer): HttpRoute[] {
  const files = new PageFiles();
  return [
    { matches: (p) => p.length === 0 || (p.length === 1 && Object.hasOwn(TYPES, p[0])), needsToken: false, serve: (ctx) => files.serve(ctx) },
    { matches: (p) => p.length === 3 && p[0] === 'api' && p[2] === 'events', needsToken: true, serve: (ctx) => serveEvents(api, ctx) },
  ];
}

/**
 * api/server/web under the package root (the directory whose package.json names netbranch), found from this
 * module whether it runs from the source tree (tsx) or from dist/ (tsc copies no assets; package.json `files` ships them).
 */
export function webDir(from: string = import.meta.url): string {
  for (let dir = dirname(fileURLToPath(from)); ; dir = dirname(dir)) {
    if (isPackageRoot(dir)) return join(dir, 'api', 'server', 'web');
    if (dirname(dir) === dir) throw new Error(`the web page's files: no netbranch package.json above ${fileURLToPath(from)}`);
  }
}

function isPackageRoot(dir: string): boolean {
  const pkg = join(dir, 'package.json');
  if (!existsSync(pkg)) return false;
  try {
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'netbranch';
  } catch {
    return false;
  }
}

/** The page's files, found and read at the first request for each (they do not change while the server runs). */
class PageFiles {
  private readonly cache = new Map<string, Buffer>();
  private dir: string | null = null;

  serve(ctx: HttpContext): void {
    const name = ctx.parts[0] ?? 'index.html';
    let body = this.cache.get(name);
    if (!body) {
      this.dir ??= webDir();
      body = readFileSync(join(this.dir, name)); // a missing file is the install's fault: answered as internal
      this.cache.set(name, body);
    }
    ctx.res.writeHead(200, {
      'content-type': TYPES[name], 'content-length': body.length, 'cache-control': 'no-cache',
      'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer',
    });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
  }
}

/** `?coalesce=MS`: 0 to MAX_COALESCE_MS, default DEFAULT_COALESCE_MS; anything else is the client's bad request. */
function coalesceParam(v: string | null): number {
  if (v === null || v === '') return DEFAULT_COALESCE_MS;
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_COALESCE_MS) throw new RequestError('bad-request', `coalesce must be an integer from 0 to ${MAX_COALESCE_MS} (ms)`);
  return ms;
}

/** Codes of a stream refused for the server's sake, not the client's: try again later. */
const BUSY = new Set(['too-many-connections', 'shutting-down']);

/** /api/TABLE/events: the same token and scope check as a read of TABLE, then the stream until either side ends it. */
function serveEvents(api: LookupServer, ctx: HttpContext): void {
  const table = ctx.parts[1];
  const prefix = ctx.url.searchParams.get('prefix') ?? undefined;
  const stream = new EventStream(ctx.res, coalesceParam(ctx.url.searchParams.get('coalesce')));
  try {
    api.openStream(stream, ctx.token!, table, prefix, ctx.now);
  } catch (err) {
    if (!(err instanceof RequestError) || !BUSY.has(err.code)) throw err; // the view answers it as any API error
    ctx.res.setHeader('retry-after', '5');
    ctx.json(503, { error: { code: err.code, message: err.message } });
    return;
  }
  if (ctx.req.method === 'HEAD') {
    api.closeStream(stream);
    ctx.res.writeHead(200, EVENT_STREAM_HEADERS).end();
    return;
  }
  // 'close' comes when the response ends or its connection goes: either way, nothing more is sent to it.
  ctx.res.on('close', () => { api.closeStream(stream); stream.close(true); });
  stream.open(table, ctx.now);
}
