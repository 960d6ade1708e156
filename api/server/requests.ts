// The external-lookup API's requests: what each op (hello, auth, get, list, watch, unwatch, history,
// set, delete, stats, commits, diff) does to the tables, who may do it (tokens and scopes), and what it answers.
// The transport around it (lookup-server.ts) owns the sockets, the framing and the limits.
import {
  PROTOCOL_VERSION, hasScope,
  type AuthResult, type DeleteResult, type ErrorCode, type GetResult, type HelloResult, type HistoryResult, type ListResult,
  type Request, type SetResult, type TableInfo, type WatchResult, type Op, type StatsResult, type InterfaceInfo, type CommitsResult, type DiffResult, type SyncResult,
} from '../protocol.js';
import { CodecError, showValue, type Table } from '../../store/index.js';
import type { LookupSource, SourceChange } from './source.js';
import type { TokenSpec } from './tokens.js';

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

export interface Watch {
  table: number;
  prefix: string;
}

/** Who asks: a connection (or the HTTP view's one request), its scopes and its watches. */
export interface Session {
  readonly kind: 'unix' | 'tcp';
  scopes: string[];
  name: string;
  readonly watches: Map<number, Watch>;
}

/** What request handling needs of the server around it. */
export interface RequestHost {
  /** Entries written through the API: counted, and sent to the watches at once. */
  written(changes: readonly SourceChange[], now: number): void;
  /** A watch its client ended: the end event goes out before the answer. */
  unwatched(s: Session, id: number, now: number): void;
  /** A refusal: counted and logged. */
  refused(s: Session, code: ErrorCode, reason: string, req: Request, now: number): void;
  log(now: number, level: 'info' | 'warn' | 'error', msg: string, fields?: object): void;
  /** The server's counters, as `stats` answers them. */
  stats(): Record<string, number>;
  /** Errors answered, by code. */
  errorsByCode(): Record<string, number>;
}

export interface RequestOptions {
  role: string;
  tokens: readonly TokenSpec[];
  maxFrame: number;
  maxWatchesPerConnection: number;
  /** The tables' clock (hello reports it, so clients can show times relative to it). */
  clock: () => number;
  /** Per table: what the API may write and an example key. A table not named here is read-only. */
  tables: Readonly<Record<string, TableRule>>;
  interfaces?: () => InterfaceInfo[];
}

/** The ops the HTTP view may ask (it never writes or streams over this path). */
const READ_ONLY_OPS: readonly string[] = ['hello', 'get', 'list', 'history', 'stats', 'commits', 'diff'];

/** An optional integer field within bounds (`fallback` undefined: required). */
function intField(v: unknown, fallback: number | undefined, min: number, max: number, name: string): number {
  const n = v === undefined ? fallback : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new RequestError('bad-request', `${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** A table a request names, found and access-checked. */
interface Named {
  ti: number;
  t: Table;
}

const OP_LIST: readonly Op[] = ['hello', 'auth', 'get', 'list', 'watch', 'unwatch', 'history', 'set', 'delete', 'stats', 'commits', 'diff', 'sync'];
const OPS = OP_LIST.join(', ');

export class Requests {
  private readonly tokens = new Map<string, TokenSpec>();
  /** Requests answered, by op (unknown ops are counted as errors only). */
  private readonly byOp: Record<string, number> = {};

  constructor(private readonly source: LookupSource, private readonly opts: RequestOptions, private readonly host: RequestHost) {
    for (const t of opts.tokens) this.tokens.set(t.token, t);
  }

  /** The answer to one request (a promise for history); a refusal or bad field throws RequestError. */
  answer(s: Session, req: Request, now: number): unknown {
    if (OP_LIST.includes(req.op)) this.byOp[req.op] = (this.byOp[req.op] ?? 0) + 1;
    switch (req.op) {
      case 'hello': return this.hello(s);
      case 'auth': return this.auth(s, req);
      case 'get': return this.get(s, req);
      case 'list': return this.list(s, req);
      case 'watch': return this.watch(s, req);
      case 'unwatch': return this.unwatch(s, req, now);
      case 'history': return this.history(s, req);
      case 'set': return this.set(s, req, now);
      case 'delete': return this.delete(s, req, now);
      case 'stats': return this.stats(s, req);
      case 'commits': return this.commits(s, req);
      case 'diff': return this.diff(s, req);
      case 'sync': return this.sync(s, req);
      default:
        throw new RequestError('unknown-op', `unknown op '${String((req as { op: unknown }).op)}' (ops: ${OPS})`);
    }
  }

  /**
   * A read-only request from the HTTP view, with that client's token: the same checks and answers
   * as a socket request (the op must be hello, get, list or history).
   */
  async answerReadOnly(req: Request, token: string | undefined, now: number): Promise<unknown> {
    if (!READ_ONLY_OPS.includes(req.op)) throw new RequestError('bad-request', 'the HTTP view is read-only');
    const session: Session = { kind: 'tcp', scopes: [], name: 'http', watches: new Map() };
    const t = token === undefined ? undefined : this.tokens.get(token);
    if (token !== undefined && !t) {
      this.host.refused(session, 'unauthenticated', 'unknown token (HTTP)', req, now);
      throw new RequestError('unauthenticated', 'unknown token');
    }
    if (t) { session.scopes = [...t.scopes]; session.name = `http:${t.name}`; }
    try {
      return await this.answer(session, req, now);
    } catch (err) {
      if (err instanceof RequestError && (err.code === 'forbidden' || err.code === 'unauthenticated')) this.host.refused(session, err.code, err.message, req, now);
      throw err;
    }
  }

  // ------------------------------------------------------------------ access

  private rule(table: string): TableRule {
    return Object.hasOwn(this.opts.tables, table) ? this.opts.tables[table] : {};
  }

  private scopesFor(s: Session, req: Request): string[] {
    if (req.token === undefined) return s.scopes;
    if (typeof req.token !== 'string') throw new RequestError('bad-request', 'token must be a string');
    const t = this.tokens.get(req.token);
    if (!t) throw new RequestError('unauthenticated', 'unknown token');
    return [...s.scopes, ...t.scopes];
  }

  private need(s: Session, req: Request, scope: string): void {
    const scopes = this.scopesFor(s, req);
    if (hasScope(scopes, scope)) return;
    if (s.kind === 'tcp' && scopes.length === 0) throw new RequestError('unauthenticated', `TCP clients must authenticate first (op auth with a token, or a token on each request); ${scope} needed`);
    throw new RequestError('forbidden', `needs scope ${scope}${scope.startsWith('write:') && s.kind === 'unix' && req.token === undefined ? ' (writes need a token with that scope, even on the Unix socket)' : ''}`);
  }

  /** The table the request names, once the session may `access` it. */
  private named(s: Session, req: Request & { table: unknown }, access: 'read' | 'write'): Named {
    const ti = this.tableIndex(req.table);
    const t = this.source.schema.tables[ti];
    this.need(s, req, `${access}:${t.name}`);
    return { ti, t };
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

  // ------------------------------------------------------------------ ops

  private hello(s: Session): HelloResult {
    const tables: TableInfo[] = this.source.schema.tables.map((t) => ({ name: t.name, writable: this.rule(t.name).write !== undefined, keyExample: this.rule(t.name).keyExample ?? '' }));
    return { server: 'netbranch', protocol: PROTOCOL_VERSION, role: this.opts.role, tables, scopes: s.scopes, maxFrame: this.opts.maxFrame, now: this.opts.clock(),
      ...(this.opts.interfaces ? { interfaces: this.opts.interfaces() } : {}) };
  }

  private auth(s: Session, req: Request): AuthResult {
    const t = typeof req.token === 'string' ? this.tokens.get(req.token) : undefined;
    if (!t) throw new RequestError('unauthenticated', 'unknown token');
    s.scopes = [...(s.kind === 'unix' ? ['read:*'] : []), ...t.scopes];
    s.name = t.name;
    return { name: t.name, scopes: s.scopes };
  }

  private get(s: Session, req: Request & { op: 'get' }): GetResult {
    const { ti, t } = this.named(s, req, 'read');
    const k = this.key(t, req.key);
    const v = this.source.table(ti).get(k);
    if (v === undefined) throw new RequestError('not-found', `no entry ${t.name}/${t.key.encode(k as never)}`);
    return { table: t.name, key: t.key.encode(k as never), value: showValue(t.value, v) };
  }

  private list(s: Session, req: Request & { op: 'list' }): ListResult {
    const { ti, t } = this.named(s, req, 'read');
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

  private async stats(s: Session, req: Request): Promise<StatsResult> {
    this.readScopes(s, req);
    const out: StatsResult = { ...this.host.stats(), requestsByOp: { ...this.byOp }, errorsByCode: this.host.errorsByCode() };
    try {
      const stack = await this.source.report();
      if (stack) out.stack = stack;
    } catch (err) {
      out.stackError = (err as Error).message; // the server's own counters are still worth answering with
    }
    return out;
  }

  /** The primary's commits; conflicts are shown only for the tables this session may read. */
  private async commits(s: Session, req: Request & { op: 'commits' }): Promise<CommitsResult> {
    const scopes = this.readScopes(s, req);
    const limit = intField(req.limit, 100, 1, 1_024, 'limit');
    const r = await this.source.commits(limit);
    for (const c of r.commits) c.conflicts = c.conflicts.filter((x) => hasScope(scopes, `read:${x.table}`));
    return r;
  }

  /** What changed between two commits, in the tables this session may read. */
  private async diff(s: Session, req: Request & { op: 'diff' }): Promise<DiffResult> {
    const scopes = this.readScopes(s, req);
    const from = intField(req.from, undefined, 0, Number.MAX_SAFE_INTEGER, 'from');
    const to = req.to === undefined ? undefined : intField(req.to, undefined, 0, Number.MAX_SAFE_INTEGER, 'to');
    const limit = intField(req.limit, 1_000, 1, 100_000, 'limit');
    let r: DiffResult;
    try {
      r = await this.source.diff(from, to, limit);
    } catch (err) {
      throw new RequestError('not-found', (err as Error).message); // a commit released from the log, or not yet made
    }
    return { ...r, changes: r.changes.filter((c) => hasScope(scopes, `read:${c.table}`)) };
  }

  /** A sync with the peer routers now: it merges into every table, so it needs `admin`. */
  private async sync(s: Session, req: Request & { op: 'sync' }): Promise<SyncResult> {
    const scopes = this.scopesFor(s, req);
    if (scopes.length === 0) throw new RequestError('unauthenticated', 'authenticate first');
    if (!hasScope(scopes, 'admin')) throw new RequestError('forbidden', 'sync needs the admin scope');
    if (!this.source.sync) throw new RequestError('not-found', 'this stack has no peers to sync with (a router with --peer has)');
    try {
      return await this.source.sync();
    } catch (err) {
      throw new RequestError('not-found', (err as Error).message); // the router has no --peer
    }
  }

  /** The session's scopes, which must include some read scope. */
  private readScopes(s: Session, req: Request): readonly string[] {
    const scopes = this.scopesFor(s, req);
    if (scopes.length === 0) throw new RequestError('unauthenticated', 'authenticate first');
    if (!scopes.some((x) => x === 'admin' || x.startsWith('read:'))) throw new RequestError('forbidden', `${req.op} needs a read scope`);
    return scopes;
  }

  private watch(s: Session, req: Request & { op: 'watch' }): WatchResult {
    const { ti } = this.named(s, req, 'read');
    if (req.prefix !== undefined && typeof req.prefix !== 'string') throw new RequestError('bad-request', 'prefix must be a string');
    if (s.watches.size >= this.opts.maxWatchesPerConnection) throw new RequestError('too-many-watches', `at most ${this.opts.maxWatchesPerConnection} watches a connection`);
    s.watches.set(req.id, { table: ti, prefix: req.prefix ?? '' });
    return { watch: req.id };
  }

  private unwatch(s: Session, req: Request & { op: 'unwatch' }, now: number): { watch: number; ended: boolean } {
    if (typeof req.watch !== 'number') throw new RequestError('bad-request', 'watch must be the id of the watch request');
    const had = s.watches.delete(req.watch);
    if (had) this.host.unwatched(s, req.watch, now);
    return { watch: req.watch, ended: had };
  }

  private async history(s: Session, req: Request & { op: 'history' }): Promise<HistoryResult> {
    const { ti, t } = this.named(s, req, 'read');
    const k = this.key(t, req.key);
    const limit = req.limit ?? 20;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new RequestError('bad-request', 'limit must be an integer from 1 to 1000');
    const h = await this.source.history(ti, k, limit);
    return {
      table: t.name, key: t.key.encode(k as never), complete: h.complete,
      entries: h.entries.map((e) => ({ ...e, value: e.value === undefined ? null : showValue(t.value, e.value) })),
    };
  }

  private set(s: Session, req: Request & { op: 'set' }, now: number): SetResult {
    const { ti, t } = this.named(s, req, 'write');
    const rule = this.rule(t.name).write;
    if (!rule) throw new RequestError('read-only-table', `${t.name} takes no writes through the API (entries can be removed)`);
    const k = this.key(t, req.key);
    const v = this.value(t, k, req.value);
    const why = rule(v as Record<string, unknown>);
    if (why) throw new RequestError('bad-value', why);
    this.source.table(ti).set(k, v);
    this.source.written();
    this.host.written([[ti, k, v]], now);
    this.host.log(now, 'info', 'lookup: entry set', { client: s.name, table: t.name, key: t.key.encode(k as never) });
    return { table: t.name, key: t.key.encode(k as never), value: showValue(t.value, v) };
  }

  /** A value through the table's codec; what it refuses is the client's bad value. */
  private value(t: Table, k: string | number, value: unknown): unknown {
    try {
      return t.value.decode(value, `${t.name}/${t.key.encode(k as never)}`);
    } catch (err) {
      throw new RequestError('bad-value', err instanceof CodecError ? `${err.path}: ${err.reason}` : (err as Error).message);
    }
  }

  private delete(s: Session, req: Request & { op: 'delete' }, now: number): DeleteResult {
    const { ti, t } = this.named(s, req, 'write');
    const k = this.key(t, req.key);
    const view = this.source.table(ti);
    const existed = view.get(k) !== undefined;
    if (existed) {
      view.delete(k);
      this.source.written();
      this.host.written([[ti, k, undefined]], now);
    }
    this.host.log(now, 'info', 'lookup: entry removed', { client: s.name, table: t.name, key: t.key.encode(k as never), existed });
    return { table: t.name, key: t.key.encode(k as never), existed };
  }
}
