// The external-lookup API's protocol, shared by the server (api/server/lookup-server.ts) and the client
// (api/client.ts). Frames are a 4-byte big-endian length and a msgpack map; docs/api.md is the
// reference for writing a client in another language. One named interface per message.

export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts by default (bytes of msgpack after the length). */
export const DEFAULT_MAX_FRAME = 1 << 20;

export type Op = 'hello' | 'auth' | 'get' | 'list' | 'watch' | 'unwatch' | 'history' | 'set' | 'delete' | 'stats';

/** Every request carries an id the response (and a watch's events) echo, and may carry a token. */
export interface RequestBase {
  id: number;
  op: Op;
  /** Scopes for this request only (the connection's `auth` scopes otherwise). */
  token?: string;
}

export interface HelloRequest extends RequestBase { op: 'hello' }
/** Authenticates the connection: later requests have the token's scopes. */
export interface AuthRequest extends RequestBase { op: 'auth'; token: string }
export interface GetRequest extends RequestBase { op: 'get'; table: string; key: string }
export interface ListRequest extends RequestBase {
  op: 'list';
  table: string;
  /** Only keys (as shown, e.g. `10.201.0.`) starting with this. */
  prefix?: string;
  /** At most this many entries (default 1,000, at most 100,000). */
  limit?: number;
  /** Resume after this key (the `next` of the previous page). */
  after?: string;
}
export interface WatchRequest extends RequestBase { op: 'watch'; table: string; prefix?: string }
/** Ends the watch started by request `watch`. */
export interface UnwatchRequest extends RequestBase { op: 'unwatch'; watch: number }
export interface HistoryRequest extends RequestBase { op: 'history'; table: string; key: string; limit?: number }
export interface SetRequest extends RequestBase { op: 'set'; table: string; key: string; value: unknown }
export interface DeleteRequest extends RequestBase { op: 'delete'; table: string; key: string }
export interface StatsRequest extends RequestBase { op: 'stats' }

export type Request = HelloRequest | AuthRequest | GetRequest | ListRequest | WatchRequest | UnwatchRequest | HistoryRequest | SetRequest | DeleteRequest | StatsRequest;

export type ErrorCode =
  | 'bad-frame' // not msgpack, or not a map with a numeric id and an op
  | 'frame-too-large' // the length prefix is over the limit: the connection is closed
  | 'bad-request' // a field is missing or of the wrong type
  | 'unknown-op'
  | 'unknown-table'
  | 'bad-key' // the key fails the table's key codec
  | 'bad-value' // the value fails the table's value codec, or the table's write rule
  | 'not-found'
  | 'unauthenticated' // TCP needs a token before anything else
  | 'forbidden' // the token lacks the scope (the message names it)
  | 'read-only-table' // the table takes no writes through the API
  | 'too-many-watches'
  | 'slow-consumer' // the client did not read its stream: the connection is closed
  | 'timeout' // a frame started and was not finished in time: the connection is closed
  | 'too-many-connections'
  | 'shutting-down'
  | 'internal';

export interface OkResponse<T = unknown> { id: number; ok: true; result: T }
export interface ErrorResponse { id: number | null; ok: false; error: { code: ErrorCode; message: string } }
export type Response<T = unknown> = OkResponse<T> | ErrorResponse;

/** A watch's change: `value` null when the entry was removed. */
export interface ChangeEvent { id: number; event: 'change'; table: string; key: string; value: unknown }
/** A watch ended by the server (unwatch, shutdown, a lost replica). */
export interface EndEvent { id: number; event: 'end'; reason: string }
export type StreamEvent = ChangeEvent | EndEvent;

export interface TableInfo {
  name: string;
  /** Can entries be set through the API (with a write scope)? Any table can have entries removed. */
  writable: boolean;
  /** What a key looks like, e.g. `10.201.0.2`. */
  keyExample: string;
}

export interface HelloResult {
  server: 'netbranch';
  protocol: number;
  /** What the server serves: `router` or `sim`. */
  role: string;
  tables: TableInfo[];
  /** Scopes this connection has now. */
  scopes: string[];
  maxFrame: number;
  /** The tables' clock now (ms): `expires`, `lastSeen` etc. are on it (the epoch in a router, simulated time in a sim). */
  now: number;
}

export interface AuthResult { name: string; scopes: string[] }
export interface Entry { key: string; value: unknown }
export interface GetResult { table: string; key: string; value: unknown }
export interface ListResult { table: string; entries: Entry[]; more: boolean; next?: string }
export interface WatchResult { watch: number }
export interface HistoryEntry {
  seq: number;
  time: number;
  author: string;
  message: string;
  /** The entry's value after that commit (null: removed). */
  value: unknown;
}
export interface HistoryResult { table: string; key: string; entries: HistoryEntry[]; /** False when older changes were released from the log. */ complete: boolean }
export interface SetResult { table: string; key: string; value: unknown }
export interface DeleteResult { table: string; key: string; existed: boolean }

/** Scopes: `read:TABLE`, `write:TABLE` (TABLE may be `*`), `admin` (everything). */
export function hasScope(scopes: readonly string[], want: string): boolean {
  if (scopes.includes('admin') || scopes.includes(want)) return true;
  const [kind] = want.split(':');
  return scopes.includes(`${kind}:*`);
}
