// How the API's entries read on a terminal: ARP like `ip neigh`, NAT flows like `conntrack -L` (the
// line format is actors/router/nat-format.ts's), history, changes and the table list. The values
// come in the API's readable form (dotted addresses), so every field is checked before it is shown.
import type { HistoryEntry, TableInfo } from '../api/protocol.js';
import { formatConntrack } from '../actors/router/nat-format.js';
import { dnatKey, forwardedBy } from '../actors/router/dnat-table.js';
import { expiresAt, TIMEOUTS } from '../actors/router/conntrack.js';
import type { ConnState } from '../actors/router/nat-table.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `10.201.0.2 lladdr 02:00:00:00:00:01 dynamic expires in 41s`, or `... static`, like `ip neigh`. */
export function formatArpEntry(key: string, value: unknown, now: number): string {
  if (!isObj(value) || typeof value.mac !== 'string') return `${key} ${JSON.stringify(value)}`;
  const head = `${key} lladdr ${value.mac}`;
  if (value.kind !== 'dynamic') return `${head} ${String(value.kind ?? 'static')}`;
  if (typeof value.expires !== 'number') return `${head} dynamic`;
  const left = value.expires - now;
  return left > 0 ? `${head} dynamic expires in ${Math.ceil(left / 1000)}s` : `${head} dynamic expired ${Math.floor(-left / 1000)}s ago`;
}

/** dnat-table.ts's rule on the readable forms: the flow's outside port is a rule's (by key, `tcp:8080`), to that rule's target. */
export function isForwarded(flow: unknown, rules: ReadonlyMap<string, unknown>): boolean {
  if (!isObj(flow) || (flow.proto !== 'tcp' && flow.proto !== 'udp') || typeof flow.outPort !== 'number' || rules.size === 0) return false;
  const r = rules.get(dnatKey(flow.proto, flow.outPort));
  return isObj(r) && forwardedBy({ proto: flow.proto, outPort: flow.outPort, insideIp: flow.insideIp, insidePort: flow.insidePort }, {
    proto: r.proto, port: r.port, insideIp: r.insideIp, insidePort: r.insidePort,
  });
}

/**
 * A NAT flow as the API shows it (dotted addresses), in conntrack's style. The value does not name
 * the router's outside address, so `dst=` is left out where it would be (printed when a value has
 * `outsideIp`). `forwarded`: made by a port-forward rule, printed as conntrack prints a DNAT connection.
 */
export function formatNatValue(value: unknown, now: number, forwarded = false): string {
  if (!isObj(value) || typeof value.proto !== 'string') return JSON.stringify(value);
  const v = value;
  const n = (k: string) => (typeof v[k] === 'number' ? (v[k] as number) : '?');
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : '?');
  const state = typeof v.state === 'string' ? v.state : undefined;
  let expires: number | undefined;
  if (typeof v.expires === 'number') expires = v.expires;
  else if (state && state in TIMEOUTS && typeof v.lastSeen === 'number') expires = expiresAt(state as ConnState, v.lastSeen);
  return formatConntrack({
    proto: v.proto as string, expires, state,
    insideIp: s('insideIp'), insidePort: n('insidePort'), remoteIp: s('remoteIp'), remotePort: n('remotePort'), outPort: n('outPort'),
    outsideIp: typeof v.outsideIp === 'string' ? v.outsideIp : undefined,
    pktsOut: n('pktsOut'), pktsIn: n('pktsIn'), bytesOut: n('bytesOut'), bytesIn: n('bytesIn'),
  }, now, forwarded);
}

/**
 * `#12 2025-01-01T10:00:00.000Z router: merge packet-1`, then the value after the change, indented.
 * Times are on the tables' clock: the epoch in a router, simulated ms in a sim (shown as `t=1.600s`).
 */
export function formatHistoryEntry(e: HistoryEntry): string[] {
  const t = e.time;
  const when = typeof t !== 'number' || !Number.isFinite(t) ? String(t) : t >= 1e12 ? new Date(t).toISOString() : `t=${(t / 1000).toFixed(3)}s`;
  return [`#${e.seq} ${when} ${e.author}: ${e.message}`, e.value === null || e.value === undefined ? '    (removed)' : `    ${JSON.stringify(e.value)}`];
}

/** `arp 10.201.0.2 = {...}` or `arp 10.201.0.2 removed`. */
export function formatChange(table: string, key: string, value: unknown): string {
  return value === null || value === undefined ? `${table} ${key} removed` : `${table} ${key} = ${JSON.stringify(value)}`;
}

export function formatTables(tables: readonly TableInfo[]): string {
  const w = Math.max(5, ...tables.map((t) => t.name.length));
  return tables.map((t) => `${t.name.padEnd(w)}  ${(t.writable ? 'read-write' : 'read, rm').padEnd(10)}  key like ${t.keyExample}`).join('\n');
}
