// The external-lookup API's server, its transport: a Unix socket (0600, in a 0700 directory) and
// optionally loopback TCP, length-prefixed msgpack frames (api/protocol.ts), the watches' streams.
// What each request does is requests.ts's. Hostile clients are expected: every frame is bounded,
// every stream's buffer is bounded, a half-sent frame times out, and every refusal gets an error
// code, a counter and a log. The clock is read where a socket, timer or source event arrives.
import * as net from 'node:net';
import { chmodSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeBody, encodeFrame, FrameReader, FrameTooLargeError } from '../frames.js';
import { DEFAULT_MAX_FRAME, type ChangeEvent, type ErrorCode, type InterfaceInfo, type Request, type StreamEvent } from '../protocol.js';
import { CodecError, showValue } from '../../store/index.js';
import type { LookupSource, SourceChange } from './source.js';
import type { TokenSpec } from './tokens.js';
import { unixSocketProblem, unixSocketState } from './listeners.js';
import { LogLimiter, type ApiLog } from './log-limiter.js';
import { RequestError, Requests, type RequestHost, type Session, type TableRule, type Watch } from './requests.js';

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
  log?: ApiLog;
  /** The tables' clock (hello reports it, so clients can show times relative to it). */
  clock?: () => number;
  /** Per table: what the API may write and an example key. A table not named here is read-only. */
  tables?: Readonly<Record<string, TableRule>>;
  /** The stack's interfaces as hello reports them, read at each hello (an outside address may come from a lease). */
  interfaces?: () => InterfaceInfo[];
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

/**
 * A watch stream on another transport (the web page's Server-Sent Events, api/server/event-stream.ts): a session
 * the server checks as it does a TCP client's, and feeds as it does a socket's watches, with the same slow-consumer bound.
 */
export interface StreamSink extends Session {
  /** Bytes written and not yet taken by the client. */
  readonly buffered: number;
  /**
   * Changes are held this long (ms) and a key changed several times goes out once, with its value at the end of the
   * window: a page needs each busy flow once or twice a second, not at every merge. 0: each change as it comes.
   */
  readonly coalesceMs: number;
  send(event: StreamEvent): void;
  /** Ends the stream: after its end event, or at once (`drop`: a slow consumer, whom no goodbye would reach). */
  close(drop: boolean): void;
}

/** Why a watch ends when the replica was reloaded. */
const RESYNC = 'resync: the branch was reloaded; list the table again and watch anew';

/** The id of a stream's one watch (its events carry it, as a socket watch's carry the watch request's id). */
const STREAM_WATCH = 1;

class Connection implements Session {
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
  /** Errors answered by code, on every transport (the HTTP view counts its own through countError). */
  private readonly errorsByCode: Record<string, number> = {};
  private readonly conns = new Set<Connection>();
  /** Watch streams on other transports (openStream). */
  private readonly sinks = new Set<StreamSink>();
  /** A coalescing stream's open window: the changes held in it, by `table index:key` (values read when it ends). */
  private readonly held = new Map<StreamSink, Map<string, SourceChange>>();
  private readonly servers: net.Server[] = [];
  private readonly opts: Required<Pick<LookupServerOptions, 'maxFrame' | 'maxConnections' | 'maxBuffered' | 'frameTimeoutMs'>>;
  private readonly requests: Requests;
  private readonly logs: LogLimiter;
  private unsubscribe: () => void;
  private unixPath: string | null = null;
  private stopping = false;

  constructor(readonly source: LookupSource, opts: LookupServerOptions) {
    this.opts = {
      maxFrame: opts.maxFrame ?? DEFAULT_MAX_FRAME,
      maxConnections: opts.maxConnections ?? 4096,
      maxBuffered: opts.maxBuffered ?? 4 << 20,
      frameTimeoutMs: opts.frameTimeoutMs ?? 10_000,
    };
    this.logs = new LogLimiter(opts.log ?? (() => {}));
    this.requests = new Requests(source, {
      role: opts.role, tokens: opts.tokens, maxFrame: this.opts.maxFrame, maxWatchesPerConnection: opts.maxWatchesPerConnection ?? 32,
      clock: opts.clock ?? Date.now, tables: opts.tables ?? {}, interfaces: opts.interfaces,
    }, this.requestHost());
    this.unsubscribe = source.subscribe((c) => this.onChanges(c, Date.now()), () => this.onReset(Date.now()));
  }

  /** What request handling may do to the connections: stream writes, end a watch, count and log. */
  private requestHost(): RequestHost {
    return {
      written: (changes, now) => { this.counters.writes++; this.onChanges(changes, now); },
      unwatched: (s, id, now) => { if (s instanceof Connection) this.send(s, { id, event: 'end', reason: 'unwatched' }, now); },
      refused: (s, code, reason, req, now) => this.refuse(s, code, reason, req, now),
      log: (now, level, msg, fields) => this.log(now, level, msg, fields),
      stats: () => ({ ...this.counters }),
      errorsByCode: () => ({ ...this.errorsByCode }),
    };
  }

  /** Listens on a Unix socket: the directory is made 0700, a stale socket replaced, the socket 0600. */
  async listenUnix(path: string): Promise<void> {
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new Error(`${dir} belongs to another user (uid ${st.uid}); choose another --api path`);
    if ((st.mode & 0o022) !== 0) throw new Error(`${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); the socket must not be: choose another --api path`);
    await this.removeStale(path);
    const server = net.createServer((s) => this.accept(s, 'unix', Date.now()));
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
    const server = net.createServer((s) => this.accept(s, 'tcp', Date.now()));
    await listen(server, () => server.listen({ port, host, backlog: LISTEN_BACKLOG }));
    this.servers.push(server);
    return (server.address() as net.AddressInfo).port;
  }

  /**
   * A read-only request from the HTTP view, with that client's token: the same checks and answers
   * as a socket request (the op must be hello, get, list or history). `now`: when it arrived.
   */
  answerReadOnly(req: Request, token: string | undefined, now: number): Promise<unknown> {
    return this.requests.answerReadOnly(req, token, now);
  }

  /**
   * Starts `sink`'s watch of `table` (keys under `prefix`), checked as a TCP client's `auth` then `watch` are: an
   * unknown token, a missing read scope or an unknown table throws RequestError, refusals counted and logged as there.
   */
  openStream(sink: StreamSink, token: string, table: string, prefix: string | undefined, now: number): void {
    if (this.stopping) throw new RequestError('shutting-down', 'the server is stopping');
    if (this.sinks.size >= this.opts.maxConnections) {
      this.counters.tooManyConnections++;
      throw new RequestError('too-many-connections', `${this.opts.maxConnections} event streams are open`);
    }
    const steps: Request[] = [{ id: 0, op: 'auth', token }, { id: STREAM_WATCH, op: 'watch', table, prefix }];
    for (const req of steps) {
      try {
        this.requests.answer(sink, req, now);
      } catch (err) {
        if (err instanceof RequestError && (err.code === 'forbidden' || err.code === 'unauthenticated')) this.refuse(sink, err.code, err.message, req, now);
        throw err;
      }
    }
    this.sinks.add(sink);
  }

  /** The stream's client went away: nothing more is sent to it. */
  closeStream(sink: StreamSink): void {
    this.sinks.delete(sink);
    this.held.delete(sink);
    sink.watches.clear();
  }

  // ------------------------------------------------------------------ connections and frames

  private accept(socket: net.Socket, kind: 'unix' | 'tcp', now: number): void {
    this.counters.connections++;
    if (this.stopping || this.conns.size >= this.opts.maxConnections) {
      this.counters.tooManyConnections++;
      this.refuse(null, 'too-many-connections', this.stopping ? 'the server is stopping' : `${this.opts.maxConnections} connections are open`, undefined, now);
      socket.end(encodeFrame({ id: null, ok: false, error: { code: this.stopping ? 'shutting-down' : 'too-many-connections', message: 'try again later' } }));
      socket.on('error', () => {});
      return;
    }
    const c = new Connection(socket, kind, this.opts.maxFrame);
    this.conns.add(c);
    this.counters.open = this.conns.size;
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(c, chunk, Date.now()));
    socket.on('error', () => this.drop(c));
    socket.on('close', () => this.drop(c));
  }

  private onData(c: Connection, chunk: Buffer, now: number): void {
    if (c.closed) return;
    const frames = this.readFrames(c, chunk, now);
    if (frames === null) return;
    for (const body of frames) {
      if (c.closed) return;
      this.onFrame(c, body, now);
    }
    this.timeFrame(c, frames.length > 0);
  }

  /** The frames this chunk completes, or null when it announced one over the limit (the connection is closed). */
  private readFrames(c: Connection, chunk: Buffer, now: number): Buffer[] | null {
    try {
      return c.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err;
      this.counters.oversized++;
      this.fail(c, null, 'frame-too-large', err.message, true, now);
      return null;
    }
  }

  /**
   * A frame begun must be finished in time (a client trickling bytes holds no buffer for ever).
   * The time is per frame: once one is finished (`finished`), the clock starts again for the next.
   */
  private timeFrame(c: Connection, finished: boolean): void {
    if (finished && c.frameTimer !== null) {
      clearTimeout(c.frameTimer);
      c.frameTimer = null;
    }
    if (c.reader.pending > 0 && c.frameTimer === null && !c.closed) {
      c.frameTimer = setTimeout(() => {
        this.counters.timeouts++;
        this.fail(c, null, 'timeout', `a frame was begun and not finished within ${this.opts.frameTimeoutMs} ms`, true, Date.now());
      }, this.opts.frameTimeoutMs);
    } else if (c.reader.pending === 0 && c.frameTimer !== null) {
      clearTimeout(c.frameTimer);
      c.frameTimer = null;
    }
  }

  private onFrame(c: Connection, body: Buffer, now: number): void {
    const req = this.request(c, body, now);
    if (req === null) return;
    this.counters.requests++;
    let r: unknown;
    try {
      r = this.requests.answer(c, req, now);
    } catch (err) {
      this.failRequest(c, req, err, now);
      return;
    }
    if (r instanceof Promise) {
      // An answer that comes later (history) is sent at the time it settles.
      r.then((v) => this.send(c, { id: req.id, ok: true, result: v }, Date.now()), (err) => this.failRequest(c, req, err, Date.now()));
    } else {
      this.send(c, { id: req.id, ok: true, result: r }, now);
    }
  }

  /** The frame as a request, or null when it is none (answered with bad-frame). */
  private request(c: Connection, body: Buffer, now: number): Request | null {
    let msg: unknown;
    try {
      msg = decodeBody(body);
    } catch (err) {
      this.counters.badFrames++;
      this.fail(c, null, 'bad-frame', `not msgpack: ${(err as Error).message}`, true, now);
      return null;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || typeof (msg as { id?: unknown }).id !== 'number' || typeof (msg as { op?: unknown }).op !== 'string') {
      this.counters.badFrames++;
      const id = typeof (msg as { id?: unknown } | null)?.id === 'number' ? (msg as { id: number }).id : null;
      this.fail(c, id, 'bad-frame', 'a request is a map with a numeric id and a string op', false, now);
      return null;
    }
    return msg as Request;
  }

  private failRequest(c: Connection, req: Request, err: unknown, now: number): void {
    if (err instanceof RequestError) this.fail(c, req.id, err.code, err.message, false, now, req);
    else if (err instanceof CodecError) this.fail(c, req.id, 'bad-value', err.message, false, now, req);
    else {
      this.fail(c, req.id, 'internal', (err as Error).message, false, now, req);
      this.log(now, 'error', 'lookup: request failed', { op: req.op, err: (err as Error).message });
    }
  }

  /** Sends an error; `close` ends the connection (the stream can no longer be trusted). */
  private fail(c: Connection, id: number | null, code: ErrorCode, message: string, close: boolean, now: number, req?: Request): void {
    this.countError(code);
    if (code === 'forbidden' || code === 'unauthenticated') this.refuse(c, code, message, req, now);
    else if (close) this.log(now, 'warn', `lookup: ${code}`, { client: c.name, kind: c.kind, reason: message });
    this.send(c, { id, ok: false, error: { code, message } }, now);
    if (close) {
      c.closed = true;
      c.socket.end();
      setTimeout(() => c.socket.destroy(), 1_000).unref();
    }
  }

  /** One error answered, whatever the transport. */
  countError(code: ErrorCode): void {
    this.counters.errors++;
    this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
  }

  private refuse(s: Session | null, code: ErrorCode, reason: string, req: Request | undefined, now: number): void {
    this.counters.refused++;
    this.log(now, 'warn', `lookup: refused (${code})`, { client: s?.name, kind: s?.kind, op: req?.op, table: (req as { table?: string } | undefined)?.table, reason });
  }

  /** Logs, at most 50 lines a second (a hostile client must not flood the router's log). */
  private log(now: number, level: 'info' | 'warn' | 'error', msg: string, fields: object = {}): void {
    if (!this.logs.log(now, level, msg, fields)) this.counters.droppedLogs++;
  }

  /** `now` is for the backlog check's log line; `checkBacklog` false sends without judging it (a batch of events). */
  private send(c: Connection, frame: unknown, now: number, checkBacklog = true): void {
    if (c.socket.destroyed) return;
    c.socket.write(encodeFrame(frame));
    if (checkBacklog) this.checkBacklog(c, now);
  }

  /** Never buffer without bound for a client that does not read: drop it. */
  private checkBacklog(c: Connection, now: number): boolean {
    if (c.closed || !this.tooSlow(c.socket.writableLength, c.name, now)) return false;
    c.closed = true;
    c.socket.destroy();
    return true;
  }

  /** True when a client left more than maxBuffered bytes unread: it is to be dropped (counted and logged here). */
  private tooSlow(buffered: number, client: string, now: number): boolean {
    if (buffered <= this.opts.maxBuffered) return false;
    this.counters.slowConsumers++;
    this.log(now, 'warn', 'lookup: slow consumer dropped', { client, buffered });
    return true;
  }

  private drop(c: Connection): void {
    if (!this.conns.delete(c)) return;
    c.closed = true;
    if (c.frameTimer) clearTimeout(c.frameTimer);
    c.watches.clear();
    this.counters.open = this.conns.size;
  }

  // ------------------------------------------------------------------ streams

  private onChanges(changes: readonly SourceChange[], now: number): void {
    for (const s of this.sinks) this.feedStream(s, changes, now);
    if (this.conns.size === 0) return;
    for (const c of this.conns) {
      if (c.watches.size === 0 || c.closed) continue;
      // The backlog is judged before a batch, not during it: one big merge's events go out whole to
      // a client that has read what it had (the buffer is bounded by maxBuffered plus one batch).
      if (this.checkBacklog(c, now)) continue;
      for (const [id, w] of c.watches) {
        this.sendChanges(c, id, w, changes, now);
        if (c.closed) break;
      }
    }
  }

  /** One watch's share of a batch of changes, sent on the socket. */
  private sendChanges(c: Connection, id: number, w: Watch, changes: readonly SourceChange[], now: number): void {
    for (const ev of this.changeEvents(id, w, changes)) this.send(c, ev, now, false);
  }

  /** A stream's share of a batch, its backlog judged before the batch as a socket's is. */
  private feedStream(s: StreamSink, changes: readonly SourceChange[], now: number): void {
    if (this.tooSlow(s.buffered, s.name, now)) {
      this.closeStream(s);
      s.close(true);
      return;
    }
    if (s.coalesceMs > 0) this.hold(s, changes);
    else this.sendToStream(s, changes);
  }

  private sendToStream(s: StreamSink, changes: readonly SourceChange[]): void {
    for (const [id, w] of s.watches) for (const ev of this.changeEvents(id, w, changes)) s.send(ev);
  }

  /**
   * A throttle with a leading edge: a batch that comes while no window is open goes out at once and opens one; what
   * comes during the window is held, each key once, and goes out when it ends (opening the next, if it sent any). A
   * quiet table's changes are never delayed; a busy one's reach the client once a window.
   */
  private hold(s: StreamSink, changes: readonly SourceChange[]): void {
    const held = this.held.get(s);
    if (!held) {
      this.sendToStream(s, changes);
      this.openWindow(s);
      return;
    }
    const tables = new Set([...s.watches.values()].map((w) => w.table));
    for (const c of changes) if (tables.has(c[0])) held.set(`${c[0]}:${c[1]}`, c);
  }

  private openWindow(s: StreamSink): void {
    this.held.set(s, new Map());
    setTimeout(() => this.release(s), s.coalesceMs).unref();
  }

  /** The window is over: each held key once, with its value now; the next window opens only if this one held any. */
  private release(s: StreamSink): void {
    const held = this.held.get(s);
    this.held.delete(s);
    if (!held || held.size === 0 || !this.sinks.has(s)) return;
    const changes: SourceChange[] = [];
    for (const [ti, k] of held.values()) changes.push([ti, k, this.source.table(ti).get(k)]);
    this.sendToStream(s, changes);
    this.openWindow(s);
  }

  /** One watch's share of a batch of changes: those of its table under its prefix, counted as events. */
  private *changeEvents(id: number, w: Watch, changes: readonly SourceChange[]): Generator<ChangeEvent> {
    const tables = this.source.schema.tables;
    for (const [ti, k, v] of changes) {
      if (ti !== w.table) continue;
      const t = tables[ti];
      const key = t.key.encode(k as never);
      if (!key.startsWith(w.prefix)) continue;
      this.counters.events++;
      yield { id, event: 'change', table: t.name, key, value: v === undefined ? null : showValue(t.value, v) };
    }
  }

  /** Every stream on another transport ends with `reason` (its client lists again and watches anew, or stops). */
  private endStreams(reason: string): void {
    for (const s of this.sinks) {
      for (const id of s.watches.keys()) s.send({ id, event: 'end', reason });
      s.close(false);
    }
    this.sinks.clear();
  }

  /** A resync replaced the branch: watches end (their clients list again). */
  private onReset(now: number): void {
    for (const c of this.conns) {
      for (const id of c.watches.keys()) this.send(c, { id, event: 'end', reason: RESYNC }, now);
      c.watches.clear();
    }
    this.endStreams(RESYNC);
  }

  /** Closes every listener and connection (watches end with 'shutting-down'). */
  async close(): Promise<void> {
    this.stopping = true;
    this.unsubscribe();
    const now = Date.now(); // the owner's shutdown: an edge, as a socket event is
    this.endStreams('shutting-down');
    for (const c of this.conns) {
      for (const id of c.watches.keys()) this.send(c, { id, event: 'end', reason: 'shutting-down' }, now);
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
