// Long-lived TCP connections for the failover pair's lab (test/support/ha-lab.ts): each connection sends a short
// numbered line every ~100 ms and waits for its echo, counting what went wrong (errors, resets, stalls, wrong
// echoes), so a failover shows per connection whether it lived through it.
//   node --import tsx test/support/ha-stream.ts server PORT
//   node --import tsx test/support/ha-stream.ts client HOST:PORT CONNS EVERY_MS STALL_MS SECONDS [LOCAL_IP HOLDER_IP FIRST_PORT]
// With LOCAL_IP HOLDER_IP FIRST_PORT, connection i goes from LOCAL_IP:FIRST_PORT+i, and just before it an idle
// "holder" connection from HOLDER_IP:FIRST_PORT+i claims that port on the NAT's outside: the NAT must give the
// streaming connection another outside port, one a router can only know from the table it was given, never
// rebuild from the packet (a fresh binding would keep the port, now free, and land on the holder's connection).
// The server prints {"listening":PORT}. The client prints {"open":N,"failed":M,"holders":H} once every connection
// is made or refused, a {"status":…} line every second, and a {"final":…} line at SIGTERM/SIGINT or after SECONDS.
import { createConnection, createServer, type Socket } from 'node:net';

/** One connection's story, as the client's lines carry it (times are epoch ms). */
export interface ConnState {
  openedAt: number;
  replies: number;
  lastReplyAt: number;
  /** Socket errors other than resets, resets (ECONNRESET/EPIPE), stalls (no echo within STALL_MS), wrong echoes. */
  errors: number;
  resets: number;
  stalls: number;
  mismatches: number;
  /** The peer closed, or the socket died: no more messages on it. */
  closed: boolean;
  lastError: string | null;
}

const MAX_CONNS = 1000;
const MAX_SECONDS = 600;

function serve(port: number): void {
  const server = createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => s.destroy());
    s.pipe(s); // an echo: each line comes back as it was sent
  });
  server.listen(port, '0.0.0.0', () => process.stdout.write(`${JSON.stringify({ listening: port })}\n`));
  const stop = (): void => { server.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** One connection's loop: send, wait for the echo (counting a stall once past `stallMs`), wait `everyMs`, again. */
function hold(to: Endpoint, from: Endpoint | undefined, everyMs: number, stallMs: number, onOpen: (ok: boolean) => void): { state: ConnState; stop(): void } {
  const state: ConnState = { openedAt: 0, replies: 0, lastReplyAt: 0, errors: 0, resets: 0, stalls: 0, mismatches: 0, closed: false, lastError: null };
  let seq = 0;
  let buf = '';
  let opened = false;
  let next: NodeJS.Timeout | undefined;
  let stall: NodeJS.Timeout | undefined;
  const s: Socket = createConnection({ host: to.host, port: to.port, ...(from ? { localAddress: from.host, localPort: from.port } : {}) });
  s.setNoDelay(true);
  const send = (): void => {
    if (state.closed) return;
    seq++;
    s.write(`${seq} ${'x'.repeat(40)}\n`);
    stall = setTimeout(function stalled() { state.stalls++; stall = setTimeout(stalled, stallMs); }, stallMs);
  };
  s.on('connect', () => { opened = true; state.openedAt = Date.now(); onOpen(true); send(); });
  s.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      clearTimeout(stall);
      if (Number(line.split(' ')[0]) !== seq) state.mismatches++;
      state.replies++;
      state.lastReplyAt = Date.now();
      next = setTimeout(send, everyMs);
    }
  });
  s.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE') state.resets++;
    else state.errors++;
    state.lastError = e.code ?? e.message;
    if (!opened) { opened = true; onOpen(false); }
  });
  s.on('close', () => { state.closed = true; clearTimeout(stall); clearTimeout(next); });
  return { state, stop: () => { clearTimeout(stall); clearTimeout(next); s.destroy(); } };
}

interface Endpoint { host: string; port: number }

/** An idle connection from `from`: it only holds its port on the NAT; null when it could not connect. */
function holder(to: Endpoint, from: Endpoint): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = createConnection({ host: to.host, port: to.port, localAddress: from.host, localPort: from.port });
    s.once('connect', () => resolve(s));
    s.on('error', () => resolve(null));
  });
}

/** Opens the connections (each after its holder, if any), a few ms apart so their messages do not leave in one burst. */
async function open(to: Endpoint, conns: number, everyMs: number, stallMs: number, twins: string[]): Promise<{ held: ReturnType<typeof hold>[]; holders: Socket[] }> {
  const held: ReturnType<typeof hold>[] = [];
  const holders: Socket[] = [];
  let [ok, failed] = [0, 0];
  const opened = new Promise<void>((resolve) => {
    const onOpen = (good: boolean): void => { if (good) ok++; else failed++; if (ok + failed === conns) resolve(); };
    void (async () => {
      for (let i = 0; i < conns; i++) {
        const from = twins.length ? { host: twins[0], port: Number(twins[2]) + i } : undefined;
        if (from) { const h = await holder(to, { host: twins[1], port: from.port }); if (h) holders.push(h); }
        held.push(hold(to, from, everyMs, stallMs, onOpen));
        await new Promise((r) => setTimeout(r, everyMs / conns));
      }
    })();
  });
  await opened;
  process.stdout.write(`${JSON.stringify({ open: ok, failed, holders: holders.length })}\n`);
  return { held, holders };
}

function client(to: Endpoint, conns: number, everyMs: number, stallMs: number, seconds: number, twins: string[]): void {
  let held: ReturnType<typeof hold>[] = [];
  let holders: Socket[] = [];
  void open(to, conns, everyMs, stallMs, twins).then((o) => ({ held, holders } = o));
  const report = (key: 'status' | 'final'): void => { process.stdout.write(`${JSON.stringify({ [key]: Date.now(), conns: held.map((h) => h.state) })}\n`); };
  const status = setInterval(() => report('status'), 1000);
  const finish = (): void => {
    clearInterval(status);
    report('final');
    for (const h of held) h.stop();
    for (const h of holders) h.destroy();
    process.exit(0);
  };
  setTimeout(finish, seconds * 1000);
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
}

function bounded(text: string | undefined, what: string, max: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    process.stderr.write(`ha-stream: ${what} must be a number in (0, ${max}], got '${text}'\n`);
    process.exit(2);
  }
  return n;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') serve(bounded(args[0], 'PORT', 65535));
else if (mode === 'client' && args[0]?.includes(':') && (args.length === 5 || args.length === 8)) {
  const to = { host: args[0].slice(0, args[0].lastIndexOf(':')), port: bounded(args[0].slice(args[0].lastIndexOf(':') + 1), 'PORT', 65535) };
  if (args.length === 8) bounded(String(Number(args[7]) + Number(args[1]) - 1), 'FIRST_PORT + CONNS - 1', 65535);
  client(to, bounded(args[1], 'CONNS', MAX_CONNS), bounded(args[2], 'EVERY_MS', 60_000), bounded(args[3], 'STALL_MS', 600_000), bounded(args[4], 'SECONDS', MAX_SECONDS), args.slice(5));
} else {
  process.stderr.write('usage: ha-stream.ts server PORT | client HOST:PORT CONNS EVERY_MS STALL_MS SECONDS [LOCAL_IP HOLDER_IP FIRST_PORT]\n');
  process.exit(2);
}
