// One table's changes as Server-Sent Events (text/event-stream) on an HTTP response: the web page's live feed,
// `GET /api/TABLE/events?prefix=`. The lookup server checks and feeds it as a TCP client's watch (openStream):
//   event: change           data: {"table","key","value"}     value null: removed
//   event: end              data: {"reason"}                  shutting-down, or a resync (list again, watch anew)
//   : heartbeat NOW         every 15 s, a comment: the client (and any proxy) sees the stream is alive
// There is no `id:`/Last-Event-ID resume: a client that reconnects lists the table again. Changes are throttled over
// `?coalesce=MS` (default 500, 0: every change): a batch after a quiet spell goes out at once; what follows within the
// window is held, and a key changed several times in it is sent once, as it is at the window's end.
import type * as http from 'node:http';
import type { StreamEvent } from '../protocol.js';
import type { StreamSink } from './lookup-server.js';
import type { Watch } from './requests.js';

export const HEARTBEAT_MS = 15_000;
/** A page shows a busy flow's counters twice a second, and a new flow within 0.5 s of its merge. */
export const DEFAULT_COALESCE_MS = 500;
/** The longest window a client may ask for (`?coalesce=MS`). */
export const MAX_COALESCE_MS = 5_000;

/** The headers of an event stream: never cached, never buffered by a proxy. */
export const EVENT_STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' };

export class EventStream implements StreamSink {
  /** As a TCP client: nothing without a token (the server's `auth` gives it the token's scopes and name). */
  readonly kind = 'tcp' as const;
  scopes: string[] = [];
  readonly watches = new Map<number, Watch>();
  private heartbeat: NodeJS.Timeout | null = null;
  private closed = false;
  /** Events of the batch being sent: written as one chunk once the batch is done (a busy NAT table sends thousands a second). */
  private pending: string[] = [];

  private who = 'anonymous';

  /** `coalesceMs`: the server holds changes this long and sends each key once (StreamSink.coalesceMs). */
  constructor(private readonly res: http.ServerResponse, readonly coalesceMs = DEFAULT_COALESCE_MS) {}

  /** As the HTTP view names its clients in the log: `http:NAME` (the token's name, once `auth` gave it). */
  get name(): string {
    return `http:${this.who}`;
  }

  set name(name: string) {
    this.who = name;
  }

  get buffered(): number {
    return this.res.writableLength + this.pending.reduce((n, x) => n + x.length, 0);
  }

  /** The head and a first comment at once, so the client knows the watch is on before any change comes. */
  open(table: string, now: number): void {
    this.res.writeHead(200, EVENT_STREAM_HEADERS);
    this.res.write(`: watching ${table} at ${now}\n\n`);
    this.heartbeat = setInterval(() => this.beat(Date.now()), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  beat(now: number): void {
    if (!this.closed) this.res.write(`: heartbeat ${now}\n\n`);
  }

  send(ev: StreamEvent): void {
    if (this.closed) return;
    const data = ev.event === 'change' ? { table: ev.table, key: ev.key, value: ev.value } : { reason: ev.reason };
    // JSON.stringify escapes every newline: the data is one line, as SSE needs.
    if (this.pending.push(`event: ${ev.event}\ndata: ${JSON.stringify(data)}\n\n`) === 1) queueMicrotask(() => this.flush());
  }

  /** The batch's events in one write (the server sends a batch synchronously, so a microtask later it is whole). */
  private flush(): void {
    if (this.pending.length === 0 || this.res.destroyed) return;
    this.res.write(this.pending.join(''));
    this.pending = [];
  }

  close(drop: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (drop) {
      this.pending = [];
      this.res.destroy();
    } else {
      this.flush();
      this.res.end();
    }
  }
}
