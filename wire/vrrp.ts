// VRRP version 3 advertisements for IPv4 (RFC 5798 §5): how a standby router hears that the active one is alive.
// The checksum covers an IPv4 pseudo-header, as UDP's does (§5.2.8), and there is no "no checksum" value.
import { fold, sumData, finish, pseudoHeaderSum } from './checksum.js';
import { WireError, type WireProtocol } from './error.js';
import { IpProtocol, type ChecksumPolicy } from './ipv4.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

/** IP protocol number of VRRP (§5.1.1.4): ipv4.ts's `IpProtocol.Vrrp`. */
export const IP_PROTOCOL_VRRP = IpProtocol.Vrrp;
/** 224.0.0.18, where advertisements go (§5.1.1.2). */
export const VRRP_MULTICAST_IPV4 = 0xe000_0012;
/** 01:00:5e:00:00:12, the Ethernet group of 224.0.0.18 (RFC 1112 §6.4: 01:00:5e and the group's low 23 bits). */
export const VRRP_MULTICAST_MAC = 0x0100_5e00_0012;
/** Advertisements are sent with TTL 255 and one with any other TTL is dropped (§5.1.1.3, §7.1): it crossed a router. */
export const VRRP_TTL = 255;
export const VRRP_VERSION = 3;
/** Message types; 1 is the only one defined (§5.2.2). */
export const VrrpType = { Advertisement: 1 } as const;
/** Priority of the router that owns the virtual addresses: it is always master when up (§5.2.4). */
export const VRRP_PRIORITY_OWNER = 255;
/** Priority a master sends as it stops, so a backup takes over after Skew_Time instead of Master_Down_Interval (§5.2.4). */
export const VRRP_PRIORITY_LEAVING = 0;
/** The version, type, VRID, priority, count, interval and checksum: 8 bytes before the addresses. */
export const VRRP_HEADER_LEN = 8;
/** The interval field has 12 bits (centiseconds, so at most 40.95 s). */
export const VRRP_MAX_ADVER_INTERVAL = 0x0fff;
const IPV4_LEN = 4;

const VRRP: WireProtocol = 'vrrp';

/** The virtual router MAC 00-00-5E-00-01-{VRID} (§7.3): the master answers ARP for the virtual addresses with it. */
export function vrrpVirtualMac(vrid: number): number {
  return 0x0000_5e00_0100 + (vrid & 0xff);
}

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  VER_TYPE = 0,
  VRID = 1,
  PRIORITY = 2,
  COUNT = 3,
  /** 4 reserved bits, then the 12-bit Max Advertise Interval. */
  MAX_ADVER_INT = 4,
  CHECKSUM = 6,
  ADDRESSES = 8,
}

/** A zero-copy view of a VRRPv3 IPv4 message (the IP payload); after `check()` the `count` addresses are inside it. */
export class VrrpPacket extends WireView {
  static readonly wireProtocol: WireProtocol = VRRP;

  checkLen(): WireStatus {
    const fixed = this.checkFixedLen(VRRP_HEADER_LEN);
    if (fixed !== WireStatus.Ok) return fixed;
    return this.length < this.messageLen ? WireStatus.LengthTruncated : WireStatus.Ok;
  }

  protected lenError(status: WireStatus): WireError {
    if (status === WireStatus.Truncated) return this.truncatedError('header', VRRP_HEADER_LEN);
    return new WireError(VRRP, 'count', 'truncated', `${this.count} addresses need ${this.messageLen} bytes, has ${this.length}`);
  }

  get version(): number { return this.bytes[this.offset + Field.VER_TYPE] >>> 4; }
  get type(): number { return this.bytes[this.offset + Field.VER_TYPE] & 0x0f; }
  get vrid(): number { return this.bytes[this.offset + Field.VRID]; }
  get priority(): number { return this.bytes[this.offset + Field.PRIORITY]; }
  /** Count IPvX Addr. */
  get count(): number { return this.bytes[this.offset + Field.COUNT]; }
  /** Max Advertise Interval in centiseconds (the 4 reserved bits above it are ignored, §5.2.6). */
  get maxAdverInterval(): number { return this.data.getUint16(this.offset + Field.MAX_ADVER_INT) & VRRP_MAX_ADVER_INTERVAL; }
  get checksum(): number { return this.data.getUint16(this.offset + Field.CHECKSUM); }
  /** Header and `count` IPv4 addresses: the bytes the fields say the message has. */
  get messageLen(): number { return VRRP_HEADER_LEN + IPV4_LEN * this.count; }
  /** The i-th virtual address (0 ≤ i < count). */
  address(i: number): number { return this.data.getUint32(this.offset + Field.ADDRESSES + IPV4_LEN * i); }

  /** True when the checksum over the message and the pseudo-header (`src`, `dst` of the IPv4 header) is right. */
  verifyChecksum(src: number, dst: number): boolean {
    return fold(sumData(this.data, this.offset, this.offset + this.length, this.pseudoSum(src, dst))) === 0xffff;
  }

  /** The checksum the message should carry, whatever its checksum field holds now. */
  computeChecksum(src: number, dst: number): number {
    return finish(sumData(this.data, this.offset, this.offset + this.length, this.pseudoSum(src, dst)) - this.checksum);
  }

  fillChecksum(src: number, dst: number): void { this.checksum = this.computeChecksum(src, dst); }

  set version(v: number) { this.bytes[this.offset + Field.VER_TYPE] = ((v & 0x0f) << 4) | this.type; }
  set type(v: number) { this.bytes[this.offset + Field.VER_TYPE] = (this.version << 4) | (v & 0x0f); }
  set vrid(v: number) { this.bytes[this.offset + Field.VRID] = v; }
  set priority(v: number) { this.bytes[this.offset + Field.PRIORITY] = v; }
  set count(v: number) { this.bytes[this.offset + Field.COUNT] = v; }
  /** Writes the interval with the reserved bits zero, as §5.2.6 asks of a sender. */
  set maxAdverInterval(v: number) { this.data.setUint16(this.offset + Field.MAX_ADVER_INT, v & VRRP_MAX_ADVER_INTERVAL); }
  set checksum(v: number) { this.data.setUint16(this.offset + Field.CHECKSUM, v); }
  setAddress(i: number, ip: number): void { this.data.setUint32(this.offset + Field.ADDRESSES + IPV4_LEN * i, ip); }

  private pseudoSum(src: number, dst: number): number {
    return pseudoHeaderSum(src, dst, IP_PROTOCOL_VRRP, this.length);
  }
}

/** A VRRPv3 advertisement for IPv4. */
export class VrrpRepr {
  /** Virtual Router Identifier, 1..255. */
  vrid: number;
  /** 255 for the address owner, 1..254 for a backup, 0 for a master that is leaving. */
  priority: number;
  /** Max Advertise Interval in centiseconds, 1..4095. */
  maxAdverInterval: number;
  /** The virtual IPv4 addresses, at most 255. */
  addresses: number[];

  constructor(init: { vrid: number; priority: number; maxAdverInterval: number; addresses: number[] }) {
    this.vrid = init.vrid;
    this.priority = init.priority;
    this.maxAdverInterval = init.maxAdverInterval;
    this.addresses = init.addresses;
  }

  /**
   * `src`/`dst` are the IPv4 addresses of the pseudo-header. The view must hold exactly the message (the IP payload):
   * bytes past the `count` addresses are a 'bad-length' on 'count', since the checksum would cover them.
   */
  static parse(packet: VrrpPacket, src: number, dst: number, opts: { checksum?: ChecksumPolicy } = {}): VrrpRepr {
    if (packet.version !== VRRP_VERSION) throw new WireError(VRRP, 'version', 'unsupported', `${packet.version}`);
    if (packet.type !== VrrpType.Advertisement) throw new WireError(VRRP, 'type', 'bad-value', `${packet.type}`);
    if (packet.length !== packet.messageLen) {
      throw new WireError(VRRP, 'count', 'bad-length', `${packet.count} addresses need ${packet.messageLen} bytes, has ${packet.length}`);
    }
    if (packet.vrid === 0) throw new WireError(VRRP, 'vrid', 'bad-value', '0');
    if (packet.maxAdverInterval === 0) throw new WireError(VRRP, 'max advertise interval', 'bad-value', '0');
    if (!packet.verifyChecksum(src, dst) && (opts.checksum ?? 'verify') === 'verify') {
      throw new WireError(VRRP, 'checksum', 'bad-checksum', `0x${packet.checksum.toString(16)}, expected 0x${packet.computeChecksum(src, dst).toString(16)}`);
    }
    const addresses: number[] = [];
    for (let i = 0; i < packet.count; i++) addresses.push(packet.address(i));
    return new VrrpRepr({ vrid: packet.vrid, priority: packet.priority, maxAdverInterval: packet.maxAdverInterval, addresses });
  }

  bufferLen(): number { return VRRP_HEADER_LEN + IPV4_LEN * this.addresses.length; }

  /** Writes the message into a view of exactly `bufferLen()` bytes, then its checksum. */
  emit(packet: VrrpPacket, src: number, dst: number): void {
    this.checkRanges();
    packet.bytes[packet.offset + Field.VER_TYPE] = (VRRP_VERSION << 4) | VrrpType.Advertisement;
    packet.vrid = this.vrid;
    packet.priority = this.priority;
    packet.count = this.addresses.length;
    packet.maxAdverInterval = this.maxAdverInterval;
    for (let i = 0; i < this.addresses.length; i++) packet.setAddress(i, this.addresses[i]);
    packet.checksum = 0;
    packet.fillChecksum(src, dst);
  }

  /** Values the fields cannot carry are the caller's mistake, named like a malformed input. */
  private checkRanges(): void {
    if (!inRange(this.vrid, 1, 255)) throw new WireError(VRRP, 'vrid', 'bad-value', `${this.vrid}`);
    if (!inRange(this.priority, 0, 255)) throw new WireError(VRRP, 'priority', 'bad-value', `${this.priority}`);
    if (!inRange(this.maxAdverInterval, 1, VRRP_MAX_ADVER_INTERVAL)) {
      throw new WireError(VRRP, 'max advertise interval', 'bad-value', `${this.maxAdverInterval}`);
    }
    if (this.addresses.length > 255) throw new WireError(VRRP, 'count', 'bad-value', `${this.addresses.length}`);
  }
}

function inRange(v: number, min: number, max: number): boolean {
  return Number.isInteger(v) && v >= min && v <= max;
}
