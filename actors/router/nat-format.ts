// NAT entries as `conntrack -L` and `conntrack -E` print them, for logs and the CLI: one line format,
// over a plain flow shape that the stored entry (formatNatEntry) and the API's readable form (the CLI)
// both fill. Field for field as conntrack-tools 1.4 prints a kernel flow (libnetfilter_conntrack's
// default output), checked against the real tool in test/nat-format.test.ts.
import { IpProtocol, ipv4ToString } from '../../wire/index.js';
import type { NatEntry } from './nat-table.js';
import { expiresAt } from './conntrack.js';

/** A flow as conntrack prints it: addresses dotted; a field the caller could not read is `'?'`. */
export interface ConntrackFlow {
  proto: string;
  /** When the flow expires (ms, on the tables' clock); undefined prints the seconds left as `?`. */
  expires: number | undefined;
  /** The connection state; printed for TCP. */
  state: string | undefined;
  insideIp: string;
  insidePort: number | string;
  remoteIp: string;
  remotePort: number | string;
  outPort: number | string;
  /** The router's outside address; undefined leaves `dst=` out where it would be. */
  outsideIp: string | undefined;
  /** When the flow was made and last carried a packet (ms), for UDP's [ASSURED]; undefined: not known. */
  created: number | undefined;
  lastSeen: number | undefined;
  pktsOut: number | string;
  pktsIn: number | string;
  bytesOut: number | string;
  bytesIn: number | string;
}

/** What `conntrack -E` calls its events: a flow made, changed, removed. */
export type ConntrackEvent = 'new' | 'update' | 'destroy';
export const CONNTRACK_EVENTS: readonly ConntrackEvent[] = ['new', 'update', 'destroy'];

export interface ConntrackOptions {
  /** Made by a port-forward rule (dnat-table.ts's isForwardedFlow): printed as conntrack prints a DNAT connection. */
  forwarded?: boolean;
  /** An event line as `conntrack -E` prints it, instead of a `conntrack -L` line. */
  event?: ConntrackEvent;
}

const PROTO_NUMBER: Record<string, number> = { tcp: IpProtocol.Tcp, udp: IpProtocol.Udp, icmp: IpProtocol.Icmp };
/** ICMP echo request and reply, the only ICMP the router tracks. */
const ECHO_REQUEST = 8;
const ECHO_REPLY = 0;
/** States our conntrack (conntrack.ts) only reaches after a packet came the reply way. */
const REPLIED_STATES = new Set(['udp-replied', 'syn-recv', 'established', 'fin-wait', 'close-wait', 'last-ack', 'time-wait']);
/** TCP states reached only through a completed handshake: the kernel sets ASSURED on entering ESTABLISHED and keeps it. */
const ASSURED_TCP = new Set(['established', 'fin-wait', 'close-wait', 'last-ack', 'time-wait']);
/** A UDP flow still active this long after it was made is a stream (the kernel's `stream_ts`). */
const UDP_STREAM_MS = 2_000;

interface Direction { src: string; dst: string | undefined; sport: number | string; dport: number | string; pkts: number | string; bytes: number | string }

/**
 * The flow's two directions as conntrack names them: ORIGINAL is the side that opened it (the inside
 * host, or for a forwarded flow the remote end, to our outside address and the rule's port); REPLY the other.
 */
function directions(f: ConntrackFlow, forwarded: boolean): [orig: Direction, reply: Direction] {
  const toInside: Direction = { src: f.remoteIp, dst: f.outsideIp, sport: f.remotePort, dport: f.outPort, pkts: f.pktsIn, bytes: f.bytesIn };
  if (forwarded && f.proto !== 'icmp') {
    return [toInside, { src: f.insideIp, dst: f.remoteIp, sport: f.insidePort, dport: f.remotePort, pkts: f.pktsOut, bytes: f.bytesOut }];
  }
  return [{ src: f.insideIp, dst: f.remoteIp, sport: f.insidePort, dport: f.remotePort, pkts: f.pktsOut, bytes: f.bytesOut }, toInside];
}

const count = (n: number | string): number => (typeof n === 'number' ? n : 0);

/** conntrack's IPS_SEEN_REPLY ([UNREPLIED] when not): a packet came the reply way, by the counters or by the state. */
export function seenReply(f: ConntrackFlow, forwarded = false): boolean {
  return count(directions(f, forwarded)[1].pkts) > 0 || (f.state !== undefined && REPLIED_STATES.has(f.state));
}

/**
 * conntrack's IPS_ASSURED, decided as the kernel decides it. TCP: the handshake completed. UDP (Linux ≥ 5.x's
 * stream rule): a packet after a reply was seen, more than 2 s after the flow was made; our counters do
 * not keep the order, so "after a reply" is read as a second packet either way. ICMP: never.
 */
export function assured(f: ConntrackFlow, forwarded = false): boolean {
  if (f.proto === 'tcp') return f.state !== undefined && ASSURED_TCP.has(f.state);
  if (f.proto !== 'udp' || !seenReply(f, forwarded) || f.created === undefined || f.lastSeen === undefined) return false;
  const [orig, reply] = directions(f, forwarded);
  return f.lastSeen - f.created > UDP_STREAM_MS && (count(reply.pkts) >= 2 || count(orig.pkts) >= 2);
}

/** `src=… dst=… sport=… dport=…`, or ICMP's `type=… code=… id=…`; `dst=` left out when not known. */
function tuple(d: Direction, icmp: { type: number; id: number | string } | null): string {
  const ends = d.dst === undefined ? `src=${d.src}` : `src=${d.src} dst=${d.dst}`;
  return icmp ? `${ends} type=${icmp.type} code=0 id=${icmp.id}` : `${ends} sport=${d.sport} dport=${d.dport}`;
}

/**
 * `udp      17 29 src=… dst=… sport=… dport=… packets=… bytes=… [UNREPLIED] src=… … [ASSURED] mark=0 use=1`:
 * protocol (padded to 8) and its number, seconds left, TCP state, the original direction, then the reply
 * direction (to the outside address and port). With `event`, the `conntrack -E` line: `[NEW]` right-aligned
 * in 9 columns, counters only on `[DESTROY]` (the kernel sends them only then), no `mark=`/`use=`.
 */
export function formatConntrack(f: ConntrackFlow, now: number, opts: ConntrackOptions = {}): string {
  const forwarded = opts.forwarded === true && f.proto !== 'icmp';
  const [orig, reply] = directions(f, forwarded);
  const icmp = f.proto === 'icmp';
  const ttl = f.expires === undefined ? '?' : String(Math.max(0, Math.floor((f.expires - now) / 1000)));
  const counters = opts.event === undefined || opts.event === 'destroy';
  const parts = [
    `${f.proto.padEnd(8)} ${PROTO_NUMBER[f.proto] ?? '?'} ${ttl}`,
    ...(f.proto === 'tcp' && f.state ? [f.state.toUpperCase().replace('-', '_')] : []),
    tuple(orig, icmp ? { type: ECHO_REQUEST, id: f.insidePort } : null),
    ...(counters ? [`packets=${orig.pkts} bytes=${orig.bytes}`] : []),
    ...(seenReply(f, forwarded) ? [] : ['[UNREPLIED]']),
    tuple(reply, icmp ? { type: ECHO_REPLY, id: f.outPort } : null),
    ...(counters ? [`packets=${reply.pkts} bytes=${reply.bytes}`] : []),
    ...(assured(f, forwarded) ? ['[ASSURED]'] : []),
    ...(opts.event === undefined ? ['mark=0 use=1'] : []),
  ];
  const line = parts.join(' ');
  return opts.event === undefined ? line : `${`[${opts.event.toUpperCase()}]`.padStart(9)} ${line}`;
}

/** A stored flow, with the router's outside address (the entry does not hold it). */
export function formatNatEntry(e: NatEntry, outsideIp: number, now: number, forwarded = false): string {
  return formatConntrack({
    proto: e.proto, expires: expiresAt(e.state, e.lastSeen), state: e.state,
    insideIp: ipv4ToString(e.insideIp), insidePort: e.insidePort, remoteIp: ipv4ToString(e.remoteIp), remotePort: e.remotePort,
    outPort: e.outPort, outsideIp: ipv4ToString(outsideIp), created: e.created, lastSeen: e.lastSeen,
    pktsOut: e.pktsOut, pktsIn: e.pktsIn, bytesOut: e.bytesOut, bytesIn: e.bytesIn,
  }, now, { forwarded });
}
