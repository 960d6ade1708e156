// NAT entries as conntrack -L prints them, for logs and the CLI.
import { ipv4ToString } from '../../wire/index.js';
import type { NatEntry } from './nat-table.js';
import { expiresAt } from './conntrack.js';

/**
 * `forwarded`: the flow was made by a port-forward rule (dnat-table.ts's isForwardedFlow), so, as
 * conntrack prints a DNAT connection, the original direction is the remote end's, to our outside
 * address and the rule's port, and the reply direction comes from the inside host.
 */
export function formatNatEntry(e: NatEntry, outsideIp: number, now: number, forwarded = false): string {
  const ttl = Math.max(0, Math.round((expiresAt(e.state, e.lastSeen) - now) / 1000));
  const state = e.proto === 'tcp' ? ` ${e.state.toUpperCase().replace('-', '_')}` : '';
  if (forwarded && e.proto !== 'icmp') {
    return `${e.proto.padEnd(4)} ${String(ttl).padStart(6)}${state} src=${ipv4ToString(e.remoteIp)} dst=${ipv4ToString(outsideIp)} sport=${e.remotePort} dport=${e.outPort} packets=${e.pktsIn} bytes=${e.bytesIn}`
      + ` src=${ipv4ToString(e.insideIp)} dst=${ipv4ToString(e.remoteIp)} sport=${e.insidePort} dport=${e.remotePort} packets=${e.pktsOut} bytes=${e.bytesOut}`;
  }
  // As conntrack: the original direction, then the reply direction (to our outside address and port).
  const orig = e.proto === 'icmp' ? ` id=${e.insidePort}` : ` sport=${e.insidePort} dport=${e.remotePort}`;
  const reply = e.proto === 'icmp' ? ` id=${e.outPort}` : ` sport=${e.remotePort} dport=${e.outPort}`;
  return `${e.proto.padEnd(4)} ${String(ttl).padStart(6)}${state} src=${ipv4ToString(e.insideIp)} dst=${ipv4ToString(e.remoteIp)}${orig} packets=${e.pktsOut} bytes=${e.bytesOut}`
    + ` src=${ipv4ToString(e.remoteIp)} dst=${ipv4ToString(outsideIp)}${reply} packets=${e.pktsIn} bytes=${e.bytesIn}`;
}
