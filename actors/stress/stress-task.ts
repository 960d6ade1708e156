// One branch of `netbranch stress`, run as a piscina task on its own worker thread: a Replica making
// random ARP and counter edits to keys every other branch edits too, pushing deltas to the primary at
// random moments without waiting for the answer, and reporting what it did and what it finally sees.
import type { MessagePort } from 'node:worker_threads';
import {
  DeltaCodec, Replica, Schema, table, keys, values, option, counter,
  type HeadDeltaMessage, type SnapshotMessage, type Table,
} from '../../store/index.js';
import { arpTable, type ArpEntry } from '../iface/arp-table.js';
import { prng } from '../sim/prng.js';

/** Shared counters, edited only by increments: their final values must be the sum of all increments. */
export const stressCounters = table<string, number>({
  name: 'counters',
  key: keys.string,
  value: values.uint,
  merge: option(counter(), { onDeleteModify: 'keep' }),
});

/** The stress schema; the primary and every branch build it in this order. */
export const stressTables: readonly Table<any, any>[] = [arpTable, stressCounters];

/** A dynamic entry's lifetime, and how far the simulated clock moves per op. */
export const ARP_TTL_MS = 60_000;
export const TICK_MS = 500;
/** The first stressed address, 10.0.0.1; branch edits use `keys` consecutive addresses from here. */
export const FIRST_IP = 0x0a00_0001;
/** The small MAC set learns pick from, so branches often learn the same MAC for an address. */
export const MACS: readonly number[] = [0x02_00_00_00_00_01, 0x02_00_00_00_00_02, 0x02_00_00_00_00_03, 0x02_00_00_00_00_04];

export type OpKind = 'increment' | 'learn' | 'refresh' | 'expire' | 'static-set' | 'static-delete';
export const OP_KINDS: readonly OpKind[] = ['increment', 'learn', 'refresh', 'expire', 'static-set', 'static-delete'];

/** What one branch's task is given; `port` is transferred (transferList). */
export interface StressJob {
  branch: number;
  /** Its replica id on the primary. */
  replica: string;
  seed: number;
  ops: number;
  /** Distinct ARP addresses; counters get max(1, keys / 4) keys. */
  keys: number;
  counters: number;
  /** Chance, per op, of pushing a delta at that moment (skipped while a push is in flight). */
  mergeProbability: number;
  /** The primary's SnapshotMessage, DeltaCodec-encoded. */
  snapshot: Uint8Array;
  port: MessagePort;
  /** Ops between progress messages. */
  progressEvery: number;
}

/** A branch's final view, sorted by key: what its replica holds after the final pull. */
export interface StressView {
  arp: [number, ArpEntry][];
  counters: [string, number][];
}

export interface StressTaskReport {
  branch: number;
  replica: string;
  ops: number;
  opCounts: Record<OpKind, number>;
  /** Deltas sent with edits, and empty ones (pulls). */
  pushes: number;
  pulls: number;
  heads: number;
  rejected: number;
  resyncs: number;
  /** Conflicts the primary reported in this branch's merges, plus those of its own rebases. */
  conflicts: number;
  /** Total amount added to each counter key by this branch. */
  increments: Record<string, number>;
  view: StressView;
  /** Time spent between 'go' and the final pull's answer. */
  ms: number;
}

/**
 * Messages on the job's port besides encoded replica messages (Uint8Array, both ways).
 * branch → primary: ready (loaded, waiting for go), progress, drained (every edit pushed and answered),
 * resync (base released: send a fresh snapshot). primary → branch: go, final-pull.
 */
export type StressControl =
  | { type: 'ready' }
  | { type: 'go' }
  | { type: 'progress'; ops: number }
  | { type: 'drained' }
  | { type: 'resync' }
  | { type: 'final-pull' };


/** Mixes the run seed with the branch number (so branches draw different streams). */
export function branchSeed(seed: number, branch: number): number {
  let h = (seed ^ 0x9e37_79b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) >>> 0;
  h = (h + Math.imul(branch + 1, 0xc2b2_ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0x27d4_eb2d) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const YIELD_EVERY = 32;

export default async function stressTask(job: StressJob): Promise<StressTaskReport> {
  const schema = new Schema(stressTables);
  const codec = new DeltaCodec(schema);
  const port = job.port;
  const replica = new Replica(schema, codec.decode(job.snapshot) as SnapshotMessage);
  const arp = replica.table(arpTable);
  const cnt = replica.table(stressCounters);
  const rand = prng(branchSeed(job.seed, job.branch));
  const skew = Math.floor(rand() * 4) * TICK_MS; // clocks of different branches disagree a little

  const opCounts = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
  const increments: Record<string, number> = {};
  let pushes = 0;
  let pulls = 0;
  let resyncing = false;
  let failure: Error | null = null;
  let lastHead: HeadDeltaMessage | null = null;

  // Waiters for the next control message or answer; the loop below awaits them between ops.
  let wake: (() => void) | null = null;
  const poke = () => { const w = wake; wake = null; w?.(); };
  const nextEvent = () => new Promise<void>((resolve) => { wake = resolve; });
  let go = false;
  let released = false;

  const push = (): void => {
    if (resyncing) return;
    const d = replica.takeDelta(); // null while a push is in flight: at most one at a time
    if (!d) return;
    if (d.tables.length) pushes++;
    else pulls++;
    port.postMessage(codec.encode(d));
  };

  port.on('message', (m: Uint8Array | StressControl) => {
    if (m instanceof Uint8Array) {
      const msg = codec.decode(m);
      if (msg.type === 'head') {
        if (replica.applyHead(msg)) lastHead = msg;
      } else if (msg.type === 'rejected') {
        if (!replica.applyRejected(msg.push)) return; // an answer to a push already settled
        if (msg.code === 'base-released') {
          resyncing = true;
          port.postMessage({ type: 'resync' } satisfies StressControl);
        } else {
          failure = new Error(`${job.replica}: delta push ${msg.push} rejected (${msg.code}): ${msg.message}`);
        }
      } else if (msg.type === 'snapshot') {
        replica.resync(msg);
        resyncing = false;
      }
    } else if (m.type === 'go') {
      go = true;
    } else if (m.type === 'final-pull') {
      released = true;
    }
    poke();
  });

  try {
    port.postMessage({ type: 'ready' } satisfies StressControl);
    while (!go) await nextEvent();
    const t0 = performance.now();

    for (let i = 0; i < job.ops; i++) {
      const now = skew + i * TICK_MS;
      if (rand() < 0.5) {
        const k = `c${Math.floor(rand() * job.counters)}`;
        const by = 1 + Math.floor(rand() * 3);
        cnt.set(k, (cnt.get(k) ?? 0) + by);
        increments[k] = (increments[k] ?? 0) + by;
        opCounts.increment++;
      } else {
        const ip = FIRST_IP + Math.floor(rand() * job.keys);
        const cur = arp.get(ip);
        const r = rand();
        const mac = MACS[Math.floor(rand() * MACS.length)];
        const learn = () => { arp.set(ip, { mac, expires: now + ARP_TTL_MS, kind: 'dynamic' }); opCounts.learn++; };
        const setStatic = () => { arp.set(ip, { mac, expires: 0, kind: 'static' }); opCounts['static-set']++; };
        if (cur === undefined) {
          if (r < 0.1) setStatic();
          else learn();
        } else if (cur.kind === 'static') {
          if (r < 0.5) { arp.delete(ip); opCounts['static-delete']++; } else setStatic();
        } else if (cur.expires <= now) {
          if (r < 0.8) { arp.delete(ip); opCounts.expire++; } else learn();
        } else if (r < 0.6) {
          arp.set(ip, { mac: cur.mac, expires: Math.max(now + ARP_TTL_MS, cur.expires + 1), kind: 'dynamic' });
          opCounts.refresh++;
        } else if (r < 0.93) {
          learn();
        } else {
          setStatic();
        }
      }
      if (rand() < job.mergeProbability) push(); // edits go on while the push is in flight
      if ((i + 1) % job.progressEvery === 0) port.postMessage({ type: 'progress', ops: i + 1 } satisfies StressControl);
      if ((i + 1) % YIELD_EVERY === 0) {
        await new Promise<void>((resolve) => setImmediate(resolve)); // let head deltas in
        if (failure) throw failure;
      }
    }
    port.postMessage({ type: 'progress', ops: job.ops } satisfies StressControl);

    // Push everything that is left, then wait for every other branch to do the same.
    while (replica.pending > 0 || replica.busy || resyncing) {
      if (failure) throw failure;
      if (!replica.busy) push();
      await nextEvent();
    }
    if (failure) throw failure;
    port.postMessage({ type: 'drained' } satisfies StressControl);
    while (!released) await nextEvent();

    // The final pull: an empty delta, answered with everything the primary changed since our base.
    lastHead = null;
    while (lastHead === null) {
      if (failure) throw failure;
      if (!replica.busy) push(); // again after a resync: a lagging branch may have lost its base meanwhile
      await nextEvent();
    }
    const ms = performance.now() - t0;
    const view: StressView = {
      arp: [...arp.entries()].sort((a, b) => a[0] - b[0]),
      counters: [...cnt.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    };
    return {
      branch: job.branch,
      replica: job.replica,
      ops: job.ops,
      opCounts,
      pushes,
      pulls,
      heads: replica.stats.heads,
      rejected: replica.stats.rejected,
      resyncs: replica.stats.resyncs,
      conflicts: replica.stats.conflicts,
      increments,
      view,
      ms,
    };
  } finally {
    port.close();
  }
}
