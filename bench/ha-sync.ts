// Issue 17's sync figures: two routers (active/active, test/support/ha-pair.ts) sharing their tables through
// `netbranch git-serve`, each through its own fault proxy (left passing, except for the partition).
//   ha.converge_ms          a 10 s partition (both proxies blackholed) with edits and new flows on both, then
//                           healing: until every table listed through both APIs is the same
//   ha.sync_lag_ms_p50/p99  new UDP flows through router a at 1,000 a second for 10 s: from each flow's first
//                           packet to its row arriving in router b's nat table (b's API watch)
//   ha.sync_bytes_per_flow  the HTTP bytes both routers pushed and fetched over that run, over the flows, and
//   ha.sync_traffic_pct     as a share of the flows' own bytes (pfsync's anchor: its sync traffic is up to
//                           ~10 % of what it forwards)
//   ha.sync_100fps_*        the same at 100 new flows a second (run first)
// Root only (namespaces and TAPs); elsewhere each figure is "not measured" with the reason.
//   node --import tsx bench/ha-sync.ts        (or: npm run bench -- ha-sync)
import type { ChangeEvent } from '../api/protocol.js';
import { HaPair, noPair, sleep, staticArp, type PairRouter } from '../test/support/ha-pair.js';
import { percentile, runAlone, type BenchReport } from './report.js';

const SYNC_MS = 1000;
const PARTITION_MS = 10_000;
const RUN_MS = 10_000;
/** The issue's load, and a tenth of it (what the sync keeps up with tells as much as what it does not). */
const RATES = [100, 1000];
const FIRST_PORT = 20_000;
/** UDP payload of each flow's one datagram; on the wire: + UDP 8 + IPv4 20 + Ethernet 14. */
const PAYLOAD = 100;
const WIRE_BYTES = PAYLOAD + 8 + 20 + 14;
const BOUND_MS = 90_000;

/** Sends one datagram to each of FLOWS destination ports (a new flow each) at RATE a second; prints the send times. */
const SENDER = `
const dgram = require('node:dgram');
const [ip, first, n, rate, size] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
const s = dgram.createSocket('udp4');
const payload = Buffer.alloc(size, 0x61);
const sent = [];
const t0 = Date.now();
const tick = () => {
  const due = Math.min(n, Math.floor(((Date.now() - t0) * rate) / 1000) + 1);
  while (sent.length < due) { s.send(payload, first + sent.length, ip); sent.push(Date.now()); }
  if (sent.length < n) setTimeout(tick, 1);
  else setTimeout(() => { s.close(); process.stdout.write(JSON.stringify(sent)); }, 200);
};
tick();
`;

/** Until both routers list the same tables after a partition with edits on both; the time from healing, or null. */
async function convergeMs(pair: HaPair): Promise<number | null> {
  for (const r of pair.routers) r.proxy.set({ kind: 'blackhole' });
  const cut = Date.now();
  for (const [i, r] of pair.routers.entries()) {
    await r.api.set('dnat', `tcp:${8200 + i}`, r.forwardRule(8200 + i, 5, 1));
    await r.api.set('arp', `10.${r.net}.1.${80 + i}`, staticArp(`02:00:00:17:02:${String(80 + i).padStart(2, '0')}`));
    await r.udpFlows(50, 11);
  }
  await sleep(Math.max(0, PARTITION_MS - (Date.now() - cut)));
  for (const r of pair.routers) r.proxy.set({ kind: 'pass' });
  const healed = Date.now();
  return (await pair.converged(BOUND_MS, 100)) ? Date.now() - healed : null;
}

/**
 * First time each destination port of a's flows shows in b's nat table (b's watch), until stopped. A watch
 * the server ends (a replica reloaded for a large merge: "resync") is followed by a list, then a new watch;
 * rows found by the list count as arriving then (a little late, never early). `resyncs` counts those.
 */
async function watchArrivals(b: PairRouter, a: PairRouter, ports: [number, number]): Promise<{ arrivals: Map<number, number>; resyncs: () => number; stop: () => Promise<void> }> {
  const arrivals = new Map<number, number>();
  const prefix = `udp:${a.clientIp}:`;
  const note = (key: string, value: unknown) => {
    const port = Number(key.split(':').at(-1));
    if (value !== null && port >= ports[0] && port < ports[1] && !arrivals.has(port)) arrivals.set(port, Date.now());
  };
  let stopped = false;
  let resyncs = 0;
  let watch = await b.api.watch('nat', { prefix });
  const done = (async () => {
    for (;;) {
      for await (const e of watch as AsyncIterable<ChangeEvent>) note(e.key, e.value);
      if (stopped) return;
      resyncs++;
      watch = await b.api.watch('nat', { prefix });
      for await (const e of b.api.listAll('nat', { prefix })) note(e.key, e.value);
    }
  })().catch(() => undefined);
  const stop = async () => { stopped = true; await (watch as { return(): Promise<unknown> }).return(); await done; };
  return { arrivals, resyncs: () => resyncs, stop };
}

const syncBytes = async (pair: HaPair): Promise<number> => {
  let n = 0;
  for (const r of pair.routers) { const p = await r.peers(); n += p.bytesSent + p.bytesReceived; }
  return n;
};

interface FlowRun { flows: number; lags: number[]; bytes: number; lost: number; resyncs: number; timeouts: number }

/** `rate` new flows a second for RUN_MS through a: per-flow lags (ms), sync bytes over the run, flows that never arrived. */
async function flowRun(pair: HaPair, rate: number, first: number): Promise<FlowRun> {
  const { a, b } = pair;
  const flows = (rate * RUN_MS) / 1000;
  const watch = await watchArrivals(b, a, [first, first + flows]);
  const bytes0 = await syncBytes(pair);
  const timeouts0 = (await a.peers()).failures.timeout ?? 0;
  const run = await a.lab.run(a.client, process.execPath, ['-e', SENDER, a.serverIp, String(first), String(flows), String(rate), String(PAYLOAD)], RUN_MS + 30_000);
  if (run.code !== 0) throw new Error(`the flow sender failed: ${run.stderr.slice(0, 500)}`);
  const sent = JSON.parse(run.stdout) as number[];
  const end = Date.now() + BOUND_MS;
  while (watch.arrivals.size < flows && Date.now() < end) await sleep(200);
  await sleep(3 * SYNC_MS); // the last merges' pushes, counted as the run's
  const bytes = (await syncBytes(pair)) - bytes0;
  const timeouts = ((await a.peers()).failures.timeout ?? 0) - timeouts0;
  await watch.stop();
  const lags = [...watch.arrivals].map(([port, at]) => at - sent[port - first]).sort((x, y) => x - y);
  return { flows, lags, bytes, lost: flows - watch.arrivals.size, resyncs: watch.resyncs(), timeouts };
}

/** One run's figures under `prefix` (ha.sync or ha.sync_100fps). */
function reportRun(report: BenchReport, prefix: string, rate: number, r: FlowRun): void {
  const how = `${r.flows} new UDP flows through router a at ${rate}/s, first packet to the row in router b's nat table; sync interval ${SYNC_MS} ms`
    + `${r.lost ? `; ${r.lost} never arrived within ${BOUND_MS / 1000} s` : ''}${r.timeouts ? `; a's push or fetch timed out ${r.timeouts}× during the run` : ''}`
    + `${r.resyncs ? `; b's watch ended ${r.resyncs}× (replica reloaded), rows listed then` : ''}`;
  report.add(`${prefix}_lag_ms_p50`, r.lags.length ? percentile(r.lags, 50) : null, 'ms', undefined, how);
  report.add(`${prefix}_lag_ms_p99`, r.lags.length ? percentile(r.lags, 99) : null, 'ms', undefined, how);
  const forwarded = r.flows * WIRE_BYTES;
  report.add(`${prefix}_bytes_per_flow`, r.bytes / r.flows, 'bytes', undefined, `HTTP bodies pushed and fetched by both routers over the run; each flow forwarded one ${WIRE_BYTES}-byte frame`);
  report.add(`${prefix}_traffic_pct`, (100 * r.bytes) / forwarded, '%', undefined, `sync bytes ÷ the flows' ${forwarded} bytes on the wire; pfsync's anchor is up to ~10 % (one-datagram flows are this ratio's worst case)`);
}

async function measure(report: BenchReport, pair: HaPair): Promise<void> {
  await pair.build(SYNC_MS);
  for (const r of pair.routers) if (!(await r.forwards())) throw new Error(`router ${r.name} does not forward`);
  if (!(await pair.converged(BOUND_MS))) throw new Error('the pair did not converge at start');
  const converge = await convergeMs(pair);
  report.add('ha.converge_ms', converge, 'ms', undefined, converge === null ? `not converged within ${BOUND_MS} ms` : `after a ${PARTITION_MS / 1000} s partition with edits and 50 new flows on each router; sync interval ${SYNC_MS} ms`);
  let first = FIRST_PORT;
  for (const rate of RATES) {
    reportRun(report, rate === 1000 ? 'ha.sync' : `ha.sync_${rate}fps`, rate, await flowRun(pair, rate, first));
    first += (rate * RUN_MS) / 1000;
  }
}

export async function run(report: BenchReport): Promise<void> {
  const keys = ['ha.converge_ms', 'ha.sync_lag_ms_p50', 'ha.sync_lag_ms_p99', 'ha.sync_bytes_per_flow'];
  if (noPair) { for (const k of keys) report.add(k, null, k.endsWith('flow') ? 'bytes' : 'ms', undefined, `not measured: ${noPair}`); return; }
  const pair = new HaPair(`nbs${process.pid % 1000}`);
  try {
    await measure(report, pair);
  } catch (e) {
    for (const k of keys) if (!report.figures.has(k)) report.add(k, null, k.endsWith('flow') ? 'bytes' : 'ms', undefined, `not measured: ${(e as Error).message.slice(0, 300)}`);
  } finally {
    await pair.teardown();
  }
}

await runAlone(import.meta.url, run, true);
