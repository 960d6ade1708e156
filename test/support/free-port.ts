// A loopback TCP port free at the moment of asking: for servers (a lookup actor's --http, Prometheus) that listen
// on the number they are given and cannot report back the one the kernel picked.
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  const s = createServer();
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); }));
}
