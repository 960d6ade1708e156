// Steering: which packet actor owns a frame. Inside frames go to the owner of the flow's source port
// (or echo identifier), return traffic to the owner of the port it is addressed to, and port
// forwards bend both rules so a forwarded flow's two directions meet on one actor. Fragments carry
// no ports but the first: every fragment of a datagram goes to one actor (docs/router.md#fragments).
// The router's own services follow the same rules (docs/router.md#local-services): see dhcpOwner, dnsUpstreamPort.
import {
  EtherType, EthernetPacket, ETHERNET_HEADER_LEN, ICMPV4_HEADER_LEN, ICMPV4_QUOTED_PAYLOAD_LEN, Icmpv4Packet, Icmpv4Type, IpProtocol,
  Ipv4Packet, IPV4_MIN_HEADER_LEN, NatPorts, NAT_PORTS_LEN,
} from '../../wire/index.js';
import { dnatRuleProblem, type DnatRule } from './dnat-table.js';
import { isTranslatedError } from './icmp-errors.js';
import type { NetInterface } from '../iface/net-interface.js';
import { flowHash } from '../runtime/dispatcher.js';
import { portOwner } from './nat-engine.js';

// Views reused frame after frame: steering runs on the dispatcher's thread for every frame, allocating nothing.
const eth = EthernetPacket.newUnchecked(new Uint8Array(64));
const ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
const icmp = Icmpv4Packet.newUnchecked(new Uint8Array(64));
const inner = Ipv4Packet.newUnchecked(new Uint8Array(64));
const ports = NatPorts.newUnchecked(new Uint8Array(64));

/** Points `ip` at the frame's IPv4 header (as far as the frame goes); false when it is not IPv4 or too short. */
function ipOf(f: Uint8Array): boolean {
  if (f.length < ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN || eth.reset(f).ethertype !== EtherType.Ipv4) return false;
  ip.resetIn(eth, ETHERNET_HEADER_LEN, f.length - ETHERNET_HEADER_LEN);
  return true;
}

/** Points `icmp` at the ICMP message in `ip`, as far as the frame goes. */
function icmpOf(): Icmpv4Packet {
  return icmp.resetIn(ip, ip.headerLength, ip.length - ip.headerLength);
}

/** Points `inner` at the datagram the error in `icmp` quotes, as far as the frame goes. */
function quoteOf(): Ipv4Packet {
  return inner.resetIn(icmp, ICMPV4_HEADER_LEN, icmp.length - ICMPV4_HEADER_LEN);
}

/** The port that decides a frame's actor: source port inside, destination port outside (ICMP: the echo identifier). */
export function natPort(f: Uint8Array, outbound: boolean): number {
  if (!ipOf(f)) return -1;
  const p = ports.of(ip, ip.length - ip.headerLength);
  if (p.length < NAT_PORTS_LEN) return -1;
  const proto = ip.protocol;
  if (proto === IpProtocol.Tcp || proto === IpProtocol.Udp) return outbound ? p.srcPort : p.dstPort;
  if (proto !== IpProtocol.Icmp) return -1;
  const type = icmpOf().type;
  if (type === Icmpv4Type.EchoRequest || type === Icmpv4Type.EchoReply) return p.srcPort;
  if (isTranslatedError(type) && icmp.length >= ICMPV4_HEADER_LEN + IPV4_MIN_HEADER_LEN + ICMPV4_QUOTED_PAYLOAD_LEN) {
    // An error: the quoted datagram left through us, so its source port (or echo id) is ours.
    const q = quoteOf();
    const qp = ports.of(q, q.length - q.headerLength);
    if (qp.length < NAT_PORTS_LEN) return -1;
    const qproto = q.protocol;
    if (qproto === IpProtocol.Tcp || qproto === IpProtocol.Udp || qproto === IpProtocol.Icmp) return qp.srcPort;
  }
  return -1;
}

/**
 * The actor that serves DHCP, both the server inside and the client outside. Every DHCP message from a client
 * comes from port 68, and every reply to our client goes to port 68: by the port rule all of them land on the
 * owner of 68 (inside by source port, outside by destination port), so one branch writes every lease, and no
 * steering exception is needed.
 */
export function dhcpOwner(actors: number): number {
  return portOwner(68, actors);
}

/** Where the low ports our upstream DNS source ports are taken from: below NAT's slices, which start at 1024. */
const DNS_UPSTREAM_BASE = 960;

/**
 * The source port of actor `actor`'s upstream DNS queries: a port below 1024 that it owns (portOwner of a low
 * port is the port modulo the actors), so the answers are steered back to it. NAT never hands a low port out;
 * it keeps one only when an inside host sends from it, and then an answer whose id is not ours goes on to NAT.
 */
export function dnsUpstreamPort(actor: number, actors: number): number {
  const n = Math.max(1, actors);
  return DNS_UPSTREAM_BASE - (DNS_UPSTREAM_BASE % n) + actor;
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
  if (!ipOf(f)) return port;
  let proto = ip.protocol;
  // An error quoting a datagram we sent: natPort gave its source port; the quote says which protocol.
  if (proto === IpProtocol.Icmp && !outbound && isTranslatedError(icmpOf().type)) proto = quoteOf().protocol;
  if (proto !== IpProtocol.Tcp && proto !== IpProtocol.Udp) return port;
  if (outbound) {
    if (maps.inside.size === 0) return port;
    return maps.inside.get(forwardInsideKey(proto, ip.src, port)) ?? port;
  }
  return maps.outside.size === 0 ? port : (maps.outside.get(forwardOutsideKey(proto, port)) ?? port);
}

/** The actor that reassembles a datagram: a hash of its RFC 791 key (src, dst, protocol, identification). */
export function datagramOwner(src: number, dst: number, proto: number, ident: number, actors: number): number {
  return actors <= 1 ? 0 : datagramHash(src, dst, proto, ident) % actors;
}

/** The RFC 791 key's hash (FNV-1a over its words, folded), unsigned 32 bits. */
function datagramHash(src: number, dst: number, proto: number, ident: number): number {
  let h = Math.imul(src ^ 0x811c9dc5, 0x01000193);
  h = Math.imul(h ^ dst, 0x01000193);
  h = Math.imul(h ^ ((proto << 16) | ident), 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

/** The frame's datagram owner when it is a fragment; -1 when it is not one. */
export function fragmentOwner(f: Uint8Array, actors: number): number {
  if (!ipOf(f) || !ip.isFragment) return -1;
  return datagramOwner(ip.src, ip.dst, ip.protocol, ip.ident, actors);
}

/**
 * A dispatcher's memory of where each datagram's first fragment went, so the later ones follow it:
 * a direct-mapped cache (a slot per hash, overwritten), typed arrays, nothing allocated per frame.
 * A later fragment that finds no record (its first came late, or was overwritten) goes by its key's hash.
 */
export class FirstFragmentOwners {
  private readonly src: Int32Array;
  private readonly dst: Int32Array;
  private readonly key: Int32Array;
  private readonly owner: Int8Array;

  constructor(readonly slots = 4096) {
    this.src = new Int32Array(slots);
    this.dst = new Int32Array(slots);
    this.key = new Int32Array(slots).fill(-1);
    this.owner = new Int8Array(slots);
  }

  /** The owner of the fragment `ip` points at: `firstOwner` for a first fragment (remembered), else the first's. */
  place(firstOwner: number, actors: number): number {
    const k = (ip.protocol << 16) | ip.ident;
    const h = datagramHash(ip.src, ip.dst, ip.protocol, ip.ident);
    const s = h % this.slots;
    if (ip.fragmentOffset === 0) {
      this.src[s] = ip.src;
      this.dst[s] = ip.dst;
      this.key[s] = k;
      this.owner[s] = firstOwner;
      return firstOwner;
    }
    if (this.key[s] === k && this.src[s] === (ip.src | 0) && this.dst[s] === (ip.dst | 0)) return this.owner[s];
    return actors <= 1 ? 0 : h % actors; // datagramOwner's rule, the hash already taken
  }
}

// One per direction: a dispatcher thread steers each network's frames in arrival order.
const firstFragments = [new FirstFragmentOwners(), new FirstFragmentOwners()];

/**
 * The packet actor (of `actors`) that owns a frame: by its NAT port, else by its flow hash — or, given
 * `portless`, that actor (a frame with no port to translate may be handled by any actor: the one that has it).
 * Fragments: an actor steering its own queue (`portless` given) sends every fragment to its datagram's
 * owner, which reassembles and hands the datagram to its port's owner; a dispatcher (no `portless`), which
 * sees every frame of its network in order, sends them all where the first fragment's port says.
 */
export function steer(f: Uint8Array, outbound: boolean, maps: ForwardMaps, actors: number, portless = -1): number {
  if (ipOf(f) && ip.isFragment) {
    if (portless >= 0) return datagramOwner(ip.src, ip.dst, ip.protocol, ip.ident, actors);
    const first = ip.fragmentOffset === 0 ? portSteer(f, outbound, maps, actors, -1) : -1;
    ipOf(f); // portSteer moved the shared views
    return firstFragments[outbound ? 1 : 0].place(first, actors);
  }
  return portSteer(f, outbound, maps, actors, portless);
}

/** steer()'s rule for a frame that is not a later fragment: its NAT port's owner, else `portless` or its flow hash. */
function portSteer(f: Uint8Array, outbound: boolean, maps: ForwardMaps, actors: number, portless: number): number {
  const port = natPort(f, outbound);
  if (port < 0) return portless >= 0 ? portless : flowHash(f) % actors;
  // No rules: not even the protocol is looked at.
  return portOwner(maps.inside.size === 0 ? port : forwardedPort(f, outbound, port, maps), actors);
}
