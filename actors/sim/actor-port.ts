// The local port that makes a connection's frames land on a chosen packet actor. Frames are spread by
// flowHash (symmetric in addresses and ports), so an actor that opens a connection must pick a port
// whose 4-tuple hashes back to it, as Linux picks ports for receive-side scaling.
import { EtherType, EthernetRepr, IpProtocol, Ipv4Repr, TcpFlags, TcpRepr, emitFrame } from '../../wire/index.js';
import { flowHash } from '../runtime/dispatcher.js';

export interface ActorPortQuery {
  localIp: number;
  remoteIp: number;
  remotePort: number;
  /** The actor that opens the connection, of `actors`. */
  actor: number;
  actors: number;
}

const EMPTY = new Uint8Array(0);

/** The actor the dispatcher hands this connection's frames to: it is asked about the SYN itself. */
export function actorOfConnection(localIp: number, localPort: number, remoteIp: number, remotePort: number, actors: number): number {
  const syn = emitFrame({
    ethernet: new EthernetRepr({ dst: 0, src: 0, ethertype: EtherType.Ipv4 }),
    network: {
      kind: 'ipv4',
      ipv4: new Ipv4Repr({ src: localIp, dst: remoteIp, protocol: IpProtocol.Tcp, payloadLen: 20, ttl: 64 }),
      transport: { kind: 'tcp', tcp: new TcpRepr({ srcPort: localPort, dstPort: remotePort, flags: TcpFlags.SYN }), payload: EMPTY },
    },
    padding: EMPTY,
    checksumErrors: [],
  });
  return flowHash(syn) % actors;
}

/**
 * The first port from `from` on (wrapping within `range`, inclusive) whose connection lands on `q.actor`; -1 when
 * none in the range does. `used` skips ports taken.
 */
export function portForActor(q: ActorPortQuery, from: number, range: readonly [number, number], used: (port: number) => boolean = () => false): number {
  const [lo, hi] = range;
  const span = hi - lo + 1;
  let p = from < lo || from > hi ? lo : from;
  for (let i = 0; i < span; i++, p = p === hi ? lo : p + 1) {
    if (!used(p) && actorOfConnection(q.localIp, p, q.remoteIp, q.remotePort, q.actors) === q.actor) return p;
  }
  return -1;
}
