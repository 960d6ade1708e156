// External-lookup API benchmarks: a `get` round trip from another process while the router forwards
// (and with no traffic), and what 1,000 lookups/s cost the data plane. The router is RouterActors with
// the lookup actor on a Unix socket in a fresh 0700 temp directory; the traffic is the forward
// benchmarks' (bench/nat.ts actorsMpps): a closed loop over SAB rings, UDP flows both ways; the
// lookups come from a child process (bench/api-client-load.ts) using the typed client. Knobs:
// NB_API_WORKERS (packet actors, 1), NB_API_LATENCY_S (2.5), NB_API_SLOT_S (0.25), NB_API_CYCLES (40).
//   npm run bench -- api            (or: node --import tsx --expose-gc bench/api.ts)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ETHERNET_HEADER_LEN, parseIpv4 } from '../wire/index.js';
import { RingLink, ringLinkPair } from '../wire/link/ring-link.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { arpFrame, udpFrame } from '../test/support/frames.js';
import { type BenchReport, median, percentile } from './report.js';

const ip = parseIpv4;
// The addresses and flows of bench/nat.ts.
const INSIDE: NetInterface = { name: 'in', mac: localMac(0x301), ip: ip('10.201.0.1'), prefix: 24 };
const OUTSIDE: NetInterface = { name: 'out', mac: localMac(0x302), ip: ip('10.202.0.1'), prefix: 24 };
const SERVER = ip('10.202.0.2');
const SERVER_MAC = 0x02_00_00_00_02_02;
const CLIENTS = 200;
const PORTS = 64_000;
const SERVER_PORT = 5300;
const clientIp = (i: number) => ip('10.201.0.2') + (i % CLIENTS);
const clientMac = (a: number) => 0x02_00_00_00_00_00 + (a & 0xffff);
const dotted = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const PAYLOAD = new Uint8Array(60 - ETHERNET_HEADER_LEN - 20 - 8);

const WORKERS = Number(process.env.NB_API_WORKERS ?? 1); // packet actors (forward.mpps_1w's set-up by default)
const FLOWS = 4096;
const WINDOW = 1024;
const LOOKUP_RATE = 1000;
const SLOT_S = Number(process.env.NB_API_SLOT_S ?? 0.25);
const CYCLES = Number(process.env.NB_API_CYCLES ?? 40); // each: A (no lookups), B (1,000/s), A' (no lookups, the control)
const LATENCY_S = Number(process.env.NB_API_LATENCY_S ?? 2.5); // per window; two idle and two loaded windows, interleaved

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Flow j of FLOWS, spread over the port range so every actor's slice gets flows. */
const flowOf = (j: number) => Math.floor((j * (PORTS - 1)) / FLOWS);
const srcPort = (i: number) => 1024 + (i % PORTS);

/** The forward benchmarks' closed-loop load through RouterActors, started and stopped at will. */
class Traffic {
  private readonly out: Uint8Array[];
  private readonly back = new Map<number, Uint8Array>();
  private next = 0;
  private forwarded = 0;
  private inFlight = 0;
  private active = false;
  private guard: NodeJS.Timeout | null = null;
  private t0 = 0;
  refills = 0;

  constructor(private readonly peerIn: RingLink, private readonly peerOut: RingLink) {
    this.out = Array.from({ length: FLOWS }, (_, j) => {
      const i = flowOf(j);
      return udpFrame({ srcMac: clientMac(clientIp(i)), dstMac: INSIDE.mac, src: clientIp(i), dst: SERVER, srcPort: srcPort(i), dstPort: SERVER_PORT, payload: PAYLOAD });
    });
    for (let j = 0; j < FLOWS; j++) {
      const i = flowOf(j);
      this.back.set(srcPort(i), udpFrame({ srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, srcPort: SERVER_PORT, dstPort: srcPort(i), payload: PAYLOAD }));
    }
    const arpReply = (f: Uint8Array, link: RingLink, ourMac: number) => {
      const target = ((f[38] << 24) | (f[39] << 16) | (f[40] << 8) | f[41]) >>> 0;
      const senderIp = ((f[28] << 24) | (f[29] << 16) | (f[30] << 8) | f[31]) >>> 0;
      const mac = target === SERVER ? SERVER_MAC : clientMac(target);
      link.send(arpFrame({ op: 'reply', srcMac: mac, senderIp: target, targetIp: senderIp, targetMac: ourMac, dst: ourMac }));
    };
    // The server: answers every forwarded frame with its flow's reply.
    peerOut.onFrames((batch) => {
      for (const f of batch) {
        if (f[12] === 0x08 && f[13] === 0x06) { if (f[21] === 1) arpReply(f, peerOut, OUTSIDE.mac); continue; }
        if (this.active) this.forwarded++;
        const r = this.back.get((f[34] << 8) | f[35]);
        if (r === undefined || !peerOut.send(r)) this.inFlight--;
      }
    });
    // The clients: each reply that made it back is replaced by the next outbound frame.
    peerIn.onFrames((batch) => {
      for (const f of batch) {
        if (f[12] === 0x08 && f[13] === 0x06) { if (f[21] === 1) arpReply(f, peerIn, INSIDE.mac); continue; }
        if (this.active) this.forwarded++;
        this.inFlight--;
        if (this.active) this.sendOut();
      }
    });
  }

  /** The NAT key (readable) and the client address of every flow. */
  flowKeys(): { nat: string[]; arp: string[] } {
    const nat: string[] = [];
    const arp = new Set<string>();
    for (let j = 0; j < FLOWS; j++) {
      const i = flowOf(j);
      nat.push(`udp:${dotted(clientIp(i))}:${srcPort(i)}:${dotted(SERVER)}:${SERVER_PORT}`);
      arp.add(dotted(clientIp(i)));
    }
    return { nat, arp: [...arp] };
  }

  private sendOut(): void {
    if (this.peerIn.send(this.out[this.next++ % FLOWS])) this.inFlight++;
  }

  start(): void {
    this.forwarded = 0;
    this.active = true;
    this.t0 = performance.now();
    while (this.inFlight < WINDOW) this.sendOut();
    // A frame the router dropped would shrink the window for good: when nothing came back for 5 ms, refill.
    let seen = -1;
    this.guard = setInterval(() => {
      if (this.forwarded === seen) { this.refills++; this.inFlight = 0; while (this.inFlight < WINDOW) this.sendOut(); }
      seen = this.forwarded;
    }, 5);
  }

  /** Stops the load and drains: frames forwarded per second (both directions) since start(). */
  async stop(): Promise<number> {
    if (this.guard) clearInterval(this.guard);
    this.guard = null;
    this.active = false;
    const rate = this.forwarded / ((performance.now() - this.t0) / 1000);
    const end = Date.now() + 2000;
    while (this.inFlight > 0 && Date.now() < end) await sleep(5);
    this.inFlight = 0;
    return rate;
  }

  /** Frames forwarded since start(), and when. */
  snapshot(): { n: number; t: number } {
    return { n: this.forwarded, t: performance.now() };
  }

  async round(seconds: number): Promise<number> {
    this.start();
    await sleep(seconds * 1000);
    return this.stop();
  }
}

interface ChildAnswer { ok: boolean; error?: string; samples?: number[]; seconds?: number; failed?: number; made?: number; missing?: number[]; lastError?: string; checked?: number }

/** The lookup process: bench/api-client-load.ts, one JSON command a line in, one answer a line out. */
class LookupChild {
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
    const root = fileURLToPath(new URL('..', import.meta.url));
    const script = fileURLToPath(new URL('./api-client-load.ts', import.meta.url));
    return new LookupChild(spawn(process.execPath, ['--import', 'tsx', script, where], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] }));
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

const fmt = (x: number, d = 0) => x.toLocaleString('en', { maximumFractionDigits: d });
const pct = (xs: number[]) => ({ p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), p999: percentile(xs, 99.9), max: xs.reduce((m, x) => (x > m ? x : m), 0) });

export async function run(report: BenchReport): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nb-api-bench-')); // 0700
  const sock = join(dir, 'api.sock');
  const [ra, pa] = ringLinkPair('api-bench-in', 1 << 22);
  const [rb, pb] = ringLinkPair('api-bench-out', 1 << 22);
  const links = [new RingLink(ra), new RingLink(rb), new RingLink(pa), new RingLink(pb)];
  const [routerIn, routerOut, peerIn, peerOut] = links;
  let actors: RouterActors | null = null;
  let child: LookupChild | null = null;
  const tStart = performance.now();
  try {
    actors = new RouterActors(routerIn, routerOut, {
      inside: INSIDE, outside: OUTSIDE, packetActors: WORKERS, mergeIntervalMs: 100, store: 'memory', maxFlows: 1 << 20,
      api: { unix: sock, tokens: [], role: 'router' },
    });
    await actors.ready();
    const traffic = new Traffic(peerIn, peerOut);
    child = LookupChild.start(`unix:${sock}`);
    await child.read(20_000); // connected, hello answered

    // Warm-up: ARP and every flow made; the merge loop brings them to the lookup actor's replica.
    await traffic.round(1);
    const { nat, arp } = traffic.flowKeys();
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
      const natMissing = check.missing!.filter((i) => keys[i][0] === 'nat');
      // Which inside ports: flow keys pack ports as UTF-16 code units, and 0xD800–0xDFFF are lone surrogates.
      const ports = natMissing.map((i) => Number(keys[i][1].split(':')[2]));
      const surrogates = ports.length > 0 && ports.every((p) => p >= 0xd800 && p <= 0xdfff);
      missingNote = `; ${missing.size} of the ${keys.length} keys were not found and are left out (${natMissing.length} NAT${surrogates ? ', every one with an inside port in 55296–57343 = 0xD800–0xDFFF' : ''}; e.g. ${keys[check.missing![0]][1]})`;
      process.stdout.write(`  warning${missingNote.slice(1)}\n`);
      keys = keys.filter((_, i) => !missing.has(i));
      await child.ask({ cmd: 'keys', keys });
    }
    const natKeys = keys.filter((x) => x[0] === 'nat').length;
    const keyNote = `${keys.length} keys in turn (${natKeys} NAT flows like ${nat[0]}; ${keys.length - natKeys} ARP gets over ${arp.length} entries like ${arp[0]})${missingNote}`;

    // 1. Latency: idle and loaded windows interleaved (I, L, I, L), samples pooled per condition.
    const idle: number[] = [];
    const loaded: number[] = [];
    const loadedRates: number[] = [];
    let failed = 0;
    await child.ask({ cmd: 'latency', seconds: 0.5 }); // JIT, both sides
    for (let w = 0; w < 2; w++) {
      let a = await child.ask({ cmd: 'latency', seconds: LATENCY_S }, LATENCY_S * 1000 + 15_000);
      idle.push(...a.samples!);
      failed += a.failed!;
      traffic.start();
      await sleep(200); // the loop at full rate before timing
      a = await child.ask({ cmd: 'latency', seconds: LATENCY_S }, LATENCY_S * 1000 + 15_000);
      loadedRates.push(await traffic.stop());
      loaded.push(...a.samples!);
      failed += a.failed!;
    }
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

    // 2. Data plane with 1,000 lookups/s vs without. The load runs throughout; short slots of A (no
    // lookups), B (the child pacing gets at 1,000/s) and A' (no lookups again: the A/A control) take
    // turns, the order rotated every cycle, so the shared machine's drift hits all three alike; each
    // cycle gives a B/A and an A'/A ratio, and the figures are their medians.
    const load0 = loadavg()[0];
    const fps: Record<'A' | 'B' | 'C', number[]> = { A: [], B: [], C: [] };
    const sum: Record<'A' | 'B' | 'C', { n: number; t: number }> = { A: { n: 0, t: 0 }, B: { n: 0, t: 0 }, C: { n: 0, t: 0 } };
    const paced: number[] = [];
    let pacedFailed = 0;
    let made = 0;
    let pacedS = 0;
    const pairB: number[] = [];
    const pairC: number[] = [];
    const orders: ('A' | 'B' | 'C')[][] = [['A', 'B', 'C'], ['B', 'C', 'A'], ['C', 'A', 'B']];
    traffic.start();
    await sleep(300);
    const t2 = performance.now();
    for (let r = 0; r < CYCLES; r++) {
      const got: Record<string, number> = {};
      for (const m of orders[r % 3]) {
        if (m === 'B') await child.ask({ cmd: 'pace', rate: LOOKUP_RATE });
        const a = traffic.snapshot();
        await sleep(SLOT_S * 1000);
        const b = traffic.snapshot();
        if (m === 'B') {
          const st = await child.ask({ cmd: 'stop' });
          paced.push(...st.samples!);
          made += st.made!;
          pacedS += st.seconds!;
          pacedFailed += st.failed!;
        }
        got[m] = (b.n - a.n) / ((b.t - a.t) / 1000);
        fps[m].push(got[m]);
        sum[m].n += b.n - a.n;
        sum[m].t += (b.t - a.t) / 1000;
      }
      pairB.push(got.B / got.A);
      pairC.push(got.C / got.A);
    }
    const phaseS = (performance.now() - t2) / 1000;
    await traffic.stop();
    const mean = (m: 'A' | 'B' | 'C') => sum[m].n / sum[m].t;
    const lp = pct(paced);
    const q = (xs: number[]) => `quartiles ${fmt(percentile(xs, 25), 3)}–${fmt(percentile(xs, 75), 3)}, range ${fmt(Math.min(...xs), 3)}–${fmt(Math.max(...xs), 3)}`;
    report.add('api.dataplane_ratio', median(pairB), '×', '>= 0.95',
      `forwarding rate while a child process makes ${LOOKUP_RATE.toLocaleString('en')} gets/s (paced, one in flight; achieved ${fmt(made / pacedS)}/s) ÷ without: median over ${CYCLES} cycles of ${SLOT_S} s slots A (none) / B (lookups) / A' (none, control), order rotated, the load running throughout (${fmt(phaseS, 1)} s); ${q(pairB)}; pooled rates ratio ${fmt(mean('B') / mean('A'), 3)}; A/A noise: api.dataplane_aa_ratio; 2-vCPU shared machine, load average ${fmt(load0, 1)} → ${fmt(loadavg()[0], 1)}`);
    report.add('api.dataplane_fps_lookups', mean('B'), 'frames/s', undefined, `B slots pooled; slot median ${fmt(median(fps.B) / 1e6, 3)} Mpps; the paced gets' round trips p50 ${fmt(lp.p50, 1)}, p99 ${fmt(lp.p99)} µs${pacedFailed ? `, ${pacedFailed} failed` : ''}`);
    report.add('api.dataplane_fps_none', mean('A'), 'frames/s', undefined, `A slots pooled; slot median ${fmt(median(fps.A) / 1e6, 3)} Mpps, slots ${fmt(Math.min(...fps.A) / 1e6, 3)}–${fmt(Math.max(...fps.A) / 1e6, 3)} Mpps`);
    report.add('api.dataplane_aa_ratio', median(pairC), '×', undefined,
      `control: A' (also no lookups) ÷ A per cycle, median: the noise floor of dataplane_ratio; ${q(pairC)}; pooled ${fmt(mean('C') / mean('A'), 3)}`);
    const stats = await actors.supervisor.stats();
    const lookupStats = stats.find((s) => s.name === 'lookup');
    const reqs = lookupStats?.counters?.requests;
    process.stdout.write(`  (${fmt((performance.now() - tStart) / 1000, 1)} s; window refills ${traffic.refills}; merges ${actors.store.stats.merges}${reqs !== undefined ? `; lookup actor answered ${fmt(reqs)} requests, ${lookupStats?.counters?.errors ?? 0} errors` : ''})\n`);
  } finally {
    if (child) await child.stop();
    if (actors) await actors.stop();
    for (const l of links) l.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { BenchReport } = await import('./report.js');
  await run(new BenchReport());
  process.exit(0);
}
