// The external-lookup API's server: a Unix socket (0600, in a 0700 directory) and optionally
// loopback TCP, length-prefixed msgpack frames (api/protocol.ts), answered from the lookup actor's
// own branch. Hostile clients are expected: every frame is bounded, every stream's buffer is
// bounded, a half-sent frame times out, and every refusal gets an error code, a counter and a log.
import * as net from 'node:net';
import { chmodSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeBody, encodeFrame, FrameReader, FrameTooLargeError } from '../frames.js';
import {
  DEFAULT_MAX_FRAME, PROTOCOL_VERSION, hasScope,
  type ErrorCode, type HelloResult, type HistoryResult, type ListResult, type Request, type TableInfo,
} from '../protocol.js';
import { CodecError, showValue, type Table } from '../../store/index.js';
import type { LookupSource, SourceChange } from './source.js';
import type { TokenSpec } from './tokens.js';
import { unixSocketProblem, unixSocketState } from './listeners.js';

export interface LookupServerOptions {
  role: string;
  tokens: readonly TokenSpec[];
  maxFrame?: number;
  maxConnections?: number;
  /** Bytes a client may leave unread before it is dropped as a slow consumer. */
  maxBuffered?: number;
  /** A frame begun must be finished within this (ms). */
  frameTimeoutMs?: number;
  maxWatchesPerConnection?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;
  /** The tables' clock (hello reports it, so clients can show times relative to it). */
  clock?: () => number;
  /** Per table: what the API may write and an example key. A table not named here is read-only. */
  tables?: Readonly<Record<string, TableRule>>;
}

export interface LookupCounters {
  connections: number;
  open: number;
  requests: number;
  errors: number;
  refused: number;
  badFrames: number;
  oversized: number;
  timeouts: number;
  slowConsumers: number;
  tooManyConnections: number;
  writes: number;
  events: number;
  droppedLogs: number;
}

/** What one table allows through the API; the caller (router, sim) knows its tables, the server does not. */
export interface TableRule {
  /** Set: the table is writable, and this checks a value (a reason to refuse it, or null). Unset: read and delete only. */
  write?: (v: Record<string, unknown>) => string | null;
  /** A key in the table's text form, shown by `tables` and the CLI's help. */
  keyExample?: string;
}

export class RequestError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

interface Watch {
  table: number;
  prefix: string;
}

class Connection {
  readonly reader: FrameReader;
  readonly watches = new Map<number, Watch>();
  scopes: string[];
  name: string;
  frameTimer: NodeJS.Timeout | null = null;
  closed = false;

  constructor(readonly socket: net.Socket, readonly kind: 'unix' | 'tcp', maxFrame: number) {
    this.reader = new FrameReader(maxFrame);
    // The Unix socket's file mode already limits who connects: reads need no token there.
    this.scopes = kind === 'unix' ? ['read:*'] : [];
    this.name = kind === 'unix' ? 'unix-socket' : 'anonymous';
  }
}

export class LookupServer {
  readonly counters: LookupCounters = {
    connections: 0, open: 0, requests: 0, errors: 0, refused: 0, badFrames: 0, oversized: 0, timeouts: 0,
    slowConsumers: 0, tooManyConnections: 0, writes: 0, events: 0, droppedLogs: 0,
  };
  private readonly conns = new Set<Connection>();
  private readonly servers: net.Server[] = [];
  private readonly tokens = new Map<string, TokenSpec>();
  private readonly opts: Required<Omit<LookupServerOptions, 'log' | 'tokens' | 'clock' | 'tables'>>;
  private readonly tables: Readonly<Record<string, TableRule>>;
  private readonly clock: () => number;
  private readonly logFn: NonNullable<LookupServerOptions['log']>;
  private unsubscribe: () => void;
  private logWindow = 0;
  private logsInWindow = 0;
  private unixPath: string | null = null;
  private stopping = false;

  constructor(readonly source: LookupSource, opts: LookupServerOptions) {
    this.opts = {
      role: opts.role,
      maxFrame: opts.maxFrame ?? DEFAULT_MAX_FRAME,
      maxConnections: opts.maxConnections ?? 4096,
      maxBuffered: opts.maxBuffered ?? 4 << 20,
      frameTimeoutMs: opts.frameTimeoutMs ?? 10_000,
      maxWatchesPerConnection: opts.maxWatchesPerConnection ?? 32,
    };
    for (const t of opts.tokens) this.tokens.set(t.token, t);
    this.tables = opts.tables ?? {};
    this.logFn = opts.log ?? (() => {});
    this.clock = opts.clock ?? Date.now;
    this.unsubscribe = source.subscribe((c) => this.onChanges(c), () => this.onReset());
  }

  private rule(table: string): TableRule {
    return Object.hasOwn(this.tables, table) ? this.tables[table] : {};
  }

  /** Listens on a Unix socket: the directory is made 0700, a stale socket replaced, the socket 0600. */
  async listenUnix(path: string): Promise<void> {
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new Error(`${dir} belongs to another user (uid ${st.uid}); choose another --api path`);
    if ((st.mode & 0o022) !== 0) throw new Error(`${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); the socket must not be: choose another --api path`);
    await this.removeStale(path);
    const server = net.createServer((s) => this.accept(s, 'unix'));
    await listen(server, () => server.listen({ path, backlog: LISTEN_BACKLOG }));
    chmodSync(path, 0o600);
    this.unixPath = path;
    this.servers.push(server);
  }

  private async removeStale(path: string): Promise<void> {
    const state = await unixSocketState(path);
    const problem = unixSocketProblem(state); // openListeners prefixes the flag: `--api unix:PATH: in use by a live server`
    if (problem !== undefined) throw new Error(problem);
    if (state === 'stale') unlinkSync(path);
  }

  /** Listens on loopback TCP; every request there needs a token. */
  async listenTcp(host: string, port: number): Promise<number> {
    if (!isLoopback(host)) throw new Error(`the API listens on loopback only; ${host} is not a loopback address`);
    const server = net.createServer((s) => this.accept(s, 'tcp'));
    await listen(server, () => server.listen({ port, host, backlog: LISTEN_BACKLOG }));
    this.servers.push(server);
    return (server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket, kind: 'unix' | 'tcp'): void {
    this.counters.connections++;
    if (this.stopping || this.conns.size >= this.opts.maxConnections) {
      this.counters.tooManyConnections++;
      this.refuse(null, 'too-many-connections', this.stopping ? 'the server is stopping' : `${this.opts.maxConnections} connections are open`);
      socket.end(encodeFrame({ id: null, ok: false, error: { code: this.stopping ? 'shutting-down' : 'too-many-connections', message: 'try again later' } }));
      socket.on('error', () => {});
      return;
    }
    const c = new Connection(socket, kind, this.opts.maxFrame);
    this.conns.add(c);
    this.counters.open = this.conns.size;
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(c, chunk));
    socket.on('error', () => this.drop(c));
    socket.on('close', () => this.drop(c));
  }

  private onData(c: Connection, chunk: Buffer): void {
    if (c.closed) return;
    let frames: Buffer[];
    try {
      frames = c.reader.push(chunk);
    } catch (err) {
      if (err instanceof FrameTooLargeError) {
        this.counters.oversized++;
        this.fail(c, null, 'frame-too-large', err.message, true);
        return;
      }
      throw err;
    }
    for (const body of frames) {
      if (c.closed) return;
      this.onFrame(c, body);
    }
    // A frame begun must be finished in time (a client trickling bytes holds no buffer for ever).
    // The time is per frame: once one is finished, the clock starts again for the next.
    if (frames.length > 0 && c.frameTimer !== null) {
      clearTimeout(c.frameTimer);
      c.frameTimer = null;
    }
    if (c.reader.pending > 0 && c.frameTimer === null && !c.closed) {
      c.frameTimer = setTimeout(() => {
        this.counters.timeouts++;
        this.fail(c, null, 'timeout', `a frame was begun and not finished within ${this.opts.frameTimeoutMs} ms`, true);
      }, this.opts.frameTimeoutMs);
    } else if (c.reader.pending === 0 && c.frameTimer !== null) {
      clearTimeout(c.frameTimer);
      c.frameTimer = null;
    }
  }

  private onFrame(c: Connection, body: Buffer): void {
    let msg: unknown;
    try {
      msg = decodeBody(body);
    } catch (err) {
      this.counters.badFrames++;
      this.fail(c, null, 'bad-frame', `not msgpack: ${(err as Error).message}`, true);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || typeof (msg as { id?: unknown }).id !== 'number' || typeof (msg as { op?: unknown }).op !== 'string') {
      this.counters.badFrames++;
      const id = typeof (msg as { id?: unknown } | null)?.id === 'number' ? (msg as { id: number }).id : null;
      this.fail(c, id, 'bad-frame', 'a request is a map with a numeric id and a string op', false);
      return;
    }
    this.counters.requests++;
    const req = msg as Request;
    let r: unknown;
    try {
      r = this.handle(c, req);
    } catch (err) {
      this.failRequest(c, req, err);
      return;
    }
    if (r instanceof Promise) {
      r.then((v) => this.send(c, { id: req.id, ok: true, result: v }), (err) => this.failRequest(c, req, err));
    } else {
      this.send(c, { id: req.id, ok: true, result: r });
    }
  }

  private failRequest(c: Connection, req: Request, err: unknown): void {
    if (err instanceof RequestError) this.fail(c, req.id, err.code, err.message, false, req);
    else if (err instanceof CodecError) this.fail(c, req.id, 'bad-value', err.message, false, req);
    else {
      this.fail(c, req.id, 'internal', (err as Error).message, false, req);
      this.log('error', 'lookup: request failed', { op: req.op, err: (err as Error).message });
    }
  }

  /** Sends an error; `close` ends the connection (the stream can no longer be trusted). */
  private fail(c: Connection, id: number | null, code: ErrorCode, message: string, close: boolean, req?: Request): void {
    this.counters.errors++;
    if (code === 'forbidden' || code === 'unauthenticated') this.refuse(c, code, message, req);
    else if (close) this.log('warn', `lookup: ${code}`, { client: c.name, kind: c.kind, reason: message });
    this.send(c, { id, ok: false, error: { code, message } });
    if (close) {
      c.closed = true;
      c.socket.end();
      setTimeout(() => c.socket.destroy(), 1_000).unref();
    }
  }

  private refuse(c: Connection | null, code: ErrorCode, reason: string, req?: Request): void {
    this.counters.refused++;
    this.log('warn', `lookup: refused (${code})`, { client: c?.name, kind: c?.kind, op: req?.op, table: (req as { table?: string } | undefined)?.table, reason });
  }

  /** Logs, at most 50 lines a second (a hostile client must not flood the router's log). */
  private log(level: 'info' | 'warn' | 'error', msg: string, fields: object = {}): void {
    const now = Date.now();
    if (now - this.logWindow >= 1_000) {
      if (this.logsInWindow > 50) this.logFn('warn', `lookup: ${this.logsInWindow - 50} log lines dropped in the last second`);
      this.logWindow = now;
      this.logsInWindow = 0;
    }
    if (++this.logsInWindow > 50) { this.counters.droppedLogs++; return; }
    this.logFn(level, msg, fields);
  }

  private send(c: Connection, frame: unknown, checkBacklog = true): void {
    if (c.socket.destroyed) return;
    c.socket.write(encodeFrame(frame));
    if (checkBacklog) this.checkBacklog(c);
  }

  /** Never buffer without bound for a client that does not read: drop it. */
  private checkBacklog(c: Connection): boolean {
    if (c.socket.writableLength <= this.opts.maxBuffered || c.closed) return false;
    this.counters.slowConsumers++;
    c.closed = true;
    this.log('warn', 'lookup: slow consumer dropped', { client: c.name, buffered: c.socket.writableLength });
    c.socket.destroy();
    return true;
  }

  private drop(c: Connection): void {
    if (!this.conns.delete(c)) return;
    c.closed = true;
    if (c.frameTimer) clearTimeout(c.frameTimer);
    c.watches.clear();
    this.counters.open = this.conns.size;
  }

  // ------------------------------------------------------------------ requests

  private scopesFor(c: Connection, req: Request): string[] {
    if (req.token === undefined) return c.scopes;
    if (typeof req.token !== 'string') throw new RequestError('bad-request', 'token must be a string');
    const t = this.tokens.get(req.token);
    if (!t) throw new RequestError('unauthenticated', 'unknown token');
    return [...c.scopes, ...t.scopes];
  }

  private need(c: Connection, req: Request, scope: string): void {
    const scopes = this.scopesFor(c, req);
    if (hasScope(scopes, scope)) return;
    if (c.kind === 'tcp' && scopes.length === 0) throw new RequestError('unauthenticated', `TCP clients must authenticate first (op auth with a token, or a token on each request); ${scope} needed`);
    throw new RequestError('forbidden', `needs scope ${scope}${scope.startsWith('write:') && c.kind === 'unix' && req.token === undefined ? ' (writes need a token with that scope, even on the Unix socket)' : ''}`);
  }

  private tableIndex(name: unknown): number {
    if (typeof name !== 'string') throw new RequestError('bad-request', 'table must be a string');
    const i = this.source.schema.tables.findIndex((t) => t.name === name);
    if (i < 0) throw new RequestError('unknown-table', `no table '${name}' (tables: ${this.source.schema.tables.map((t) => t.name).join(', ')})`);
    return i;
  }

  private key(t: Table, key: unknown): string | number {
    if (typeof key !== 'string') throw new RequestError('bad-request', 'key must be a string');
    try {
      return t.key.decode(key);
    } catch (err) {
      throw new RequestError('bad-key', err instanceof CodecError ? err.reason : (err as Error).message);
    }
  }

  private handle(c: Connection, req: Request): unknown {
    switch (req.op) {
      case 'hello':
        return this.hello(c);
      case 'auth': {
        const t = typeof req.token === 'string' ? this.tokens.get(req.token) : undefined;
        if (!t) throw new RequestError('unauthenticated', 'unknown token');
        c.scopes = [...(c.kind === 'unix' ? ['read:*'] : []), ...t.scopes];
        c.name = t.name;
        return { name: t.name, scopes: c.scopes };
      }
      case 'get': {
        const ti = this.tableIndex(req.table);
        const t = this.source.schema.tables[ti];
        this.need(c, req, `read:${t.name}`);
        const k = this.key(t, req.key);
        const v = this.source.table(ti).get(k);
        if (v === undefined) throw new RequestError('not-found', `no entry ${t.name}/${t.key.encode(k as never)}`);
        return { table: t.name, key: t.key.encode(k as never), value: showValue(t.value, v) };
      }
      case 'list':
        return this.list(c, req);
      case 'watch': {
        const ti = this.tableIndex(req.table);
        const t = this.source.schema.tables[ti];
        this.need(c, req, `read:${t.name}`);
        if (req.prefix !== undefined && typeof req.prefix !== 'string') throw new RequestError('bad-request', 'prefix must be a string');
        if (c.watches.size >= this.opts.maxWatchesPerConnection) throw new RequestError('too-many-watches', `at most ${this.opts.maxWatchesPerConnection} watches a connection`);
        c.watches.set(req.id, { table: ti, prefix: req.prefix ?? '' });
        return { watch: req.id };
      }
      case 'unwatch': {
        if (typeof req.watch !== 'number') throw new RequestError('bad-request', 'watch must be the id of the watch request');
        const had = c.watches.delete(req.watch);
        if (had) this.send(c, { id: req.watch, event: 'end', reason: 'unwatched' });
        return { watch: req.watch, ended: had };
      }
      case 'history':
        return this.history(c, req);
      case 'set':
        return this.set(c, req);
      case 'delete': {
        const ti = this.tableIndex(req.table);
        const t = this.source.schema.tables[ti];
        this.need(c, req, `write:${t.name}`);
        const k = this.key(t, req.key);
        const view = this.source.table(ti);
        const existed = view.get(k) !== undefined;
        if (existed) {
          view.delete(k);
          this.source.written();
          this.counters.writes++;
          this.onChanges([[ti, k, undefined]]);
        }
        this.log('info', 'lookup: entry removed', { client: c.name, table: t.name, key: t.key.encode(k as never), existed });
        return { table: t.name, key: t.key.encode(k as never), existed };
      }
      case 'stats':
        if (this.scopesFor(c, req).length === 0) throw new RequestError('unauthenticated', 'authenticate first');
        return { ...this.counters };
      default:
        throw new RequestError('unknown-op', `unknown op '${String((req as { op: unknown }).op)}' (ops: hello, auth, get, list, watch, unwatch, history, set, delete, stats)`);
    }
  }

  private hello(c: Connection): HelloResult {
    const tables: TableInfo[] = this.source.schema.tables.map((t) => ({ name: t.name, writable: this.rule(t.name).write !== undefined, keyExample: this.rule(t.name).keyExample ?? '' }));
    return { server: 'netbranch', protocol: PROTOCOL_VERSION, role: this.opts.role, tables, scopes: c.scopes, maxFrame: this.opts.maxFrame, now: this.clock() };
  }

  private list(c: Connection, req: Request & { op: 'list' }): ListResult {
    const ti = this.tableIndex(req.table);
    const t = this.source.schema.tables[ti];
    this.need(c, req, `read:${t.name}`);
    const limit = req.limit ?? 1_000;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new RequestError('bad-request', 'limit must be an integer from 1 to 100000');
    const prefix = req.prefix ?? '';
    const after = req.after;
    if (typeof prefix !== 'string' || (after !== undefined && typeof after !== 'string')) throw new RequestError('bad-request', 'prefix and after must be strings');
    const rows: [string, unknown][] = [];
    for (const [k, v] of this.source.table(ti).entries()) {
      const shown = t.key.encode(k as never);
      if (shown.startsWith(prefix) && (after === undefined || shown > after)) rows.push([shown, v]);
    }
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const page = rows.slice(0, limit);
    const more = rows.length > limit;
    return { table: t.name, entries: page.map(([key, v]) => ({ key, value: showValue(t.value, v) })), more, ...(more ? { next: page[page.length - 1][0] } : {}) };
  }

  private async history(c: Connection, req: Request & { op: 'history' }): Promise<HistoryResult> {
    const ti = this.tableIndex(req.table);
    const t = this.source.schema.tables[ti];
    this.need(c, req, `read:${t.name}`);
    const k = this.key(t, req.key);
    const limit = req.limit ?? 20;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new RequestError('bad-request', 'limit must be an integer from 1 to 1000');
    const h = await this.source.history(ti, k, limit);
    return {
      table: t.name, key: t.key.encode(k as never), complete: h.complete,
      entries: h.entries.map((e) => ({ ...e, value: e.value === undefined ? null : showValue(t.value, e.value) })),
    };
  }

  private set(c: Connection, req: Request & { op: 'set' }): unknown {
    const ti = this.tableIndex(req.table);
    const t = this.source.schema.tables[ti];
    this.need(c, req, `write:${t.name}`);
    const rule = this.rule(t.name).write;
    if (!rule) throw new RequestError('read-only-table', `${t.name} takes no writes through the API (entries can be removed)`);
    const k = this.key(t, req.key);
    const path = `${t.name}/${t.key.encode(k as never)}`;
    let v: unknown;
    try {
      v = t.value.decode(req.value, path);
    } catch (err) {
      throw new RequestError('bad-value', err instanceof CodecError ? `${err.path}: ${err.reason}` : (err as Error).message);
    }
    const why = rule(v as Record<string, unknown>);
    if (why) throw new RequestError('bad-value', why);
    this.source.table(ti).set(k, v);
    this.source.written();
    this.counters.writes++;
    this.onChanges([[ti, k, v]]);
    this.log('info', 'lookup: entry set', { client: c.name, table: t.name, key: t.key.encode(k as never) });
    return { table: t.name, key: t.key.encode(k as never), value: showValue(t.value, v) };
  }

  /**
   * A read-only request from the HTTP view, with that client's token: the same checks and answers
   * as a socket request (the op must be hello, get, list or history).
   */
  async answerReadOnly(req: Request, token: string | undefined): Promise<unknown> {
    if (req.op !== 'hello' && req.op !== 'get' && req.op !== 'list' && req.op !== 'history') throw new RequestError('bad-request', 'the HTTP view is read-only');
    const pseudo = { kind: 'tcp', scopes: [], name: 'http', watches: new Map(), closed: false } as unknown as Connection;
    const t = token === undefined ? undefined : this.tokens.get(token);
    if (token !== undefined && !t) {
      this.refuse(pseudo, 'unauthenticated', 'unknown token (HTTP)', req);
      throw new RequestError('unauthenticated', 'unknown token');
    }
    if (t) { pseudo.scopes = [...t.scopes]; pseudo.name = `http:${t.name}`; }
    try {
      return await this.handle(pseudo, req);
    } catch (err) {
      if (err instanceof RequestError && (err.code === 'forbidden' || err.code === 'unauthenticated')) this.refuse(pseudo, err.code, err.message, req);
      throw err;
    }
  }

  // ------------------------------------------------------------------ streams

  private onChanges(changes: readonly SourceChange[]): void {
    if (this.conns.size === 0) return;
    const tables = this.source.schema.tables;
    for (const c of this.conns) {
      if (c.watches.size === 0 || c.closed) continue;
      // The backlog is judged before a batch, not during it: one big merge's events go out whole to
      // a client that has read what it had (the buffer is bounded by maxBuffered plus one batch).
      if (this.checkBacklog(c)) continue;
      for (const [id, w] of c.watches) {
        for (const [ti, k, v] of changes) {
          if (ti !== w.table) continue;
          const t = tables[ti];
          const key = t.key.encode(k as never);
          if (!key.startsWith(w.prefix)) continue;
          this.counters.events++;
          this.send(c, { id, event: 'change', table: t.name, key, value: v === undefined ? null : showValue(t.value, v) }, false);
        }
        if (c.closed) break;
      }
    }
  }

  /** A resync replaced the branch: watches end (their clients list again). */
  private onReset(): void {
    for (const c of this.conns) {
      for (const id of c.watches.keys()) this.send(c, { id, event: 'end', reason: 'resync: the branch was reloaded; list the table again and watch anew' });
      c.watches.clear();
    }
  }

  /** Closes every listener and connection (watches end with 'shutting-down'). */
  async close(): Promise<void> {
    this.stopping = true;
    this.unsubscribe();
    for (const c of this.conns) {
      for (const id of c.watches.keys()) this.send(c, { id, event: 'end', reason: 'shutting-down' });
      c.socket.end();
      c.socket.destroy();
    }
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (this.unixPath) {
      try { unlinkSync(this.unixPath); } catch { /* gone already */ }
    }
  }
}

/**
 * Connections the kernel queues before they are accepted (it caps this at net.core.somaxconn). Node's
 * default of 511 makes a burst of clients fail with EAGAIN on the Unix socket before the server sees them.
 */
const LISTEN_BACKLOG = 4096;

function listen(server: net.Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => { server.off('error', reject); resolve(); });
    start();
  });
}

export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}
