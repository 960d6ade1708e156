// The `frag` table: one row per IPv4 datagram being reassembled, keyed by (src, dst, protocol,
// identification) as RFC 791 names it. The fragments' bytes stay in the reassembling actor; the row
// is what the store sees: which bytes are still missing, and when the datagram is given up.
import { table, values, option, custom, CodecError, type KeyCodec, type Merge, type TableView } from '../../store/index.js';
import { ipv4ToString, tryParseIpv4 } from '../../wire/ipv4.js';
import type { TableRule } from '../../api/server/requests.js';

export interface FragEntry {
  src: number;
  dst: number;
  proto: number;
  ident: number;
  /** The datagram's payload length, known once the last fragment (MF clear) arrived; 0 until then. */
  total: number;
  /** Payload bytes held so far. */
  received: number;
  /** Missing byte ranges (RFC 815 hole descriptors) in readable form, `1480-2959,4440-*` (`*`: up to the unknown end). */
  holes: string;
  fragments: number;
  firstSeen: number;
  /** When the datagram is given up (firstSeen + the reassembly timeout), ms on the actor's clock. */
  deadline: number;
}

/** The readable key: `10.0.0.1>10.0.0.2:17:4660` (src, dst, protocol, identification). */
export function fragKey(src: number, dst: number, proto: number, ident: number): string {
  return `${ipv4ToString(src)}>${ipv4ToString(dst)}:${proto}:${ident}`;
}

const KEY = /^(\d{1,3}(?:\.\d{1,3}){3})>(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,3}):(\d{1,5})$/;

export function parseFragKey(k: unknown): { src: number; dst: number; proto: number; ident: number } | undefined {
  const m = typeof k === 'string' ? KEY.exec(k) : null;
  if (!m || Number(m[3]) > 255 || Number(m[4]) > 65535) return undefined;
  const src = tryParseIpv4(m[1]), dst = tryParseIpv4(m[2]);
  return src === undefined || dst === undefined ? undefined : { src, dst, proto: Number(m[3]), ident: Number(m[4]) };
}

/** Datagram keys; paths group them by source: `frag/10.0.0.1/10.0.0.1>10.0.0.2:17:4660`. */
export const fragDatagramKey: KeyCodec<string> = {
  name: 'frag-datagram',
  encode: (k: string) => k,
  decode(x: unknown): string {
    const f = parseFragKey(x);
    if (!f) throw new CodecError(String(x), 'frag-datagram', `not a fragment key like 10.0.0.1>10.0.0.2:17:4660: ${JSON.stringify(x)}`);
    return fragKey(f.src, f.dst, f.proto, f.ident);
  },
  dirs: (k: string) => [ipv4ToString(parseFragKey(k)!.src)],
};

/**
 * Two branches hold one row when a datagram moved between actors (the hand-off in queues mode) or the expiry
 * actor removed it: the row with more bytes received is the more recent knowledge; ties go to the later deadline,
 * then to the canonical form (a total order: the merge is commutative). Nothing reads a row back (the bytes live
 * in the reassembler), so a merge can lose bookkeeping, never a datagram.
 */
export const mergeFragEntry: Merge<FragEntry> = custom((_old, a, b) => {
  if (a.received !== b.received) return a.received > b.received ? a : b;
  if (a.deadline !== b.deadline) return a.deadline > b.deadline ? a : b;
  return JSON.stringify(a) >= JSON.stringify(b) ? a : b;
});

export const fragTable = table<string, FragEntry>({
  name: 'frag',
  key: fragDatagramKey,
  value: values.record({
    src: values.ipv4num,
    dst: values.ipv4num,
    proto: values.uint,
    ident: values.uint,
    total: values.uint,
    received: values.uint,
    holes: values.string,
    fragments: values.uint,
    firstSeen: values.uint,
    deadline: values.uint,
  }),
  // 'delete': a row is deleted when its datagram completed or timed out; an edit must not revive it.
  merge: option(mergeFragEntry, { onDeleteModify: 'delete' }),
});

/** The API serves `frag` read-only: rows are the reassembler's bookkeeping. */
export const fragApiRule: TableRule = { keyExample: '10.0.0.1>10.0.0.2:17:4660' };

/** Past its deadline by this much, a row's actor is gone: a live one removes its own rows at its next poll (once a second). */
export const FRAG_GRACE_MS = 5_000;

/**
 * Removes the rows of datagrams no reassembler can still hold (its actor crashed before the deadline): the
 * reassembler never reads a row back and drops its datagram at the deadline, so a row past it by the grace is
 * garbage. Returns how many went.
 */
export function expireAbandoned(rows: TableView<string, FragEntry>, now: number, graceMs = FRAG_GRACE_MS): number {
  if (rows.sizeBound === 0) return 0;
  const gone: string[] = [];
  for (const [k, e] of rows.entries()) if (e.deadline + graceMs <= now) gone.push(k);
  for (const k of gone) rows.delete(k);
  return gone.length;
}
