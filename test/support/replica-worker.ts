// A worker thread holding a replica: increments shared counters, pushes deltas at random moments
// without waiting for answers, and reports what it did. Driven by test/store-replica.test.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { DeltaCodec, Replica, Schema, type SnapshotMessage } from '../../store/index.js';
import { allTables, counters, members } from './tables.js';
import { prng } from '../../actors/sim/prng.js';

interface Job { seed: number; ops: number; keys: number }
const job = workerData as Job;
const port = parentPort!;
const codec = new DeltaCodec(new Schema(allTables));
let replica: Replica | null = null;
const added: Record<string, number> = {};
const chosen = new Set<number>();
const rand = prng(job.seed);

function push(): void {
  const d = replica!.takeDelta();
  if (d) port.postMessage(codec.encode(d));
}

async function work(): Promise<void> {
  const cnt = replica!.table(counters);
  const set = replica!.table(members);
  for (let i = 0; i < job.ops; i++) {
    const k = `k${Math.floor(rand() * job.keys)}`;
    const by = 1 + Math.floor(rand() * 3);
    cnt.set(k, (cnt.get(k) ?? 0) + by);
    added[k] = (added[k] ?? 0) + by;
    const cur = set.get('seen') ?? [];
    const x = Math.floor(rand() * 50);
    chosen.add(x);
    if (!cur.includes(x)) set.set('seen', [...cur, x].sort((p, q) => p - q));
    if (rand() < 0.05) push(); // merge at random moments; edits go on while a push is in flight
    if (i % 200 === 0) await new Promise((r) => setImmediate(r));
    if (i % 500 === 499) {
      // Besides the random pushes: a merge every 500 edits for certain, so the test cannot pass on one merge.
      while (replica!.busy) await new Promise((r) => setTimeout(r, 1));
      push();
    }
  }
  while (replica!.pending > 0 || replica!.busy) {
    if (!replica!.busy) push();
    await new Promise((r) => setTimeout(r, 1));
  }
  port.postMessage({ done: true, added, chosen: [...chosen] });
}

port.on('message', (msg: Uint8Array | { cmd: string }) => {
  if (msg instanceof Uint8Array) {
    const m = codec.decode(msg);
    if (m.type === 'snapshot') {
      replica = new Replica(new Schema(allTables), m as SnapshotMessage);
      void work();
    } else if (m.type === 'head') {
      replica!.applyHead(m);
      if (finalPull) port.postMessage({ view: [...replica!.table(counters).entries()].sort(), seen: replica!.table(members).get('seen') });
    } else if (m.type === 'rejected') {
      replica!.applyRejected(m.push);
      port.postMessage({ rejected: m.message });
    }
    return;
  }
  if (msg.cmd === 'pull') {
    finalPull = true;
    push();
  }
});
let finalPull = false;
