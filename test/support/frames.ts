// Frames a test peer sends, built with the wire Reprs, and a decoder for what the stack sends back.
import {
  ArpOperation, ArpRepr, BROADCAST_MAC, EtherType, EthernetRepr, Icmpv4Repr, IpProtocol, Ipv4Repr, TcpRepr, UdpRepr, decodeFrame, emitFrame, type FrameRepr,
} from '../../wire/index.js';

const EMPTY = new Uint8Array(0);

export function arpFrame(o: { op: 'request' | 'reply'; srcMac: number; senderIp: number; targetIp: number; targetMac?: number; dst?: number }): Uint8Array {
  return emitFrame({
    ethernet: new EthernetRepr({ dst: o.dst ?? (o.op === 'request' ? BROADCAST_MAC : o.targetMac ?? BROADCAST_MAC), src: o.srcMac, ethertype: EtherType.Arp }),
    network: { kind: 'arp', arp: new ArpRepr({ operation: o.op === 'request' ? ArpOperation.Request : ArpOperation.Reply, senderMac: o.srcMac, senderIp: o.senderIp, targetMac: o.targetMac ?? 0, targetIp: o.targetIp }) },
    padding: EMPTY,
    checksumErrors: [],
  });
}

export function tcpFrame(o: { srcMac: number; dstMac: number; src: number; dst: number; srcPort: number; dstPort: number; flags: number; seq?: number; ack?: number; payload?: Uint8Array; ttl?: number }): Uint8Array {
  const payload = o.payload ?? EMPTY;
  const tcp = new TcpRepr({ srcPort: o.srcPort, dstPort: o.dstPort, flags: o.flags, seq: o.seq ?? 1000, ack: o.ack ?? 0, window: 65535 });
  return emitFrame({
    ethernet: new EthernetRepr({ dst: o.dstMac, src: o.srcMac, ethertype: EtherType.Ipv4 }),
    network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: o.src, dst: o.dst, protocol: IpProtocol.Tcp, payloadLen: tcp.bufferLen() + payload.length, ttl: o.ttl ?? 64 }), transport: { kind: 'tcp', tcp, payload } },
    padding: EMPTY,
    checksumErrors: [],
  });
}

export function echoRequestFrame(o: { srcMac: number; dstMac: number; src: number; dst: number; ident?: number; seq: number; data?: Uint8Array; ttl?: number }): Uint8Array {
  const icmp = Icmpv4Repr.echoRequest(o.ident ?? 7, o.seq, o.data ?? new Uint8Array(32).fill(0x61));
  return emitFrame({
    ethernet: new EthernetRepr({ dst: o.dstMac, src: o.srcMac, ethertype: EtherType.Ipv4 }),
    network: { kind: 'ipv4', ipv4: new Ipv4Repr({ src: o.src, dst: o.dst, protocol: IpProtocol.Icmp, payloadLen: icmp.bufferLen(), ttl: o.ttl ?? 64 }), transport: { kind: 'icmpv4', icmp } },
    padding: EMPTY,
    checksumErrors: [],
  });
}

export function udpFrame(o: { srcMac: number; dstMac: number; src: number; dst: number; srcPort: number; dstPort: number; payload: Uint8Array; ttl?: number }): Uint8Array {
  return emitFrame({
    ethernet: new EthernetRepr({ dst: o.dstMac, src: o.srcMac, ethertype: EtherType.Ipv4 }),
    network: {
      kind: 'ipv4',
      ipv4: new Ipv4Repr({ src: o.src, dst: o.dst, protocol: IpProtocol.Udp, payloadLen: 8 + o.payload.length, ttl: o.ttl ?? 64 }),
      transport: { kind: 'udp', udp: new UdpRepr({ srcPort: o.srcPort, dstPort: o.dstPort }), app: { kind: 'data', payload: o.payload }, trailer: EMPTY },
    },
    padding: EMPTY,
    checksumErrors: [],
  });
}

/** Decodes with checksums verified: a frame the stack sends must be correct. */
export function decode(frame: Uint8Array): FrameRepr {
  return decodeFrame(frame, { checksum: 'verify' });
}
