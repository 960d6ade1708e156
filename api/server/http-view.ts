// The read-only JSON view of the tables over HTTP (`--http 127.0.0.1:PORT`), for curl and browsers:
//   GET /api                          hello: tables, scopes
//   GET /api/TABLE?prefix=&limit=&after=   a page of entries
//   GET /api/TABLE/KEY                one entry
//   GET /api/TABLE/KEY/history?limit= its history
// Loopback only; every request needs `Authorization: Bearer TOKEN` with read scope on the table.
// The same checks and answers as the socket API (LookupServer.answerReadOnly).
import * as http from 'node:http';
import type { ErrorCode, Request } from '../protocol.js';
import { isLoopback, type LookupServer } from './lookup-server.js';
import { RequestError } from './requests.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  'bad-request': 400, 'bad-key': 400, 'bad-value': 400, 'unknown-op': 400, unauthenticated: 401, forbidden: 403,
  'unknown-table': 404, 'not-found': 404, 'read-only-table': 405, internal: 500,
};

export class HttpView {
  private server: http.Server | null = null;
  requests = 0;
  errors = 0;

  constructor(private readonly api: LookupServer) {}

  async listen(host: string, port: number): Promise<number> {
    if (!isLoopback(host)) throw new Error(`--http listens on loopback only; ${host} is not a loopback address`);
    const server = http.createServer((req, res) => void this.serve(req, res, Date.now()));
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
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
    const reply = (status: number, body: unknown) => {
      if (status >= 400) this.errors++;
      const text = JSON.stringify(body, null, 2) + '\n';
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        reply(405, { error: { code: 'bad-request', message: 'the HTTP view is read-only: GET only' } });
        req.resume();
        return;
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const parts = url.pathname.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
      if (parts[0] !== 'api' || parts.length > 4 || (parts.length === 4 && parts[3] !== 'history')) {
        reply(404, { error: { code: 'not-found', message: 'routes: /api, /api/TABLE, /api/TABLE/KEY, /api/TABLE/KEY/history' } });
        return;
      }
      const auth = req.headers.authorization;
      const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      if (token === undefined) {
        reply(401, { error: { code: 'unauthenticated', message: 'send Authorization: Bearer TOKEN (a token with read scope from the tokens file)' } });
        return;
      }
      const num = (name: string) => { const v = url.searchParams.get(name); return v === null ? undefined : Number(v); };
      const str = (name: string) => url.searchParams.get(name) ?? undefined;
      let r: Request;
      if (parts.length === 1) r = { id: 0, op: 'hello' };
      else if (parts.length === 2) r = { id: 0, op: 'list', table: parts[1], prefix: str('prefix'), limit: num('limit'), after: str('after') };
      else if (parts.length === 3) r = { id: 0, op: 'get', table: parts[1], key: parts[2] };
      else r = { id: 0, op: 'history', table: parts[1], key: parts[2], limit: num('limit') };
      reply(200, await this.api.answerReadOnly(r, token, now));
    } catch (err) {
      // A malformed %-escape in the path (decodeURIComponent) is the client's error, not ours.
      const code: ErrorCode = err instanceof RequestError ? err.code : err instanceof URIError ? 'bad-request' : 'internal';
      reply(STATUS[code] ?? 500, { error: { code, message: (err as Error).message } });
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
