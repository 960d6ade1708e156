// ARP (RFC 826): the view reads any hardware/protocol sizes; the Repr is Ethernet + IPv4, the only pairing on this stack.
import { WireError, type WireProtocol } from './error.js';
import { EtherType, readMac, writeMac } from './ethernet.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

export const ArpHardware = { Ethernet: 1 } as const;

/** Opcodes; any other value is kept as its number. */
export const ArpOperation = { Request: 1, Reply: 2 } as const;

/** An Ethernet/IPv4 ARP packet: 8 bytes of header, two 6-byte MACs and two 4-byte addresses. */
export const ARP_ETHERNET_IPV4_LEN = 28;
/** The address sizes of the one pairing this stack speaks: a MAC, then an IPv4 address. */
const MAC_LEN = 6;
const IPV4_LEN = 4;

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  HTYPE = 0,
  PTYPE = 2,
  HLEN = 4,
  PLEN = 5,
  OPER = 6,
  /** Sender hardware address; the fields after it move with HLEN and PLEN. */
  SHA = 8,
}

/** A zero-copy view of an ARP packet. Address getters assume Ethernet/IPv4 sizes; check `hardwareLen`/`protocolLen`. */
export class ArpPacket extends WireView {
  static readonly wireProtocol: WireProtocol = 'arp';

  checkLen(): WireStatus {
    const fixed = this.checkFixedLen(Field.SHA);
    if (fixed !== WireStatus.Ok) return fixed;
    // The addresses take their sizes from HLEN/PLEN; the getters read Ethernet/IPv4 sizes, so both must fit.
    if (this.length < this.addressesNeed) return WireStatus.LengthTruncated;
    return WireStatus.Ok;
  }

  protected lenError(status: WireStatus): WireError {
    return status === WireStatus.Truncated ? this.truncatedError('header', Field.SHA) : this.truncatedError('addresses', this.addressesNeed);
  }

  /** Bytes the addresses need: as HLEN/PLEN say, and at least the Ethernet/IPv4 sizes the getters read. */
  private get addressesNeed(): number { return Math.max(this.addressesEnd, ARP_ETHERNET_IPV4_LEN); }

  get hardwareType(): number { return this.data.getUint16(this.offset + Field.HTYPE); }
  get protocolType(): number { return this.data.getUint16(this.offset + Field.PTYPE); }
  get hardwareLen(): number { return this.data.getUint8(this.offset + Field.HLEN); }
  get protocolLen(): number { return this.data.getUint8(this.offset + Field.PLEN); }
  get operation(): number { return this.data.getUint16(this.offset + Field.OPER); }
  /** End of the target protocol address, from the HLEN and PLEN fields. */
  /** Ethernet hardware and IPv4 protocol with their address sizes: the only pairing the address getters read. */
  get isEthernetIpv4(): boolean {
    return this.hardwareType === ArpHardware.Ethernet && this.protocolType === EtherType.Ipv4 && this.hardwareLen === MAC_LEN && this.protocolLen === IPV4_LEN;
  }
  get addressesEnd(): number { return Field.SHA + 2 * this.hardwareLen + 2 * this.protocolLen; }
  get senderMac(): number { return readMac(this.data, this.offset + Field.SHA); }
  get senderIp(): number { return this.data.getUint32(this.offset + Field.SHA + 6); }
  get targetMac(): number { return readMac(this.data, this.offset + Field.SHA + 10); }
  get targetIp(): number { return this.data.getUint32(this.offset + Field.SHA + 16); }

  set hardwareType(v: number) { this.data.setUint16(this.offset + Field.HTYPE, v); }
  set protocolType(v: number) { this.data.setUint16(this.offset + Field.PTYPE, v); }
  set hardwareLen(v: number) { this.data.setUint8(this.offset + Field.HLEN, v); }
  set protocolLen(v: number) { this.data.setUint8(this.offset + Field.PLEN, v); }
  set operation(v: number) { this.data.setUint16(this.offset + Field.OPER, v); }
  set senderMac(mac: number) { writeMac(this.data, this.offset + Field.SHA, mac); }
  set senderIp(ip: number) { this.data.setUint32(this.offset + Field.SHA + 6, ip); }
  set targetMac(mac: number) { writeMac(this.data, this.offset + Field.SHA + 10, mac); }
  set targetIp(ip: number) { this.data.setUint32(this.offset + Field.SHA + 16, ip); }
}

/** An Ethernet/IPv4 ARP message. */
export class ArpRepr {
  /** 1 request, 2 reply; other opcodes are kept. */
  operation: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;

  constructor(init: { operation: number; senderMac: number; senderIp: number; targetMac: number; targetIp: number }) {
    this.operation = init.operation;
    this.senderMac = init.senderMac;
    this.senderIp = init.senderIp;
    this.targetMac = init.targetMac;
    this.targetIp = init.targetIp;
  }

  /** Rejects other hardware/protocol pairings with a WireError naming the Field. */
  static parse(packet: ArpPacket): ArpRepr {
    if (packet.hardwareType !== ArpHardware.Ethernet) throw new WireError('arp', 'hardware type', 'unsupported', `${packet.hardwareType}`);
    if (packet.protocolType !== EtherType.Ipv4) throw new WireError('arp', 'protocol type', 'unsupported', `0x${packet.protocolType.toString(16)}`);
    if (packet.hardwareLen !== MAC_LEN) throw new WireError('arp', 'hardware length', 'bad-value', `${packet.hardwareLen}`);
    if (packet.protocolLen !== IPV4_LEN) throw new WireError('arp', 'protocol length', 'bad-value', `${packet.protocolLen}`);
    return new ArpRepr({
      operation: packet.operation,
      senderMac: packet.senderMac,
      senderIp: packet.senderIp,
      targetMac: packet.targetMac,
      targetIp: packet.targetIp,
    });
  }

  bufferLen(): number { return ARP_ETHERNET_IPV4_LEN; }

  emit(packet: ArpPacket): void {
    packet.hardwareType = ArpHardware.Ethernet;
    packet.protocolType = EtherType.Ipv4;
    packet.hardwareLen = MAC_LEN;
    packet.protocolLen = IPV4_LEN;
    packet.operation = this.operation;
    packet.senderMac = this.senderMac;
    packet.senderIp = this.senderIp;
    packet.targetMac = this.targetMac;
    packet.targetIp = this.targetIp;
  }
}
