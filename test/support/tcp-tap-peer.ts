// Our TCP endpoint on a TAP whose other end is a real Linux kernel, as one single-thread program for the TCP lab
// tests and bench: a HostStack polled on real time, an echo server, a sink or a client, one JSON line of results.
//   node --import tsx test/support/tcp-tap-peer.ts serve-echo --port P | serve-sink --port P
//        | connect --to IP:PORT --send-bytes N --seed S
//     --tap NAME [--netns NS --kernel-addr 192.0.2.1/24] [--addr 192.0.2.2/24] [--timeout-ms MS]
//     [--impair-rx loss,dup,reorder] [--impair-tx loss,dup,reorder] [--fault-seed S] [--connections N]
import { parseArgs } from 'node:util';
import { arpTable } from '../../actors/iface/arp-table.js';
import type { NetInterface } from '../../actors/iface/net-interface.js';
import { HostStack } from '../../actors/host/host-stack.js';
import { stackTables } from '../../actors/host/host-schema.js';
import type { TcpEndpointOptions } from '../../actors/tcp/tcp-endpoint.js';
import { Store } from '../../store/index.js';
import { parseMac } from '../../wire/ethernet.js';
import { parseCidr, parseIpv4 } from '../../wire/ipv4.js';
import type { Link } from '../../wire/link/link.js';
import { TapLink } from '../../wire/link/tap.js';
import { FaultInjector, NO_IMPAIRMENT, type Impairment } from './fault-injector.js';
import { SynWatch } from './syn-watch.js';
import { STACK_MAC, moveIntoNamespace } from './tcp-lab.js';
import { TcpPeerApp, type AppOptions, type PeerMode } from './tcp-peer-app.js';

interface PeerOptions extends AppOptions {
  tap: string;
  netns: string | null;
  kernelAddr: string;
  addr: string;
  timeoutMs: number;
  rx: Impairment;
  tx: Impairment;
  faultSeed: number;
  tcp: TcpEndpointOptions;
}

function impairment(text: string | undefined): Impairment {
  if (!text) return NO_IMPAIRMENT;
  const [loss, duplicate, reorder] = text.split(',').map(Number);
  return { loss: loss || 0, duplicate: duplicate || 0, reorder: reorder || 0 };
}

function options(argv: string[]): PeerOptions {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' }, to: { type: 'string' }, 'send-bytes': { type: 'string' }, seed: { type: 'string' },
      connections: { type: 'string' }, tap: { type: 'string' }, netns: { type: 'string' }, 'kernel-addr': { type: 'string' },
      addr: { type: 'string' }, 'timeout-ms': { type: 'string' }, 'impair-rx': { type: 'string' }, 'impair-tx': { type: 'string' },
      'fault-seed': { type: 'string' }, 'max-half-open': { type: 'string' },
    },
  });
  const mode = positionals[0] as PeerMode;
  if (!['serve-echo', 'serve-sink', 'connect'].includes(mode)) throw new Error(`mode must be serve-echo, serve-sink or connect, not '${mode}'`);
  if (!v.tap) throw new Error('--tap NAME is required');
  const to = v.to ? { ip: parseIpv4(v.to.split(':')[0]), port: Number(v.to.split(':')[1]) } : null;
  if (mode === 'connect' && to === null) throw new Error('connect needs --to IP:PORT');
  return {
    mode, to, port: Number(v.port ?? 7), sendBytes: Number(v['send-bytes'] ?? 0), seed: Number(v.seed ?? 1),
    connections: Number(v.connections ?? 1), tap: v.tap, netns: v.netns ?? null, kernelAddr: v['kernel-addr'] ?? '192.0.2.1/24',
    addr: v.addr ?? '192.0.2.2/24', timeoutMs: Number(v['timeout-ms'] ?? 60_000), rx: impairment(v['impair-rx']),
    tx: impairment(v['impair-tx']), faultSeed: Number(v['fault-seed'] ?? 1),
    tcp: v['max-half-open'] ? { maxHalfOpen: Number(v['max-half-open']) } : {},
  };
}

/** Opens the TAP down, and moves it into `netns` with the kernel's address there, as tap-e2e does. */
function openTap(o: PeerOptions): TapLink {
  const tap = TapLink.open(o.tap, { up: o.netns === null });
  if (o.netns === null) return tap;
  moveIntoNamespace(tap.name, o.netns, o.kernelAddr);
  return tap;
}

function stackOn(link: Link, o: PeerOptions, watch: SynWatch): HostStack {
  const { address, prefix } = parseCidr(o.addr);
  const iface: NetInterface = { name: link.name, mac: parseMac(STACK_MAC), ip: address, prefix };
  const arp = new Store(stackTables).main.table(arpTable);
  return new HostStack(iface, arp, (f) => { watch.see(f, 'out'); link.send(f); }, { tcp: o.tcp });
}

function main(argv: string[]): void {
  const o = options(argv);
  const tap = openTap(o);
  const faulty = o.rx !== NO_IMPAIRMENT || o.tx !== NO_IMPAIRMENT ? new FaultInjector(tap, o.rx, o.tx, o.faultSeed) : null;
  const link: Link = faulty ?? tap;
  const watch = new SynWatch();
  const stack = stackOn(link, o, watch);
  const app = new TcpPeerApp(stack.tcp, o);
  const started = performance.now();
  let halfOpenPeak = 0; // sampled after every batch: the bound the endpoint keeps under a SYN flood
  const finish = (timedOut: boolean) => {
    clearInterval(ticker);
    const result = { ...app.result(), timedOut, halfOpenPeak, syn: watch.result(), tcp: stack.tcp.counters, host: stack.counters, link: tap.counters, faults: faulty?.faults ?? null };
    tap.close();
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(timedOut || !app.ok() ? 1 : 0));
  };
  link.onFrames((frames) => {
    const now = performance.now();
    for (const f of frames) watch.see(f, 'in');
    stack.receive(frames, now);
    halfOpenPeak = Math.max(halfOpenPeak, stack.tcp.halfOpenCount);
    app.pump(now);
    stack.tcp.flush(now);
  });
  const ticker = setInterval(() => {
    const now = performance.now();
    faulty?.poll();
    stack.poll(now);
    app.pump(now);
    stack.tcp.flush(now);
    if (app.done(now)) finish(false);
    else if (now - started > o.timeoutMs) finish(true);
  }, 1);
  app.start(performance.now());
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`, () => process.exit(2));
}
