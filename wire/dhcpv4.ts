// DHCPv4 (RFC 2131/2132): the BOOTP fixed part, the magic cookie, then options. Options this stack uses are typed;
// every other option, and any known one with a length it should not have, is kept as raw bytes.
import { WireError, type WireProtocol } from './error.js';
import { macFromBytes, macToBytes } from './ethernet.js';
import { WireStatus } from './status.js';
import { WireView } from './view.js';

export const DHCP_FIXED_LEN = 236;
export const DHCP_MAGIC_COOKIE = 0x63825363;
export const DhcpServerPort = 67;
export const DhcpClientPort = 68;

export const BootpOp = { Request: 1, Reply: 2 } as const;

/** Option 53 values. */
export const DhcpMessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;

export const DhcpOptionCode = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DomainNameServer: 6,
  RequestedIp: 50,
  LeaseTime: 51,
  MessageType: 53,
  ServerId: 54,
  End: 255,
} as const;

export type DhcpOption =
  | { kind: 'pad' }
  | { kind: 'end' }
  | { kind: 'message-type'; value: number }
  | { kind: 'subnet-mask'; mask: number }
  | { kind: 'router'; addresses: number[] }
  | { kind: 'dns'; addresses: number[] }
  | { kind: 'requested-ip'; address: number }
  | { kind: 'lease-time'; seconds: number }
  | { kind: 'server-id'; address: number }
  /** Any other code, or a known code with a length it should not have; `data` excludes code and length. */
  | { kind: 'raw'; code: number; data: Uint8Array };

/** Byte offsets of the fields (a const enum, so they compile to literals and the getters stay small enough to inline). */
const enum Field {
  OP = 0,
  HTYPE = 1,
  HLEN = 2,
  HOPS = 3,
  XID = 4,
  SECS = 8,
  FLAGS = 10,
  CIADDR = 12,
  YIADDR = 16,
  SIADDR = 20,
  GIADDR = 24,
  CHADDR = 28,
  SNAME = 44,
  FILE = 108,
  COOKIE = 236,
  OPTIONS = 240,
}

/** The broadcast bit of the flags field: the client cannot receive unicast before it has an address. */
export const DHCP_FLAG_BROADCAST = 0x8000;

/** A zero-copy view of a BOOTP/DHCP message (the UDP payload). */
export class DhcpPacket extends WireView {
  static readonly wireProtocol: WireProtocol = 'dhcpv4';

  checkLen(): WireStatus {
    return this.checkFixedLen(DHCP_FIXED_LEN);
  }

  protected lenError(): WireError {
    return this.truncatedError('fixed part', DHCP_FIXED_LEN);
  }

  get op(): number { return this.bytes[this.offset + Field.OP]; }
  get htype(): number { return this.bytes[this.offset + Field.HTYPE]; }
  get hlen(): number { return this.bytes[this.offset + Field.HLEN]; }
  get hops(): number { return this.bytes[this.offset + Field.HOPS]; }
  get xid(): number { return this.data.getUint32(this.offset + Field.XID); }
  get secs(): number { return this.data.getUint16(this.offset + Field.SECS); }
  get flags(): number { return this.data.getUint16(this.offset + Field.FLAGS); }
  get ciaddr(): number { return this.data.getUint32(this.offset + Field.CIADDR); }
  get yiaddr(): number { return this.data.getUint32(this.offset + Field.YIADDR); }
  get siaddr(): number { return this.data.getUint32(this.offset + Field.SIADDR); }
  get giaddr(): number { return this.data.getUint32(this.offset + Field.GIADDR); }
  /** The client MAC: the first 6 of the 16 chaddr bytes. */
  get clientMac(): number { return macFromBytes(this.bytes, this.offset + Field.CHADDR); }
  chaddr(): Uint8Array { return this.slice(Field.CHADDR, Field.SNAME); }
  sname(): Uint8Array { return this.slice(Field.SNAME, Field.FILE); }
  file(): Uint8Array { return this.slice(Field.FILE, Field.COOKIE); }
  get hasMagicCookie(): boolean {
    return this.length >= Field.OPTIONS && this.data.getUint32(this.offset + Field.COOKIE) === DHCP_MAGIC_COOKIE;
  }
  /** The options area (empty without the magic cookie). */
  optionBytes(): Uint8Array { return this.hasMagicCookie ? this.slice(Field.OPTIONS) : this.slice(this.length); }

  set op(v: number) { this.bytes[this.offset + Field.OP] = v; }
  set htype(v: number) { this.bytes[this.offset + Field.HTYPE] = v; }
  set hlen(v: number) { this.bytes[this.offset + Field.HLEN] = v; }
  set hops(v: number) { this.bytes[this.offset + Field.HOPS] = v; }
  set xid(v: number) { this.data.setUint32(this.offset + Field.XID, v); }
  set secs(v: number) { this.data.setUint16(this.offset + Field.SECS, v); }
  set flags(v: number) { this.data.setUint16(this.offset + Field.FLAGS, v); }
  set ciaddr(v: number) { this.data.setUint32(this.offset + Field.CIADDR, v); }
  set yiaddr(v: number) { this.data.setUint32(this.offset + Field.YIADDR, v); }
  set siaddr(v: number) { this.data.setUint32(this.offset + Field.SIADDR, v); }
  set giaddr(v: number) { this.data.setUint32(this.offset + Field.GIADDR, v); }
}

/** Parses an options area; bytes after the End option come back as `trailer`. */
export function parseDhcpOptions(area: Uint8Array): { options: DhcpOption[]; trailer: Uint8Array } {
  const options: DhcpOption[] = [];
  let i = 0;
  while (i < area.length) {
    const code = area[i];
    if (code === DhcpOptionCode.End) {
      options.push({ kind: 'end' });
      return { options, trailer: area.subarray(i + 1) };
    }
    if (code === DhcpOptionCode.Pad) {
      options.push({ kind: 'pad' });
      i += 1;
      continue;
    }
    if (i + 1 >= area.length) throw new WireError('dhcpv4', 'option length', 'truncated', `option ${code} at byte ${i} has no length`);
    const len = area[i + 1];
    if (i + 2 + len > area.length) {
      throw new WireError('dhcpv4', 'option length', 'truncated', `option ${code} at byte ${i} claims ${len} bytes, ${area.length - i - 2} left`);
    }
    options.push(decodeOption(code, area.subarray(i + 2, i + 2 + len)));
    i += 2 + len;
  }
  return { options, trailer: area.subarray(area.length) };
}

function decodeOption(code: number, body: Uint8Array): DhcpOption {
  const u32 = (at: number): number => ((body[at] << 24) | (body[at + 1] << 16) | (body[at + 2] << 8) | body[at + 3]) >>> 0;
  const addresses = (): number[] => { const out: number[] = []; for (let at = 0; at < body.length; at += 4) out.push(u32(at)); return out; };
  switch (code) {
    case DhcpOptionCode.MessageType: if (body.length === 1) return { kind: 'message-type', value: body[0] }; break;
    case DhcpOptionCode.SubnetMask: if (body.length === 4) return { kind: 'subnet-mask', mask: u32(0) }; break;
    case DhcpOptionCode.Router: if (body.length >= 4 && body.length % 4 === 0) return { kind: 'router', addresses: addresses() }; break;
    case DhcpOptionCode.DomainNameServer: if (body.length >= 4 && body.length % 4 === 0) return { kind: 'dns', addresses: addresses() }; break;
    case DhcpOptionCode.RequestedIp: if (body.length === 4) return { kind: 'requested-ip', address: u32(0) }; break;
    case DhcpOptionCode.LeaseTime: if (body.length === 4) return { kind: 'lease-time', seconds: u32(0) }; break;
    case DhcpOptionCode.ServerId: if (body.length === 4) return { kind: 'server-id', address: u32(0) }; break;
  }
  return { kind: 'raw', code, data: body };
}

function optionLen(o: DhcpOption): number {
  switch (o.kind) {
    case 'pad': case 'end': return 1;
    case 'message-type': return 3;
    case 'router': case 'dns': return 2 + 4 * o.addresses.length;
    case 'raw': return 2 + o.data.length;
    default: return 6;
  }
}

/** Writes options at `at`; returns the offset after them. */
function emitOptions(options: readonly DhcpOption[], out: Uint8Array, at: number): number {
  const put32 = (v: number): void => { out[at++] = v >>> 24; out[at++] = (v >>> 16) & 0xff; out[at++] = (v >>> 8) & 0xff; out[at++] = v & 0xff; };
  const head = (code: number, len: number): void => {
    if (len > 255) throw new WireError('dhcpv4', 'option length', 'bad-length', `option ${code} of ${len} bytes, at most 255`);
    out[at++] = code; out[at++] = len;
  };
  for (const o of options) {
    switch (o.kind) {
      case 'pad': out[at++] = DhcpOptionCode.Pad; break;
      case 'end': out[at++] = DhcpOptionCode.End; break;
      case 'message-type': head(DhcpOptionCode.MessageType, 1); out[at++] = o.value; break;
      case 'subnet-mask': head(DhcpOptionCode.SubnetMask, 4); put32(o.mask); break;
      case 'router': head(DhcpOptionCode.Router, 4 * o.addresses.length); o.addresses.forEach(put32); break;
      case 'dns': head(DhcpOptionCode.DomainNameServer, 4 * o.addresses.length); o.addresses.forEach(put32); break;
      case 'requested-ip': head(DhcpOptionCode.RequestedIp, 4); put32(o.address); break;
      case 'lease-time': head(DhcpOptionCode.LeaseTime, 4); put32(o.seconds); break;
      case 'server-id': head(DhcpOptionCode.ServerId, 4); put32(o.address); break;
      case 'raw': head(o.code, o.data.length); out.set(o.data, at); at += o.data.length; break;
    }
  }
  return at;
}

export interface DhcpReprInit {
  op: number;
  xid: number;
  /** Fills chaddr (and htype 1, hlen 6) when `chaddr` is not given. */
  clientMac?: number;
  htype?: number;
  hlen?: number;
  hops?: number;
  secs?: number;
  flags?: number;
  ciaddr?: number;
  yiaddr?: number;
  siaddr?: number;
  giaddr?: number;
  chaddr?: Uint8Array;
  sname?: Uint8Array;
  file?: Uint8Array;
  magicCookie?: boolean;
  /** Without an 'end' option, emit writes the list as given (a built message should end with one). */
  options?: DhcpOption[];
  trailer?: Uint8Array;
}

/** A BOOTP/DHCP message. Fixed-size byte fields are kept whole (bytes after a NUL included) for exact re-emit. */
export class DhcpRepr {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** 16 bytes. */
  chaddr: Uint8Array;
  /** 64 bytes. */
  sname: Uint8Array;
  /** 128 bytes. */
  file: Uint8Array;
  /** False for plain BOOTP: then `options` is empty and everything after the fixed part is `trailer`. */
  magicCookie: boolean;
  options: DhcpOption[];
  /** Bytes after the End option (usually zero padding up to 300 bytes), as found. */
  trailer: Uint8Array;

  constructor(init: DhcpReprInit) {
    this.op = init.op;
    this.xid = init.xid;
    this.htype = init.htype ?? 1;
    this.hlen = init.hlen ?? 6;
    this.hops = init.hops ?? 0;
    this.secs = init.secs ?? 0;
    this.flags = init.flags ?? 0;
    this.ciaddr = init.ciaddr ?? 0;
    this.yiaddr = init.yiaddr ?? 0;
    this.siaddr = init.siaddr ?? 0;
    this.giaddr = init.giaddr ?? 0;
    this.chaddr = fixed('chaddr', init.chaddr ?? (init.clientMac !== undefined ? chaddrOf(init.clientMac) : undefined), 16);
    this.sname = fixed('sname', init.sname, 64);
    this.file = fixed('file', init.file, 128);
    this.magicCookie = init.magicCookie ?? true;
    this.options = init.options ?? [];
    this.trailer = init.trailer ?? new Uint8Array(0);
  }

  static parse(packet: DhcpPacket): DhcpRepr {
    const cookie = packet.hasMagicCookie;
    const { options, trailer } = cookie ? parseDhcpOptions(packet.optionBytes()) : { options: [], trailer: packet.slice(DHCP_FIXED_LEN) };
    return new DhcpRepr({
      op: packet.op,
      htype: packet.htype,
      hlen: packet.hlen,
      hops: packet.hops,
      xid: packet.xid,
      secs: packet.secs,
      flags: packet.flags,
      ciaddr: packet.ciaddr,
      yiaddr: packet.yiaddr,
      siaddr: packet.siaddr,
      giaddr: packet.giaddr,
      chaddr: packet.chaddr(),
      sname: packet.sname(),
      file: packet.file(),
      magicCookie: cookie,
      options,
      trailer,
    });
  }

  get clientMac(): number { return macFromBytes(this.chaddr); }
  get messageType(): number | undefined { return this.find('message-type')?.value; }
  get requestedIp(): number | undefined { return this.find('requested-ip')?.address; }
  get serverId(): number | undefined { return this.find('server-id')?.address; }
  get leaseTime(): number | undefined { return this.find('lease-time')?.seconds; }
  get subnetMask(): number | undefined { return this.find('subnet-mask')?.mask; }
  get routers(): number[] { return this.find('router')?.addresses ?? []; }
  get dnsServers(): number[] { return this.find('dns')?.addresses ?? []; }

  private find<K extends DhcpOption['kind']>(kind: K): Extract<DhcpOption, { kind: K }> | undefined {
    return this.options.find((o): o is Extract<DhcpOption, { kind: K }> => o.kind === kind);
  }

  bufferLen(): number {
    let n = DHCP_FIXED_LEN + (this.magicCookie ? 4 : 0) + this.trailer.length;
    for (const o of this.options) n += optionLen(o);
    return n;
  }

  emit(packet: DhcpPacket): void {
    packet.op = this.op;
    packet.htype = this.htype;
    packet.hlen = this.hlen;
    packet.hops = this.hops;
    packet.xid = this.xid;
    packet.secs = this.secs;
    packet.flags = this.flags;
    packet.ciaddr = this.ciaddr;
    packet.yiaddr = this.yiaddr;
    packet.siaddr = this.siaddr;
    packet.giaddr = this.giaddr;
    packet.bytes.set(this.chaddr, packet.offset + Field.CHADDR);
    packet.bytes.set(this.sname, packet.offset + Field.SNAME);
    packet.bytes.set(this.file, packet.offset + Field.FILE);
    let at = packet.offset + Field.COOKIE;
    if (this.magicCookie) {
      packet.data.setUint32(at, DHCP_MAGIC_COOKIE);
      at = emitOptions(this.options, packet.bytes, at + 4);
    }
    packet.bytes.set(this.trailer, at);
  }
}

/** The 16-byte chaddr field holding a MAC address. */
function chaddrOf(mac: number): Uint8Array {
  const out = new Uint8Array(16);
  out.set(macToBytes(mac));
  return out;
}

/** A fixed-size field: zero-filled when absent, refused when it does not have its size. */
function fixed(name: string, bytes: Uint8Array | undefined, size: number): Uint8Array {
  if (bytes === undefined) return new Uint8Array(size);
  if (bytes.length !== size) throw new WireError('dhcpv4', name, 'bad-length', `${bytes.length} bytes, must be ${size}`);
  return bytes;
}
