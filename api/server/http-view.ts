// The read-only HTTP side of the API (`--http 127.0.0.1:PORT`), for curl, browsers and scrapers:
//   GET /api                               hello: tables, scopes
//   GET /api/TABLE?prefix=&limit=&after=   a page of entries
//   GET /api/TABLE/KEY                     one entry
//   GET /api/TABLE/KEY/history?limit=      its history
//   GET /api/stats                         the stats op: the server's and the stack's counters
//   GET /api/commits?limit=                the primary's newest commits (merges, their actors, settled conflicts)
//   GET /api/diff?from=&to=&limit=         what changed between two commits
// plus the routes others add (HttpRoute): /metrics, the web page. Loopback only; every data request needs
// `Authorization: Bearer TOKEN` with read scope, with the same checks and answers as the socket API.
import * as http from 'node:http';
import type { ErrorCode, Request } from '../protocol.js';
import { isLoopback, type LookupServer } from './lookup-server.js';
import { RequestError } from './requests.js';
import { metricsRoute } from './metrics-route.js';
import { webRoutes } from './web-route.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  'bad-request': 400, 'bad-key': 400, 'bad-value': 400, 'unknown-op': 400, unauthenticated: 401, forbidden: 403,
  'unknown-table': 404, 'not-found': 404, 'read-only-table': 405, internal: 500,
};

/** The ops under /api that are not tables (no table may take these names). */
const STACK_OPS = new Set(['stats', 'commits', 'diff']);

/** One request, as a route sees it. */
export interface HttpContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  /** The path's segments, decoded. */
  parts: string[];
  /** The bearer token, checked to be present when the route needs one (its scopes are the API's to judge). */
  token: string | undefined;
  now: number;
  /** A JSON answer (errors as `{error: {code, message}}`). */
  json(status: number, body: unknown): void;
}

/** A route added to the view: /metrics, the web page and its event stream. */
export interface HttpRoute {
  matches(parts: readonly string[]): boolean;
  /** False for what holds no data (the page's own files): served without a token. */
  needsToken: boolean;
  serve(ctx: HttpContext): Promise<void> | void;
}

export class HttpView {
  private server: http.Server | null = null;
  private readonly routes: HttpRoute[] = [];
  requests = 0;
  errors = 0;

  constructor(readonly api: LookupServer) {
    // The web routes come first: their event stream lives under /api/TABLE/... too.
    this.routes.push(...webRoutes(api), metricsRoute(api));
    this.routes.push({ matches: (p) => p[0] === 'api', needsToken: true, serve: (ctx) => this.serveApi(ctx) });
  }

  /** Adds a route; the first that matches a path serves it. */
  add(route: HttpRoute): this {
    this.routes.push(route);
    return this;
  }

  async listen(host: string, port: number): Promise<number> {
    if (!isLoopback(host)) throw new Error(`--http listens on loopback only; ${host} is not a loopback address`);
    const server = http.createServer((req, res) => void this.serve(req, res, Date.now()));
    server.headersTimeout = 10_000;
    server.requestTimeout = 0; // an event stream stays open; headersTimeout still bounds a client that never finishes its request
    server.maxHeadersCount = 50;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    return (server.address() as import('node:net').AddressInfo).port;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, now: number): Promise<void> {
    this.requests++;
    const ctx: HttpContext = { req, res, url: new URL('http://localhost'), parts: [], token: undefined, now, json: (status, body) => this.json(ctx, status, body) };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        ctx.json(405, { error: { code: 'bad-request', message: 'the HTTP view is read-only: GET only' } });
        req.resume();
        return;
      }
      ctx.url = new URL(req.url ?? '/', 'http://localhost');
      ctx.parts = ctx.url.pathname.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
      const route = this.routes.find((r) => r.matches(ctx.parts));
      if (!route) {
        ctx.json(404, { error: { code: 'not-found', message: 'routes: /, /metrics, /api, /api/TABLE, /api/TABLE/KEY, /api/TABLE/KEY/history, /api/TABLE/events, /api/stats, /api/commits, /api/diff' } });
        return;
      }
      const auth = req.headers.authorization;
      ctx.token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      if (route.needsToken && ctx.token === undefined) {
        ctx.json(401, { error: { code: 'unauthenticated', message: 'send Authorization: Bearer TOKEN (a token with read scope from the tokens file)' } });
        return;
      }
      await route.serve(ctx);
    } catch (err) {
      // A malformed %-escape in the path (decodeURIComponent) is the client's error, not ours.
      const code: ErrorCode = err instanceof RequestError ? err.code : err instanceof URIError ? 'bad-request' : 'internal';
      if (!res.headersSent) ctx.json(STATUS[code] ?? 500, { error: { code, message: (err as Error).message } });
      else res.destroy();
    }
  }

  private json(ctx: HttpContext, status: number, body: unknown): void {
    if (status >= 400) {
      this.errors++;
      const code = (body as { error?: { code?: ErrorCode } }).error?.code;
      if (code) this.api.countError(code);
    }
    const text = JSON.stringify(body, null, 2) + '\n';
    ctx.res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : text);
  }

  /** /api/...: the socket API's read-only ops. */
  private async serveApi(ctx: HttpContext): Promise<void> {
    const { parts, url } = ctx;
    if (parts.length > 4 || (parts.length === 4 && parts[3] !== 'history')) {
      ctx.json(404, { error: { code: 'not-found', message: 'routes: /api, /api/TABLE, /api/TABLE/KEY, /api/TABLE/KEY/history, /api/stats, /api/commits, /api/diff' } });
      return;
    }
    const num = (name: string) => { const v = url.searchParams.get(name); return v === null || v === '' ? undefined : Number(v); };
    const str = (name: string) => url.searchParams.get(name) ?? undefined;
    let r: Request;
    if (parts.length === 1) r = { id: 0, op: 'hello' };
    else if (parts.length === 2 && STACK_OPS.has(parts[1])) r = stackOp(parts[1], num);
    else if (parts.length === 2) r = { id: 0, op: 'list', table: parts[1], prefix: str('prefix'), limit: num('limit'), after: str('after') };
    else if (parts.length === 3) r = { id: 0, op: 'get', table: parts[1], key: parts[2] };
    else r = { id: 0, op: 'history', table: parts[1], key: parts[2], limit: num('limit') };
    ctx.json(200, await this.api.answerReadOnly(r, ctx.token, ctx.now));
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/** /api/stats, /api/commits?limit=, /api/diff?from=&to=&limit= as requests. */
function stackOp(op: string, num: (name: string) => number | undefined): Request {
  if (op === 'commits') return { id: 0, op: 'commits', limit: num('limit') };
  if (op === 'diff') return { id: 0, op: 'diff', from: num('from') as number, to: num('to'), limit: num('limit') };
  return { id: 0, op: 'stats' };
}
