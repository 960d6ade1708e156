// One branch of `netbranch stress`, run as a piscina task on its own worker thread: a Replica making
// random ARP and counter edits to keys every other branch edits too, pushing deltas to the primary at
// random moments without waiting for the answer, and reporting what it did and what it finally sees.
import { Schema } from '../../store/index.js';
import { arpTable } from '../iface/arp-table.js';
import { prng } from '../sim/prng.js';
import { StressBranch } from './stress-branch.js';
import { StressEdits, TICK_MS, branchSeed } from './stress-edits.js';
import type { StressJob, StressTaskReport, StressView } from './stress-messages.js';
import { stressCounters, stressTables } from './stress-schema.js';

const YIELD_EVERY = 32;

export default async function stressTask(job: StressJob): Promise<StressTaskReport> {
  const branch = new StressBranch(job.replica, new Schema(stressTables), job.snapshot, job.port);
  const rand = prng(branchSeed(job.seed, job.branch));
  const skew = Math.floor(rand() * 4) * TICK_MS; // clocks of different branches disagree a little
  const edits = new StressEdits(branch.replica.table(arpTable), branch.replica.table(stressCounters), rand, job);
  try {
    await branch.start();
    const t0 = performance.now();
    await makeEdits(job, branch, edits, rand, skew);
    await branch.drain();
    await branch.finalPull();
    return report(job, branch, edits, performance.now() - t0);
  } finally {
    branch.close();
  }
}

/** The job's edits on the branch's clock, pushing at random moments; edits go on while a push is in flight. */
async function makeEdits(job: StressJob, branch: StressBranch, edits: StressEdits, rand: () => number, skew: number): Promise<void> {
  for (let i = 0; i < job.ops; i++) {
    edits.edit(skew + i * TICK_MS);
    if (rand() < job.mergeProbability) branch.push();
    if ((i + 1) % job.progressEvery === 0) branch.send({ type: 'progress', ops: i + 1 });
    if ((i + 1) % YIELD_EVERY === 0) await branch.letMessagesIn(); // let head deltas in
  }
  branch.send({ type: 'progress', ops: job.ops });
}

function report(job: StressJob, branch: StressBranch, edits: StressEdits, ms: number): StressTaskReport {
  const { replica } = branch;
  const view: StressView = {
    arp: [...replica.table(arpTable).entries()].sort((a, b) => a[0] - b[0]),
    counters: [...replica.table(stressCounters).entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  };
  return {
    branch: job.branch,
    replica: job.replica,
    ops: job.ops,
    opCounts: edits.opCounts,
    pushes: branch.pushes,
    pulls: branch.pulls,
    heads: replica.stats.heads,
    rejected: replica.stats.rejected,
    resyncs: replica.stats.resyncs,
    conflicts: replica.stats.conflicts,
    increments: edits.increments,
    view,
    ms,
  };
}
