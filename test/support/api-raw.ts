// A raw client of the lookup API for tests that misbehave on purpose: it writes whatever bytes it is
// given (node:net, no api/client.ts) and records every frame the server sends, and whether and when
// the server closed the connection. Every wait is bounded.
import { connect as netConnect, type Socket } from 'node:net';
import { decodeBody, encodeFrame, FrameReader } from '../../api/frames.js';

/** A frame from the server, as decoded (a response or a stream event). */
export type Frame = Record<string, any>;

export type RawTarget = { path: string } | { port: number; host?: string };

export class RawClient {
  readonly frames: Frame[] = [];
  /** The same frames' bodies as sent, for tests that read the msgpack bytes themselves. */
  readonly bodies: Buffer[] = [];
  /** The server closed its side (or the socket is gone). */
  closed = false;
  /** Bytes the server sent that did not decode as msgpack (should never happen). */
  undecodable = 0;
  private readonly reader = new FrameReader(64 << 20);
  private readonly wakers = new Set<() => void>();

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      let bodies: Buffer[] = [];
      try {
        bodies = this.reader.push(chunk);
      } catch {
        this.undecodable++;
      }
      for (const b of bodies) {
        this.bodies.push(Buffer.from(b));
        try {
          this.frames.push(decodeBody(b) as Frame);
        } catch {
          this.undecodable++;
        }
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('end', () => { this.closed = true; this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
  }

  static open(to: RawTarget, timeoutMs = 5_000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = 'path' in to ? netConnect(to.path) : netConnect(to.port, to.host ?? '127.0.0.1');
      const timer = setTimeout(() => { s.destroy(); reject(new Error('raw connect timed out')); }, timeoutMs);
      s.once('connect', () => { clearTimeout(timer); s.removeAllListeners('error'); resolve(new RawClient(s)); });
      s.once('error', (err) => { clearTimeout(timer); s.destroy(); reject(err); });
    });
  }

  send(msg: unknown): void {
    this.socket.write(encodeFrame(msg));
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Resolves when `cond()` holds (checked after every frame and on close); rejects after `timeoutMs`. */
  until(what: string, cond: () => boolean, timeoutMs = 3_000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waker = () => {
        if (!cond()) return;
        clearTimeout(timer);
        this.wakers.delete(waker);
        resolve();
      };
      const timer = setTimeout(() => {
        this.wakers.delete(waker);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames: ${safeJson(this.frames.slice(-5))}, closed: ${this.closed}`));
      }, timeoutMs);
      this.wakers.add(waker);
    });
  }

  /** The response (not an event) with this id. */
  async response(id: number | null, timeoutMs = 3_000): Promise<Frame> {
    const find = () => this.frames.find((f) => f.id === id && (f.ok === true || f.ok === false));
    await this.until(`the response to request ${id}`, () => find() !== undefined, timeoutMs);
    return find()!;
  }

  /** Sends a request and waits for its response. */
  async request(msg: { id: number; op: string; [k: string]: unknown }, timeoutMs = 3_000): Promise<Frame> {
    this.send(msg);
    return this.response(msg.id, timeoutMs);
  }

  waitClosed(timeoutMs = 3_000): Promise<void> {
    return this.until('the server to close the connection', () => this.closed, timeoutMs);
  }

  /** Stream events with this watch id. */
  events(watch: number): Frame[] {
    return this.frames.filter((f) => f.id === watch && typeof f.event === 'string');
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  } catch {
    return String(x);
  }
}

/** Polls `cond` every 5 ms; rejects after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
