// `npm run bench -- metrics`: what one Prometheus scrape of /metrics costs with 100,000 NAT flows on the primary
// (metrics.scrape_ms), scraped over real HTTP from another process, as Prometheus would. RouterActors (two packet
// actors, on rings with no traffic) serves the API's HTTP view from its lookup actor; the flows are written into the
// primary before it starts. Knobs: NB_METRICS_FLOWS (100,000), NB_METRICS_SCRAPES (200).
//
// This file is also that other process, the observer (`node --import tsx bench/metrics.ts observe BASE TOKEN`), which
// bench/api.ts attaches too for api.dataplane_ratio_observed: a scraper and a page's event stream (GET
// /api/TABLE/events, read with fetch as a page's EventSource would), driven by one JSON command a line on stdin:
//   {"cmd":"scrape","n":N}                     N scrapes one after another: each one's ms, the body's bytes, the nat entries
//   {"cmd":"attach","table":T,"everyMs":E}     opens T's event stream (none: T "") and scrapes every E ms, the first after E/2 (none: E 0)
//   {"cmd":"detach"}                           closes both: the scrapes made, their ms, the events and bytes the stream brought
//   {"cmd":"exit"}
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Store } from '../store/index.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { routerTables } from '../actors/router/router-schema.js';
import { natKey, natTable } from '../actors/router/nat-table.js';
import { type BenchReport, maxOf, percentile, runAlone } from './report.js';
import { INSIDE, OUTSIDE, SERVER, clientIp, clientPort, serverPort } from './nat-flows.js';
import { closeRings, rings } from './closed-loop.js';
import { BENCH_TOKEN, startObserver, type LookupChild } from './api.js';
import { freePort } from '../test/support/free-port.js';

const FLOWS = Number(process.env.NB_METRICS_FLOWS ?? 100_000);
const SCRAPES = Number(process.env.NB_METRICS_SCRAPES ?? 200);


// ------------------------------------------------------------------ the observer (the other process)

interface ObserverCommand { cmd: string; n?: number; table?: string; everyMs?: number }

/** A page's event stream: read as it comes, counting events and bytes, until closed. */
class PageStream {
  events = 0;
  ends = 0;
  bytes = 0;
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  async open(url: string, token: string): Promise<void> {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: this.abort.signal });
    if (res.status !== 200 || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
      throw new Error(`${url} answered ${res.status} ${res.headers.get('content-type')}: ${(await res.text()).slice(0, 200)}`);
    }
    this.done = this.read(res.body!);
  }

  /** Counts `event: change` records across chunk boundaries (the carry is shorter than one, so none counts twice). */
  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let carry = '';
    try {
      for await (const chunk of body) {
        this.bytes += chunk.length;
        const s = carry + dec.decode(chunk, { stream: true });
        this.events += count(s, 'event: change\n');
        this.ends += count(s, 'event: end\n');
        carry = s.slice(-12);
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

function count(s: string, what: string): number {
  let n = 0;
  for (let i = s.indexOf(what); i >= 0; i = s.indexOf(what, i + what.length)) n++;
  return n;
}

/** The scraper and the page, as the observer process runs them. */
class Observer {
  private stream: PageStream | null = null;
  private timer: NodeJS.Timeout | null = null;
  private scrapeMs: number[] = [];
  private inFlight: Promise<unknown> = Promise.resolve();

  constructor(private readonly base: string, private readonly token: string) {}

  /** One scrape, as Prometheus makes it: the whole body read. */
  async scrape(): Promise<{ ms: number; text: string }> {
    const t0 = performance.now();
    const res = await fetch(`${this.base}/metrics`, { headers: { authorization: `Bearer ${this.token}` } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text.slice(0, 200)}`);
    return { ms: performance.now() - t0, text };
  }

  async scrapes(n: number): Promise<object> {
    const samples: number[] = [];
    let last = '';
    for (let i = 0; i < n; i++) {
      const s = await this.scrape();
      samples.push(s.ms);
      last = s.text;
    }
    const nat = /^netbranch_table_entries\{table="nat"\} (\d+)$/m.exec(last);
    return { samples, bytes: Buffer.byteLength(last), natEntries: nat ? Number(nat[1]) : -1 };
  }

  async attach(table: string, everyMs: number): Promise<object> {
    this.scrapeMs = [];
    if (table !== '') {
      this.stream = new PageStream();
      await this.stream.open(`${this.base}/api/${encodeURIComponent(table)}/events`, this.token);
    }
    const tick = () => { this.inFlight = this.scrape().then((s) => this.scrapeMs.push(s.ms)); };
    if (everyMs > 0) this.timer = setTimeout(() => { tick(); this.timer = setInterval(tick, everyMs); }, everyMs / 2);
    return { stream: table === '' ? 'none' : 'sse' };
  }

  async detach(): Promise<object> {
    if (this.timer) { clearTimeout(this.timer); clearInterval(this.timer); }
    this.timer = null;
    await this.inFlight;
    const s = this.stream;
    this.stream = null;
    await s?.close();
    return { scrapes: this.scrapeMs.length, samples: this.scrapeMs, events: s?.events ?? 0, bytes: s?.bytes ?? 0, ends: s?.ends ?? 0 };
  }

  handle(c: ObserverCommand): Promise<object> | object {
    switch (c.cmd) {
      case 'scrape': return this.scrapes(c.n ?? 1);
      case 'attach': return this.attach(c.table ?? 'nat', c.everyMs ?? 1_000);
      case 'detach': return this.detach();
      case 'exit': return {};
      default: throw new Error(`unknown command ${c.cmd}`);
    }
  }
}

/** The observer's main: answers `{ok: true}` once ready, then one line per command. */
async function observe(base: string, token: string): Promise<void> {
  const o = new Observer(base, token);
  const answer = (x: object) => process.stdout.write(JSON.stringify(x) + '\n');
  answer({ ok: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const c = JSON.parse(line) as ObserverCommand;
    try {
      answer({ ok: true, ...(await o.handle(c)) });
    } catch (err) {
      answer({ ok: false, error: (err as Error).message });
    }
    if (c.cmd === 'exit') break;
  }
  process.exit(0);
}

// ------------------------------------------------------------------ metrics.scrape_ms

/** A primary with `n` live UDP flows, as the packet actors would have written them (ports preserved). */
function primaryWithFlows(n: number, now: number): Store {
  const store = new Store(routerTables);
  const nat = store.main.table(natTable);
  for (let i = 0; i < n; i++) {
    const [ip, port, remotePort] = [clientIp(i), clientPort(i), serverPort(i)];
    nat.set(natKey('udp', ip, port, SERVER, remotePort), {
      proto: 'udp', insideIp: ip, insidePort: port, remoteIp: SERVER, remotePort, outPort: port, state: 'udp-replied',
      created: now, lastSeen: now, pktsOut: 3, pktsIn: 2, bytesOut: 180, bytesIn: 120,
    });
  }
  store.main.commit({ author: 'bench', message: `${n} flows` });
  return store;
}

const fmt = (x: number, d = 0) => x.toLocaleString('en', { maximumFractionDigits: d });

export async function run(report: BenchReport): Promise<void> {
  const links = rings('metrics-bench');
  const port = await freePort();
  const t0 = performance.now();
  const actors = new RouterActors(links.routerIn, links.routerOut, {
    inside: INSIDE, outside: OUTSIDE, packetActors: 2, mergeIntervalMs: 100, store: 'memory', primary: primaryWithFlows(FLOWS, Date.now()),
    api: { http: { host: '127.0.0.1', port }, tokens: [{ name: 'prometheus', token: BENCH_TOKEN, scopes: ['read:*'] }], role: 'router' },
  });
  let child: LookupChild | null = null;
  try {
    await actors.ready();
    const startS = (performance.now() - t0) / 1000;
    child = await startObserver(`http://127.0.0.1:${port}`, BENCH_TOKEN);
    await child.ask({ cmd: 'scrape', n: 20 }, 60_000); // JIT, both sides
    const a = await child.ask({ cmd: 'scrape', n: SCRAPES }, SCRAPES * 1_000 + 10_000);
    if (a.natEntries !== FLOWS) throw new Error(`the scrape shows ${a.natEntries} NAT entries, not ${FLOWS}`);
    const xs = a.samples!;
    report.add('metrics.scrape_ms', percentile(xs, 50), 'ms', '<= 50',
      `GET /metrics with a bearer token from another node process over loopback HTTP, the whole body read (${fmt(a.bytes! / 1024, 1)} KiB): the lookup actor asks the main thread for the stack report (every actor's stats over its control channel, the primary's table sizes with ${fmt(FLOWS)} NAT entries, merges, restarts) and renders it; p50 of ${SCRAPES} scrapes one after another; p90 ${fmt(percentile(xs, 90), 2)}, p99 ${fmt(percentile(xs, 99), 2)}, max ${fmt(maxOf(xs), 1)} ms; RouterActors with 2 packet actors, no traffic (start-up with the flows ${fmt(startS, 1)} s)`);
    report.add('metrics.scrape_p99_ms', percentile(xs, 99), 'ms', undefined, 'the same scrapes, 99th percentile');
    report.add('metrics.scrape_bytes', a.bytes!, 'bytes', undefined, 'one exposition of this router (2 packet actors, expiry, lookup, dispatcher)');
  } finally {
    if (child) await child.stop();
    await actors.stop();
    closeRings(links);
  }
}

const main = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (main && process.argv[2] === 'observe') await observe(process.argv[3], process.argv[4]);
else await runAlone(import.meta.url, run, true);
