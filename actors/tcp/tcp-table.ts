// The `tcp` table: one row per connection of the host's TCP endpoint, keyed by its 4-tuple. Payload
// buffers stay in the endpoint; the row is the connection's control block as the store sees it.
// Merges: a later incarnation of the 4-tuple wins whole; within one, the state moves along a lattice and
// each sequence number is the later in sequence space; a deleted row stays deleted (docs/tcp.md).
import { table, values, option, custom, compareCanonical, CodecError, type KeyCodec, type Merge, type ValueCodec } from '../../store/index.js';
import type { TableRule } from '../../api/server/requests.js';
import { ipv4ToString, tryParseIpv4 } from '../../wire/ipv4.js';
import { seqDiff } from './seq-space.js';


/**
 * RFC 9293 states in lattice order. A connection only moves right (an endpoint never re-enters an
 * earlier state of the same 4-tuple's incarnation), so for two branches' edits of one row the one
 * further right is the more recent knowledge; `closed` is the top (an aborted connection stays so).
 */
export const TCP_STATES = ['syn-sent', 'syn-received', 'established', 'fin-wait-1', 'close-wait', 'fin-wait-2', 'closing', 'last-ack', 'time-wait', 'closed'] as const;
export type TcpState = (typeof TCP_STATES)[number];
const RANK = new Map<string, number>(TCP_STATES.map((s, i) => [s, i]));

/** Which timer the row's `deadline` is for. */
export const TCP_TIMERS = ['none', 'rto', 'persist', 'time-wait', 'keepalive'] as const;
export type TcpTimer = (typeof TCP_TIMERS)[number];

export interface TcpEntry {
  localIp: number;
  localPort: number;
  remoteIp: number;
  remotePort: number;
  state: TcpState;
  /** Oldest unacknowledged sequence number (RFC 9293 SND.UNA). */
  sndUna: number;
  /** Next sequence number to send (SND.NXT). */
  sndNxt: number;
  /** The peer's advertised window, scaled to bytes (SND.WND). */
  sndWnd: number;
  /** Next sequence number expected (RCV.NXT). */
  rcvNxt: number;
  /** Our advertised window in bytes (RCV.WND). */
  rcvWnd: number;
  /** Window-scale shifts (RFC 7323): what the peer applies to its windows, what we apply to ours. */
  sndWscale: number;
  rcvWscale: number;
  /** Maximum segment size we send (the peer's MSS option, or 536). */
  mss: number;
  /** Current retransmission timeout (RFC 6298), ms. */
  rtoMs: number;
  /** Smoothed RTT, ms (0 before the first sample). */
  srttMs: number;
  timer: TcpTimer;
  /** When `timer` fires, ms on the endpoint's clock; 0 when no timer runs. */
  deadline: number;
  created: number;
  /** When the endpoint last wrote this row, ms on its clock. */
  updated: number;
}

/** The key's readable form: `10.0.0.1:80-10.0.0.2:40000` (local, then remote). */
export function tcpKey(localIp: number, localPort: number, remoteIp: number, remotePort: number): string {
  return `${ipv4ToString(localIp)}:${localPort}-${ipv4ToString(remoteIp)}:${remotePort}`;
}

const KEY = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})-(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;

/** The four fields of a key, or undefined when it is not one. */
export function parseTcpKey(k: unknown): { localIp: number; localPort: number; remoteIp: number; remotePort: number } | undefined {
  const m = typeof k === 'string' ? KEY.exec(k) : null;
  if (!m || Number(m[2]) > 65535 || Number(m[4]) > 65535) return undefined;
  const localIp = tryParseIpv4(m[1]), remoteIp = tryParseIpv4(m[3]);
  return localIp === undefined || remoteIp === undefined ? undefined : { localIp, localPort: Number(m[2]), remoteIp, remotePort: Number(m[4]) };
}

/** Connection keys; paths group them by local address and port: `tcp/10.0.0.1/80/10.0.0.1:80-10.0.0.2:40000`. */
export const tcpConnKey: KeyCodec<string> = {
  name: 'tcp-conn',
  encode: (k: string) => k,
  decode(x: unknown): string {
    const f = parseTcpKey(x);
    if (!f) throw new CodecError(String(x), 'tcp-conn', `not a TCP connection key like 10.0.0.1:80-10.0.0.2:40000: ${JSON.stringify(x)}`);
    return tcpKey(f.localIp, f.localPort, f.remoteIp, f.remotePort); // canonical: no leading zeros
  },
  dirs(k: string): string[] {
    const f = parseTcpKey(k)!;
    return [ipv4ToString(f.localIp), String(f.localPort)];
  },
};

/** The later of two sequence numbers; exactly 2^31 apart neither is later, so the larger number wins (keeps it commutative). */
function seqMax(a: number, b: number): number {
  const d = seqDiff(b, a);
  return d > 0 || (d === -0x8000_0000 && b > a) ? b : a;
}

/** The row without its sequence numbers: what picks the winner (the merge takes those field by field). */
function control({ sndUna: _una, sndNxt: _nxt, rcvNxt: _rcv, ...rest }: TcpEntry): Omit<TcpEntry, 'sndUna' | 'sndNxt' | 'rcvNxt'> {
  return rest;
}

/**
 * The row further along: the later incarnation (`created`), then state rank, then `updated`, then the
 * other fields canonically, the sequence numbers last. A total order; the sequence numbers only break
 * ties between rows that agree on everything else, so which of those wins does not change the merge.
 */
export function compareTcpEntries(a: TcpEntry, b: TcpEntry): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  const ra = RANK.get(a.state) ?? 0, rb = RANK.get(b.state) ?? 0;
  if (ra !== rb) return ra - rb;
  if (a.updated !== b.updated) return a.updated < b.updated ? -1 : 1;
  return compareCanonical(control(a), control(b)) || compareCanonical([a.sndUna, a.sndNxt, a.rcvNxt], [b.sndUna, b.sndNxt, b.rcvNxt]);
}

/**
 * The further row, with each sequence number the later of the two: acknowledged data never becomes
 * unacknowledged again through a merge, and SND.UNA <= SND.NXT still holds. Rows of two incarnations
 * (a new connection on the 4-tuple after TIME-WAIT) share no sequence space: the later one wins whole.
 * Commutative and idempotent always; associative for one incarnation's sequence numbers, which lie
 * within 2^31 of each other (they move by at most a window, 2^30 with the largest window scale).
 */
export const mergeTcpEntry: Merge<TcpEntry> = custom((_old, a, b) => {
  const top = compareTcpEntries(a, b) >= 0 ? a : b;
  if (a.created !== b.created) return top;
  const sndUna = seqMax(a.sndUna, b.sndUna), sndNxt = seqMax(a.sndNxt, b.sndNxt), rcvNxt = seqMax(a.rcvNxt, b.rcvNxt);
  if (sndUna === top.sndUna && sndNxt === top.sndNxt && rcvNxt === top.rcvNxt) return top;
  return { ...top, sndUna, sndNxt, rcvNxt };
});

/** A 32-bit sequence number: a larger integer would not compare in sequence space. */
const seq32: ValueCodec<number> = {
  name: 'seq32',
  decode(x: unknown, p?: string): number {
    if (typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff) return x;
    throw new CodecError(p ?? '', 'seq32', `expected a sequence number 0..4294967295, got ${JSON.stringify(x)}`);
  },
};

const uint = values.uint;

export const tcpTable = table<string, TcpEntry>({
  name: 'tcp',
  key: tcpConnKey,
  value: values.record({
    localIp: values.ipv4num,
    localPort: uint,
    remoteIp: values.ipv4num,
    remotePort: uint,
    state: values.oneOf(...TCP_STATES),
    sndUna: seq32,
    sndNxt: seq32,
    sndWnd: uint,
    rcvNxt: seq32,
    rcvWnd: uint,
    sndWscale: uint,
    rcvWscale: uint,
    mss: uint,
    rtoMs: uint,
    srttMs: uint,
    timer: values.oneOf(...TCP_TIMERS),
    deadline: uint,
    created: uint,
    updated: uint,
  }),
  // 'delete': the endpoint deletes a row when the connection is gone (after TIME-WAIT, or reset);
  // a concurrent edit must not bring back a connection no endpoint holds.
  merge: option(mergeTcpEntry, { onDeleteModify: 'delete' }),
});

/** What the external-lookup API may do with `tcp`: read, and remove a row (as `ss -K` kills a socket); writes are the endpoint's. */
export const tcpApiRule: TableRule = { keyExample: '10.0.0.1:80-10.0.0.2:40000' };
