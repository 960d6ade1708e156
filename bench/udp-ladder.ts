// The UDP 64 B rate search of bench/router-e2e.ts: a paced C flood (udp-flood.c) from the client namespace, a C
// receiver (udp-sink.c) counting in the server namespace, rate after rate until one loses; and the flood's own
// unpaced rate, to show the generator is not what stops the search. Each step is bounded in count and time.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const UDP_RATES_KPPS = [50, 100, 200, 300, 500, 750, 1000];
export const UDP_SECONDS = 3;
export const UDP_PAYLOAD = 64;
const LOSS_PCT = 0.1;
const IDLE_MS = 300; // the sink stops this long after the last datagram
const OFFERED_SECONDS = 1;
const FIRST_PORT = 9100; // one port a rung: a late datagram of one rung is never counted by the next

/** The two compiled programs. */
export interface UdpTools { flood: string; sink: string }

/** Where the ladder runs: the namespaces, and how to run a command in one (bounded) or start one (torn down by the caller). */
export interface UdpPath {
  client: string;
  server: string;
  serverAddr: string;
  /** The CPU the flood is pinned to (taskset), or none. */
  floodCpu: number | null;
  run(ns: string, args: string[], ms: number): Promise<string>;
  start(ns: string, args: string[]): ChildProcess;
}

export interface UdpRung { kpps: number; offeredPps: number; receivedPps: number; lossPct: number; sinkDropped: number; short?: boolean }
export interface UdpLadder { kpps: number | null; rungs: UdpRung[]; note: string }

/** Compiles both programs into `dir` (as bench/tap.ts does); a string says why it could not. */
export function buildUdpTools(dir: string): UdpTools | string {
  const tools = { flood: join(dir, 'udp-flood'), sink: join(dir, 'udp-sink') };
  for (const [out, src] of [[tools.flood, 'udp-flood.c'], [tools.sink, 'udp-sink.c']]) {
    const cc = spawnSync('cc', ['-O2', '-o', out, fileURLToPath(new URL(`./${src}`, import.meta.url))], { encoding: 'utf8', timeout: 60_000 });
    if (cc.status !== 0) return `cannot build ${src} (cc): ${(cc.stderr || cc.error?.message || '').trim().slice(0, 200)}`;
  }
  return tools;
}

/**
 * Rates from UDP_RATES_KPPS up to the first that loses ≥ 0.1 % or that the flood could not offer; the figure is
 * the highest received rate of a lossless rung (a rung offered short but carried whole counts: it lost nothing).
 */
export async function udpLadder(path: UdpPath, tools: UdpTools): Promise<UdpLadder> {
  const rungs: UdpRung[] = [];
  let kpps: number | null = null;
  for (const [i, rate] of UDP_RATES_KPPS.entries()) {
    const r = await rung(path, tools, FIRST_PORT + i, rate * 1000, UDP_SECONDS);
    rungs.push(r);
    if (r.lossPct < LOSS_PCT) kpps = Math.max(kpps ?? 0, r.receivedPps / 1000);
    if (r.lossPct >= LOSS_PCT) break;
    if (r.offeredPps < 0.9 * rate * 1000) {
      rungs[rungs.length - 1] = { ...r, short: true };
      break;
    }
  }
  return { kpps, rungs, note: rungs.map(describe).join('; ') };
}

/** The flood unpaced for a second: what the generator offers when nothing holds it back. */
export async function offeredMax(path: UdpPath, tools: UdpTools): Promise<UdpRung> {
  return rung(path, tools, FIRST_PORT + UDP_RATES_KPPS.length, 0, OFFERED_SECONDS);
}

export function describe(r: UdpRung): string {
  const target = r.kpps ? `${r.kpps / 1000}k` : 'unpaced';
  return `${target}: offered ${(r.offeredPps / 1000).toFixed(0)}k, received ${(r.receivedPps / 1000).toFixed(0)}k, loss ${r.lossPct.toFixed(2)}%` +
    (r.sinkDropped ? ` (${r.sinkDropped} at the sink's socket)` : '') + (r.short ? ' (the flood could not offer the rate: search ends)' : '');
}

/** One rate (0: unpaced) for `seconds`: the sink listens first, the flood runs, the sink reports when it falls idle. */
async function rung(path: UdpPath, tools: UdpTools, port: number, pps: number, seconds: number): Promise<UdpRung> {
  const sink = path.start(path.server, [tools.sink, path.serverAddr, String(port), String(seconds + 6), String(IDLE_MS)]);
  const out = collect(sink);
  await until(() => out().startsWith('ready\n'), 5_000, 'the UDP sink to bind');
  const maxCount = Math.ceil((pps || 5e6) * seconds * 1.1);
  const pin = path.floodCpu === null ? [] : ['taskset', '-c', String(path.floodCpu)];
  const flood = await path.run(path.client, [...pin, tools.flood, path.serverAddr, String(port), String(UDP_PAYLOAD), String(seconds), String(maxCount), String(pps)], (seconds + 10) * 1000);
  await until(() => sink.exitCode !== null || sink.signalCode !== null, (seconds + 8) * 1000, 'the UDP sink to finish');
  const [sent, , elapsed] = flood.trim().split(' ').map(Number);
  const [received, dropped] = out().split('\n')[1].trim().split(' ').map(Number);
  return {
    kpps: pps, offeredPps: sent / elapsed, receivedPps: received / elapsed,
    lossPct: sent > 0 ? Math.max(0, (100 * (sent - received)) / sent) : 100, sinkDropped: dropped,
  };
}

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (text += d));
  return () => text;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
