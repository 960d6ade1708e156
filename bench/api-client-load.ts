// The other process of bench/api.ts: one API client (api/client.ts) on the router's socket, driven by
// JSON commands on stdin (one a line), answering one JSON line each on stdout.
//   node --import tsx bench/api-client-load.ts unix:/path/to/api.sock
// Commands:
//   {"cmd":"keys","keys":[["nat","udp:…"],["arp","10.201.0.2"],…]}  the keys to get, in turn
//   {"cmd":"check"}                  gets every key once: the indices of those that failed
//   {"cmd":"latency","seconds":S}    back-to-back gets for S seconds: each round trip, µs
//   {"cmd":"pace","rate":R}          starts gets paced at R/s (one in flight at a time); answers at once
//   {"cmd":"stop"}                   stops pacing: the gets made and their round trips
//   {"cmd":"exit"}
// Everything is bounded: the parent's timeouts kill this process if an answer does not come.
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { ApiError, connect, type Client } from '../api/client.js';

interface Command { cmd: string; keys?: [string, string][]; seconds?: number; rate?: number }

const where = process.argv[2];
if (!where) {
  process.stderr.write('usage: api-client-load.ts unix:PATH\n');
  process.exit(2);
}
const client: Client = await connect(where, { timeoutMs: 5_000 });
const hello = await client.hello();

let keys: [string, string][] = [];
let k = 0;
let errors = 0;
let notFound = 0;
let lastError = '';

const answer = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One get of the next key: its round trip in µs (client encode → server → client decode), or -1 on error. */
async function oneGet(): Promise<number> {
  const [table, key] = keys[k++ % keys.length];
  const t0 = process.hrtime.bigint();
  try {
    await client.get(table, key);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'not-found') notFound++;
    else errors++;
    lastError = (err as Error).message;
    return -1;
  }
  return Number(process.hrtime.bigint() - t0) / 1000;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

interface Pacing { stop: boolean; samples: number[]; made: number; t0: number; done: Promise<void> }
let pacing: Pacing | null = null;

/** Gets at `rate`/s: whenever behind schedule, the next get goes at once (a backlog is capped at 50), else a 1 ms sleep. */
function startPacing(rate: number): void {
  const p: Pacing = { stop: false, samples: [], made: 0, t0: performance.now(), done: Promise.resolve() };
  p.done = (async () => {
    let slot = 0;
    while (!p.stop) {
      const due = Math.floor(((performance.now() - p.t0) * rate) / 1000);
      if (due - slot > 50) slot = due - 50; // after a long stall, do not burst more than 50
      if (slot < due) {
        slot++;
        p.made++;
        const us = await oneGet();
        if (us >= 0) p.samples.push(us);
      } else {
        await sleep(1);
      }
    }
  })();
  pacing = p;
}

async function handle(c: Command): Promise<object> {
  switch (c.cmd) {
    case 'keys':
      keys = c.keys ?? [];
      k = 0;
      return { ok: true, keys: keys.length, server: hello.role };
    case 'check': {
      const before = { notFound, errors };
      const missing: number[] = [];
      k = 0;
      for (let i = 0; i < keys.length; i++) if ((await oneGet()) < 0) missing.push(i);
      k = 0;
      return { ok: true, checked: keys.length, notFound: notFound - before.notFound, errors: errors - before.errors, missing, lastError };
    }
    case 'latency': {
      const samples: number[] = [];
      const e0 = errors + notFound;
      const t0 = performance.now();
      const end = t0 + (c.seconds ?? 1) * 1000;
      while (performance.now() < end) {
        const us = await oneGet();
        if (us >= 0) samples.push(round1(us));
      }
      return { ok: true, seconds: (performance.now() - t0) / 1000, samples, failed: errors + notFound - e0, lastError };
    }
    case 'pace':
      if (pacing) return { ok: false, error: 'already pacing' };
      startPacing(c.rate ?? 1000);
      return { ok: true };
    case 'stop': {
      if (!pacing) return { ok: false, error: 'not pacing' };
      const p = pacing;
      p.stop = true;
      await p.done;
      pacing = null;
      return { ok: true, seconds: (performance.now() - p.t0) / 1000, made: p.made, samples: p.samples.map(round1), failed: p.made - p.samples.length };
    }
    case 'exit':
      return { ok: true };
    default:
      return { ok: false, error: `unknown command ${c.cmd}` };
  }
}

const rl = createInterface({ input: process.stdin });
answer({ ok: true, ready: true, role: hello.role });
for await (const line of rl) {
  if (!line.trim()) continue;
  let c: Command;
  try {
    c = JSON.parse(line) as Command;
  } catch {
    answer({ ok: false, error: 'bad command' });
    continue;
  }
  answer(await handle(c));
  if (c.cmd === 'exit') break;
}
const left = pacing as Pacing | null; // set by handle()
if (left) { left.stop = true; await left.done; }
await client.close();
process.exit(0);
