// The external-lookup API's protocol, shared by the server (api/server/lookup-server.ts) and the client
// (api/client.ts). Frames are a 4-byte big-endian length and a msgpack map; docs/api.md is the
// reference for writing a client in another language. One named interface per message.

export const PROTOCOL_VERSION = 1;
/** Largest frame either side accepts by default (bytes of msgpack after the length). */
export const DEFAULT_MAX_FRAME = 1 << 20;

export type Op = 'hello' | 'auth' | 'get' | 'list' | 'watch' | 'unwatch' | 'history' | 'set' | 'delete' | 'stats' | 'commits' | 'diff' | 'sync';

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
/** The primary's recent commits, newest first: merges with their actors and settled conflicts. */
export interface CommitsRequest extends RequestBase { op: 'commits'; /** At most this many (1–1,024, default 100). */ limit?: number }
/** What changed between two retained commits of the primary (`to` default: the head). */
export interface DiffRequest extends RequestBase { op: 'diff'; from: number; to?: number; /** At most this many changes (default 1,000). */ limit?: number }

/** Syncs with the peer routers now (push, fetch, merge; docs/ha.md), between the interval's syncs. Needs `admin`. */
export interface SyncRequest extends RequestBase { op: 'sync' }

export type Request = HelloRequest | AuthRequest | GetRequest | ListRequest | WatchRequest | UnwatchRequest | HistoryRequest | SetRequest | DeleteRequest | StatsRequest | CommitsRequest | DiffRequest | SyncRequest;

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
  /** The stack's interfaces, where it has them (a router's inside and outside). */
  interfaces?: InterfaceInfo[];
}

export interface AuthResult { name: string; scopes: string[] }
/** `stats`: the API server's own counters at the top level, per-op requests, errors by code, and the stack's report. */
export interface StatsResult {
  [counter: string]: unknown;
  requestsByOp: Record<string, number>;
  errorsByCode: Record<string, number>;
  /** Absent where the server has no stack behind it (a test fixture). */
  stack?: StackReport;
}
/** A network interface of the stack as `hello` reports it (the outside one's address may come from a lease: 0.0.0.0 until then). */
export interface InterfaceInfo { role: 'inside' | 'outside' | 'host'; dev: string; ip: string; prefix: number; mac: string }
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

/** One commit of the primary as `commits` answers it. `parents[1]` of a merge is the actor branch's head. */
export interface CommitInfo {
  seq: number;
  kind: 'root' | 'commit' | 'merge' | 'fast-forward' | 'sync' | 'revert';
  parents: number[];
  /** The actor (replica id `name#incarnation`) or person that made it. */
  author: string;
  time: number;
  message: string;
  /** Changed entries per table name. */
  changes: Record<string, number>;
  /** Conflicts its merge settled by the table's rule. */
  conflicts: { table: string; key: string; reason: string }[];
}
export interface CommitsResult { head: number; commits: CommitInfo[]; /** False when older commits were released. */ complete: boolean }
export interface DiffChange { table: string; key: string; /** null: absent. */ before: unknown; after: unknown }
export interface DiffResult { from: number; to: number; changes: DiffChange[]; more: boolean }

/** One actor's counters (its thread's stats call): merges, conflicts, and each component's counters by name. */
export interface ActorReport {
  name: string;
  /** 'packet' (host or router), 'arp-expiry', 'router-expiry', 'lookup'. */
  kind: string;
  incarnation: number;
  /** The primary commit its replica is based on. */
  base: number;
  pendingEdits: number;
  pushes: number;
  heads: number;
  conflicts: number;
  rejected: number;
  resyncs: number;
  /** `component.counter` → value, e.g. `nat.created`, `inside.rxFrames`, `arp.requestsAnswered`. */
  counters: Record<string, number>;
}

/** A histogram as Prometheus keeps one: cumulative counts per upper bound (`le`, ms), their sum and count. */
export interface Histogram { buckets: [le: number, count: number][]; sum: number; count: number }

/**
 * The whole stack at one moment, gathered on the main thread: what `stats` answers under `stack`, what
 * `/metrics`, `netbranch stats` and the router's SIGUSR1 show.
 */
export interface StackReport {
  role: string;
  /** Epoch ms when gathered, and seconds since the process started. */
  now: number;
  uptimeS: number;
  /** The primary's head commit. */
  head: number;
  /** Entries per table on the primary, and the configured limit where one exists (`nat`: max flows × actors). */
  tables: { name: string; entries: number; limit?: number }[];
  actors: ActorReport[];
  /** Restarts by actor name (crashes and start-up retries). */
  restarts: Record<string, number>;
  /** The supervisor's own counters: deltas merged, crashes, ... */
  supervisor: Record<string, number>;
  /** The store's counters: commits, merges, fastForwards, conflicts, released, rejectedDeltas, ... */
  store: Record<string, number>;
  /** Conflicts settled on the primary, by table (each table settles by its own rule). */
  conflictsByTable: Record<string, number>;
  /** How long merging one actor's delta into the primary took (ms). */
  mergeMs: Histogram;
  /** With --store git:DIR: the backend's counters, the last flush's duration, and commits not yet flushed. */
  git?: Record<string, number>;
  /** With --peer: the sync with the peer routers through the git server (docs/ha.md). */
  peers?: PeerSyncReport;
  /** With --vrrp: this router's failover state (docs/ha.md). */
  failover?: FailoverReport;
}

/** What one sync with the peers did: the step that failed (null: none), and each peer merged. */
export interface SyncResult {
  failed: null | { step: string; reason: string; message: string };
  merged: { peer: string; head: string; applied: number; rejected: number; conflicts: number }[];
}

/** The sync with the peers through the shared git server, as a stack report shows it. */
export interface PeerSyncReport {
  /** The server's URL and this router's branch there (`routers/<name>`). */
  url: string;
  branch: string;
  /** Syncs failed in a row (0: the last one worked); the log says why at error level each time. */
  failingFor: number;
  /** Epoch ms of the last push and fetch that worked (0: none yet). */
  lastPushAt: number;
  lastFetchAt: number;
  /** The last failure's message (null: none since start). */
  lastError: string | null;
  /** Push/fetch failures by reason: connect, http, timeout, rejected, other. */
  failures: Record<string, number>;
  bytesSent: number;
  bytesReceived: number;
  /** Each peer router: its head as merged, when it was last listed, and how far behind it our primary is (ms). */
  peers: { name: string; head: string; seenAt: number; lagMs: number }[];
}

/** One VRRP virtual router (RFC 5798) as a stack report shows it. */
export interface FailoverReport {
  vrid: number;
  priority: number;
  state: 'initialize' | 'backup' | 'master';
  /** Epoch ms of the last change of state. */
  since: number;
  /** Advertisements received and sent, drops by reason, transitions. */
  counters: Record<string, number>;
}
