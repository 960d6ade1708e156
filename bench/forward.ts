// Forwarding throughput through RouterActors as the router runs it: each packet actor in its own
// worker thread, on its own replica, merging every 100 ms into the primary on the main thread,
// which does nothing else. The peers are simulated in each actor's own thread (actors/sim/echo-peers.ts),
// as its own TAP queues would feed it, so the figure is the actors' and how it scales with them.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RouterActors } from '../actors/router/router-actors.js';
import { INSIDE, OUTSIDE } from './nat-flows.js';
import { median, runAlone, type BenchReport } from './report.js';

const FLOWS_PER_ACTOR = 2048;
const WINDOW = 256;

/** Frames forwarded per second by `workers` actors over `seconds`, `rounds` times (after a warm-up). */
async function echoRates(workers: number, store: 'memory' | 'hashtable', seconds: number, rounds: number): Promise<{ rates: number[]; merges: number }> {
  const actors = new RouterActors(null, null, {
    inside: INSIDE, outside: OUTSIDE, packetActors: workers, mergeIntervalMs: 100, store, maxFlows: 1 << 20,
    echo: { flows: FLOWS_PER_ACTOR, window: WINDOW },
  });
  try {
    await actors.ready();
    const forwarded = async () => {
      const stats = await actors.supervisor.stats();
      return { n: stats.reduce((a, s) => a + (s.counters['echo.forwarded'] ?? 0), 0), t: performance.now() };
    };
    await sleep(700); // ARP, flow creation, JIT
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = await forwarded();
      await sleep(seconds * 1000);
      const b = await forwarded();
      rates.push((b.n - a.n) / ((b.t - a.t) / 1000));
    }
    return { rates, merges: actors.store.stats.merges };
  } finally {
    await actors.stop();
  }
}

export async function run(report: BenchReport): Promise<void> {
  const res: Record<number, number[]> = { 1: [], 2: [] };
  let merges = 0;
  // Alternated, so the machine's other load falls on both sides alike.
  for (let r = 0; r < 3; r++) {
    for (const w of r % 2 ? [2, 1] : [1, 2]) {
      const e = await echoRates(w, 'memory', 1, 2);
      res[w].push(...e.rates);
      merges += e.merges;
    }
  }
  const one = median(res[1]) / 1e6;
  const two = median(res[2]) / 1e6;
  const how = `RouterActors, store mode, merging every 100 ms (${merges} merges in all); peers simulated in each actor's thread (${FLOWS_PER_ACTOR} UDP flows, ${WINDOW} frames in flight per actor), main thread only merging; frames forwarded per s, both directions; median of 6 × 1 s, 1 and 2 actors alternated`;
  report.add('forward.mpps_1w', one, 'Mpps', '>= 1', `1 packet actor; ${how}`);
  report.add('forward.mpps_2w', two, 'Mpps', '>= 2', `2 packet actors; ${how}`);
  report.add('forward.scaling_2w', two / one, 'x', '>= 1.7', 'forward.mpps_2w ÷ forward.mpps_1w, on 2 vCPUs');
  const h = await echoRates(1, 'hashtable', 1, 3);
  report.add('forward.hashtable.mpps_1w', median(h.rates) / 1e6, 'Mpps', undefined, 'the same, 1 actor, --store hashtable (nothing merged)');
}

await runAlone(import.meta.url, run, true);
