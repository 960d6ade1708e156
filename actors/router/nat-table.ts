// The `nat` table: one entry per NATed flow, keyed by its inside 5-tuple. Merges: the binding (the
// outside port) is kept if both agree, two different ones are resolved to the lower port and
// counted; connection state moves along a lattice; last-seen by max; packet and byte counters add.
import { table, values, option, record, max, counter, custom, Conflict, CodecError, type KeyCodec, type Merge } from '../../store/index.js';
import { ipv4ToString, tryParseIpv4 } from '../../wire/ipv4.js';

export type NatProto = 'tcp' | 'udp' | 'icmp';

/** Connection-tracking states in lattice order: a merge keeps the one further along. */
export const CONN_STATES = ['none', 'syn-sent', 'syn-recv', 'established', 'fin-wait', 'close-wait', 'last-ack', 'time-wait', 'close', 'udp-new', 'udp-replied', 'icmp'] as const;
export type ConnState = (typeof CONN_STATES)[number];
const RANK = new Map<string, number>(CONN_STATES.map((s, i) => [s, i]));

export interface NatEntry {
  proto: NatProto;
  insideIp: number;
  insidePort: number;
  remoteIp: number;
  remotePort: number;
  /** The outside port (the ICMP identifier for echo) the flow was given. */
  outPort: number;
  state: ConnState;
  created: number;
  lastSeen: number;
  pktsOut: number;
  pktsIn: number;
  bytesOut: number;
  bytesIn: number;
}

const PROTO_CODE: Record<NatProto, number> = { tcp: 6, udp: 17, icmp: 1 };
const CODE_PROTO = new Map<number, NatProto>([[6, 'tcp'], [17, 'udp'], [1, 'icmp']]);

/**
 * The key of a flow, its inside 5-tuple, packed into 7 UTF-16 code units: built once per packet, so
 * it must be cheap; paths and tools show it as `udp:10.201.0.2:40000:10.202.0.2:53` through the key
 * codec below. The six 16-bit fields (address halves, ports) are stored as their low 15 bits, their
 * top bits beside the protocol in the first unit: no unit is ever a surrogate (0xD800–0xDFFF), which
 * msgpack's UTF-8 would turn into U+FFFD and merge distinct flows into one key.
 */
export function natKey(proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number): string {
  const a = insideIp >>> 16, b = insideIp & 0xffff, c = remoteIp >>> 16, d = remoteIp & 0xffff;
  const top = (a >>> 15) | ((b >>> 15) << 1) | ((insidePort >>> 15) << 2) | ((c >>> 15) << 3) | ((d >>> 15) << 4) | ((remotePort >>> 15) << 5);
  return String.fromCharCode(PACKED | PROTO_CODE[proto] | (top << 5), a & 0x7fff, b & 0x7fff, insidePort & 0x7fff, c & 0x7fff, d & 0x7fff, remotePort & 0x7fff);
}

/** Marks the first unit of a packed key (0x4000–0x47FF): no readable string starts that way. */
const PACKED = 0x4000;

/** Field `i` (1–6) of a packed flow key. */
function field(k: string, i: number): number {
  return k.charCodeAt(i) | (((k.charCodeAt(0) >>> (4 + i)) & 1) << 15);
}

/** The address in fields `i` and `i + 1` of a packed flow key. */
function address(k: string, i: number): number {
  return ((field(k, i) << 16) | field(k, i + 1)) >>> 0;
}

function protoOf(k: string): NatProto {
  return CODE_PROTO.get(k.charCodeAt(0) & 31) ?? 'udp';
}

/** The reverse key (a per-actor index, never stored): how return traffic finds the flow. */
export function natReverseKey(proto: NatProto, outPort: number, remoteIp: number, remotePort: number): string {
  return String.fromCharCode(PROTO_CODE[proto], outPort, remoteIp >>> 16, remoteIp & 0xffff, remotePort);
}

const READABLE = /^(tcp|udp|icmp):(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5}):(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;

/** A flow key from its readable form, or undefined when it is none. */
function parseReadable(x: unknown): string | undefined {
  const m = typeof x === 'string' ? READABLE.exec(x) : null;
  if (!m || Number(m[3]) > 65535 || Number(m[5]) > 65535) return undefined;
  const inside = tryParseIpv4(m[2]), remote = tryParseIpv4(m[4]);
  return inside === undefined || remote === undefined ? undefined : natKey(m[1] as NatProto, inside, Number(m[3]), remote, Number(m[5]));
}

/** Flow keys: packed in memory and in deltas, readable in paths (`nat/udp:10.201.0.2:40000:10.202.0.2:53`). */
export const natFlowKey: KeyCodec<string> = {
  name: 'nat-flow',
  encode(k: string): string {
    return `${protoOf(k)}:${ipv4ToString(address(k, 1))}:${field(k, 3)}:${ipv4ToString(address(k, 4))}:${field(k, 6)}`;
  },
  decode(x: unknown): string {
    if (typeof x === 'string' && x.length === 7 && (x.charCodeAt(0) & 0xf800) === PACKED && CODE_PROTO.has(x.charCodeAt(0) & 31) && !/[\u8000-\uffff]/.test(x.slice(1))) return x;
    const k = parseReadable(x);
    if (k === undefined) throw new CodecError(String(x), 'nat-flow', `not a NAT flow key like udp:10.201.0.2:40000:10.202.0.2:53: ${JSON.stringify(x)}`);
    return k;
  },
  // nat/udp/10.201.0.2/40000-40999/udp:10.201.0.2:40000:10.202.0.2:53: by protocol, inside host, port thousand.
  dirs(k: string): string[] {
    const lo = Math.floor(field(k, 3) / 1000) * 1000;
    return [protoOf(k), ipv4ToString(address(k, 1)), `${lo}-${lo + 999}`];
  },
};

const mergeBinding: Merge<number> = custom((_old, a, b) => (a === b ? a : new Conflict('two bindings for one flow', [Math.min(a, b)])));
const mergeState: Merge<ConnState> = custom((_old, a, b) => ((RANK.get(a) ?? 0) >= (RANK.get(b) ?? 0) ? a : b));

export const natTable = table<string, NatEntry>({
  name: 'nat',
  key: natFlowKey,
  value: values.record({
    proto: values.oneOf('tcp', 'udp', 'icmp'),
    insideIp: values.ipv4num,
    insidePort: values.uint,
    remoteIp: values.ipv4num,
    remotePort: values.uint,
    outPort: values.uint,
    state: values.oneOf(...CONN_STATES),
    created: values.uint,
    lastSeen: values.uint,
    pktsOut: values.uint,
    pktsIn: values.uint,
    bytesOut: values.uint,
    bytesIn: values.uint,
  }),
  // An expiry loses to a concurrent use of the flow, as an ARP expiry loses to a refresh.
  merge: option(
    record<NatEntry>({
      // The tuple fields come from the key, so both sides agree; max keeps the merge total anyway.
      proto: max<NatProto>(), insideIp: max<number>(), insidePort: max<number>(), remoteIp: max<number>(), remotePort: max<number>(),
      outPort: mergeBinding,
      state: mergeState,
      created: custom((_o, a, b) => Math.min(a, b)),
      lastSeen: max<number>(),
      pktsOut: counter(), pktsIn: counter(), bytesOut: counter(), bytesIn: counter(),
    }),
    { onDeleteModify: 'keep' },
  ),
});
