// Steering: which packet actor owns a frame. Inside frames go to the owner of the flow's source port
// (or echo identifier), return traffic to the owner of the port it is addressed to, and port
// forwards bend both rules so a forwarded flow's two directions meet on one actor.
import { EtherType, ETHERNET_HEADER_LEN, IpProtocol } from '../../wire/index.js';
import { dnatRuleProblem, type DnatRule } from './dnat-table.js';
import type { NetInterface } from '../iface/net-interface.js';
import { flowHash } from '../runtime/dispatcher.js';
import { portOwner } from './nat-engine.js';

/** The port that decides a frame's actor: source port inside, destination port outside (ICMP: the echo identifier). */
export function natPort(f: Uint8Array, outbound: boolean): number {
  if (f.length < ETHERNET_HEADER_LEN + 20 || ((f[12] << 8) | f[13]) !== EtherType.Ipv4) return -1;
  const ip = ETHERNET_HEADER_LEN;
  const l4 = ip + (f[ip] & 0x0f) * 4;
  const proto = f[ip + 9];
  if (f.length < l4 + 8) return -1;
  if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) return outbound ? (f[l4] << 8) | f[l4 + 1] : (f[l4 + 2] << 8) | f[l4 + 3];
  if (proto !== IpProtocol.Icmp) return -1;
  const type = f[l4];
  if (type === 8 || type === 0) return (f[l4 + 4] << 8) | f[l4 + 5];
  if ((type === 3 || type === 11) && f.length >= l4 + 8 + 28) {
    // An error: the quoted datagram left through us, so its source port (or echo id) is ours.
    const q = l4 + 8;
    const ql4 = q + (f[q] & 0x0f) * 4;
    if (f.length < ql4 + 8) return -1;
    const qp = f[q + 9];
    if (qp === IpProtocol.Tcp || qp === IpProtocol.Udp) return (f[ql4] << 8) | f[ql4 + 1];
    if (qp === IpProtocol.Icmp) return (f[ql4 + 4] << 8) | f[ql4 + 5];
  }
  return -1;
}

/** A rule's inside end as one number (address, protocol, port): the key of the inside dispatcher's map. */
export function forwardInsideKey(proto: number, ip: number, port: number): number {
  return (ip >>> 0) * 131072 + (proto === IpProtocol.Udp ? 65536 : 0) + port;
}

/** A rule's outside port with its protocol, as one number: the key of the outside dispatcher's map. */
export function forwardOutsideKey(proto: number, port: number): number {
  return (proto === IpProtocol.Udp ? 65536 : 0) + port;
}

/**
 * Where port-forwarded flows are handled. A forwarded flow is made by the actor its outside frame
 * reaches, but its inside end's replies carry the rule's inside port, which may fall in another
 * actor's slice: they are sent to the same actor by the rule's outside port instead. Several rules
 * may forward to one inside end (tcp:80 and tcp:8080 to 10.201.0.5:80); all of them are handled by
 * the owner of the lowest such port, outside frames included, so every flow of that inside end
 * lives on one actor.
 */
export interface ForwardMaps {
  /** forwardInsideKey(proto, insideIp, insidePort) → the port whose owner handles the rule(s). */
  inside: Map<number, number>;
  /** forwardOutsideKey(proto, rule port) → the same port, for rules sharing an inside end; absent when it is the rule's own. */
  outside: Map<number, number>;
}

/** The dispatch maps for a set of rules; rules the router cannot use (dnatRuleProblem) are left out, as the router ignores them. */
export function forwardMaps(rules: Iterable<[string, DnatRule]>, inside: NetInterface): ForwardMaps {
  const inMap = new Map<number, number>();
  const usable: [number, number][] = [];
  for (const [key, r] of rules) {
    if (dnatRuleProblem(key, r, inside) !== undefined) continue;
    const proto = r.proto === 'tcp' ? IpProtocol.Tcp : IpProtocol.Udp;
    const k = forwardInsideKey(proto, r.insideIp, r.insidePort);
    const cur = inMap.get(k);
    if (cur === undefined || r.port < cur) inMap.set(k, r.port);
    usable.push([forwardOutsideKey(proto, r.port), k]);
  }
  const outMap = new Map<number, number>();
  for (const [ok, k] of usable) {
    const port = inMap.get(k)!;
    if (port !== (ok & 0xffff)) outMap.set(ok, port);
  }
  return { inside: inMap, outside: outMap };
}

/** The port that decides a TCP/UDP frame's actor once port forwards are taken into account (`port`: natPort's answer). */
export function forwardedPort(f: Uint8Array, outbound: boolean, port: number, maps: ForwardMaps): number {
  let proto = f[ETHERNET_HEADER_LEN + 9];
  if (proto === IpProtocol.Icmp && !outbound) {
    // An error quoting a datagram we sent: natPort gave its source port; the quote says which protocol.
    const l4 = ETHERNET_HEADER_LEN + (f[ETHERNET_HEADER_LEN] & 0x0f) * 4;
    if (f[l4] === 3 || f[l4] === 11) proto = f[l4 + 8 + 9];
  }
  if (proto !== IpProtocol.Tcp && proto !== IpProtocol.Udp) return port;
  if (outbound) {
    if (maps.inside.size === 0) return port;
    const a = ETHERNET_HEADER_LEN + 12;
    const src = ((f[a] << 24) | (f[a + 1] << 16) | (f[a + 2] << 8) | f[a + 3]) >>> 0;
    return maps.inside.get(forwardInsideKey(proto, src, port)) ?? port;
  }
  return maps.outside.size === 0 ? port : (maps.outside.get(forwardOutsideKey(proto, port)) ?? port);
}

/** The packet actor (of `actors`) that owns a frame: by its NAT port, else by its flow hash. */
export function steer(f: Uint8Array, outbound: boolean, maps: ForwardMaps, actors: number): number {
  const port = natPort(f, outbound);
  if (port < 0) return flowHash(f) % actors;
  // No rules: not even the protocol is looked at.
  return portOwner(maps.inside.size === 0 ? port : forwardedPort(f, outbound, port, maps), actors);
}
