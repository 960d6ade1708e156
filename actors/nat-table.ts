// The `nat` table: one entry per NATed flow, keyed by its inside 5-tuple. Merges: the binding (the
// outside port) is kept if both agree, two different ones are resolved to the lower port and
// counted; connection state moves along a lattice; last-seen by max; packet and byte counters add.
import { table, keys, values, option, record, max, counter, custom, Conflict, type Merge } from '../store/index.js';

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

/** The key of a flow: its inside 5-tuple (ICMP: the echo identifier as port, 0 as remote port). */
export function natKey(proto: NatProto, insideIp: number, insidePort: number, remoteIp: number, remotePort: number): string {
  return `${proto}:${dotted(insideIp)}:${insidePort}:${dotted(remoteIp)}:${remotePort}`;
}

/** The reverse key: how return traffic finds the flow (outside port + remote end). */
export function natReverseKey(proto: NatProto, outPort: number, remoteIp: number, remotePort: number): string {
  return `${proto}:${outPort}:${dotted(remoteIp)}:${remotePort}`;
}

function dotted(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

const mergeBinding: Merge<number> = custom((_old, a, b) => (a === b ? a : new Conflict('two bindings for one flow', [Math.min(a, b)])));
const mergeState: Merge<ConnState> = custom((_old, a, b) => ((RANK.get(a) ?? 0) >= (RANK.get(b) ?? 0) ? a : b));

export const natTable = table<string, NatEntry>({
  name: 'nat',
  key: keys.string,
  value: values.record({
    proto: values.oneOf('tcp', 'udp', 'icmp'),
    insideIp: values.uint,
    insidePort: values.uint,
    remoteIp: values.uint,
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
