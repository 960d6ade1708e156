// NAT entries as conntrack -L prints them, for logs and the CLI: one line format, over a plain flow
// shape that the stored entry (formatNatEntry) and the API's readable form (the CLI) both fill.
import { ipv4ToString } from '../../wire/index.js';
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
  pktsOut: number | string;
  pktsIn: number | string;
  bytesOut: number | string;
  bytesIn: number | string;
}

/**
 * `tcp  432000 ESTABLISHED src=… dst=… sport=… dport=… packets=… bytes=… src=… …`: protocol, seconds
 * left, TCP state, the original direction, then the reply direction (to the outside address and port).
 * `forwarded`: the flow was made by a port-forward rule (dnat-table.ts's isForwardedFlow), so, as
 * conntrack prints a DNAT connection, the original direction is the remote end's, to our outside
 * address and the rule's port, and the reply direction comes from the inside host.
 */
export function formatConntrack(f: ConntrackFlow, now: number, forwarded: boolean): string {
  const ttl = f.expires === undefined ? '?' : String(Math.max(0, Math.round((f.expires - now) / 1000)));
  const state = f.proto === 'tcp' && f.state ? ` ${f.state.toUpperCase().replace('-', '_')}` : '';
  const outside = f.outsideIp === undefined ? '' : ` dst=${f.outsideIp}`;
  const head = `${f.proto.padEnd(4)} ${ttl.padStart(6)}${state}`;
  if (forwarded && f.proto !== 'icmp') {
    return `${head} src=${f.remoteIp}${outside} sport=${f.remotePort} dport=${f.outPort} packets=${f.pktsIn} bytes=${f.bytesIn}`
      + ` src=${f.insideIp} dst=${f.remoteIp} sport=${f.insidePort} dport=${f.remotePort} packets=${f.pktsOut} bytes=${f.bytesOut}`;
  }
  const icmp = f.proto === 'icmp';
  const orig = icmp ? ` id=${f.insidePort}` : ` sport=${f.insidePort} dport=${f.remotePort}`;
  const reply = icmp ? ` id=${f.outPort}` : ` sport=${f.remotePort} dport=${f.outPort}`;
  return `${head} src=${f.insideIp} dst=${f.remoteIp}${orig} packets=${f.pktsOut} bytes=${f.bytesOut}`
    + ` src=${f.remoteIp}${outside}${reply} packets=${f.pktsIn} bytes=${f.bytesIn}`;
}

/** A stored flow, with the router's outside address (the entry does not hold it). */
export function formatNatEntry(e: NatEntry, outsideIp: number, now: number, forwarded = false): string {
  return formatConntrack({
    proto: e.proto, expires: expiresAt(e.state, e.lastSeen), state: e.state,
    insideIp: ipv4ToString(e.insideIp), insidePort: e.insidePort, remoteIp: ipv4ToString(e.remoteIp), remotePort: e.remotePort,
    outPort: e.outPort, outsideIp: ipv4ToString(outsideIp),
    pktsOut: e.pktsOut, pktsIn: e.pktsIn, bytesOut: e.bytesOut, bytesIn: e.bytesIn,
  }, now, forwarded);
}
