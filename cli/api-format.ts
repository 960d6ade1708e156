// How the API's entries read on a terminal: ARP like `ip neigh`, NAT flows like `conntrack -L` and
// `conntrack -E` (the line format is actors/router/nat-format.ts's), history, changes and the table
// list. The values come in the API's readable form (dotted addresses), so every field is checked before
// it is shown. Times are relative (`in 41s`, `3s ago`: cli/time-format.ts) on the tables' clock `now`.
import type { HelloResult, HistoryEntry, TableInfo } from '../api/protocol.js';
import { formatConntrack, type ConntrackEvent } from '../actors/router/nat-format.js';
import { dnatKey, forwardedBy } from '../actors/router/dnat-table.js';
import { expiresAt, TIMEOUTS } from '../actors/router/conntrack.js';
import type { ConnState } from '../actors/router/nat-table.js';
import { formatFields, formatRelative } from './time-format.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `10.201.0.2 lladdr 02:00:00:00:00:01 dynamic expires in 41s`, or `... static`, like `ip neigh`. */
export function formatArpEntry(key: string, value: unknown, now: number): string {
  if (!isObj(value) || typeof value.mac !== 'string') return `${key} ${JSON.stringify(value)}`;
  const head = `${key} lladdr ${value.mac}`;
  if (value.kind !== 'dynamic') return `${head} ${String(value.kind ?? 'static')}`;
  if (typeof value.expires !== 'number') return `${head} dynamic`;
  return `${head} dynamic ${value.expires > now ? 'expires' : 'expired'} ${formatRelative(value.expires, now)}`;
}

/** dnat-table.ts's rule on the readable forms: the flow's outside port is a rule's (by key, `tcp:8080`), to that rule's target. */
export function isForwarded(flow: unknown, rules: ReadonlyMap<string, unknown>): boolean {
  if (!isObj(flow) || (flow.proto !== 'tcp' && flow.proto !== 'udp') || typeof flow.outPort !== 'number' || rules.size === 0) return false;
  const r = rules.get(dnatKey(flow.proto, flow.outPort));
  return isObj(r) && forwardedBy({ proto: flow.proto, outPort: flow.outPort, insideIp: flow.insideIp, insidePort: flow.insidePort }, {
    proto: r.proto, port: r.port, insideIp: r.insideIp, insidePort: r.insidePort,
  });
}

/** The router's outside address from `hello` (its `interfaces`), or undefined: not told, or no lease yet (0.0.0.0). */
export function outsideAddress(hello: Pick<HelloResult, 'interfaces'>): string | undefined {
  const ip = hello.interfaces?.find((i) => i.role === 'outside')?.ip;
  return ip === undefined || ip === '0.0.0.0' ? undefined : ip;
}

export interface NatLineOptions {
  /** Made by a port-forward rule: printed as conntrack prints a DNAT connection. */
  forwarded?: boolean;
  /** The router's outside address (`dst=` of the reply direction); undefined leaves that field out. */
  outsideIp?: string;
  /** A `conntrack -E` line for this event instead of a `conntrack -L` line. */
  event?: ConntrackEvent;
}

/** A NAT flow as the API shows it (dotted addresses), as conntrack prints it. */
export function formatNatValue(value: unknown, now: number, opts: NatLineOptions = {}): string {
  if (!isObj(value) || typeof value.proto !== 'string') return JSON.stringify(value);
  const v = value;
  const n = (k: string) => (typeof v[k] === 'number' ? (v[k] as number) : '?');
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : '?');
  const time = (k: string) => (typeof v[k] === 'number' ? (v[k] as number) : undefined);
  const state = typeof v.state === 'string' ? v.state : undefined;
  let expires = time('expires');
  if (expires === undefined && state && state in TIMEOUTS && typeof v.lastSeen === 'number') expires = expiresAt(state as ConnState, v.lastSeen);
  return formatConntrack({
    proto: v.proto as string, expires, state,
    insideIp: s('insideIp'), insidePort: n('insidePort'), remoteIp: s('remoteIp'), remotePort: n('remotePort'), outPort: n('outPort'),
    outsideIp: opts.outsideIp, created: time('created'), lastSeen: time('lastSeen'),
    pktsOut: n('pktsOut'), pktsIn: n('pktsIn'), bytesOut: n('bytesOut'), bytesIn: n('bytesIn'),
  }, now, { forwarded: opts.forwarded, event: opts.event });
}

/** An entry's value on one line: `mac: 02:…, expires: in 41s, kind: dynamic`. */
export function formatValueLine(value: unknown, now: number): string {
  return formatFields(value, now).join(', ');
}

/**
 * `#12 3m 5s ago router: merge packet-1`, then the value after the change (times relative to `now`), indented.
 * Times are on the tables' clock: the epoch in a router, simulated ms in a sim.
 */
export function formatHistoryEntry(e: HistoryEntry, now: number): string[] {
  const t = e.time;
  const when = typeof t === 'number' && Number.isFinite(t) ? formatRelative(t, now) : String(t);
  return [`#${e.seq} ${when} ${e.author}: ${e.message}`, e.value === null || e.value === undefined ? '    (removed)' : `    ${formatValueLine(e.value, now)}`];
}

/** `arp 10.201.0.2 = mac: …, expires: in 41s, kind: dynamic` or `arp 10.201.0.2 removed`. */
export function formatChange(table: string, key: string, value: unknown, now: number): string {
  return value === null || value === undefined ? `${table} ${key} removed` : `${table} ${key} = ${formatValueLine(value, now)}`;
}

export function formatTables(tables: readonly TableInfo[]): string {
  const w = Math.max(5, ...tables.map((t) => t.name.length));
  return tables.map((t) => `${t.name.padEnd(w)}  ${(t.writable ? 'read-write' : 'read, rm').padEnd(10)}  key like ${t.keyExample}`).join('\n');
}
