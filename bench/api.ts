// External-lookup API benchmarks: a `get` round trip from another process while the router forwards
// (and with no traffic), and what 1,000 lookups/s cost the data plane. The router is RouterActors with
// the lookup actor on a Unix socket in a fresh 0700 temp directory; the traffic is the forward
// benchmarks' (bench/closed-loop.ts, as bench/nat.ts actorsMpps drives it): a closed loop over SAB
// rings, UDP flows both ways; the lookups come from a child process (bench/api-client-load.ts) using
// the typed client. The same run measures the data plane observed as an operator would: those lookups, plus a
// Prometheus-like scrape of /metrics once a second and a page's event stream on the NAT table (GET /api/nat/events),
// both from another process (bench/metrics.ts's observer) over the lookup actor's HTTP view. Knobs:
// NB_API_WORKERS (packet actors, 1), NB_API_LATENCY_S (2.5), NB_API_SLOT_S (0.25), NB_API_OBSERVED_SLOT_S (1), NB_API_CYCLES (40).
//   npm run bench -- api            (or: node --import tsx --expose-gc bench/api.ts)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ipv4ToString } from '../wire/index.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { type BenchReport, maxOf, median, percentile, runAlone } from './report.js';
import { INSIDE, OUTSIDE, SERVER, clientIp, clientPort, serverPort } from './nat-flows.js';
import { ClosedLoop, FLOWS, closeRings, flowOf, rings, type Rings } from './closed-loop.js';
import { freePort } from '../test/support/free-port.js';

const WORKERS = Number(process.env.NB_API_WORKERS ?? 1); // packet actors (forward.mpps_1w's set-up by default)
const LOOKUP_RATE = 1000;
const SLOT_S = Number(process.env.NB_API_SLOT_S ?? 0.25);
const CYCLES = Number(process.env.NB_API_CYCLES ?? 40); // each: A (no lookups), B (1,000/s), A' (no lookups, the control), D (observed)
// D: the lookups, one scrape a second (mid-slot) and the page's stream; a whole second so each slot holds one scrape.
const OBSERVED_SLOT_S = Number(process.env.NB_API_OBSERVED_SLOT_S ?? 1);
const SCRAPE_EVERY_MS = 1_000; // Prometheus's default is 15 s: a scraper at 1/s is the demanding end of real set-ups
/** What D attaches besides the gets (NB_API_OBSERVE): both (the figure), or one alone to tell their costs apart. */
const OBSERVE = process.env.NB_API_OBSERVE ?? 'both';
if (!['both', 'scrape', 'stream'].includes(OBSERVE)) throw new Error(`NB_API_OBSERVE: both, scrape or stream, not ${OBSERVE}`);
/** The HTTP view's token (the scraper's and the page's). */
export const BENCH_TOKEN = 'bench-api-http-token-0123456789';
const LATENCY_S = Number(process.env.NB_API_LATENCY_S ?? 2.5); // per window; two idle and two loaded windows, interleaved

/** The NAT key (readable) and the client address of every flow of the load. */
function flowKeys(): { nat: string[]; arp: string[] } {
  const nat: string[] = [];
  const arp = new Set<string>();
  for (let j = 0; j < FLOWS; j++) {
    const i = flowOf(j);
    nat.push(`udp:${ipv4ToString(clientIp(i))}:${clientPort(i)}:${ipv4ToString(SERVER)}:${serverPort(i)}`);
    arp.add(ipv4ToString(clientIp(i)));
  }
  return { nat, arp: [...arp] };
}

/** An answer of a child: the lookup process's fields, or the observer's (bench/metrics.ts). */
export interface ChildAnswer {
  ok: boolean; error?: string; samples?: number[]; seconds?: number; failed?: number; made?: number; missing?: number[]; lastError?: string; checked?: number;
  scrapes?: number; events?: number; ends?: number; bytes?: number; natEntries?: number; stream?: string;
}

/** A child process driven by one JSON command a line in, one answer a line out: the lookup process (bench/api-client-load.ts) or the observer. */
export class LookupChild {
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private stderr = '';
  private exited = false;

  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (l) => { this.lines.push(l); this.waiter?.(); });
    proc.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    proc.on('exit', () => { this.exited = true; this.waiter?.(); });
  }

  static start(where: string): LookupChild {
    return LookupChild.script('./api-client-load.ts', [where]);
  }

  /** `node --import tsx bench/SCRIPT ARGS…` (`script` relative to bench/). */
  static script(script: string, args: string[]): LookupChild {
    const root = fileURLToPath(new URL('..', import.meta.url));
    return new LookupChild(spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** The next line, within `timeoutMs`. */
  async read(timeoutMs: number): Promise<ChildAnswer> {
    const end = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.exited) throw new Error(`lookup process exited: ${this.stderr.trim().slice(-500)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`lookup process: no answer in ${timeoutMs} ms ${this.stderr.trim().slice(-300)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 100));
        this.waiter = () => { clearTimeout(t); r(); };
      });
      this.waiter = null;
    }
    const a = JSON.parse(this.lines.shift()!) as ChildAnswer;
    if (!a.ok) throw new Error(`lookup process: ${a.error}`);
    return a;
  }

  ask(cmd: object, timeoutMs = 10_000): Promise<ChildAnswer> {
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
    return this.read(timeoutMs);
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      try { await this.ask({ cmd: 'exit' }, 3_000); } catch { /* killed below */ }
    }
    const end = Date.now() + 2_000;
    while (!this.exited && Date.now() < end) await sleep(20);
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}


/** bench/metrics.ts's observer (a scraper and a page's event stream) on `base` (http://127.0.0.1:PORT), ready. */
export async function startObserver(base: string, token: string): Promise<LookupChild> {
  const child = LookupChild.script('./metrics.ts', ['observe', base, token]);
  await child.read(20_000);
  return child;
}

const fmt = (x: number, d = 0) => x.toLocaleString('en', { maximumFractionDigits: d });
const pct = (xs: number[]) => ({ p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), p999: percentile(xs, 99.9), max: maxOf(xs) });

/** RouterActors on the rings, the lookup actor on `sock` and HTTP `port` (not yet ready: the caller awaits, so a failure still stops it). */
function routerActors(r: Rings, sock: string, port: number): RouterActors {
  return new RouterActors(r.routerIn, r.routerOut, {
    inside: INSIDE, outside: OUTSIDE, packetActors: WORKERS, mergeIntervalMs: 100, store: 'memory', maxFlows: 1 << 20,
    api: { unix: sock, http: { host: '127.0.0.1', port }, tokens: [{ name: 'observer', token: BENCH_TOKEN, scopes: ['read:*'] }], role: 'router' },
  });
}

/**
 * Makes every flow (a warm-up round), hands the lookup process the keys to get in turn and keeps only
 * those the router has; returns the note that describes them.
 */
async function lookupKeys(child: LookupChild, load: ClosedLoop): Promise<string> {
  // Warm-up: ARP and every flow made; the merge loop brings them to the lookup actor's replica.
  await load.round(1);
  const { nat, arp } = flowKeys();
  let keys: [string, string][] = [];
  // Mostly NAT flows (the big table), with the ARP entries mixed in: 7 of 8 gets are NAT.
  for (let i = 0; i < nat.length; i++) {
    keys.push(['nat', nat[i]]);
    if (i % 7 === 6) keys.push(['arp', arp[(i / 7) % arp.length | 0]]);
  }
  await sleep(400); // a few merge intervals: every flow in the primary and in the lookup actor's replica
  await child.ask({ cmd: 'keys', keys });
  // Only keys the router has are timed (a get of a missing key is an error answer, not a lookup).
  const check = await child.ask({ cmd: 'check' }, 30_000);
  const missing = new Set(check.missing!);
  let missingNote = '';
  if (missing.size > 0) {
    missingNote = missingKeysNote(keys, check.missing!);
    process.stdout.write(`  warning${missingNote.slice(1)}\n`);
    keys = keys.filter((_, i) => !missing.has(i));
    await child.ask({ cmd: 'keys', keys });
  }
  const natKeys = keys.filter((x) => x[0] === 'nat').length;
  return `${keys.length} keys in turn (${natKeys} NAT flows like ${nat[0]}; ${keys.length - natKeys} ARP gets over ${arp.length} entries like ${arp[0]})${missingNote}`;
}

function missingKeysNote(keys: [string, string][], missing: number[]): string {
  const natMissing = missing.filter((i) => keys[i][0] === 'nat');
  // Which inside ports: flow keys pack ports as UTF-16 code units, and 0xD800–0xDFFF are lone surrogates.
  const ports = natMissing.map((i) => Number(keys[i][1].split(':')[2]));
  const surrogates = ports.length > 0 && ports.every((p) => p >= 0xd800 && p <= 0xdfff);
  return `; ${missing.length} of the ${keys.length} keys were not found and are left out (${natMissing.length} NAT${surrogates ? ', every one with an inside port in 55296–57343 = 0xD800–0xDFFF' : ''}; e.g. ${keys[missing[0]][1]})`;
}

interface LatencyWindows { idle: number[]; loaded: number[]; loadedRates: number[]; failed: number }

/** Get round trips in idle and loaded windows interleaved (I, L, I, L), samples pooled per condition. */
async function latencyWindows(child: LookupChild, load: ClosedLoop): Promise<LatencyWindows> {
  const w: LatencyWindows = { idle: [], loaded: [], loadedRates: [], failed: 0 };
  await child.ask({ cmd: 'latency', seconds: 0.5 }); // JIT, both sides
  for (let k = 0; k < 2; k++) {
    let a = await child.ask({ cmd: 'latency', seconds: LATENCY_S }, LATENCY_S * 1000 + 15_000);
    w.idle.push(...a.samples!);
    w.failed += a.failed!;
    load.start();
    await sleep(200); // the loop at full rate before timing
    a = await child.ask({ cmd: 'latency', seconds: LATENCY_S }, LATENCY_S * 1000 + 15_000);
    w.loadedRates.push(await load.stop());
    w.loaded.push(...a.samples!);
    w.failed += a.failed!;
  }
  return w;
}

function reportLatency(report: BenchReport, w: LatencyWindows, keyNote: string): void {
  const { idle, loaded, loadedRates, failed } = w;
  const li = pct(idle);
  const ll = pct(loaded);
  const rate = median(loadedRates);
  const how = `sequential client.get round trips (hrtime around the await) from a child node process over the Unix socket, ${keyNote}`;
  report.add('api.lookup_p50_us', ll.p50, 'µs', '<= 100',
    `${how}, while RouterActors (${WORKERS} packet actor${WORKERS > 1 ? 's' : ''}, store mode) forwards the forward.mpps_${WORKERS}w closed loop at ${fmt(rate / 1e6, 3)} Mpps (windows: ${loadedRates.map((r) => fmt(r / 1e6, 3)).join(', ')} Mpps); ${fmt(loaded.length)} gets over 2 × ${LATENCY_S} s; p90 ${fmt(ll.p90, 1)}, p99.9 ${fmt(ll.p999)}, max ${fmt(ll.max)} µs${failed ? `; ${failed} failed gets` : ''}`);
  report.add('api.lookup_p99_us', ll.p99, 'µs', undefined, 'the same gets, 99th percentile');
  report.add('api.lookup_idle_p50_us', li.p50, 'µs', undefined,
    `the same with no traffic (windows interleaved with the loaded ones): ${fmt(idle.length)} gets over 2 × ${LATENCY_S} s; p90 ${fmt(li.p90, 1)}, p99 ${fmt(li.p99, 1)}, p99.9 ${fmt(li.p999)}, max ${fmt(li.max)} µs`);
  report.add('api.lookup_idle_p99_us', li.p99, 'µs');
}

type Slot = 'A' | 'B' | 'C' | 'D';

/** The gets a pacing child made in one slot kind: round trips, how many, over how long. */
interface Paced { samples: number[]; failed: number; made: number; seconds: number }

/** What the data-plane slots gave: per-slot rates, pooled sums, per-cycle ratios, the paced gets, what the observer saw. */
interface Slots {
  load0: number;
  fps: Record<Slot, number[]>;
  sum: Record<Slot, { n: number; t: number }>;
  pairB: number[];
  pairC: number[];
  pairD: number[];
  paced: Paced;
  pacedD: Paced;
  observed: { scrapeMs: number[]; events: number; bytes: number; ends: number; seconds: number };
  phaseS: number;
}

/** The two children of the run: the lookups (api-client-load.ts) and the observer (metrics.ts). */
interface Children { lookups: LookupChild; observer: LookupChild }

function addPaced(p: Paced, a: ChildAnswer): void {
  p.samples.push(...a.samples!);
  p.made += a.made!;
  p.seconds += a.seconds!;
  p.failed += a.failed!;
}

/**
 * One slot of kind `m` while the load runs: its forwarding rate. B and D pace gets at 1,000/s; D also
 * attaches the observer (a /metrics scrape mid-slot, the page's stream on `nat`) before the window opens.
 */
async function slot(m: Slot, c: Children, load: ClosedLoop, d: Slots): Promise<number> {
  if (m === 'B' || m === 'D') await c.lookups.ask({ cmd: 'pace', rate: LOOKUP_RATE });
  if (m === 'D') await c.observer.ask({ cmd: 'attach', table: OBSERVE === 'scrape' ? '' : 'nat', everyMs: OBSERVE === 'stream' ? 0 : SCRAPE_EVERY_MS });
  const a = load.snapshot();
  await sleep((m === 'D' ? OBSERVED_SLOT_S : SLOT_S) * 1000);
  const b = load.snapshot();
  if (m === 'B' || m === 'D') addPaced(m === 'B' ? d.paced : d.pacedD, await c.lookups.ask({ cmd: 'stop' }));
  if (m === 'D') {
    const o = await c.observer.ask({ cmd: 'detach' }, 15_000);
    d.observed.scrapeMs.push(...o.samples!);
    d.observed.events += o.events!;
    d.observed.bytes += o.bytes!;
    d.observed.ends += o.ends!;
    d.observed.seconds += (b.t - a.t) / 1000;
  }
  d.fps[m].push((b.n - a.n) / ((b.t - a.t) / 1000));
  d.sum[m].n += b.n - a.n;
  d.sum[m].t += (b.t - a.t) / 1000;
  return d.fps[m].at(-1)!;
}

/**
 * Data plane with 1,000 lookups/s vs without, and observed vs without. The load runs throughout;
 * short slots of A (no lookups), B (the child pacing gets at 1,000/s), A' (no lookups again: the A/A
 * control) and D (B's gets plus a scraper and a page's stream) take turns, the order rotated every
 * cycle, so the shared machine's drift hits all alike; each cycle gives a B/A, an A'/A and a D/A
 * ratio, and the figures are their medians.
 */
async function dataplaneSlots(c: Children, load: ClosedLoop): Promise<Slots> {
  const none = (): Paced => ({ samples: [], failed: 0, made: 0, seconds: 0 });
  const d: Slots = {
    load0: loadavg()[0], fps: { A: [], B: [], C: [], D: [] }, sum: { A: { n: 0, t: 0 }, B: { n: 0, t: 0 }, C: { n: 0, t: 0 }, D: { n: 0, t: 0 } },
    pairB: [], pairC: [], pairD: [], paced: none(), pacedD: none(), observed: { scrapeMs: [], events: 0, bytes: 0, ends: 0, seconds: 0 }, phaseS: 0,
  };
  const orders: Slot[][] = [['A', 'B', 'C', 'D'], ['B', 'C', 'D', 'A'], ['C', 'D', 'A', 'B'], ['D', 'A', 'B', 'C']];
  load.start();
  await sleep(300);
  const t2 = performance.now();
  for (let r = 0; r < CYCLES; r++) {
    const got: Partial<Record<Slot, number>> = {};
    for (const m of orders[r % orders.length]) got[m] = await slot(m, c, load, d);
    d.pairB.push(got.B! / got.A!);
    d.pairC.push(got.C! / got.A!);
    d.pairD.push(got.D! / got.A!);
  }
  d.phaseS = (performance.now() - t2) / 1000;
  await load.stop();
  return d;
}

const quartiles = (xs: number[]) => `quartiles ${fmt(percentile(xs, 25), 3)}–${fmt(percentile(xs, 75), 3)}, range ${fmt(Math.min(...xs), 3)}–${fmt(Math.max(...xs), 3)}`;

function reportDataplane(report: BenchReport, d: Slots): void {
  const { fps, pairB, pairC, paced, phaseS, load0 } = d;
  const mean = (m: Slot) => d.sum[m].n / d.sum[m].t;
  const lp = pct(paced.samples);
  report.add('api.dataplane_ratio', median(pairB), '×', '>= 0.95',
    `forwarding rate while a child process makes ${LOOKUP_RATE.toLocaleString('en')} gets/s (paced, one in flight; achieved ${fmt(paced.made / paced.seconds)}/s) ÷ without: median over ${CYCLES} cycles of ${SLOT_S} s slots A (none) / B (lookups) / A' (none, control), with D (api.dataplane_ratio_observed, ${OBSERVED_SLOT_S} s) among them, order rotated, the load running throughout (${fmt(phaseS, 1)} s); ${quartiles(pairB)}; pooled rates ratio ${fmt(mean('B') / mean('A'), 3)}; A/A noise: api.dataplane_aa_ratio; 2-vCPU shared machine, load average ${fmt(load0, 1)} → ${fmt(loadavg()[0], 1)}`);
  report.add('api.dataplane_fps_lookups', mean('B'), 'frames/s', undefined, `B slots pooled; slot median ${fmt(median(fps.B) / 1e6, 3)} Mpps; the paced gets' round trips p50 ${fmt(lp.p50, 1)}, p99 ${fmt(lp.p99)} µs${paced.failed ? `, ${paced.failed} failed` : ''}`);
  report.add('api.dataplane_fps_none', mean('A'), 'frames/s', undefined, `A slots pooled; slot median ${fmt(median(fps.A) / 1e6, 3)} Mpps, slots ${fmt(Math.min(...fps.A) / 1e6, 3)}–${fmt(Math.max(...fps.A) / 1e6, 3)} Mpps`);
  report.add('api.dataplane_aa_ratio', median(pairC), '×', undefined,
    `control: A' (also no lookups) ÷ A per cycle, median: the noise floor of dataplane_ratio; ${quartiles(pairC)}; pooled ${fmt(mean('C') / mean('A'), 3)}`);
  reportObserved(report, d);
}

/** What the observer did in D, for the notes. */
function observedWhat(o: Slots['observed']): string {
  const scrape = `scrapes GET /metrics once a second (${o.scrapeMs.length} scrapes, one mid-slot)`;
  const stream = `reads a page's event stream GET /api/nat/events with fetch, as EventSource would (${fmt(o.events / o.seconds)} change events/s, ${fmt(o.bytes / o.seconds / 1024)} KiB/s${o.ends ? `, ${o.ends} end events` : ''})`;
  return OBSERVE === 'both' ? `${scrape} and ${stream}` : OBSERVE === 'scrape' ? `only ${scrape} (NB_API_OBSERVE=scrape)` : `only ${stream} (NB_API_OBSERVE=stream)`;
}

function reportObserved(report: BenchReport, d: Slots): void {
  const { pairD, pacedD, observed: o } = d;
  const mean = (m: Slot) => d.sum[m].n / d.sum[m].t;
  // The figure with both attached; either alone is a diagnosis under its own key, with no goal.
  const key = OBSERVE === 'both' ? 'api.dataplane_ratio_observed' : `api.dataplane_ratio_observed_${OBSERVE}`;
  report.add(key, median(pairD), '×', OBSERVE === 'both' ? '>= 0.95' : undefined,
    `forwarding rate while observed as an operator would ÷ without (A): in D slots (${OBSERVED_SLOT_S} s, in the same rotation as api.dataplane_ratio) another process makes ${LOOKUP_RATE.toLocaleString('en')} gets/s (achieved ${fmt(pacedD.made / pacedD.seconds)}/s), and a third (bench/metrics.ts's observer) ${observedWhat(o)}; median over ${CYCLES} cycles; ${quartiles(pairD)}; pooled rates ratio ${fmt(mean('D') / mean('A'), 3)}`);
  report.add(`${key.replace('ratio', 'fps')}`, mean('D'), 'frames/s', undefined, `D slots pooled; slot median ${fmt(median(d.fps.D) / 1e6, 3)} Mpps`);
  // What the issue asks is "unchanged with the page and a scraper": D (gets + observers) against B (gets alone), same run.
  if (OBSERVE === 'both') {
    report.add('api.observed_vs_lookups_ratio', mean('D') / mean('B'), '×', undefined,
      `pooled forwarding rate in D slots (1,000 gets/s + a /metrics scrape a second + the page's event stream) ÷ in B slots (the same gets alone): what attaching the page and the scraper costs on top of the lookups (D ${fmt(mean('D') / 1e6, 3)}, B ${fmt(mean('B') / 1e6, 3)} Mpps)`);
  }
  if (o.scrapeMs.length > 0) {
    const sp = pct(o.scrapeMs);
    report.add('api.observed_scrape_p50_ms', sp.p50, 'ms', undefined, `the D slots' /metrics scrapes under the load${OBSERVE === 'both' ? ' and the stream' : ''}: p90 ${fmt(sp.p90, 1)}, max ${fmt(sp.max, 1)} ms`);
  }
  if (o.seconds > 0 && OBSERVE !== 'scrape') {
    report.add('api.observed_events_per_s', o.events / o.seconds, 'events/s', undefined, 'change events on the page\'s nat stream while the closed loop runs (its flows\' counters and last-seen merged every 100 ms)');
  }
}

/** The closing line: run time, window refills, merges, what the lookup actor answered. */
async function printCounters(actors: RouterActors, load: ClosedLoop, tStart: number): Promise<void> {
  const stats = await actors.supervisor.stats();
  const lookupStats = stats.find((s) => s.name === 'lookup');
  const reqs = lookupStats?.counters?.requests;
  process.stdout.write(`  (${fmt((performance.now() - tStart) / 1000, 1)} s; window refills ${load.refills}; merges ${actors.store.stats.merges}${reqs !== undefined ? `; lookup actor answered ${fmt(reqs)} requests, ${lookupStats?.counters?.errors ?? 0} errors` : ''})\n`);
}

export async function run(report: BenchReport): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nb-api-bench-')); // 0700
  const sock = join(dir, 'api.sock');
  const links = rings('api-bench');
  let actors: RouterActors | null = null;
  let child: LookupChild | null = null;
  let observer: LookupChild | null = null;
  const tStart = performance.now();
  try {
    const port = await freePort();
    actors = routerActors(links, sock, port);
    await actors.ready();
    const load = new ClosedLoop(links.peerIn, links.peerOut);
    child = LookupChild.start(`unix:${sock}`);
    await child.read(20_000); // connected, hello answered
    observer = await startObserver(`http://127.0.0.1:${port}`, BENCH_TOKEN);
    const keyNote = await lookupKeys(child, load);
    reportLatency(report, await latencyWindows(child, load), keyNote);
    reportDataplane(report, await dataplaneSlots({ lookups: child, observer }, load));
    await printCounters(actors, load, tStart);
  } finally {
    if (observer) await observer.stop();
    if (child) await child.stop();
    if (actors) await actors.stop();
    closeRings(links);
    rmSync(dir, { recursive: true, force: true });
  }
}

await runAlone(import.meta.url, run, true);
