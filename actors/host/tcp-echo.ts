// An echo service on the host's TCP endpoint (RFC 862 over TCP): what a client sends comes back on
// the same connection. What the socket will not take yet is held and reading stops meanwhile, so our
// receive window closes and pushes back on a client that sends faster than it reads.
import type { TcpEndpoint, TcpSocket } from '../tcp/tcp-endpoint.js';

export interface TcpEchoCounters {
  accepted: number;
  bytesEchoed: number;
  /** Connections whose client finished sending and got everything back. */
  finished: number;
}

export class TcpEcho {
  readonly counters: TcpEchoCounters = { accepted: 0, bytesEchoed: 0, finished: 0 };

  /** Listens on `port`; `clock` gives the time callbacks act at (the endpoint's callbacks carry none). */
  constructor(endpoint: TcpEndpoint, readonly port: number, private readonly clock: () => number) {
    endpoint.listen(port).onAccept = (s) => this.serve(s);
  }

  private serve(s: TcpSocket): void {
    this.counters.accepted++;
    let held: Uint8Array | null = null;
    let ended = false;
    const pump = (): void => {
      const now = this.clock();
      for (;;) {
        if (held !== null) {
          const n = s.send(held, now);
          this.counters.bytesEchoed += Math.max(0, n);
          if (n < held.length) { held = n > 0 ? held.subarray(n) : held; return; }
          held = null;
        }
        held = s.read();
        if (held === null) break;
      }
      if (ended) {
        this.counters.finished++;
        s.close(now); // the client's FIN: ours follows the echoed bytes
        ended = false;
      }
    };
    s.onData = pump;
    s.onWritable = pump;
    s.onEnd = () => {
      ended = true;
      pump();
    };
  }
}
