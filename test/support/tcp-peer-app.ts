// The application side of tcp-tap-peer: an echo server, a sink that hashes what it got, or a client that sends a
// seeded stream and hashes what comes back. Driven by the endpoint's callbacks and by pump(now) from the poll loop.
import { createHash, type Hash } from 'node:crypto';
import { prng } from '../../actors/sim/prng.js';
import type { TcpEndpoint, TcpSocket } from '../../actors/tcp/tcp-endpoint.js';

export type PeerMode = 'serve-echo' | 'serve-sink' | 'connect';

/** Prime, so a shifted or swapped chunk of the repeated block changes the hash (as in tcp-kernel-peer.py). */
const BLOCK = 65521;
/** An active closer stays this long in TIME-WAIT to answer a retransmitted FIN before the process exits. */
const LINGER_MS = 300;

export interface AppOptions {
  mode: PeerMode;
  port: number;
  to: { ip: number; port: number } | null;
  sendBytes: number;
  seed: number;
  connections: number;
}

/** One connection's traffic: bytes and hashes each way, and echo bytes not yet taken by send(). */
class Flow {
  sent = 0;
  received = 0;
  readonly sentHash: Hash = createHash('sha256');
  readonly receivedHash: Hash = createHash('sha256');
  pending: Uint8Array[] = [];
  firstByteAt: number | null = null;
  endAt: number | null = null;
  closeReason: string | null = null;
  closedAt: number | null = null;
  ended = false;
  closing = false;
  /** A close in SYN-SENT would drop the queued data with the connection (RFC 9293 §3.10.4). */
  established = false;
  constructor(readonly socket: TcpSocket) {}
}

export class TcpPeerApp {
  private readonly flows: Flow[] = [];
  private readonly stream: Uint8Array;

  constructor(private readonly tcp: TcpEndpoint, private readonly o: AppOptions) {
    const random = prng(o.seed);
    this.stream = new Uint8Array(2 * BLOCK); // twice over, so any offset has a whole block after it
    for (let i = 0; i < BLOCK; i++) this.stream[i] = this.stream[i + BLOCK] = Math.floor(random() * 256);
  }

  start(now: number): void {
    if (this.o.mode === 'connect') {
      const s = this.tcp.connect(this.o.to!.ip, this.o.to!.port, now);
      this.track(s).socket.onEstablished = () => { this.flows[0].established = true; };
      return;
    }
    const listener = this.tcp.listen(this.o.port, 16);
    listener.onAccept = (s) => {
      if (this.flows.length < this.o.connections) this.track(s).established = true; // accepted: already established
      else s.abort(performance.now());
    };
  }

  private track(s: TcpSocket): Flow {
    const flow = new Flow(s);
    this.flows.push(flow);
    s.onData = () => this.read(flow, performance.now());
    s.onWritable = () => this.write(flow, performance.now());
    s.onEnd = () => { flow.ended = true; flow.endAt = performance.now(); };
    s.onClose = (reason) => { flow.closeReason = reason; flow.closedAt = performance.now(); };
    return flow;
  }

  /** Reads, writes and closes what is due on every flow; called after each batch of frames and each tick. */
  pump(now: number): void {
    for (const f of this.flows) {
      this.read(f, now);
      this.write(f, now);
      if (!f.closing && f.ended && f.pending.length === 0 && (this.o.mode !== 'connect' || f.sent >= this.o.sendBytes)) {
        f.closing = true;
        f.socket.close(now);
      }
    }
  }

  private read(f: Flow, now: number): void {
    for (let d = f.socket.read(); d !== null; d = f.socket.read()) {
      f.firstByteAt ??= now;
      f.received += d.length;
      f.receivedHash.update(d);
      if (this.o.mode === 'serve-echo') f.pending.push(d.slice());
    }
  }

  private write(f: Flow, now: number): void {
    if (this.o.mode === 'serve-echo') this.echo(f, now);
    else if (this.o.mode === 'connect') this.sendStream(f, now);
  }

  private echo(f: Flow, now: number): void {
    while (f.pending.length > 0) {
      const d = f.pending[0];
      const n = f.socket.send(d, now);
      f.sent += n;
      f.sentHash.update(d.subarray(0, n));
      if (n < d.length) { f.pending[0] = d.subarray(n); return; }
      f.pending.shift();
    }
  }

  private sendStream(f: Flow, now: number): void {
    const total = this.o.sendBytes;
    while (f.sent < total) {
      const off = f.sent % BLOCK;
      const chunk = this.stream.subarray(off, off + Math.min(BLOCK, total - f.sent));
      const n = f.socket.send(chunk, now);
      if (n <= 0) return;
      f.sentHash.update(chunk.subarray(0, n));
      f.sent += n;
      if (n < chunk.length) return;
    }
    if (!f.closing && f.established) {
      f.closing = true; // the client closes once everything is sent; the peer's FIN then ends the exchange
      f.socket.close(now);
    }
  }

  /** Every expected connection has closed (or, for the active closer, lingered in TIME-WAIT). */
  done(now: number): boolean {
    const want = this.o.mode === 'connect' ? 1 : this.o.connections;
    if (this.flows.length < want) return false;
    return this.flows.every((f) => f.closeReason !== null || (f.ended && f.closing && /time.?wait/i.test(String(f.socket.state)) && now - f.endAt! > LINGER_MS));
  }

  ok(): boolean {
    const sentAll = (f: Flow) => this.o.mode !== 'connect' || f.sent === this.o.sendBytes;
    return this.flows.length > 0 && this.flows.every((f) => (f.closeReason === null || f.closeReason === 'closed') && sentAll(f));
  }

  result(): Record<string, unknown> {
    const flows = this.flows.map((f) => ({
      remotePort: f.socket.remotePort,
      state: f.socket.state,
      mss: f.socket.mss,
      sndWscale: f.socket.sndWscale,
      rcvWscale: f.socket.rcvWscale,
      sentBytes: f.sent,
      sentSha256: f.sentHash.copy().digest('hex'),
      receivedBytes: f.received,
      receivedSha256: f.receivedHash.copy().digest('hex'),
      seconds: f.firstByteAt !== null && f.endAt !== null ? (f.endAt - f.firstByteAt) / 1000 : null,
      closeReason: f.closeReason,
    }));
    return { mode: this.o.mode, ok: this.ok(), flows };
  }
}
