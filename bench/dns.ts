// The DNS cache's hit path in-process (a query parsed, looked up in the `dns` table on a store branch, the answer
// built), then over the wire as root: the router's cache over its TAPs and, in the same run, the kernel + dnsmasq
// twin (dnsmasq caching in a namespace), each asked the same cached names by the same client (test/support/services-dnsload.ts).
//   node --import tsx bench/dns.ts            (or: npm run bench -- dns)
import { performance } from 'node:perf_hooks';
import { Store } from '../store/index.js';
import { DnsFlag, DnsRepr } from '../wire/dns.js';
import { dnsTable } from '../actors/dns/dns-table.js';
import { DnsCache } from '../actors/dns/dns-cache.js';
import { DnsForwarder } from '../actors/dns/dns-forwarder.js';
import { prng } from '../actors/sim/prng.js';
import { median, percentile, runAlone, type BenchReport } from './report.js';
import { ServicesLab, noLab, missing } from '../test/support/services-lab.js';
import { routerDnsLoad, twinDnsLoad, type DnsLoad } from '../test/support/services-dnsload.js';

/** Distinct questions in the cache, asked in turn (a home network's working set). */
const NAMES = 1000;
const ROUNDS = 5;
const ROUND_MS = 1000;
/** Queries timed together for the latency samples: performance.now() is too coarse for one. */
const BATCH = 32;
const SAMPLES = 5000;
const T0 = 1_000_000;

function query(name: string, id: number): Uint8Array {
  return DnsRepr.fromMessage({ id, type: 'query', flags: DnsFlag.RecursionDesired, questions: [{ name, type: 'A', class: 'IN' }] }).toBytes();
}

function response(sent: Uint8Array, ip: string): Uint8Array {
  const q = DnsRepr.parse(sent).message;
  return DnsRepr.fromMessage({
    id: q.id, type: 'response', flags: DnsFlag.RecursionDesired | DnsFlag.RecursionAvailable, questions: q.questions,
    answers: [{ name: q.questions![0].name, type: 'A', class: 'IN', ttl: 86_400, data: ip }],
  }).toBytes();
}

/** A forwarder whose cache holds NAMES answers (filled through upstream round trips), and the queries that hit them. */
function warmForwarder(): { fwd: DnsForwarder<number>; queries: Uint8Array[]; replies: () => number } {
  const table = new Store([dnsTable]).main.fork('dns-bench').table(dnsTable);
  const rand = prng(53);
  let sent: Uint8Array | null = null;
  let replies = 0;
  const fwd = new DnsForwarder<number>(new DnsCache(table), {
    upstream: (p) => { sent = p; },
    reply: () => { replies++; },
    randomId: () => Math.floor(rand() * 65536),
  });
  const queries: Uint8Array[] = [];
  for (let i = 0; i < NAMES; i++) {
    const name = `host-${i}.lan.example`;
    queries.push(query(name, i));
    fwd.query(queries[i], 0, T0);
    fwd.receiveUpstream(response(sent!, `10.${(i >> 8) & 255}.${i & 255}.1`), T0);
  }
  return { fwd, queries, replies: () => replies };
}

/** Median queries per second answered from the cache over ROUNDS × ROUND_MS. */
function hitRate(): number {
  const { fwd, queries, replies } = warmForwarder();
  const rates: number[] = [];
  let i = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const before = replies();
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ROUND_MS) {
      for (let k = 0; k < 256; k++) fwd.query(queries[i++ % NAMES], 0, T0 + 1);
      t = performance.now();
    }
    rates.push((replies() - before) / ((t - t0) / 1000));
  }
  if (fwd.counters.upstreamQueries !== NAMES) throw new Error(`hits went upstream: ${JSON.stringify(fwd.counters)}`);
  return median(rates);
}

/** Per-query latency of a hit, µs: SAMPLES batches of BATCH queries, each batch's mean. */
function hitLatencies(): number[] {
  const { fwd, queries } = warmForwarder();
  for (let i = 0; i < 20_000; i++) fwd.query(queries[i % NAMES], 0, T0 + 1); // JIT
  const out: number[] = [];
  let i = 0;
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = performance.now();
    for (let k = 0; k < BATCH; k++) fwd.query(queries[i++ % NAMES], 0, T0 + 1);
    out.push(((performance.now() - t0) * 1000) / BATCH);
  }
  return out;
}

export async function run(report: BenchReport): Promise<void> {
  const how = `${NAMES} cached A answers asked in turn through DnsForwarder.query (parse, lookup in the dns table on a store branch, answer built), one thread`;
  const lat = hitLatencies();
  report.add('dns.cache_hit_p50_us', percentile(lat, 50), 'µs', undefined, `${how}; mean of ${BATCH} queries per sample, p50 of ${SAMPLES} samples`);
  report.add('dns.cache_hit_p99_us', percentile(lat, 99), 'µs', undefined, 'the same samples, p99');
  report.add('dns.cache_qps', hitRate(), 'queries/s', undefined, `${how}; median of ${ROUNDS} × ${ROUND_MS} ms`);
  await overTheWire(report);
}

/** Latency samples one at a time, then the rate with this many outstanding for this long. */
const WIRE = { samples: 3000, window: 16, seconds: 3 };

/** The router's cache and the twin, one after the other in this run; "not measured" with the reason when they cannot run. */
async function overTheWire(report: BenchReport): Promise<void> {
  const tool = noLab ? null : missing('dnsmasq');
  const why = noLab || (tool ? `${tool} is not installed` : false);
  const how = (l: DnsLoad, what: string) => `${what}; one client in a namespace asks 100 cached names: p50 of ${l.samples} one-at-a-time round trips (p99 ${l.p99_us} µs); the rate with ${WIRE.window} outstanding for ${l.seconds} s (${l.lost} unanswered)`;
  const sides: [string, (lab: ServicesLab) => Promise<DnsLoad>, string][] = [
    ['router', (lab) => routerDnsLoad(lab, WIRE.samples, WIRE.window, WIRE.seconds), 'netbranch router\'s DNS cache on its inside address, over its TAPs'],
    ['twin', (lab) => twinDnsLoad(lab, WIRE.samples, WIRE.window, WIRE.seconds), 'the twin: dnsmasq caching in a namespace, the kernel routing over veths'],
  ];
  for (const [side, measure, what] of sides) {
    let l: DnsLoad | null = null;
    let err = why ? `not measured: ${why}` : '';
    if (!why) {
      const lab = new ServicesLab(`nbt15b${side[0]}${process.pid % 10000}`);
      try { l = await measure(lab); } catch (e) { err = `not measured: ${(e as Error).message.slice(0, 300)}`; } finally { await lab.teardown(); }
    }
    report.add(`dns.${side}_cache_hit_p50_us`, l?.p50_us ?? null, 'µs', undefined, l ? how(l, what) : err);
    report.add(`dns.${side}_cache_qps`, l?.qps ?? null, 'queries/s', undefined, l ? how(l, what) : err);
  }
}

await runAlone(import.meta.url, run);
