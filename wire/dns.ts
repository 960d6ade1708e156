// DNS messages through the `dns-packet` library, in the Repr style of the other codecs. A parsed message keeps its
// own bytes, because dns-packet re-encodes without name compression: re-emit must give back what came in.
import * as dnsPacket from 'dns-packet';
import { WireError } from './error.js';

export const DnsPort = 53;
export const MdnsPort = 5353;
export const DNS_HEADER_LEN = 12;

/** A message as dns-packet reads it (questions, answers, authorities, additionals, flags). */
export type DnsMessage = dnsPacket.DecodedPacket;
/** A message to encode; dns-packet fills in what is left out. */
export type DnsMessageInit = dnsPacket.Packet;

/** A DNS message. A parsed one is frozen and re-emits its original bytes; build a changed one with `fromMessage`. */
export class DnsRepr {
  /** Deep-frozen when parsed, so an edit cannot silently be ignored by emit. */
  readonly message: DnsMessage | DnsMessageInit;
  /** The bytes the message was parsed from (a view into the parsed buffer); undefined for a built message. */
  readonly raw: Uint8Array | undefined;

  private constructor(message: DnsMessage | DnsMessageInit, raw: Uint8Array | undefined) {
    this.message = message;
    this.raw = raw;
  }

  /** Decodes a message (a UDP payload); anything dns-packet cannot read is a WireError. */
  static parse(bytes: Uint8Array): DnsRepr {
    if (bytes.length < DNS_HEADER_LEN) {
      throw new WireError('dns', 'header', 'truncated', `needs ${DNS_HEADER_LEN} bytes, has ${bytes.length}`);
    }
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let message: DnsMessage;
    try {
      message = dnsPacket.decode(buf);
    } catch (err) {
      throw asWireError(err, 'decode');
    }
    // dns-packet reads a record cut off by the end as garbage ("1.2.undefined.undefined") without an error.
    const read = dnsPacket.decode.bytes;
    if (read > bytes.length) throw new WireError('dns', 'message', 'truncated', `records need ${read} bytes, has ${bytes.length}`);
    return new DnsRepr(deepFreeze(message), bytes);
  }

  /** A message to be encoded by dns-packet (names are written uncompressed); names are checked here, as it does not. */
  static fromMessage(message: DnsMessageInit): DnsRepr {
    for (const section of [message.questions, message.answers, message.authorities, message.additionals]) {
      for (const record of section ?? []) {
        checkName(record.name);
        if (NAME_DATA.has(record.type) && 'data' in record) checkName(record.data);
      }
    }
    return new DnsRepr(message, undefined);
  }

  bufferLen(): number {
    if (this.raw) return this.raw.length;
    try {
      return dnsPacket.encodingLength(this.message);
    } catch (err) {
      throw asWireError(err, 'encode');
    }
  }

  /** Writes the message at `offset`; returns the number of bytes written. */
  emit(out: Uint8Array, offset = 0): number {
    if (this.raw) {
      out.set(this.raw, offset);
      return this.raw.length;
    }
    const len = this.bufferLen();
    if (offset + len > out.length) throw new WireError('dns', 'message', 'bad-length', `${len} bytes do not fit at ${offset} in ${out.length}`);
    try {
      dnsPacket.encode(this.message, Buffer.from(out.buffer, out.byteOffset, out.length), offset);
    } catch (err) {
      throw asWireError(err, 'encode');
    }
    return len;
  }

  /** The encoded message as new bytes. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.bufferLen());
    this.emit(out);
    return out;
  }
}

/** Record types whose data is a domain name. */
const NAME_DATA = new Set(['CNAME', 'NS', 'PTR', 'DNAME']);

/** RFC 1035 limits: labels of 1..63 bytes, 255 bytes on the wire in all. */
function checkName(name: unknown): void {
  if (typeof name !== 'string') return; // dns-packet reports other shapes itself
  const trimmed = name.replace(/\.$/, '');
  if (trimmed === '') return;
  let wire = 1;
  for (const label of trimmed.split('.')) {
    const len = Buffer.byteLength(label);
    if (len < 1 || len > 63) throw new WireError('dns', 'name', 'bad-value', `label of ${len} bytes in ${JSON.stringify(name.slice(0, 80))}`);
    wire += 1 + len;
  }
  if (wire > 255) throw new WireError('dns', 'name', 'bad-value', `${wire} bytes, at most 255`);
}

/** dns-packet throws plain Errors and RangeErrors; the wire layer promises WireError. */
function asWireError(err: unknown, stage: 'decode' | 'encode'): WireError {
  const text = err instanceof Error ? err.message : String(err);
  const field = /name/i.test(text) ? 'name' : 'message';
  if (stage === 'encode') return new WireError('dns', field, 'bad-value', text);
  const truncated = err instanceof RangeError || /overflow|out of range|bounds|beyond/i.test(text);
  return new WireError('dns', field, truncated ? 'truncated' : 'bad-value', text);
}

/** Freezes plain objects and arrays; byte buffers cannot be frozen and are left as they are. */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value;
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}

/** Header flag bits as dns-packet's `flags` holds them (RFC 1035 §4.1.1; QR is the message's `type`). */
export const DnsFlag = {
  Authoritative: 0x0400,
  Truncated: 0x0200,
  RecursionDesired: 0x0100,
  RecursionAvailable: 0x0080,
  AuthenticData: 0x0020,
  CheckingDisabled: 0x0010,
} as const;

/** RCODE values (RFC 1035 §4.1.1, RFC 6895). */
export const DnsRcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;

/** The OPCODE of a message (0 = standard query). */
export function dnsOpcode(message: DnsMessage | DnsMessageInit): number {
  return ((message.flags ?? 0) >> 11) & 0xf;
}

/** The 4-bit RCODE of a message's header. */
export function dnsRcode(message: DnsMessage | DnsMessageInit): number {
  return (message.flags ?? 0) & 0xf;
}

/**
 * `DnsRepr.parse` for the packet path: the message, or the WireError it would have thrown. Also refuses a message
 * whose last record runs past the end, which dns-packet 5.6 decodes by reading undefined bytes ("1.2.undefined.undefined").
 */
export function tryParseDns(bytes: Uint8Array): DnsRepr | WireError {
  try {
    return DnsRepr.parse(bytes);
  } catch (err) {
    return err instanceof WireError ? err : asWireError(err, 'decode');
  }
}
