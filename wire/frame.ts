// A whole Ethernet frame as layered Reprs: decode for inspection and tools, emit back to the same bytes, summarize in
// one tcpdump-like line. The forwarding hot path uses the *Packet views directly instead.
import { ArpOperation, ArpPacket, ArpRepr } from './arp.js';
import { DhcpClientPort, DhcpMessageType, DhcpPacket, DhcpRepr, DhcpServerPort } from './dhcpv4.js';
import { DnsPort, DnsRepr, MdnsPort, type DnsMessage } from './dns.js';
import { WireError, type WireProtocol } from './error.js';
import { ETHERNET_HEADER_LEN, EtherType, EthernetPacket, EthernetRepr, macToString } from './ethernet.js';
import { Icmpv4Packet, Icmpv4Repr, Icmpv4Type } from './icmpv4.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr, ipv4ToString, type ChecksumPolicy } from './ipv4.js';
import { TcpFlags, TcpPacket, TcpRepr, type TcpOption } from './tcp.js';
import { UdpPacket, UdpRepr, UDP_HEADER_LEN } from './udp.js';

export interface FrameRepr {
  ethernet: EthernetRepr;
  network: NetworkLayer;
  /** Bytes after the network packet: Ethernet minimum-size padding, or an FCS the capture kept. */
  padding: Uint8Array;
  /** Checksums that did not verify; the Reprs keep the wrong values so the frame re-emits byte for byte. */
  checksumErrors: ChecksumError[];
}

export interface ChecksumError {
  protocol: WireProtocol;
  found: number;
  expected: number;
}

export type NetworkLayer =
  | { kind: 'arp'; arp: ArpRepr }
  | { kind: 'ipv4'; ipv4: Ipv4Repr; transport: TransportLayer }
  /** An ethertype this stack does not decode (IPv6, VLAN, ...): reported, not an error. */
  | { kind: 'unsupported'; ethertype: number; payload: Uint8Array };

export type TransportLayer =
  | { kind: 'icmpv4'; icmp: Icmpv4Repr }
  /** `trailer`: IPv4 payload beyond the UDP length field. */
  | { kind: 'udp'; udp: UdpRepr; app: UdpApplication; trailer: Uint8Array }
  | { kind: 'tcp'; tcp: TcpRepr; payload: Uint8Array }
  /** A fragment: its transport header, if any, is not decoded until reassembly. */
  | { kind: 'fragment'; payload: Uint8Array }
  | { kind: 'other'; protocol: number; payload: Uint8Array };

export type UdpApplication =
  | { kind: 'dns'; dns: DnsRepr }
  | { kind: 'dhcpv4'; dhcp: DhcpRepr }
  | { kind: 'data'; payload: Uint8Array };

export interface DecodeOptions {
  /** 'keep' (default) records wrong checksums and decodes on, as a capture needs; 'verify' throws on them. */
  checksum?: ChecksumPolicy;
}

/** Decodes one Ethernet frame; malformed input throws WireError and nothing else. Byte fields are views into `bytes`. */
export function decodeFrame(bytes: Uint8Array, opts: DecodeOptions = {}): FrameRepr {
  const policy = opts.checksum ?? 'keep';
  const checksumErrors: ChecksumError[] = [];
  const eth = EthernetPacket.newChecked(bytes);
  const ethernet = EthernetRepr.parse(eth);
  const payload = eth.payload();
  let network: NetworkLayer;
  let used: number;
  switch (ethernet.ethertype) {
    case EtherType.Arp: {
      const arp = ArpPacket.newChecked(payload);
      network = { kind: 'arp', arp: ArpRepr.parse(arp) };
      used = arp.addressesEnd;
      break;
    }
    case EtherType.Ipv4: {
      const ip = Ipv4Packet.newChecked(payload);
      if (!ip.verifyChecksum()) checksumErrors.push({ protocol: 'ipv4', found: ip.checksum, expected: ip.computeChecksum() });
      const ipv4 = Ipv4Repr.parse(ip, { checksum: policy });
      network = { kind: 'ipv4', ipv4, transport: decodeTransport(ip, ipv4, policy, checksumErrors) };
      used = ip.totalLength;
      break;
    }
    default:
      network = { kind: 'unsupported', ethertype: ethernet.ethertype, payload };
      used = payload.length;
  }
  return { ethernet, network, padding: payload.subarray(used), checksumErrors };
}

function decodeTransport(ip: Ipv4Packet, ipv4: Ipv4Repr, policy: ChecksumPolicy, errors: ChecksumError[]): TransportLayer {
  const payload = ip.payload();
  if (ipv4.isFragment) return { kind: 'fragment', payload };
  switch (ipv4.protocol) {
    case IpProtocol.Icmp: {
      const p = Icmpv4Packet.newChecked(payload);
      if (!p.verifyChecksum()) errors.push({ protocol: 'icmpv4', found: p.checksum, expected: p.computeChecksum() });
      return { kind: 'icmpv4', icmp: Icmpv4Repr.parse(p, { checksum: policy }) };
    }
    case IpProtocol.Udp: {
      const p = UdpPacket.newChecked(payload);
      if (!p.verifyChecksum(ipv4.src, ipv4.dst)) errors.push({ protocol: 'udp', found: p.checksum, expected: p.computeChecksum(ipv4.src, ipv4.dst) });
      const udp = UdpRepr.parse(p, ipv4.src, ipv4.dst, { checksum: policy });
      return { kind: 'udp', udp, app: decodeUdpApplication(udp, p.payload()), trailer: payload.subarray(p.len) };
    }
    case IpProtocol.Tcp: {
      const p = TcpPacket.newChecked(payload);
      if (!p.verifyChecksum(ipv4.src, ipv4.dst)) errors.push({ protocol: 'tcp', found: p.checksum, expected: p.computeChecksum(ipv4.src, ipv4.dst) });
      return { kind: 'tcp', tcp: TcpRepr.parse(p, ipv4.src, ipv4.dst, { checksum: policy }), payload: p.payload() };
    }
    default:
      return { kind: 'other', protocol: ipv4.protocol, payload };
  }
}

const isDhcpPort = (port: number): boolean => port === DhcpServerPort || port === DhcpClientPort;
const isDnsPort = (port: number): boolean => port === DnsPort || port === MdnsPort;

/** DNS and DHCP are decoded on their well-known ports; anything else on UDP is data. */
function decodeUdpApplication(udp: UdpRepr, payload: Uint8Array): UdpApplication {
  if (isDhcpPort(udp.srcPort) && isDhcpPort(udp.dstPort)) return { kind: 'dhcpv4', dhcp: DhcpRepr.parse(DhcpPacket.newChecked(payload)) };
  if (isDnsPort(udp.srcPort) || isDnsPort(udp.dstPort)) return { kind: 'dns', dns: DnsRepr.parse(payload) };
  return { kind: 'data', payload };
}

// ---------------------------------------------------------------- emit

/** Bytes `emitFrame` writes for this frame. */
export function frameLen(frame: FrameRepr): number {
  return ETHERNET_HEADER_LEN + networkLen(frame.network) + frame.padding.length;
}

function networkLen(net: NetworkLayer): number {
  switch (net.kind) {
    case 'arp': return net.arp.bufferLen();
    case 'ipv4': return net.ipv4.bufferLen() + transportLen(net.transport);
    case 'unsupported': return net.payload.length;
  }
}

function transportLen(t: TransportLayer): number {
  switch (t.kind) {
    case 'icmpv4': return t.icmp.bufferLen();
    case 'udp': return UDP_HEADER_LEN + applicationLen(t.app) + t.trailer.length;
    case 'tcp': return t.tcp.bufferLen(t.payload.length);
    case 'fragment': case 'other': return t.payload.length;
  }
}

function applicationLen(app: UdpApplication): number {
  switch (app.kind) {
    case 'dns': return app.dns.bufferLen();
    case 'dhcpv4': return app.dhcp.bufferLen();
    case 'data': return app.payload.length;
  }
}

/** Emits the frame with every length and checksum computed, except checksums a Repr kept from the wire. */
export function emitFrame(frame: FrameRepr): Uint8Array {
  const out = new Uint8Array(frameLen(frame));
  frame.ethernet.emit(EthernetPacket.newUnchecked(out));
  let at = ETHERNET_HEADER_LEN;
  const net = frame.network;
  switch (net.kind) {
    case 'arp':
      net.arp.emit(ArpPacket.newUnchecked(out, at));
      at += net.arp.bufferLen();
      break;
    case 'unsupported':
      out.set(net.payload, at);
      at += net.payload.length;
      break;
    case 'ipv4': {
      const hl = net.ipv4.bufferLen();
      const tl = transportLen(net.transport);
      emitTransport(net.transport, out, at + hl, tl, net.ipv4);
      net.ipv4.emit(Ipv4Packet.newUnchecked(out, at, hl + tl), tl);
      at += hl + tl;
      break;
    }
  }
  out.set(frame.padding, at);
  return out;
}

function emitTransport(t: TransportLayer, out: Uint8Array, at: number, len: number, ipv4: Ipv4Repr): void {
  switch (t.kind) {
    case 'icmpv4':
      t.icmp.emit(Icmpv4Packet.newUnchecked(out, at, len));
      return;
    case 'tcp':
      t.tcp.emit(TcpPacket.newUnchecked(out, at, len), t.payload, ipv4.src, ipv4.dst);
      return;
    case 'fragment': case 'other':
      out.set(t.payload, at);
      return;
    case 'udp': {
      // The application writes straight into its place; UDP then only checksums it.
      const appAt = at + UDP_HEADER_LEN;
      const appLen = applicationLen(t.app);
      const app = t.app;
      if (app.kind === 'dns') app.dns.emit(out, appAt);
      else if (app.kind === 'dhcpv4') app.dhcp.emit(DhcpPacket.newUnchecked(out, appAt, appLen));
      else out.set(app.payload, appAt);
      t.udp.emit(UdpPacket.newUnchecked(out, at, len), out.subarray(appAt, appAt + appLen), ipv4.src, ipv4.dst);
      out.set(t.trailer, appAt + appLen);
      return;
    }
  }
}

// ---------------------------------------------------------------- summary

/** One tcpdump-like line for a decoded frame. */
export function summarizeFrame(frame: FrameRepr): string {
  const net = frame.network;
  let line: string;
  switch (net.kind) {
    case 'arp': line = summarizeArp(net.arp); break;
    case 'unsupported':
      line = `${macToString(frame.ethernet.src)} > ${macToString(frame.ethernet.dst)}: unsupported ethertype 0x${net.ethertype.toString(16).padStart(4, '0')}, length ${net.payload.length}`;
      break;
    case 'ipv4': line = summarizeIpv4(net.ipv4, net.transport); break;
  }
  for (const e of frame.checksumErrors) line += ` [bad ${e.protocol} cksum 0x${hex4(e.found)} -> 0x${hex4(e.expected)}!]`;
  return line;
}

function summarizeArp(arp: ArpRepr): string {
  switch (arp.operation) {
    case ArpOperation.Request: return `ARP, Request who-has ${ipv4ToString(arp.targetIp)} tell ${ipv4ToString(arp.senderIp)}, length 28`;
    case ArpOperation.Reply: return `ARP, Reply ${ipv4ToString(arp.senderIp)} is-at ${macToString(arp.senderMac)}, length 28`;
    default:
      return `ARP, opcode ${arp.operation}, sender ${ipv4ToString(arp.senderIp)} (${macToString(arp.senderMac)}) target ${ipv4ToString(arp.targetIp)} (${macToString(arp.targetMac)}), length 28`;
  }
}

function summarizeIpv4(ip: Ipv4Repr, t: TransportLayer): string {
  const src = ipv4ToString(ip.src);
  const dst = ipv4ToString(ip.dst);
  switch (t.kind) {
    case 'icmpv4': return `IP ${src} > ${dst}: ${summarizeIcmp(t.icmp)}`;
    case 'udp': return `IP ${src}.${t.udp.srcPort} > ${dst}.${t.udp.dstPort}: ${summarizeUdpApplication(t.app)}`;
    case 'tcp': return `IP ${src}.${t.tcp.srcPort} > ${dst}.${t.tcp.dstPort}: ${summarizeTcp(t.tcp, t.payload.length)}`;
    case 'fragment':
      return `IP ${src} > ${dst}: ${protocolName(ip.protocol)} (frag ${ip.ident}:${t.payload.length}@${ip.fragmentOffset}${ip.moreFragments ? '+' : ''})`;
    case 'other': return `IP ${src} > ${dst}: ${protocolName(ip.protocol)}, length ${t.payload.length}`;
  }
}

function protocolName(protocol: number): string {
  switch (protocol) {
    case IpProtocol.Icmp: return 'icmp';
    case IpProtocol.Tcp: return 'tcp';
    case IpProtocol.Udp: return 'udp';
    default: return `ip-proto-${protocol}`;
  }
}

const UNREACHABLE: Record<number, string> = {
  0: 'net unreachable', 1: 'host unreachable', 2: 'protocol unreachable', 3: 'port unreachable',
  4: 'fragmentation needed', 5: 'source route failed', 13: 'administratively prohibited',
};

function summarizeIcmp(icmp: Icmpv4Repr): string {
  const len = icmp.bufferLen();
  switch (icmp.type) {
    case Icmpv4Type.EchoRequest: return `ICMP echo request, id ${icmp.ident}, seq ${icmp.seq}, length ${len}`;
    case Icmpv4Type.EchoReply: return `ICMP echo reply, id ${icmp.ident}, seq ${icmp.seq}, length ${len}`;
    case Icmpv4Type.DestUnreachable: {
      const what = UNREACHABLE[icmp.code] ?? `code ${icmp.code}`;
      const mtu = icmp.code === 4 ? ` (mtu ${icmp.nextHopMtu})` : '';
      return `ICMP ${what}${mtu}${summarizeOriginal(icmp)}, length ${len}`;
    }
    case Icmpv4Type.TimeExceeded:
      return `ICMP time exceeded ${icmp.code === 0 ? 'in-transit' : icmp.code === 1 ? 'in reassembly' : `code ${icmp.code}`}${summarizeOriginal(icmp)}, length ${len}`;
    default: return `ICMP type ${icmp.type} code ${icmp.code}, length ${len}`;
  }
}

/** ' for udp 10.0.0.2.40000 > 8.8.8.8.53' from the quoted datagram, or '' when it cannot be read. */
function summarizeOriginal(icmp: Icmpv4Repr): string {
  let original;
  try {
    original = icmp.original();
  } catch (err) {
    if (err instanceof WireError) return ' for an unreadable datagram';
    throw err;
  }
  if (!original) return '';
  const { ipv4, payload } = original;
  const ports = (ipv4.protocol === IpProtocol.Udp || ipv4.protocol === IpProtocol.Tcp) && payload.length >= 4;
  const sp = ports ? `.${(payload[0] << 8) | payload[1]}` : '';
  const dp = ports ? `.${(payload[2] << 8) | payload[3]}` : '';
  return ` for ${protocolName(ipv4.protocol)} ${ipv4ToString(ipv4.src)}${sp} > ${ipv4ToString(ipv4.dst)}${dp}`;
}

function summarizeUdpApplication(app: UdpApplication): string {
  switch (app.kind) {
    case 'data': return `UDP, length ${app.payload.length}`;
    case 'dns': return summarizeDns(app.dns);
    case 'dhcpv4': return summarizeDhcp(app.dhcp);
  }
}

const DHCP_TYPE_NAME: Record<number, string> = {
  [DhcpMessageType.Discover]: 'Discover', [DhcpMessageType.Offer]: 'Offer', [DhcpMessageType.Request]: 'Request',
  [DhcpMessageType.Decline]: 'Decline', [DhcpMessageType.Ack]: 'ACK', [DhcpMessageType.Nak]: 'NAK',
  [DhcpMessageType.Release]: 'Release', [DhcpMessageType.Inform]: 'Inform',
};

function summarizeDhcp(dhcp: DhcpRepr): string {
  const type = dhcp.messageType;
  const name = type === undefined ? (dhcp.op === 1 ? 'BOOTP Request' : 'BOOTP Reply') : `DHCP ${DHCP_TYPE_NAME[type] ?? `type ${type}`}`;
  const offered = dhcp.yiaddr !== 0 ? `, yiaddr ${ipv4ToString(dhcp.yiaddr)}` : '';
  return `${name} from ${macToString(dhcp.clientMac)}, xid 0x${dhcp.xid.toString(16)}${offered}, length ${dhcp.bufferLen()}`;
}

function summarizeDns(dns: DnsRepr): string {
  const m = dns.message as DnsMessage & { rcode?: string; opcode?: string };
  const len = dns.bufferLen();
  const id = m.id ?? 0;
  const questions = m.questions ?? [];
  if (m.type !== 'response') {
    const q = questions.map((x) => ` ${x.type}? ${x.name}.`).join('');
    return `DNS ${id}${m.flag_rd ? '+' : ''}${q} (${len})`;
  }
  const answers = m.answers ?? [];
  const rcode = m.rcode && m.rcode !== 'NOERROR' ? ` ${m.rcode}` : '';
  const shown = answers.slice(0, 3).map((a) => `${a.type} ${'data' in a ? dnsData(a.type, a.data) : ''}`).join(', ');
  const more = answers.length > 3 ? ', ...' : '';
  return `DNS ${id}${m.flag_aa ? '*' : ''}${m.flag_tc ? '|' : ''}${rcode} ${answers.length}/${(m.authorities ?? []).length}/${(m.additionals ?? []).length}${shown ? ` ${shown}${more}` : ''} (${len})`;
}

/** Names end with '.', as tcpdump shows them. */
function dnsData(type: string, data: unknown): string {
  if (typeof data === 'string') return ['CNAME', 'NS', 'PTR', 'DNAME'].includes(type) ? `${data}.` : data;
  if (Array.isArray(data)) return data.map((d) => JSON.stringify(Buffer.from(d as Uint8Array).toString())).join(' ');
  if (data instanceof Uint8Array) return `<${data.length} bytes>`;
  if (data && typeof data === 'object') {
    const o = data as Record<string, unknown>;
    if (typeof o.exchange === 'string') return `${o.exchange}. ${String(o.preference ?? '')}`.trim();
    if (typeof o.target === 'string') return `${o.target}.:${String(o.port ?? '')}`;
    if (typeof o.mname === 'string') return `${o.mname}. ${String(o.rname ?? '')}.`;
  }
  return '...';
}

const TCP_FLAG_LETTERS: Array<[number, string]> = [
  [TcpFlags.FIN, 'F'], [TcpFlags.SYN, 'S'], [TcpFlags.RST, 'R'], [TcpFlags.PSH, 'P'],
  [TcpFlags.ACK, '.'], [TcpFlags.URG, 'U'], [TcpFlags.ECE, 'E'], [TcpFlags.CWR, 'W'], [TcpFlags.NS, 'N'],
];

function summarizeTcp(tcp: TcpRepr, payloadLen: number): string {
  const flags = TCP_FLAG_LETTERS.filter(([bit]) => tcp.has(bit)).map(([, c]) => c).join('') || 'none';
  let line = `Flags [${flags}], seq ${tcp.seq}`;
  if (tcp.has(TcpFlags.ACK)) line += `, ack ${tcp.ack}`;
  line += `, win ${tcp.window}`;
  if (tcp.has(TcpFlags.URG)) line += `, urg ${tcp.urgent}`;
  if (tcp.options.length) line += `, options [${tcp.options.map(tcpOptionText).join(',')}]`;
  return `${line}, length ${payloadLen}`;
}

function tcpOptionText(o: TcpOption): string {
  switch (o.kind) {
    case 'eol': return 'eol';
    case 'nop': return 'nop';
    case 'mss': return `mss ${o.value}`;
    case 'window-scale': return `wscale ${o.shift}`;
    case 'sack-permitted': return 'sackOK';
    case 'sack': return `sack ${o.blocks.length} ${o.blocks.map(([l, r]) => `{${l}:${r}}`).join('')}`;
    case 'timestamps': return `TS val ${o.tsval} ecr ${o.tsecr}`;
    case 'unknown': return `unknown-${o.code} 0x${Buffer.from(o.data).toString('hex')}`;
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
