// A `tcp` row as one line in the style of `ss -tanoi`: state, Send-Q, both ends, then the control block
// as ss's key:value pairs. Payload buffers are not in the store, so there is no Recv-Q.
import { TCP_STATES, type TcpEntry, type TcpState } from './tcp-table.js';

/** The names ss prints for the table's states (`ss state <name>` takes them too). */
const SS_NAMES: Record<TcpState, string> = {
  'syn-sent': 'SYN-SENT',
  'syn-received': 'SYN-RECV',
  established: 'ESTAB',
  'fin-wait-1': 'FIN-WAIT-1',
  'close-wait': 'CLOSE-WAIT',
  'fin-wait-2': 'FIN-WAIT-2',
  closing: 'CLOSING',
  'last-ack': 'LAST-ACK',
  'time-wait': 'TIME-WAIT',
  closed: 'CLOSED',
};

/** What a line shows: the row less the 4-tuple (the key carries it) and the clock stamps. */
export type TcpLine = Pick<TcpEntry, 'state' | 'sndUna' | 'sndNxt' | 'rcvNxt' | 'sndWnd' | 'rcvWnd' | 'sndWscale' | 'rcvWscale' | 'mss' | 'rtoMs' | 'srttMs' | 'timer' | 'deadline'>;

/** The four columns, at widths that fit the longest state and `255.255.255.255:65535`. */
function columns(state: string, sendQ: string, local: string, peer: string): string {
  return `${state.padEnd(11)}${sendQ.padStart(6)} ${local.padEnd(21)} ${peer.padEnd(21)}`;
}

export const TCP_HEADER = columns('State', 'Send-Q', 'Local Address:Port', 'Peer Address:Port').trimEnd();

/** The state as ss names it: `ESTAB`, `SYN-RECV`, … */
export function ssState(state: TcpState): string {
  return SS_NAMES[state];
}

/** A state from the table's name (`established`) or ss's (`ESTAB`, `syn-recv`), any case; undefined if neither. */
export function tcpStateNamed(name: string): TcpState | undefined {
  const n = name.toLowerCase();
  return TCP_STATES.find((s) => s === n || SS_NAMES[s].toLowerCase() === n);
}

/**
 * `ESTAB  1448 10.0.0.1:80  10.0.0.2:40000  timer:(rto,1.2s) snd_una:1000 …`. Send-Q is SND.NXT − SND.UNA
 * (sent, not yet acknowledged); the timer's time is left until `deadline` on the tables' clock `now`.
 */
export function formatTcpLine(key: string, e: TcpLine, now: number): string {
  const dash = key.indexOf('-');
  const local = key.slice(0, dash), peer = key.slice(dash + 1);
  const sendQ = (e.sndNxt - e.sndUna) >>> 0;
  const head = columns(ssState(e.state), String(sendQ), local, peer);
  const parts = [
    ...(e.timer === 'none' ? [] : [`timer:(${e.timer},${formatLeft(e.deadline - now)})`]),
    `snd_una:${e.sndUna}`, `snd_nxt:${e.sndNxt}`, `rcv_nxt:${e.rcvNxt}`,
    `snd_wnd:${e.sndWnd}`, `rcv_wnd:${e.rcvWnd}`, `wscale:${e.sndWscale},${e.rcvWscale}`,
    `mss:${e.mss}`, `rto:${e.rtoMs}`, ...(e.srttMs > 0 ? [`rtt:${e.srttMs}`] : []),
  ];
  return `${head} ${parts.join(' ')}`;
}

/** ms left as ss writes it (`200ms`, `1.2s`, `2min`); a deadline passed reads `expired`. */
function formatLeft(ms: number): string {
  if (ms <= 0) return 'expired';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  if (ms < 60_000) return `${(Math.ceil(ms / 100) / 10).toString()}s`;
  return `${Math.ceil(ms / 60_000)}min`;
}
