// Moves the outside address, and every NAT binding with it, to a new one (a new DHCP lease, an operator's edit
// of the lease row) or to none (a lost lease), in one step per packet actor, on the merge that brings the change.
// UDP and ICMP echo bindings survive untouched; TCP flows on the old address are expired (docs/router.md#nat-remap).
import { performance } from 'node:perf_hooks';
import { ArpOperation, ArpPacket, ArpRepr, ARP_ETHERNET_IPV4_LEN, BROADCAST_MAC, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN } from '../../wire/index.js';
import type { NatEngine } from './nat-engine.js';
import { expiresAt } from './conntrack.js';
import type { NetInterface } from '../iface/net-interface.js';

/** What a remap changes: a packet actor's NAT engine and its outside interface (a Router has both). */
export interface RemapTarget {
  readonly nat: NatEngine;
  readonly cfg: { readonly outside: NetInterface; gateway?: number };
}

/** The new link, when the lease moved to another network: its prefix and default gateway. */
export interface RemapLink {
  prefix?: number;
  gateway?: number;
}

export interface RemapResult {
  /** False when nothing changed: the interface has `newIp` already (a replayed merge), or `newIp` is no host address. */
  changed: boolean;
  /** The interface held another address than `oldIp` (an earlier change the caller missed); remapped from that one. */
  stale: boolean;
  /** Bindings left in the table (UDP and ICMP echo): same outside port, now on the new address. */
  kept: number;
  /** Of those, the ones still live at `now` (the rest expire as they would have). */
  live: number;
  /** TCP flows removed at once: the remote end knows their old 4-tuple only and would reset them. */
  expired: number;
  /** Wall time the remap took, ms (a measurement, not an input to any decision). */
  ms: number;
  /** A gratuitous ARP request for the new address, Ethernet header included, for the router to send outside; null when unchanged. */
  announcement: Uint8Array | null;
}

/**
 * Moves `target`'s outside address from `oldIp` to `newIp` at `now`. The `nat` rows need no change:
 * they hold the outside port, never the address, and the port is unique per (protocol, remote end)
 * whatever the address, so every UDP/ICMP binding is valid on the new one as it stands. TCP rows are
 * deleted on this actor's branch when it moves from a real address (every actor deletes them, so the deletes
 * agree in any merge order); from 0.0.0.0 they are kept (see below).
 */
export function remapOutside(target: RemapTarget, oldIp: number, newIp: number, now: number, link: RemapLink = {}): RemapResult {
  const t0 = performance.now();
  const outside = target.cfg.outside;
  if (outside.ip === newIp || !isHostAddress(newIp)) return { changed: false, stale: false, kept: target.nat.table.size, live: 0, expired: 0, ms: performance.now() - t0, announcement: null };
  // The flows were made on whatever address the interface holds: a caller's stale `oldIp` is reported, not trusted.
  const stale = outside.ip !== oldIp;
  // From 0.0.0.0 (a start or restart, or after an unbind, which expired TCP already) the TCP rows here are the
  // store's, made on the row's address: live flows, not garbage. Only a move from a real address kills them.
  const { dropped, kept, live } = outside.ip === 0 ? { dropped: 0, ...liveRows(target.nat, now) } : target.nat.dropProtocol('tcp', now);
  outside.ip = newIp;
  if (link.prefix !== undefined) outside.prefix = link.prefix;
  if (link.gateway !== undefined) target.cfg.gateway = link.gateway;
  return { changed: true, stale, kept, live, expired: dropped, ms: performance.now() - t0, announcement: gratuitousArp(outside) };
}

/**
 * Takes `target`'s outside address away at `now` (the lease expired or was NAKed, RFC 2131 §4.4.5): the
 * interface goes back to 0.0.0.0/32, so NAT out is refused (`noOutsideAddress`) as before the first lease.
 * TCP flows are expired as in a remap; UDP/ICMP bindings stay, to go on from whatever address binds next.
 */
export function unbindOutside(target: RemapTarget, now: number): RemapResult {
  const t0 = performance.now();
  const outside = target.cfg.outside;
  if (outside.ip === 0) return { changed: false, stale: false, kept: target.nat.table.size, live: 0, expired: 0, ms: performance.now() - t0, announcement: null };
  const { dropped, kept, live } = target.nat.dropProtocol('tcp', now);
  outside.ip = 0;
  outside.prefix = 32;
  return { changed: true, stale: false, kept, live, expired: dropped, ms: performance.now() - t0, announcement: null };
}

/** Every row kept, and how many are live at `now`. */
function liveRows(nat: NatEngine, now: number): { kept: number; live: number } {
  let live = 0;
  for (const [, e] of nat.table.entries()) if (expiresAt(e.state, e.lastSeen) > now) live++;
  return { kept: nat.table.size, live };
}

/** Not 0.0.0.0, not the limited broadcast: an address a lease (or an operator) may give the interface. */
function isHostAddress(ip: number): boolean {
  return ip !== 0 && ip >>> 0 !== 0xffff_ffff;
}

/**
 * A gratuitous ARP request (RFC 5227 §3 "ARP announcement": sender and target address both ours), so
 * neighbours and the gateway update their caches to our MAC for the new address at once.
 */
export function gratuitousArp(iface: NetInterface): Uint8Array {
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + ARP_ETHERNET_IPV4_LEN);
  new EthernetRepr({ dst: BROADCAST_MAC, src: iface.mac, ethertype: EtherType.Arp }).emit(EthernetPacket.newUnchecked(frame));
  const arp = new ArpRepr({ operation: ArpOperation.Request, senderMac: iface.mac, senderIp: iface.ip, targetMac: 0, targetIp: iface.ip });
  arp.emit(ArpPacket.newUnchecked(frame, ETHERNET_HEADER_LEN, ARP_ETHERNET_IPV4_LEN));
  return frame;
}
