// The external-lookup API's client (`netbranch/client`): one connection to a router's (or a simulation's)
// API socket, requests matched to responses by id, watches as async iterables. The protocol is
// api/protocol.ts; frames are api/frames.ts's length-prefixed msgpack. Node and msgpackr only.
//
//   const c = await connect('unix:/run/netbranch/api.sock', { token });
//   for await (const e of c.listAll('arp')) console.log(e.key, e.value);
//   const w = await c.watch('nat', { prefix: 'tcp:' });
//   for await (const change of w) { ...; if (enough) break; } // break sends unwatch
//   await c.close();
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { decodeBody, encodeFrame, FrameReader, FrameTooLargeError } from './frames.js';
import {
  DEFAULT_MAX_FRAME,
  type AuthResult,
  type CommitsResult,
  type SyncResult,
  type DiffResult,
  type StatsResult,
  type ChangeEvent,
  type DeleteResult,
  type Entry,
  type ErrorCode,
  type GetResult,
  type HelloResult,
  type HistoryResult,
  type ListResult,
  type Op,
  type SetResult,
  type WatchResult,
} from './protocol.js';

/** Per-request timeout unless `connect` is told otherwise. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Change events buffered (over all watches, not yet read) before the client stops reading the socket. */
export const DEFAULT_WATCH_BUFFER = 10_000;

/** Where the API listens: `unix:/path`, `tcp:127.0.0.1:7070`, a bare path (Unix), or the parsed form. */
export type Where = string | { unix: string } | { tcp: { host: string; port: number } };
export type Address = { unix: string } | { tcp: { host: string; port: number } };

export interface ConnectOptions {
  /** Sent in an `auth` request right after connecting; `connect` rejects if it is refused. */
  token?: string;
  /** Per request (and for connecting): ms before a call rejects with code 'timeout'. Default 10 s. */
  timeoutMs?: number;
  /** Largest frame accepted from the server; a larger one closes the connection. Default 1 MiB. */
  maxFrame?: number;
  /** Unread change events (all watches together) before the client pauses reading the socket. */
  watchBuffer?: number;
}

/** An error answered by the server (`code` as the protocol names it), or a client-side failure:
 *  'timeout' for a request without an answer in time, 'internal' for a lost connection
 *  (message 'connection closed…'), 'frame-too-large' / 'bad-frame' for what the server sent. */
export class ApiError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The connection could not be made (nothing listening, no such socket, no permission). */
export class ConnectError extends Error {
  constructor(readonly where: string, override readonly cause: Error) {
    super(`cannot connect to ${where}: ${cause.message}`);
    this.name = 'ConnectError';
  }

  /** The errno code (ENOENT, ECONNREFUSED, EACCES, ETIMEDOUT...), when there is one. */
  get errno(): string | undefined {
    return (this.cause as NodeJS.ErrnoException).code;
  }
}

/**
 * The API socket used when none is named (the server's default too): `/run/netbranch/api.sock` for
 * root, else `$XDG_RUNTIME_DIR/netbranch/api.sock`, else `/tmp/netbranch-UID/api.sock`.
 */
export function defaultApiSocket(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? -1): string {
  if (uid === 0) return '/run/netbranch/api.sock';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'netbranch', 'api.sock');
  return `/tmp/netbranch-${uid < 0 ? 'user' : uid}/api.sock`;
}

/** Parses `unix:/path`, `tcp:HOST:PORT` (`tcp:[::1]:7070` for IPv6) or a bare path; throws TypeError. */
export function parseWhere(where: Where): Address {
  if (typeof where !== 'string') {
    if ('unix' in where && typeof where.unix === 'string' && where.unix) return { unix: where.unix };
    if ('tcp' in where && where.tcp && typeof where.tcp.host === 'string' && validPort(where.tcp.port)) return { tcp: { host: where.tcp.host, port: where.tcp.port } };
    throw new TypeError(`not an API address: ${JSON.stringify(where)}`);
  }
  if (where.startsWith('unix:')) {
    const path = where.slice(5);
    if (!path) throw new TypeError("unix: needs a socket path, e.g. unix:/run/netbranch/api.sock");
    return { unix: path };
  }
  if (where.startsWith('tcp:')) {
    const m = /^tcp:(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(where);
    const port = m ? Number(m[3]) : NaN;
    if (!m || !validPort(port)) throw new TypeError(`tcp: needs a host and a port, e.g. tcp:127.0.0.1:7070, got '${where}'`);
    return { tcp: { host: m[1] ?? m[2], port } };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(where) && !where.includes('/')) {
    throw new TypeError(`an API address is unix:PATH or tcp:HOST:PORT, got '${where}'`);
  }
  if (!where) throw new TypeError('an API address is unix:PATH or tcp:HOST:PORT, got an empty string');
  return { unix: where };
}

/** The address as `unix:/path` or `tcp:host:port`, for messages. */
export function formatWhere(where: Where): string {
  const a = parseWhere(where);
  if ('unix' in a) return `unix:${a.unix}`;
  return `tcp:${a.tcp.host.includes(':') ? `[${a.tcp.host}]` : a.tcp.host}:${a.tcp.port}`;
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p > 0 && p <= 65535;
}

/** Connects (and authenticates, given a token); rejects with ConnectError, or the `auth` ApiError. */
export async function connect(where: Where, opts: ConnectOptions = {}): Promise<Client> {
  const address = parseWhere(where);
  const name = formatWhere(address);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = 'unix' in address ? createConnection({ path: address.unix }) : createConnection({ host: address.tcp.host, port: address.tcp.port });
    const timer = setTimeout(() => {
      s.destroy();
      const err: NodeJS.ErrnoException = new Error(`no connection in ${timeoutMs} ms`);
      err.code = 'ETIMEDOUT';
      reject(new ConnectError(name, err));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      s.destroy();
      reject(new ConnectError(name, err));
    });
  });
  if ('tcp' in address) socket.setNoDelay(true);
  const client = new Client(socket, name, opts);
  if (opts.token !== undefined) {
    try {
      await client.auth(opts.token);
    } catch (err) {
      await client.close();
      throw err;
    }
  }
  return client;
}

interface Pending {
  op: Op;
  resolve(result: unknown): void;
  reject(err: ApiError): void;
  timer: NodeJS.Timeout;
}

const CLOSED_BY_CLIENT = 'connection closed by the client';
/** Bytes of what another kind of server sent that an error shows. */
const PREVIEW_BYTES = 40;

/** One connection to the API. Methods reject with ApiError; all of them may be called concurrently. */
export class Client {
  /** Resolves when the connection is gone: undefined after `close()`, else the reason. Never rejects. */
  readonly closed: Promise<ApiError | undefined>;
  /** The last `hello` answer, if any. */
  server: HelloResult | undefined;

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, Watch>();
  /** Watch requests that timed out: if their answer comes after all, the watch is ended. */
  private readonly abandoned = new Set<number>();
  private readonly reader: FrameReader;
  private readonly timeoutMs: number;
  private readonly watchBuffer: number;
  private queued = 0;
  private paused = false;
  private closeReason: ApiError | undefined;
  private isClosed = false;
  private closedByUs = false;
  /** An error the server sent with `id: null` (it usually closes the connection next): the reason given to pending calls. */
  private serverError: ApiError | undefined;
  /** The server's first bytes, until its first frame turns out to be ours (then null): what to show if it is not. */
  private firstBytes: Buffer | null = Buffer.alloc(0);
  /** Bytes held back until the fifth, which says whether a frame starts there (then null). */
  private held: Buffer | null = Buffer.alloc(0);
  private resolveClosed!: (reason: ApiError | undefined) => void;

  constructor(private readonly socket: Socket, readonly where: string, opts: ConnectOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.watchBuffer = opts.watchBuffer ?? DEFAULT_WATCH_BUFFER;
    this.reader = new FrameReader(opts.maxFrame ?? DEFAULT_MAX_FRAME);
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.shutdown(new ApiError('internal', `connection closed: ${err.message}`)));
    socket.on('close', () => this.shutdown(this.closedByServer()));
    // A half-close from the server: nothing more will come, so nothing pending can be answered.
    socket.on('end', () => this.shutdown(this.closedByServer()));
  }

  /** True once the connection is gone (or closing). */
  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Requests in flight (answered neither by the server nor by a timeout). */
  get inFlight(): number {
    return this.pending.size;
  }

  async hello(): Promise<HelloResult> {
    this.server = await this.request<HelloResult>('hello', {});
    return this.server;
  }

  /** Authenticates the connection: later requests have the token's scopes. */
  auth(token: string): Promise<AuthResult> {
    return this.request<AuthResult>('auth', { token });
  }

  /** One entry; rejects with code 'not-found' when there is none. */
  get(table: string, key: string): Promise<GetResult> {
    return this.request<GetResult>('get', { table, key });
  }

  /** One page of entries in key order; `next` (when `more`) is the `after` of the next page. */
  list(table: string, opts: { prefix?: string; limit?: number; after?: string } = {}): Promise<ListResult> {
    return this.request<ListResult>('list', { table, ...defined(opts) });
  }

  /** The server's counters, and (from a router or host) the whole stack's report under `stack`. */
  stats(): Promise<StatsResult> {
    return this.request<StatsResult>('stats', {});
  }

  /** The primary's newest commits, newest first (merges with their actors and settled conflicts). */
  commits(limit?: number): Promise<CommitsResult> {
    return this.request<CommitsResult>('commits', defined({ limit }));
  }

  /** Syncs a router with its peers now (needs admin): what failed, and each peer merged. */
  sync(): Promise<SyncResult> {
    return this.request<SyncResult>('sync', {});
  }

  /** What changed between two commits of the primary (`to` default: the head). */
  diff(from: number, to?: number, limit?: number): Promise<DiffResult> {
    return this.request<DiffResult>('diff', defined({ from, to, limit }));
  }

  /** Every entry (with the prefix), page after page. */
  async *listAll(table: string, opts: { prefix?: string; pageSize?: number } = {}): AsyncGenerator<Entry, void, undefined> {
    let after: string | undefined;
    for (;;) {
      const page = await this.list(table, { prefix: opts.prefix, limit: opts.pageSize, after });
      yield* page.entries;
      if (!page.more) return;
      const next = page.next ?? page.entries.at(-1)?.key;
      // A page that says there is more but gives no way to ask for it would loop for ever.
      if (next === undefined || next === after) throw new ApiError('internal', `list ${table}: the server said there is more but gave no next key`);
      after = next;
    }
  }

  /**
   * Starts a watch: an async iterable of the changes (with the prefix) from now on. It ends when the
   * server ends the watch (`endReason` says why), after `close()`, or on `break`; it throws the
   * ApiError if the connection is lost.
   */
  async watch(table: string, opts: { prefix?: string } = {}): Promise<Watch> {
    const id = this.nextId;
    const stream = new Watch(this, id, table);
    // Registered before the request goes out: an event could come right behind the answer.
    this.streams.set(id, stream);
    try {
      const result = await this.request<WatchResult>('watch', { table, ...defined(opts) });
      stream.watchId = typeof result?.watch === 'number' ? result.watch : id;
      if (stream.watchId !== id) this.streams.set(stream.watchId, stream);
      return stream;
    } catch (err) {
      this.streams.delete(id);
      throw err;
    }
  }

  /** The entry's changes, newest first (at most `limit`). */
  history(table: string, key: string, limit?: number): Promise<HistoryResult> {
    return this.request<HistoryResult>('history', { table, key, ...defined({ limit }) });
  }

  /** Sets an entry (the value in its readable form); needs the table's write scope. */
  set(table: string, key: string, value: unknown): Promise<SetResult> {
    return this.request<SetResult>('set', { table, key, value });
  }

  /** Removes an entry; `existed` says whether there was one. */
  delete(table: string, key: string): Promise<DeleteResult> {
    return this.request<DeleteResult>('delete', { table, key });
  }

  /**
   * Sends any request and resolves to its `result`. `fields` are the request's fields besides `id`
   * and `op` (a `token` here scopes this request only).
   */
  request<T>(op: Op, fields: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.isClosed) return Promise.reject(this.closeReason ?? new ApiError('internal', CLOSED_BY_CLIENT));
    const id = this.nextId++;
    let frame: Buffer;
    try {
      frame = encodeFrame({ ...fields, id, op });
    } catch (err) {
      return Promise.reject(new ApiError('bad-request', `${op}: cannot encode the request: ${(err as Error).message}`));
    }
    const limit = this.server?.maxFrame;
    if (limit !== undefined && frame.length - 4 > limit) {
      return Promise.reject(new ApiError('frame-too-large', `${op}: the request is ${frame.length - 4} bytes, over the server's limit of ${limit}`));
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        if (op === 'watch') this.abandonWatch(id);
        reject(new ApiError('timeout', `no answer to ${op} (request ${id}) in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { op, resolve: resolve as (r: unknown) => void, reject, timer });
      this.socket.write(frame);
    });
  }

  /** Closes the connection; pending calls reject with 'connection closed by the client'. */
  async close(): Promise<void> {
    if (!this.isClosed) {
      this.closedByUs = true;
      this.shutdown(new ApiError('internal', CLOSED_BY_CLIENT));
      this.socket.end();
      // A server that does not close its side within a moment is not waited for.
      const t = setTimeout(() => this.socket.destroy(), 1000);
      t.unref();
    }
    if (!this.socket.closed) await new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
  }

  // ---- internals, used by Watch ----

  /** @internal */
  unwatch(stream: Watch): Promise<void> {
    this.forget(stream);
    if (this.isClosed || stream.watchId === undefined) return Promise.resolve();
    return this.request<unknown>('unwatch', { watch: stream.watchId }).then(
      () => undefined,
      (err: ApiError) => {
        // The watch is gone either way: ended by the server meanwhile, or the connection with it.
        if (err.code === 'not-found' || this.isClosed) return;
        throw err;
      },
    );
  }

  /** @internal */
  noteQueued(delta: number): void {
    this.queued += delta;
    if (!this.paused && this.queued >= this.watchBuffer) {
      this.paused = true;
      this.socket.pause();
    } else if (this.paused && this.queued <= this.watchBuffer / 2) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private forget(stream: Watch): void {
    if (this.streams.get(stream.requestId) === stream) this.streams.delete(stream.requestId);
    if (stream.watchId !== undefined && this.streams.get(stream.watchId) === stream) this.streams.delete(stream.watchId);
  }

  private abandonWatch(id: number): void {
    const stream = this.streams.get(id);
    if (stream) {
      this.streams.delete(id);
      stream.end('timeout');
    }
    this.abandoned.add(id);
  }

  private onData(chunk: Buffer): void {
    if (this.firstBytes !== null && this.firstBytes.length < PREVIEW_BYTES) this.firstBytes = Buffer.concat([this.firstBytes, chunk.subarray(0, PREVIEW_BYTES - this.firstBytes.length)]);
    if (this.held !== null) {
      // Another kind of server (HTTP, say) would otherwise be read as a length: "HTTP" is 1,213,486,160 bytes.
      this.held = Buffer.concat([this.held, chunk]);
      if (this.held.length < 5) return;
      if (!startsFrame(this.held)) return this.fail(this.notOurs());
      chunk = this.held;
      this.held = null;
    }
    let bodies: Buffer[];
    try {
      bodies = this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err;
      this.fail(new ApiError('frame-too-large', `the server sent a frame of ${err.length} bytes, over the client's limit of ${err.max}`));
      return;
    }
    for (const body of bodies) {
      let msg: unknown;
      try {
        msg = decodeBody(body);
      } catch (err) {
        this.fail(this.firstBytes !== null ? this.notOurs() : new ApiError('bad-frame', `the server sent a frame that is not msgpack: ${(err as Error).message}`));
        return;
      }
      if (this.firstBytes !== null) {
        if (!isServerFrame(msg)) return this.fail(this.notOurs());
        this.firstBytes = null;
      }
      this.dispatch(msg);
      if (this.isClosed) return;
    }
  }

  /** What answered is not a netbranch API: shown as the bytes it sent. */
  private notOurs(): ApiError {
    const b = this.firstBytes ?? Buffer.alloc(0);
    return new ApiError('bad-frame', `not a netbranch API at ${this.where} (got ${printable(b)}${b.length >= PREVIEW_BYTES ? '…' : ''})`);
  }

  /** The reason a connection the server closed gives: its error, or what it sent if that was not ours. */
  private closedByServer(): ApiError {
    if (this.serverError) return this.serverError;
    if (this.firstBytes !== null && this.firstBytes.length > 0) return this.notOurs();
    return new ApiError('internal', 'connection closed by the server');
  }

  /** Routes one frame; anything not recognised (a new kind of event, an id not waited for) is ignored. */
  private dispatch(msg: unknown): void {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return;
    const m = msg as Record<string, unknown>;
    if (typeof m.event === 'string') {
      const stream = typeof m.id === 'number' ? this.streams.get(m.id) : undefined;
      if (!stream) return;
      if (m.event === 'change' && typeof m.key === 'string') {
        stream.push({ id: m.id as number, event: 'change', table: typeof m.table === 'string' ? m.table : stream.table, key: m.key, value: m.value ?? null });
      } else if (m.event === 'end') {
        this.forget(stream);
        stream.end(typeof m.reason === 'string' ? m.reason : 'ended by the server');
      }
      return;
    }
    if (m.ok !== true && m.ok !== false) return;
    if (typeof m.id !== 'number') {
      // A connection-level error (`id: null`): the server usually closes next; it is the reason then.
      if (m.ok === false) this.serverError = toApiError(m.error);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) {
      // A watch we stopped waiting for was started after all: end it.
      if (this.abandoned.delete(m.id) && m.ok === true) {
        const w = (m.result as WatchResult | undefined)?.watch;
        if (typeof w === 'number') this.request('unwatch', { watch: w }).catch(() => {});
      }
      return;
    }
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok === true) p.resolve(m.result);
    else p.reject(toApiError(m.error));
  }

  /** A protocol failure on our side of the connection: closed, with this reason. */
  private fail(reason: ApiError): void {
    this.shutdown(reason);
    this.socket.destroy();
  }

  private shutdown(reason: ApiError): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.pending.clear();
    const streams = new Set(this.streams.values());
    this.streams.clear();
    for (const s of streams) {
      if (this.closedByUs) s.end('connection closed by the client');
      else s.fail(reason);
    }
    if (this.paused) this.socket.resume();
    this.resolveClosed(this.closedByUs ? undefined : reason);
  }
}

/** A running watch: iterate it for ChangeEvents; `close()` (or `break`) sends `unwatch`. */
export class Watch implements AsyncIterableIterator<ChangeEvent> {
  /** The watch's id as the server named it (set once the server has answered). */
  watchId: number | undefined;
  /** Why the server ended the watch (undefined while it runs, or when the client stopped it). */
  endReason: string | undefined;

  private readonly queue: ChangeEvent[] = [];
  private readonly waiters: { resolve(r: IteratorResult<ChangeEvent>): void; reject(e: ApiError): void }[] = [];
  private done = false;
  private error: ApiError | undefined;
  private closing: Promise<void> | undefined;

  /** @internal */
  constructor(private readonly client: Client, readonly requestId: number, readonly table: string) {}

  /** @internal */
  push(ev: ChangeEvent): void {
    if (this.done) return;
    const w = this.waiters.shift();
    if (w) w.resolve({ value: ev, done: false });
    else {
      this.queue.push(ev);
      this.client.noteQueued(1);
    }
  }

  /** @internal: no more events; what is queued is still delivered. */
  end(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.endReason = reason;
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  /** @internal: the connection was lost; queued events are delivered, then `next` rejects. */
  fail(err: ApiError): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  next(): Promise<IteratorResult<ChangeEvent>> {
    const ev = this.queue.shift();
    if (ev) {
      this.client.noteQueued(-1);
      return Promise.resolve({ value: ev, done: false });
    }
    if (this.done) {
      if (this.error) {
        const err = this.error;
        this.error = undefined; // thrown once; after that the iterator is simply finished
        return Promise.reject(err);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Called by `break` in `for await`: stops the watch. */
  async return(): Promise<IteratorResult<ChangeEvent>> {
    await this.close();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops the watch (sends `unwatch` if it still runs); events not yet read are dropped. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const running = !this.done;
    this.client.noteQueued(-this.queue.length);
    this.queue.length = 0;
    this.error = undefined;
    if (running) {
      this.end('closed by the client');
      this.endReason = undefined;
    }
    this.closing = running ? this.client.unwatch(this) : Promise.resolve();
    return this.closing;
  }
}

function toApiError(e: unknown): ApiError {
  const err = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? (err.code as ErrorCode) : 'internal';
  const message = typeof err.message === 'string' ? err.message : `the server answered with an error (${code})`;
  return new ApiError(code, message);
}

/** A frame starts here: a length, then a msgpack map (fixmap, map16 or map32), as every server frame is. */
function startsFrame(b: Buffer): boolean {
  const t = b[4];
  return b.readUInt32BE(0) > 0 && ((t & 0xf0) === 0x80 || t === 0xde || t === 0xdf);
}

/** A response or a stream event. */
function isServerFrame(msg: unknown): boolean {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return false;
  const m = msg as Record<string, unknown>;
  return typeof m.ok === 'boolean' || typeof m.event === 'string';
}

/** Bytes as a quoted string a terminal shows as is: printable ASCII as itself, CR LF TAB as \r \n \t, the rest as \xNN. */
function printable(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x09) s += '\\t';
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `"${s}"`;
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}
