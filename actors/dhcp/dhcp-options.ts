// The DHCP options server and client need that wire/dhcpv4.ts keeps raw (RFC 2132 codes 12, 52, 58, 59, 61):
// read from and built as its `raw` options, so no byte offset is read here. Candidates for typed options there.
import type { DhcpOption, DhcpRepr } from '../../wire/dhcpv4.js';

export const ExtraOptionCode = { Hostname: 12, Overload: 52, RenewalTime: 58, RebindingTime: 59, ClientId: 61 } as const;

type RawOption = Extract<DhcpOption, { kind: 'raw' }>;

function raw(repr: DhcpRepr, code: number): RawOption | undefined {
  return repr.options.find((o): o is RawOption => o.kind === 'raw' && o.code === code);
}

/** Option 12's first label when it is a valid hostname (as dnsmasq takes it), else ''. */
export function hostnameOf(repr: DhcpRepr): string {
  const o = raw(repr, ExtraOptionCode.Hostname);
  if (o === undefined) return '';
  const label = String.fromCharCode(...o.data).split('.')[0].replace(/\0+$/, '');
  return /^[A-Za-z0-9_-]{1,63}$/.test(label) ? label : '';
}

/** Option 61 as colon-separated hex (dnsmasq's lease-file form), '' when absent or shorter than RFC 2132's 2 bytes. */
export function clientIdOf(repr: DhcpRepr): string {
  const o = raw(repr, ExtraOptionCode.ClientId);
  if (o === undefined || o.data.length < 2) return '';
  return Array.from(o.data, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The request's option 61 as it came, to echo (RFC 6842), or none. */
export function clientIdEcho(repr: DhcpRepr): DhcpOption[] {
  const o = raw(repr, ExtraOptionCode.ClientId);
  return o === undefined ? [] : [o];
}

/** Whether the client says options continue in sname/file (option 52); those are not read. */
export function overloads(repr: DhcpRepr): boolean {
  return raw(repr, ExtraOptionCode.Overload) !== undefined;
}

/** A 32-bit seconds option (T1, T2). */
export function secondsOption(code: number, seconds: number): DhcpOption {
  const s = Math.min(Math.max(Math.floor(seconds), 0), 0xffff_ffff);
  return { kind: 'raw', code, data: Uint8Array.of(s >>> 24, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff) };
}

/** A 32-bit seconds option (T1, T2) as the server sent it, or undefined when absent or not 4 bytes long. */
export function secondsOf(options: readonly DhcpOption[], code: number): number | undefined {
  const o = options.find((x): x is RawOption => x.kind === 'raw' && x.code === code);
  if (o === undefined || o.data.length !== 4) return undefined;
  return new DataView(o.data.buffer, o.data.byteOffset, 4).getUint32(0);
}
