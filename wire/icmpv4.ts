// ICMPv4 (RFC 792): every message is type, code, checksum, four "rest of header" bytes and data, so unknown types keep all of it.
import { fold, sumData, finish, updateChecksum16 } from './checksum.js';
import { WireError, type WireProtocol } from './error.js';
import { Ipv4Packet, Ipv4Repr, type ChecksumPolicy } from './ipv4.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

/** Message types; any other value is kept as its number. */
export const Icmpv4Type = {
  EchoReply: 0,
  DestUnreachable: 3,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParameterProblem: 12,
} as const;

/** Codes of Destination Unreachable. */
export const DestUnreachableCode = {
  NetUnreachable: 0,
  HostUnreachable: 1,
  ProtocolUnreachable: 2,
  PortUnreachable: 3,
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  AdminProhibited: 13,
} as const;

/** Codes of Time Exceeded. */
export const TimeExceededCode = { TtlExceeded: 0, FragmentReassembly: 1 } as const;

export const ICMPV4_HEADER_LEN = 8;
/** Payload bytes of the original datagram an error quotes after its header (RFC 792's "first 64 bits"). */
export const ICMPV4_QUOTED_PAYLOAD_LEN = 8;

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  TYPE = 0,
  CODE = 1,
  CHECKSUM = 2,
  /** "Rest of header": ident + sequence for echo, unused (or next-hop MTU) for errors. */
  REST = 4,
  DATA = 8,
}

/** A zero-copy view of an ICMPv4 message; the view's length is the whole message (the IPv4 payload). */
export class Icmpv4Packet extends WireView {
  static readonly wireProtocol: WireProtocol = 'icmpv4';

  checkLen(): WireStatus {
    return this.checkFixedLen(ICMPV4_HEADER_LEN);
  }

  protected lenError(): WireError {
    return this.truncatedError('header', ICMPV4_HEADER_LEN);
  }

  get type(): number { return this.bytes[this.offset + Field.TYPE]; }
  get code(): number { return this.bytes[this.offset + Field.CODE]; }
  get checksum(): number { return this.data.getUint16(this.offset + Field.CHECKSUM); }
  get rest(): number { return this.data.getUint32(this.offset + Field.REST); }
  /** Echo identifier (rest of header, high half). */
  get ident(): number { return this.data.getUint16(this.offset + Field.REST); }
  /** Echo sequence number (rest of header, low half). */
  get seq(): number { return this.data.getUint16(this.offset + Field.REST + 2); }
  /** RFC 1191 next-hop MTU of Fragmentation Needed (rest of header, low half). */
  get nextHopMtu(): number { return this.data.getUint16(this.offset + Field.REST + 2); }
  get dataOffset(): number { return Field.DATA; }
  /** Echo payload, or the original datagram's header + 8 bytes for errors. */
  payload(): Uint8Array { return this.slice(Field.DATA); }

  /**
   * Points `inner` at the datagram an error quotes and checks that its header is there (`checkHeaderLen`): Ok, or why
   * not. Its payload is cut (normally to 8 bytes), so only the header and `inner.length` may be trusted.
   */
  quote(inner: Ipv4Packet): WireStatus {
    return inner.resetIn(this, Field.DATA, this.length - Field.DATA).checkHeaderLen();
  }

  verifyChecksum(): boolean {
    return fold(sumData(this.data, this.offset, this.offset + this.length)) === 0xffff;
  }

  computeChecksum(): number {
    return finish(sumData(this.data, this.offset, this.offset + this.length) - this.checksum);
  }

  fillChecksum(): void { this.checksum = this.computeChecksum(); }

  /** Sets the type and updates the checksum incrementally (RFC 1624): an echo request turned into its reply. */
  rewriteType(type: number): void {
    const code = this.code;
    this.checksum = updateChecksum16(this.checksum, (this.type << 8) | code, (type << 8) | code);
    this.type = type;
  }

  set type(v: number) { this.bytes[this.offset + Field.TYPE] = v; }
  set code(v: number) { this.bytes[this.offset + Field.CODE] = v; }
  set checksum(v: number) { this.data.setUint16(this.offset + Field.CHECKSUM, v); }
  set rest(v: number) { this.data.setUint32(this.offset + Field.REST, v); }
  set ident(v: number) { this.data.setUint16(this.offset + Field.REST, v); }
  set seq(v: number) { this.data.setUint16(this.offset + Field.REST + 2, v); }
  set nextHopMtu(v: number) { this.data.setUint16(this.offset + Field.REST + 2, v); }
}

/** The quoted datagram of an error message: its IPv4 header and the first bytes of its payload (ports for UDP/TCP). */
export interface Icmpv4Original {
  ipv4: Ipv4Repr;
  /** The quoted payload bytes present (normally 8). */
  payload: Uint8Array;
}

/** An ICMPv4 message kept as its wire parts; accessors name the parts for echo and error messages. */
export class Icmpv4Repr {
  type: number;
  code: number;
  /** The four bytes after the checksum, as one big-endian number. */
  rest: number;
  /** Everything after the 8-byte header: echo data or the original datagram (a view into the parsed buffer). */
  data: Uint8Array;
  /**
   * The checksum found on the wire, set only when it is not the one emit computes: a wrong one kept by policy 'keep'
   * (captures with checksum offload) or the other encoding of zero. Emit writes it back unchanged.
   */
  wireChecksum?: number;

  constructor(init: { type: number; code: number; rest?: number; data?: Uint8Array; wireChecksum?: number }) {
    this.type = init.type;
    this.code = init.code;
    this.rest = init.rest ?? 0;
    this.data = init.data ?? new Uint8Array(0);
    if (init.wireChecksum !== undefined) this.wireChecksum = init.wireChecksum;
  }

  static echoRequest(ident: number, seq: number, data: Uint8Array = new Uint8Array(0)): Icmpv4Repr {
    return new Icmpv4Repr({ type: Icmpv4Type.EchoRequest, code: 0, rest: echoRest(ident, seq), data });
  }

  static echoReply(ident: number, seq: number, data: Uint8Array = new Uint8Array(0)): Icmpv4Repr {
    return new Icmpv4Repr({ type: Icmpv4Type.EchoReply, code: 0, rest: echoRest(ident, seq), data });
  }

  /** `original` is the offending IPv4 packet; it is cut to its header + 8 bytes as RFC 792 asks. */
  static destUnreachable(code: number, original: Uint8Array, nextHopMtu = 0): Icmpv4Repr {
    return new Icmpv4Repr({ type: Icmpv4Type.DestUnreachable, code, rest: nextHopMtu & 0xffff, data: originalPrefix(original) });
  }

  static timeExceeded(code: number, original: Uint8Array): Icmpv4Repr {
    return new Icmpv4Repr({ type: Icmpv4Type.TimeExceeded, code, rest: 0, data: originalPrefix(original) });
  }

  static parse(packet: Icmpv4Packet, opts: { checksum?: ChecksumPolicy } = {}): Icmpv4Repr {
    const good = packet.verifyChecksum();
    if (!good && (opts.checksum ?? 'verify') === 'verify') {
      throw new WireError('icmpv4', 'checksum', 'bad-checksum', `0x${packet.checksum.toString(16)}, expected 0x${packet.computeChecksum().toString(16)}`);
    }
    return new Icmpv4Repr({
      type: packet.type,
      code: packet.code,
      rest: packet.rest,
      data: packet.payload(),
      wireChecksum: packet.checksum === packet.computeChecksum() ? undefined : packet.checksum,
    });
  }

  get isEcho(): boolean { return this.type === Icmpv4Type.EchoRequest || this.type === Icmpv4Type.EchoReply; }
  /** Destination unreachable, time exceeded, parameter problem, redirect: messages that quote a datagram. */
  get isError(): boolean {
    return this.type === Icmpv4Type.DestUnreachable || this.type === Icmpv4Type.TimeExceeded
      || this.type === Icmpv4Type.ParameterProblem || this.type === Icmpv4Type.Redirect;
  }
  get ident(): number { return this.rest >>> 16; }
  get seq(): number { return this.rest & 0xffff; }
  get nextHopMtu(): number { return this.rest & 0xffff; }

  /** The quoted datagram of an error message, parsed (its checksum is not verified); undefined for other types. */
  original(): Icmpv4Original | undefined {
    if (!this.isError) return undefined;
    const inner = Ipv4Packet.newUnchecked(this.data).checkHeader();
    const ipv4 = Ipv4Repr.parse(inner, { checksum: 'keep' });
    return { ipv4, payload: this.data.subarray(inner.headerLength, inner.headerLength + ICMPV4_QUOTED_PAYLOAD_LEN) };
  }

  bufferLen(): number { return ICMPV4_HEADER_LEN + this.data.length; }

  /** Writes the message and its checksum; the view's length becomes the message's. */
  emit(packet: Icmpv4Packet): void {
    packet.type = this.type;
    packet.code = this.code;
    packet.rest = this.rest;
    packet.bytes.set(this.data, packet.offset + Field.DATA);
    // The checksum covers exactly the message, whatever length the view was given.
    packet.length = this.bufferLen();
    packet.checksum = 0;
    packet.checksum = this.wireChecksum ?? packet.computeChecksum();
  }
}

function echoRest(ident: number, seq: number): number {
  return (((ident & 0xffff) << 16) | (seq & 0xffff)) >>> 0;
}

/** Header + 8 bytes of the offending datagram (all of it when shorter or unreadable). */
function originalPrefix(original: Uint8Array): Uint8Array {
  const ihl = original.length > 0 ? (original[0] & 0x0f) * 4 : 0;
  return original.subarray(0, Math.min(original.length, ihl + ICMPV4_QUOTED_PAYLOAD_LEN));
}
