// IPv4 (RFC 791) headers. Options are not interpreted but kept, so a parsed header re-emits byte for byte.
import { fold, sumData, finish, updateChecksum16, updateChecksum32 } from './checksum.js';
import { WireError, type WireProtocol } from './error.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

/** IP protocol numbers this stack decodes; any other value is kept as its number. */
export const IpProtocol = { Icmp: 1, Tcp: 6, Udp: 17, Vrrp: 112 } as const;

export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
/** The TTL our own datagrams start with (Linux's default, net.ipv4.ip_default_ttl). */
export const IPV4_DEFAULT_TTL = 64;

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  VER_IHL = 0,
  DSCP_ECN = 1,
  LENGTH = 2,
  IDENT = 4,
  FLG_OFF = 6,
  TTL = 8,
  PROTOCOL = 9,
  CHECKSUM = 10,
  SRC = 12,
  DST = 16,
  OPTIONS = 20,
}

const FLAG_RESERVED = 0x8000;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;

/** How parse treats a checksum: throw on mismatch, or keep the wrong value in `wireChecksum` (captures with offload). */
export type ChecksumPolicy = 'verify' | 'keep';

// ---------------------------------------------------------------- addresses (uint32 numbers, no allocation)

/** '10.0.0.1' */
export function ipv4ToString(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Parses a dotted quad; leading zeros are refused (they read as octal elsewhere). */
export function parseIpv4(text: string): number {
  const addr = tryParseIpv4(text);
  if (addr === undefined) throw new WireError('ipv4', 'address', 'bad-value', JSON.stringify(text));
  return addr;
}

/** As `parseIpv4`, undefined for what is not a dotted quad (for parsers of keys that contain addresses). */
export function tryParseIpv4(text: string): number | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  const parts = m ? [m[1], m[2], m[3], m[4]].map(Number) : [];
  if (!m || parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

/** The netmask of a prefix length 0..32 (24 -> 255.255.255.0). */
export function prefixToMask(prefix: number): number {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new WireError('ipv4', 'prefix length', 'bad-value', `${prefix}`);
  return prefix === 0 ? 0 : (0xffff_ffff << (32 - prefix)) >>> 0;
}

/** The prefix length of a contiguous netmask; a mask with holes is a WireError. */
export function maskToPrefix(mask: number): number {
  const m = mask >>> 0;
  const inverted = ~m >>> 0;
  // A contiguous mask's inverse is 2^k - 1.
  if ((inverted & (inverted + 1)) !== 0) throw new WireError('ipv4', 'subnet mask', 'bad-value', ipv4ToString(m));
  return Math.clz32(inverted);
}

/** Parses '10.0.0.0/24' (the address is kept as written, not masked). */
export function parseCidr(text: string): { address: number; prefix: number } {
  const slash = text.indexOf('/');
  if (slash < 0 || !/^\d{1,2}$/.test(text.slice(slash + 1))) throw new WireError('ipv4', 'prefix length', 'bad-value', JSON.stringify(text));
  const prefix = Number(text.slice(slash + 1));
  prefixToMask(prefix);
  return { address: parseIpv4(text.slice(0, slash)), prefix };
}

export function networkOf(addr: number, prefix: number): number {
  return (addr & prefixToMask(prefix)) >>> 0;
}

export function broadcastOf(addr: number, prefix: number): number {
  return (addr | ~prefixToMask(prefix)) >>> 0;
}

export function inSubnet(addr: number, network: number, prefix: number): boolean {
  const mask = prefixToMask(prefix);
  return ((addr & mask) >>> 0) === ((network & mask) >>> 0);
}

/** 224.0.0.0/4 */
export function isMulticastIpv4(addr: number): boolean {
  return addr >>> 28 === 0xe;
}


// ---------------------------------------------------------------- packet view

/** A zero-copy view of an IPv4 packet; after `check()` the header and `totalLength` bytes are inside the buffer. */
export class Ipv4Packet extends WireView {
  static readonly wireProtocol: WireProtocol = 'ipv4';

  checkLen(): WireStatus {
    const header = this.checkHeaderLen();
    if (header !== WireStatus.Ok) return header;
    const total = this.totalLength;
    if (total < this.headerLength) return WireStatus.BadLength;
    if (total > this.length) return WireStatus.LengthTruncated;
    return WireStatus.Ok;
  }

  /**
   * As `checkLen`, for the header only: the datagram an ICMP error quotes is cut after 8 bytes of payload while its
   * total length still describes the original. Payload getters are not safe after this alone.
   */
  checkHeaderLen(): WireStatus {
    const fixed = this.checkFixedLen(IPV4_MIN_HEADER_LEN);
    if (fixed !== WireStatus.Ok) return fixed;
    const hl = this.headerLength;
    if (hl < IPV4_MIN_HEADER_LEN) return WireStatus.BadHeaderLength;
    if (hl > this.length) return WireStatus.HeaderTruncated;
    return WireStatus.Ok;
  }

  /** Throws the WireError for `checkHeaderLen()` unless it is Ok; returns the view. */
  checkHeader(): this {
    return this.orThrow(this.checkHeaderLen());
  }

  protected lenError(status: WireStatus): WireError {
    const hl = this.headerLength;
    switch (status) {
      case WireStatus.Truncated: return this.truncatedError('header', IPV4_MIN_HEADER_LEN);
      case WireStatus.BadHeaderLength: return new WireError('ipv4', 'header length', 'bad-length', `IHL ${hl / 4} is below 5`);
      case WireStatus.HeaderTruncated: return new WireError('ipv4', 'header length', 'truncated', `${hl} bytes, has ${this.length}`);
      case WireStatus.BadLength: return new WireError('ipv4', 'total length', 'bad-length', `${this.totalLength} is below the header length ${hl}`);
      default: return new WireError('ipv4', 'total length', 'truncated', `${this.totalLength} is beyond the ${this.length} bytes present`);
    }
  }

  get version(): number { return this.bytes[this.offset + Field.VER_IHL] >>> 4; }
  /** In bytes (the IHL field counts 32-bit words). */
  get headerLength(): number { return (this.bytes[this.offset + Field.VER_IHL] & 0x0f) * 4; }
  get dscp(): number { return this.bytes[this.offset + Field.DSCP_ECN] >>> 2; }
  get ecn(): number { return this.bytes[this.offset + Field.DSCP_ECN] & 0x03; }
  get totalLength(): number { return this.data.getUint16(this.offset + Field.LENGTH); }
  get ident(): number { return this.data.getUint16(this.offset + Field.IDENT); }
  get reservedFlag(): boolean { return (this.data.getUint16(this.offset + Field.FLG_OFF) & FLAG_RESERVED) !== 0; }
  get dontFragment(): boolean { return (this.data.getUint16(this.offset + Field.FLG_OFF) & FLAG_DF) !== 0; }
  get moreFragments(): boolean { return (this.data.getUint16(this.offset + Field.FLG_OFF) & FLAG_MF) !== 0; }
  /** In bytes (the field counts 8-byte units). */
  get fragmentOffset(): number { return (this.data.getUint16(this.offset + Field.FLG_OFF) & 0x1fff) * 8; }
  /** A fragment of a larger datagram: more fragments follow, or this one does not start at 0. */
  get isFragment(): boolean { return (this.data.getUint16(this.offset + Field.FLG_OFF) & (FLAG_MF | 0x1fff)) !== 0; }
  get ttl(): number { return this.bytes[this.offset + Field.TTL]; }
  get protocol(): number { return this.bytes[this.offset + Field.PROTOCOL]; }
  get checksum(): number { return this.data.getUint16(this.offset + Field.CHECKSUM); }
  get src(): number { return this.data.getUint32(this.offset + Field.SRC); }
  get dst(): number { return this.data.getUint32(this.offset + Field.DST); }
  /** The options (and their padding) between byte 20 and the header length. */
  options(): Uint8Array { return this.slice(Field.OPTIONS, this.headerLength); }
  get payloadOffset(): number { return this.headerLength; }
  get payloadLength(): number { return this.totalLength - this.headerLength; }
  payload(): Uint8Array { return this.slice(this.headerLength, this.totalLength); }

  verifyChecksum(): boolean {
    return fold(sumData(this.data, this.offset, this.offset + this.headerLength)) === 0xffff;
  }

  /** The checksum the header should carry. */
  computeChecksum(): number {
    const at = this.offset;
    const s = sumData(this.data, at, at + this.headerLength) - this.checksum;
    return finish(s);
  }

  fillChecksum(): void {
    this.checksum = this.computeChecksum();
  }

  /**
   * Partial sum of the pseudo-header for a transport segment of `length` bytes, read as 16-bit halves: addresses
   * from 128.0.0.0 up are doubles in V8 and get boxed when passed to a call, so the hot path hands over this instead.
   */
  pseudoHeaderSum(length: number): number {
    const d = this.data;
    const at = this.offset;
    return d.getUint16(at + Field.SRC) + d.getUint16(at + Field.SRC + 2) + d.getUint16(at + Field.DST) + d.getUint16(at + Field.DST + 2)
      + this.bytes[at + Field.PROTOCOL] + length;
  }

  /** Sets the source address and updates the header checksum incrementally (RFC 1624): NAT's rewrite. */
  rewriteSrc(addr: number): void {
    this.checksum = updateChecksum32(this.checksum, this.src, addr);
    this.src = addr;
  }

  /** Sets the destination address and updates the header checksum incrementally. */
  rewriteDst(addr: number): void {
    this.checksum = updateChecksum32(this.checksum, this.dst, addr);
    this.dst = addr;
  }

  /** Sets the TTL (0..255) and updates the header checksum incrementally. */
  rewriteTtl(ttl: number): void {
    const at = this.offset + Field.TTL;
    // TTL and protocol share a 16-bit word of the sum.
    const word = this.data.getUint16(at);
    const next = ((ttl & 0xff) << 8) | (word & 0xff);
    this.data.setUint16(at, next);
    this.checksum = updateChecksum16(this.checksum, word, next);
  }

  /** One hop: the TTL down by one, the checksum updated (a router checks `ttl > 1` first). */
  decrementTtl(): void {
    this.rewriteTtl(this.ttl - 1);
  }

  set version(v: number) { const at = this.offset + Field.VER_IHL; this.bytes[at] = (v << 4) | (this.bytes[at] & 0x0f); }
  set headerLength(bytes: number) { const at = this.offset + Field.VER_IHL; this.bytes[at] = (this.bytes[at] & 0xf0) | ((bytes >>> 2) & 0x0f); }
  set dscp(v: number) { const at = this.offset + Field.DSCP_ECN; this.bytes[at] = ((v & 0x3f) << 2) | (this.bytes[at] & 0x03); }
  set ecn(v: number) { const at = this.offset + Field.DSCP_ECN; this.bytes[at] = (this.bytes[at] & 0xfc) | (v & 0x03); }
  set totalLength(v: number) { this.data.setUint16(this.offset + Field.LENGTH, v); }
  set ident(v: number) { this.data.setUint16(this.offset + Field.IDENT, v); }
  set reservedFlag(on: boolean) { this.setFlag(FLAG_RESERVED, on); }
  set dontFragment(on: boolean) { this.setFlag(FLAG_DF, on); }
  set moreFragments(on: boolean) { this.setFlag(FLAG_MF, on); }
  set fragmentOffset(bytes: number) {
    const at = this.offset + Field.FLG_OFF;
    this.data.setUint16(at, (this.data.getUint16(at) & 0xe000) | ((bytes >>> 3) & 0x1fff));
  }
  set ttl(v: number) { this.bytes[this.offset + Field.TTL] = v; }
  set protocol(v: number) { this.bytes[this.offset + Field.PROTOCOL] = v; }
  set checksum(v: number) { this.data.setUint16(this.offset + Field.CHECKSUM, v); }
  set src(addr: number) { this.data.setUint32(this.offset + Field.SRC, addr); }
  set dst(addr: number) { this.data.setUint32(this.offset + Field.DST, addr); }

  private setFlag(bit: number, on: boolean): void {
    const at = this.offset + Field.FLG_OFF;
    const v = this.data.getUint16(at);
    this.data.setUint16(at, on ? v | bit : v & ~bit);
  }
}

// ---------------------------------------------------------------- repr

export interface Ipv4ReprInit {
  src: number;
  dst: number;
  protocol: number;
  payloadLen: number;
  ttl?: number;
  dscp?: number;
  ecn?: number;
  ident?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  reservedFlag?: boolean;
  fragmentOffset?: number;
  options?: Uint8Array;
  wireChecksum?: number;
}

/** An IPv4 header; the payload belongs to the layer above. */
export class Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  /** Bytes after the header, as the total length field gives them. */
  payloadLen: number;
  ttl: number;
  dscp: number;
  ecn: number;
  ident: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** The "evil bit": must be zero, kept so a header re-emits as it came. */
  reservedFlag: boolean;
  /** In bytes, a multiple of 8. */
  fragmentOffset: number;
  /** Raw option bytes including their padding; emit pads them with zeros to a multiple of 4. */
  options: Uint8Array;
  /**
   * The checksum found on the wire, set only when it is not the one emit computes: a wrong one kept by policy 'keep'
   * (captures with checksum offload) or the other encoding of zero. Emit writes it back unchanged.
   */
  wireChecksum?: number;

  constructor(init: Ipv4ReprInit) {
    this.src = init.src;
    this.dst = init.dst;
    this.protocol = init.protocol;
    this.payloadLen = init.payloadLen;
    this.ttl = init.ttl ?? IPV4_DEFAULT_TTL;
    this.dscp = init.dscp ?? 0;
    this.ecn = init.ecn ?? 0;
    this.ident = init.ident ?? 0;
    this.dontFragment = init.dontFragment ?? false;
    this.moreFragments = init.moreFragments ?? false;
    this.reservedFlag = init.reservedFlag ?? false;
    this.fragmentOffset = init.fragmentOffset ?? 0;
    this.options = init.options ?? new Uint8Array(0);
    if (init.wireChecksum !== undefined) this.wireChecksum = init.wireChecksum;
  }

  /** Parses a checked packet (`check()` or, for a quoted header, `checkHeader()`). */
  static parse(packet: Ipv4Packet, opts: { checksum?: ChecksumPolicy } = {}): Ipv4Repr {
    if (packet.version !== 4) throw new WireError('ipv4', 'version', 'bad-value', `${packet.version}`);
    const good = packet.verifyChecksum();
    if (!good && (opts.checksum ?? 'verify') === 'verify') {
      throw new WireError('ipv4', 'checksum', 'bad-checksum', `0x${packet.checksum.toString(16)}, expected 0x${packet.computeChecksum().toString(16)}`);
    }
    return new Ipv4Repr({
      src: packet.src,
      dst: packet.dst,
      protocol: packet.protocol,
      payloadLen: packet.payloadLength,
      ttl: packet.ttl,
      dscp: packet.dscp,
      ecn: packet.ecn,
      ident: packet.ident,
      dontFragment: packet.dontFragment,
      moreFragments: packet.moreFragments,
      reservedFlag: packet.reservedFlag,
      fragmentOffset: packet.fragmentOffset,
      options: packet.options(),
      wireChecksum: packet.checksum === packet.computeChecksum() ? undefined : packet.checksum,
    });
  }

  get isFragment(): boolean { return this.moreFragments || this.fragmentOffset !== 0; }

  /** Header bytes this Repr emits (20 plus options rounded up to 4). */
  bufferLen(): number {
    return IPV4_MIN_HEADER_LEN + ((this.options.length + 3) & ~3);
  }

  /** Writes the header (the payload is the caller's) and its checksum; `payloadLen` overrides the Repr's. */
  emit(packet: Ipv4Packet, payloadLen = this.payloadLen): void {
    const hl = this.bufferLen();
    if (hl > IPV4_MAX_HEADER_LEN) throw new WireError('ipv4', 'options', 'bad-length', `${this.options.length} bytes, at most 40`);
    const total = hl + payloadLen;
    if (!Number.isInteger(payloadLen) || payloadLen < 0 || total > 0xffff) {
      throw new WireError('ipv4', 'total length', 'bad-length', `${total}`);
    }
    if (this.fragmentOffset % 8 !== 0 || this.fragmentOffset < 0 || this.fragmentOffset > 0x1fff * 8) {
      throw new WireError('ipv4', 'fragment offset', 'bad-value', `${this.fragmentOffset} is not a multiple of 8 below 65536`);
    }
    packet.version = 4;
    packet.headerLength = hl;
    packet.dscp = this.dscp;
    packet.ecn = this.ecn;
    packet.totalLength = total;
    packet.ident = this.ident;
    packet.data.setUint16(packet.offset + Field.FLG_OFF,
      (this.reservedFlag ? FLAG_RESERVED : 0) | (this.dontFragment ? FLAG_DF : 0) | (this.moreFragments ? FLAG_MF : 0)
      | (this.fragmentOffset >>> 3));
    packet.ttl = this.ttl;
    packet.protocol = this.protocol;
    packet.src = this.src;
    packet.dst = this.dst;
    const at = packet.offset + Field.OPTIONS;
    packet.bytes.set(this.options, at);
    packet.bytes.fill(0, at + this.options.length, packet.offset + hl);
    packet.checksum = 0;
    packet.checksum = this.wireChecksum ?? packet.computeChecksum();
  }
}
