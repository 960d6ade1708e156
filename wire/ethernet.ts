// Ethernet II frames: destination, source, ethertype, payload. MAC addresses are 48-bit numbers (exact in a double, no allocation).
import { WireError, type WireProtocol } from './error.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

/** Ethertypes this stack knows; any other value is kept as its number. */
export const EtherType = {
  Ipv4: 0x0800,
  Arp: 0x0806,
  Vlan: 0x8100,
  Ipv6: 0x86dd,
} as const;

export const ETHERNET_HEADER_LEN = 14;
/** ff:ff:ff:ff:ff:ff */
export const BROADCAST_MAC = 0xffff_ffff_ffff;

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  DST = 0,
  SRC = 6,
  ETHERTYPE = 12,
  PAYLOAD = 14,
}

const TWO32 = 0x1_0000_0000;

/** Reads a MAC address at `at` in a DataView. */
export function readMac(data: DataView, at: number): number {
  return data.getUint16(at) * TWO32 + data.getUint32(at + 2);
}

/** Writes a MAC address at `at` in a DataView. */
export function writeMac(data: DataView, at: number, mac: number): void {
  data.setUint16(at, Math.floor(mac / TWO32) & 0xffff);
  data.setUint32(at + 2, mac >>> 0);
}

/** 'aa:bb:cc:dd:ee:ff' */
export function macToString(mac: number): string {
  let out = '';
  for (let shift = 40; shift >= 0; shift -= 8) {
    const byte = Math.floor(mac / 2 ** shift) & 0xff;
    out += (shift === 40 ? '' : ':') + byte.toString(16).padStart(2, '0');
  }
  return out;
}

/** Parses 'aa:bb:cc:dd:ee:ff' (or with '-'); a malformed address is a WireError on field 'mac address'. */
export function parseMac(text: string): number {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) throw new WireError('ethernet', 'mac address', 'bad-value', JSON.stringify(text));
  let mac = 0;
  for (let i = 1; i <= 6; i++) mac = mac * 256 + parseInt(m[i], 16);
  return mac;
}

/** The six bytes of a MAC address. */
export function macToBytes(mac: number): Uint8Array {
  const out = new Uint8Array(6);
  writeMac(new DataView(out.buffer), 0, mac);
  return out;
}

/** A MAC address from six bytes at `at`. */
export function macFromBytes(bytes: Uint8Array, at = 0): number {
  let mac = 0;
  for (let i = 0; i < 6; i++) mac = mac * 256 + bytes[at + i];
  return mac;
}

/** The group bit (least significant bit of the first byte): broadcast and multicast. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / 2 ** 40) & 1) === 1;
}

/** A zero-copy view of an Ethernet II frame. */
export class EthernetPacket extends WireView {
  static readonly wireProtocol: WireProtocol = 'ethernet';

  checkLen(): WireStatus {
    return this.checkFixedLen(ETHERNET_HEADER_LEN);
  }

  protected lenError(): WireError {
    return this.truncatedError('header', ETHERNET_HEADER_LEN);
  }

  get dst(): number { return readMac(this.data, this.offset + Field.DST); }
  get src(): number { return readMac(this.data, this.offset + Field.SRC); }
  get ethertype(): number { return this.data.getUint16(this.offset + Field.ETHERTYPE); }
  /** Offset of the payload within the view. */
  get payloadOffset(): number { return Field.PAYLOAD; }
  get payloadLength(): number { return this.length - Field.PAYLOAD; }
  payload(): Uint8Array { return this.slice(Field.PAYLOAD); }

  set dst(mac: number) { writeMac(this.data, this.offset + Field.DST, mac); }
  set src(mac: number) { writeMac(this.data, this.offset + Field.SRC, mac); }
  set ethertype(value: number) { this.data.setUint16(this.offset + Field.ETHERTYPE, value); }
}

/** The header of an Ethernet II frame; the payload belongs to the layer above. */
export class EthernetRepr {
  dst: number;
  src: number;
  ethertype: number;

  constructor(init: { dst: number; src: number; ethertype: number }) {
    this.dst = init.dst;
    this.src = init.src;
    this.ethertype = init.ethertype;
  }

  static parse(packet: EthernetPacket): EthernetRepr {
    return new EthernetRepr({ dst: packet.dst, src: packet.src, ethertype: packet.ethertype });
  }

  /** Bytes of header this Repr emits. */
  bufferLen(): number { return ETHERNET_HEADER_LEN; }

  emit(packet: EthernetPacket): void {
    packet.dst = this.dst;
    packet.src = this.src;
    packet.ethertype = this.ethertype;
  }

  toString(): string {
    return `${macToString(this.src)} > ${macToString(this.dst)}, ethertype 0x${this.ethertype.toString(16).padStart(4, '0')}`;
  }
}
