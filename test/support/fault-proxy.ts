// A loopback TCP proxy in front of the git server, switched by the test between faults: `pass`,
// `refuse` (every connection closed at once, with a reset), `blackhole` (accepted, never answered),
// `delay` (each chunk held MS, both ways, order kept) and `error` (every HTTP request answered 500
// without reaching the server). Why userspace: `tc netem` is not available on this kernel
// ("Specified qdisc kind is unknown"), so slowness and loss are made here, per router, on loopback.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type FaultMode = { kind: 'pass' } | { kind: 'refuse' } | { kind: 'blackhole' } | { kind: 'delay'; ms: number } | { kind: 'error' };

export interface FaultCounts {
  connections: number;
  refused: number;
  blackholed: number;
  delayedChunks: number;
  errorsAnswered: number;
}

const ERROR_BODY = 'fault proxy: injected error\n';
const ERROR_ANSWER = `HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: ${ERROR_BODY.length}\r\nConnection: close\r\n\r\n${ERROR_BODY}`;

export class FaultProxy {
  readonly counts: FaultCounts = { connections: 0, refused: 0, blackholed: 0, delayedChunks: 0, errorsAnswered: 0 };
  private mode: FaultMode = { kind: 'pass' };
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly port: number) {}

  /** Listens on 127.0.0.1 (a free port) in front of `target`. */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    let proxy: FaultProxy | null = null;
    const server = createServer((s) => proxy!.accept(s, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy = new FaultProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  /** `http://127.0.0.1:PORT` + path: where the router is told the server is. */
  url(path = ''): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  get current(): FaultMode {
    return this.mode;
  }

  /**
   * Switches the fault, for new connections and for the open ones from their next chunk: a client's
   * kept-alive connection meets the fault as a new one would, without a cut of its own (which would
   * read as a connect failure before the fault's own). `refuse` resets the open ones too.
   */
  set(mode: FaultMode): void {
    this.mode = mode;
    if (mode.kind === 'refuse') for (const s of this.sockets) s.resetAndDestroy();
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.counts.connections++;
    if (this.mode.kind === 'refuse') {
      this.counts.refused++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    if (this.mode.kind === 'blackhole') this.counts.blackholed++;
    this.track(client);
    const upstream = connect(target.port, target.host);
    this.track(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    this.relay(client, upstream, client);
    this.relay(upstream, client, client);
  }

  /**
   * One direction, chunk by chunk, under the mode of the moment: passed (or held `ms`, never overtaking
   * an earlier chunk), dropped (blackhole; error's answers from the server), or, for a request under
   * `error`, answered 500 here and the connection closed.
   */
  private relay(from: Socket, to: Socket, client: Socket): void {
    let releaseAt = 0;
    let head = '';
    from.on('data', (chunk: Buffer) => {
      const mode = this.mode;
      if (mode.kind === 'blackhole') return;
      if (mode.kind === 'error') {
        if (from !== client) return;
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        this.counts.errorsAnswered++;
        client.end(ERROR_ANSWER);
        return;
      }
      if (mode.kind === 'delay') this.counts.delayedChunks++;
      const now = Date.now();
      releaseAt = Math.max(releaseAt, now + (mode.kind === 'delay' ? mode.ms : 0));
      setTimeout(() => { if (!to.destroyed) to.write(chunk); }, releaseAt - now);
    });
    from.on('end', () => setTimeout(() => { if (!to.destroyed) to.end(); }, Math.max(0, releaseAt - Date.now())));
  }
}
