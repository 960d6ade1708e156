// One TCP connection carrying the sim's length-prefixed messages: what the socket will not take yet
// waits in an outbox until it is writable; what arrives is cut into whole messages.
import type { TcpSocket } from '../tcp/tcp-endpoint.js';
import { frameMessage, MessageReader } from '../../wire/stream-framing.js';

export type CloseReason = 'closed' | 'reset' | 'timeout' | 'refused';

export interface MessageConnectionEvents {
  /** A whole message arrived. */
  message(c: MessageConnection, msg: Uint8Array, now: number): void;
  /** The handshake completed. */
  established(c: MessageConnection): void;
  /** The connection is gone (its socket closed, for `reason`). */
  gone(c: MessageConnection, reason: CloseReason): void;
}

export class MessageConnection {
  /** When a message last went either way. */
  lastActive: number;
  /** Messages sent on it whose answer has not come back (an idle close waits for them). */
  awaiting = 0;
  private closing = false;
  private finSent = false;
  private gone = false;
  private readonly outbox: Uint8Array[] = [];
  private readonly reader = new MessageReader();

  /** `outbound`: this node opened it (else a peer did and we accepted it). */
  constructor(readonly socket: TcpSocket, readonly outbound: boolean, private readonly clock: () => number, events: MessageConnectionEvents) {
    this.lastActive = clock();
    socket.onEstablished = () => {
      events.established(this);
      this.pump(this.clock());
    };
    socket.onWritable = () => this.pump(this.clock());
    socket.onData = () => this.drain(this.clock(), events);
    socket.onEnd = () => {
      // The peer is done sending: read what is left, then close our side once the outbox is out.
      const now = this.clock();
      this.drain(now, events);
      this.close(now);
    };
    socket.onClose = (reason) => {
      if (this.gone) return;
      this.gone = true;
      events.gone(this, reason);
    };
  }

  /** Still usable for new messages (not closing, not gone). */
  get open(): boolean {
    return !this.closing && !this.gone;
  }

  /** Queues a message and sends what the socket takes. */
  write(payload: Uint8Array, now: number): void {
    this.lastActive = now;
    this.outbox.push(frameMessage(payload));
    this.pump(now);
  }

  /** Closes our side after what is queued has been handed to the socket. */
  close(now: number): void {
    this.closing = true;
    this.closeWhenSent(now);
  }

  get idle(): boolean {
    return this.outbox.length === 0 && this.awaiting === 0;
  }

  private pump(now: number): void {
    const q = this.outbox;
    while (q.length > 0 && !this.gone) {
      const n = this.socket.send(q[0], now);
      if (n <= 0) return;
      if (n < q[0].length) { q[0] = q[0].subarray(n); return; }
      q.shift();
    }
    this.closeWhenSent(now);
  }

  private closeWhenSent(now: number): void {
    if (!this.closing || this.finSent || this.gone || this.outbox.length > 0) return;
    this.finSent = true;
    this.socket.close(now);
  }

  private drain(now: number, events: MessageConnectionEvents): void {
    for (let chunk = this.socket.read(); chunk !== null; chunk = this.socket.read()) this.reader.push(chunk);
    for (let msg = this.reader.next(); msg !== null; msg = this.reader.next()) {
      this.lastActive = now;
      events.message(this, msg, now);
    }
  }
}
