// The sim's small application, whatever carries it: a node sends `hello N` to a peer, the peer
// answers each with `ack`. Counted the same over UDP and TCP, so the two runs compare.
export const SIM_PORT = 7777;

export interface MessageCounters {
  sent: number;
  received: number;
  acked: number;
}

/** A node's messaging over one transport. */
export interface SimMessenger {
  readonly counters: MessageCounters;
  /** Sends the node's next message to `dst`. */
  send(dst: number, now: number): void;
  /** Its timers (idle connections closed). */
  tick(now: number): void;
}

const encoder = new TextEncoder();
const ACK = encoder.encode('ack');

export function helloMessage(n: number): Uint8Array {
  return encoder.encode(`hello ${n}`);
}

export function ackMessage(): Uint8Array {
  return ACK;
}

export function isHello(msg: Uint8Array): boolean {
  return msg[0] === 0x68; // 'h'
}
