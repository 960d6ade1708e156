// Connection tracking in the spirit of Linux conntrack: TCP states from the flags seen in each
// direction, and how long each state lives without traffic. Time is always an argument.
import { TcpFlags } from '../../wire/index.js';
import { CONN_STATES, type ConnState, type NatProto } from './nat-table.js';

const S = 1000;

/** Idle timeouts (ms), after nf_conntrack's defaults. */
export const TIMEOUTS: Record<ConnState, number> = {
  none: 30 * S,
  'syn-sent': 120 * S,
  'syn-recv': 60 * S,
  established: 5 * 24 * 3600 * S,
  'fin-wait': 120 * S,
  'close-wait': 60 * S,
  'last-ack': 30 * S,
  'time-wait': 120 * S,
  close: 10 * S,
  'udp-new': 30 * S,
  'udp-replied': 120 * S,
  icmp: 30 * S,
};

export function initialState(proto: NatProto): ConnState {
  return proto === 'tcp' ? 'none' : proto === 'udp' ? 'udp-new' : 'icmp';
}

/** The state after a packet: `outbound` is inside → outside. */
export function nextState(state: ConnState, proto: NatProto, outbound: boolean, tcpFlags: number): ConnState {
  if (proto === 'udp') return outbound ? state : 'udp-replied';
  if (proto === 'icmp') return 'icmp';
  const f = tcpFlags;
  if (f & TcpFlags.RST) return 'close';
  const syn = (f & TcpFlags.SYN) !== 0;
  const ack = (f & TcpFlags.ACK) !== 0;
  const fin = (f & TcpFlags.FIN) !== 0;
  switch (state) {
    case 'none':
      return outbound && syn && !ack ? 'syn-sent' : state;
    case 'syn-sent':
      return !outbound && syn && ack ? 'syn-recv' : state;
    case 'syn-recv':
      return outbound && ack && !syn ? (fin ? 'fin-wait' : 'established') : state;
    case 'established':
      return fin ? (outbound ? 'fin-wait' : 'close-wait') : state;
    case 'fin-wait':
      return fin ? 'time-wait' : state; // the other side's FIN after ours
    case 'close-wait':
      return fin && outbound ? 'last-ack' : state;
    case 'last-ack':
      return ack && !outbound ? 'time-wait' : state;
    case 'time-wait':
      return outbound && syn && !ack ? 'syn-sent' : state; // a new connection reusing the tuple
    case 'close':
      return outbound && syn && !ack ? 'syn-sent' : state;
    default:
      return state;
  }
}

export function expiresAt(state: ConnState, lastSeen: number): number {
  return lastSeen + TIMEOUTS[state];
}

/** A state as a small integer (its index in CONN_STATES), as the packet path keeps it in typed storage. */
export function stateCode(state: ConnState): number {
  return CODES.get(state) ?? 0;
}

const CODES = new Map<ConnState, number>(CONN_STATES.map((s, i) => [s, i]));

/** Idle timeouts by state code: an array read, as a packet costs. */
const TIMEOUT_BY_CODE = Float64Array.from(CONN_STATES, (s) => TIMEOUTS[s]);

export function expiresAtCode(code: number, lastSeen: number): number {
  return lastSeen + TIMEOUT_BY_CODE[code];
}
