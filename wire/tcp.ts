// TCP (RFC 9293) headers and options. Options parse into a list that keeps NOP/EOL, unknown kinds and padding, so
// a parsed header re-emits byte for byte.
import { fold, sumData, finish, pseudoHeaderSum } from './checksum.js';
import { WireError, type WireProtocol } from './error.js';
import { IpProtocol, type ChecksumPolicy } from './ipv4.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

export const TCP_MIN_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;

/** Control bits as one 9-bit number (NS is bit 8). */
export const TcpFlags = {
  FIN: 0x001,
  SYN: 0x002,
  RST: 0x004,
  PSH: 0x008,
  ACK: 0x010,
  URG: 0x020,
  ECE: 0x040,
  CWR: 0x080,
  NS: 0x100,
} as const;

/** Option kinds (RFC 9293, 7323, 2018); any other kind is kept as an 'unknown' option with its bytes. */
export const TcpOptionKind = {
  EndOfList: 0,
  Nop: 1,
  Mss: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
} as const;

export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'window-scale'; shift: number }
  | { kind: 'sack-permitted' }
  /** Each block is [left edge, right edge) of received data. */
  | { kind: 'sack'; blocks: Array<[number, number]> }
  | { kind: 'timestamps'; tsval: number; tsecr: number }
  /** Any other kind, or a known kind with a length it should not have; `data` excludes the kind and length bytes. */
  | { kind: 'unknown'; code: number; data: Uint8Array };

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  SRC_PORT = 0,
  DST_PORT = 2,
  SEQ = 4,
  ACK = 8,
  /** Data offset (4 bits), reserved (3 bits), NS. */
  OFF_RES = 12,
  FLAGS = 13,
  WINDOW = 14,
  CHECKSUM = 16,
  URGENT = 18,
  OPTIONS = 20,
}

/** A zero-copy view of a TCP segment; the view's length is the whole segment (the IPv4 payload). */
export class TcpPacket extends WireView {
  static readonly wireProtocol: WireProtocol = 'tcp';

  checkLen(): WireStatus {
    const fixed = this.checkFixedLen(TCP_MIN_HEADER_LEN);
    if (fixed !== WireStatus.Ok) return fixed;
    const hl = this.headerLength;
    if (hl < TCP_MIN_HEADER_LEN) return WireStatus.BadHeaderLength;
    if (hl > this.length) return WireStatus.HeaderTruncated;
    return WireStatus.Ok;
  }

  protected lenError(status: WireStatus): WireError {
    const hl = this.headerLength;
    if (status === WireStatus.Truncated) return this.truncatedError('header', TCP_MIN_HEADER_LEN);
    if (status === WireStatus.BadHeaderLength) return new WireError('tcp', 'data offset', 'bad-length', `${hl / 4} is below 5`);
    return new WireError('tcp', 'data offset', 'truncated', `header of ${hl} bytes, segment of ${this.length}`);
  }

  get srcPort(): number { return this.data.getUint16(this.offset + Field.SRC_PORT); }
  get dstPort(): number { return this.data.getUint16(this.offset + Field.DST_PORT); }
  get seq(): number { return this.data.getUint32(this.offset + Field.SEQ); }
  get ack(): number { return this.data.getUint32(this.offset + Field.ACK); }
  /** In bytes (the data offset field counts 32-bit words). */
  get headerLength(): number { return (this.bytes[this.offset + Field.OFF_RES] >>> 4) * 4; }
  /** The three reserved bits; zero on the wire unless a future RFC uses them. */
  get reserved(): number { return (this.bytes[this.offset + Field.OFF_RES] >>> 1) & 0x7; }
  get flags(): number { return ((this.bytes[this.offset + Field.OFF_RES] & 1) << 8) | this.bytes[this.offset + Field.FLAGS]; }
  get window(): number { return this.data.getUint16(this.offset + Field.WINDOW); }
  get checksum(): number { return this.data.getUint16(this.offset + Field.CHECKSUM); }
  get urgent(): number { return this.data.getUint16(this.offset + Field.URGENT); }
  optionBytes(): Uint8Array { return this.slice(Field.OPTIONS, this.headerLength); }
  get payloadOffset(): number { return this.headerLength; }
  get payloadLength(): number { return this.length - this.headerLength; }
  payload(): Uint8Array { return this.slice(this.headerLength); }

  verifyChecksum(src: number, dst: number): boolean {
    return this.verifyChecksumWith(pseudoHeaderSum(src, dst, IpProtocol.Tcp, this.length));
  }

  computeChecksum(src: number, dst: number): number {
    return this.computeChecksumWith(pseudoHeaderSum(src, dst, IpProtocol.Tcp, this.length));
  }

  fillChecksum(src: number, dst: number): void { this.checksum = this.computeChecksum(src, dst); }

  /** As `verifyChecksum`, given the pseudo-header's partial sum (`ip.pseudoHeaderSum(tcp.length)`): allocation-free. */
  verifyChecksumWith(pseudoHeaderSum: number): boolean {
    return fold(sumData(this.data, this.offset, this.offset + this.length, pseudoHeaderSum)) === 0xffff;
  }

  /** As `computeChecksum`, given the pseudo-header's partial sum. */
  computeChecksumWith(pseudoHeaderSum: number): number {
    return finish(sumData(this.data, this.offset, this.offset + this.length, pseudoHeaderSum) - this.checksum);
  }

  /** As `fillChecksum`, given the pseudo-header's partial sum. */
  fillChecksumWith(pseudoHeaderSum: number): void { this.checksum = this.computeChecksumWith(pseudoHeaderSum); }

  set srcPort(v: number) { this.data.setUint16(this.offset + Field.SRC_PORT, v); }
  set dstPort(v: number) { this.data.setUint16(this.offset + Field.DST_PORT, v); }
  set seq(v: number) { this.data.setUint32(this.offset + Field.SEQ, v); }
  set ack(v: number) { this.data.setUint32(this.offset + Field.ACK, v); }
  set headerLength(bytes: number) { const at = this.offset + Field.OFF_RES; this.bytes[at] = ((bytes >>> 2) << 4) | (this.bytes[at] & 0x0f); }
  set reserved(v: number) { const at = this.offset + Field.OFF_RES; this.bytes[at] = (this.bytes[at] & 0xf1) | ((v & 0x7) << 1); }
  set flags(v: number) {
    const at = this.offset + Field.OFF_RES;
    this.bytes[at] = (this.bytes[at] & 0xfe) | ((v >>> 8) & 1);
    this.bytes[at + 1] = v & 0xff;
  }
  set window(v: number) { this.data.setUint16(this.offset + Field.WINDOW, v); }
  set checksum(v: number) { this.data.setUint16(this.offset + Field.CHECKSUM, v); }
  set urgent(v: number) { this.data.setUint16(this.offset + Field.URGENT, v); }
}

/** Parses an options area; bytes after End of Option List come back as `padding`. */
export function parseTcpOptions(area: Uint8Array): { options: TcpOption[]; padding: Uint8Array } {
  const options: TcpOption[] = [];
  let i = 0;
  while (i < area.length) {
    const kind = area[i];
    if (kind === TcpOptionKind.EndOfList) {
      options.push({ kind: 'eol' });
      return { options, padding: area.subarray(i + 1) };
    }
    if (kind === TcpOptionKind.Nop) {
      options.push({ kind: 'nop' });
      i += 1;
      continue;
    }
    if (i + 1 >= area.length) throw new WireError('tcp', 'option length', 'truncated', `option ${kind} at byte ${i} has no length`);
    const len = area[i + 1];
    if (len < 2) throw new WireError('tcp', 'option length', 'bad-length', `option ${kind} at byte ${i} claims ${len} bytes`);
    if (i + len > area.length) throw new WireError('tcp', 'option length', 'truncated', `option ${kind} at byte ${i} claims ${len} bytes, ${area.length - i} left`);
    options.push(decodeOption(kind, area.subarray(i + 2, i + len)));
    i += len;
  }
  return { options, padding: area.subarray(area.length) };
}

function decodeOption(kind: number, body: Uint8Array): TcpOption {
  const u16 = (at: number): number => (body[at] << 8) | body[at + 1];
  const u32 = (at: number): number => ((body[at] << 24) | (body[at + 1] << 16) | (body[at + 2] << 8) | body[at + 3]) >>> 0;
  switch (kind) {
    case TcpOptionKind.Mss:
      if (body.length === 2) return { kind: 'mss', value: u16(0) };
      break;
    case TcpOptionKind.WindowScale:
      if (body.length === 1) return { kind: 'window-scale', shift: body[0] };
      break;
    case TcpOptionKind.SackPermitted:
      if (body.length === 0) return { kind: 'sack-permitted' };
      break;
    case TcpOptionKind.Sack:
      if (body.length > 0 && body.length % 8 === 0) {
        const blocks: Array<[number, number]> = [];
        for (let at = 0; at < body.length; at += 8) blocks.push([u32(at), u32(at + 4)]);
        return { kind: 'sack', blocks };
      }
      break;
    case TcpOptionKind.Timestamps:
      if (body.length === 8) return { kind: 'timestamps', tsval: u32(0), tsecr: u32(4) };
      break;
  }
  return { kind: 'unknown', code: kind, data: body };
}

/** Bytes the options take before padding. */
export function tcpOptionsLen(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) {
    switch (o.kind) {
      case 'eol': case 'nop': n += 1; break;
      case 'mss': n += 4; break;
      case 'window-scale': n += 3; break;
      case 'sack-permitted': n += 2; break;
      case 'sack': n += 2 + 8 * o.blocks.length; break;
      case 'timestamps': n += 10; break;
      case 'unknown': n += 2 + o.data.length; break;
    }
  }
  return n;
}

/** Writes options at `at`; returns the offset after them. */
export function emitTcpOptions(options: readonly TcpOption[], out: Uint8Array, at: number): number {
  const put16 = (v: number): void => { out[at++] = (v >>> 8) & 0xff; out[at++] = v & 0xff; };
  const put32 = (v: number): void => { put16(v >>> 16); put16(v & 0xffff); };
  for (const o of options) {
    switch (o.kind) {
      case 'eol': out[at++] = TcpOptionKind.EndOfList; break;
      case 'nop': out[at++] = TcpOptionKind.Nop; break;
      case 'mss': out[at++] = TcpOptionKind.Mss; out[at++] = 4; put16(o.value); break;
      case 'window-scale': out[at++] = TcpOptionKind.WindowScale; out[at++] = 3; out[at++] = o.shift; break;
      case 'sack-permitted': out[at++] = TcpOptionKind.SackPermitted; out[at++] = 2; break;
      case 'sack':
        out[at++] = TcpOptionKind.Sack; out[at++] = 2 + 8 * o.blocks.length;
        for (const [l, r] of o.blocks) { put32(l); put32(r); }
        break;
      case 'timestamps': out[at++] = TcpOptionKind.Timestamps; out[at++] = 10; put32(o.tsval); put32(o.tsecr); break;
      case 'unknown':
        out[at++] = o.code; out[at++] = 2 + o.data.length;
        out.set(o.data, at); at += o.data.length;
        break;
    }
  }
  return at;
}

export interface TcpReprInit {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  flags?: number;
  reserved?: number;
  window?: number;
  urgent?: number;
  options?: TcpOption[];
  optionsPadding?: Uint8Array;
  wireChecksum?: number;
}

/** A TCP header; the payload is passed to `emit`. */
export class TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** TcpFlags bits. */
  flags: number;
  reserved: number;
  window: number;
  urgent: number;
  options: TcpOption[];
  /** Bytes after End of Option List, as found; emit pads the rest of the header with zeros. */
  optionsPadding: Uint8Array;
  /**
   * The checksum found on the wire, set only when it is not the one emit computes: a wrong one kept by policy 'keep'
   * (captures with checksum offload) or the other encoding of zero. Emit writes it back unchanged.
   */
  wireChecksum?: number;

  constructor(init: TcpReprInit) {
    this.srcPort = init.srcPort;
    this.dstPort = init.dstPort;
    this.seq = init.seq ?? 0;
    this.ack = init.ack ?? 0;
    this.flags = init.flags ?? 0;
    this.reserved = init.reserved ?? 0;
    this.window = init.window ?? 0;
    this.urgent = init.urgent ?? 0;
    this.options = init.options ?? [];
    this.optionsPadding = init.optionsPadding ?? new Uint8Array(0);
    if (init.wireChecksum !== undefined) this.wireChecksum = init.wireChecksum;
  }

  /** `src`/`dst` are the IPv4 addresses of the pseudo-header. */
  static parse(packet: TcpPacket, src: number, dst: number, opts: { checksum?: ChecksumPolicy } = {}): TcpRepr {
    const computed = packet.computeChecksum(src, dst);
    if (!packet.verifyChecksum(src, dst) && (opts.checksum ?? 'verify') === 'verify') {
      throw new WireError('tcp', 'checksum', 'bad-checksum', `0x${packet.checksum.toString(16)}, expected 0x${computed.toString(16)}`);
    }
    const { options, padding } = parseTcpOptions(packet.optionBytes());
    return new TcpRepr({
      srcPort: packet.srcPort,
      dstPort: packet.dstPort,
      seq: packet.seq,
      ack: packet.ack,
      flags: packet.flags,
      reserved: packet.reserved,
      window: packet.window,
      urgent: packet.urgent,
      options,
      optionsPadding: padding,
      wireChecksum: packet.checksum === computed ? undefined : packet.checksum,
    });
  }

  has(flag: number): boolean { return (this.flags & flag) !== 0; }

  get mss(): number | undefined { return this.find('mss')?.value; }
  get windowScale(): number | undefined { return this.find('window-scale')?.shift; }
  get sackPermitted(): boolean { return this.find('sack-permitted') !== undefined; }
  get sackBlocks(): Array<[number, number]> { return this.find('sack')?.blocks ?? []; }
  get timestamps(): { tsval: number; tsecr: number } | undefined { return this.find('timestamps'); }

  private find<K extends TcpOption['kind']>(kind: K): Extract<TcpOption, { kind: K }> | undefined {
    return this.options.find((o): o is Extract<TcpOption, { kind: K }> => o.kind === kind);
  }

  /** Header bytes: 20 plus options and padding rounded up to 4. */
  headerLen(): number {
    return TCP_MIN_HEADER_LEN + ((tcpOptionsLen(this.options) + this.optionsPadding.length + 3) & ~3);
  }

  /** Header plus `payloadLen`. */
  bufferLen(payloadLen = 0): number { return this.headerLen() + payloadLen; }

  /** Writes header, options and payload, then the checksum over them and the pseudo-header; the view's length becomes the segment's. */
  emit(packet: TcpPacket, payload: Uint8Array, src: number, dst: number): void {
    const hl = this.headerLen();
    if (hl > TCP_MAX_HEADER_LEN) throw new WireError('tcp', 'options', 'bad-length', `${hl - TCP_MIN_HEADER_LEN} bytes, at most 40`);
    packet.srcPort = this.srcPort;
    packet.dstPort = this.dstPort;
    packet.seq = this.seq;
    packet.ack = this.ack;
    packet.headerLength = hl;
    packet.reserved = this.reserved;
    packet.flags = this.flags;
    packet.window = this.window;
    packet.urgent = this.urgent;
    const start = packet.offset + Field.OPTIONS;
    let at = emitTcpOptions(this.options, packet.bytes, start);
    packet.bytes.set(this.optionsPadding, at);
    at += this.optionsPadding.length;
    packet.bytes.fill(0, at, packet.offset + hl);
    packet.bytes.set(payload, packet.offset + hl);
    // The checksum covers exactly header + payload, whatever length the view was given.
    packet.length = hl + payload.length;
    packet.checksum = 0;
    packet.checksum = this.wireChecksum ?? packet.computeChecksum(src, dst);
  }
}
