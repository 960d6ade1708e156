// A listening port (RFC 9293 LISTEN): its accept queue, bounded by the backlog. Half-open connections are
// the endpoint's (one bound for all ports); a connection joins the queue once its handshake completes.
import type { TcpSocket } from './tcp-socket.js';

export class TcpListener {
  onAccept: ((s: TcpSocket) => void) | null = null;
  /** Established connections not yet accepted. */
  private readonly queue: TcpSocket[] = [];
  closed = false;

  constructor(readonly port: number, readonly backlog: number, private readonly onClose: (l: TcpListener) => void) {}

  get queued(): number { return this.queue.length; }
  get full(): boolean { return this.queue.length >= this.backlog; }

  /** The next established connection, or null. */
  accept(): TcpSocket | null {
    for (;;) {
      const s = this.queue.shift();
      if (s === undefined) return null;
      if (s.state !== 'closed') { s.listener = null; return s; }
    }
  }

  /** Stops listening; connections not yet accepted are reset. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
  }

  /** A handshake completed: queued, or false when the queue is full. */
  enqueue(s: TcpSocket): boolean {
    if (this.full) return false;
    this.queue.push(s);
    return true;
  }

  /** Hands a queued connection to onAccept, when one is set. */
  offer(s: TcpSocket): void {
    if (this.onAccept === null) return;
    const i = this.queue.indexOf(s);
    if (i < 0) return;
    this.queue.splice(i, 1);
    s.listener = null;
    this.onAccept(s);
  }

  /** Takes everything queued (the listener is closing). */
  drain(): TcpSocket[] {
    return this.queue.splice(0);
  }
}
