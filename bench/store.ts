// Store benchmarks, each measured side by side with a plain Map in the same run (ratios, not times,
// are what the machine's noise leaves meaningful).
import { performance } from 'node:perf_hooks';
import { Store, ReplicaHost, Replica, table, keys, values, option, record, max, lww, type Branch } from '../store/index.js';
import { type BenchReport, median } from './report.js';

interface ArpEntry { mac: string; expires: number; kind: 'dynamic' | 'static' }

const arp = table<string, ArpEntry>({
  name: 'arp',
  key: keys.ipv4,
  value: values.record({ mac: values.mac, expires: values.uint, kind: values.oneOf('dynamic', 'static') }),
  merge: option(record<ArpEntry>({ mac: lww<string>(() => 0), expires: max<number>(), kind: max<'dynamic' | 'static'>() }), { onDeleteModify: 'keep' }),
});

const ip = (i: number) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
const mac = (i: number) => `02:00:${((i >>> 24) & 255).toString(16).padStart(2, '0')}:${((i >>> 16) & 255).toString(16).padStart(2, '0')}:${((i >>> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const entry = (i: number, t = 60_000): ArpEntry => ({ mac: mac(i), expires: t, kind: 'dynamic' });

/** A store whose main branch holds n committed ARP-like entries, and the keys it holds. */
function filled(n: number): { store: Store; main: Branch; keyList: string[] } {
  const store = new Store([arp], { clock: () => 0, retention: 64 });
  const t = store.main.table(arp);
  const keyList: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const k = ip(i);
    keyList[i] = k;
    t.set(k, entry(i));
  }
  store.main.commit({ message: 'fill' });
  return { store, main: store.main, keyList };
}

function shuffled(keyList: string[], count: number, seed = 7): string[] {
  let a = seed;
  const out: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    out[i] = keyList[a % keyList.length];
  }
  return out;
}

let sink = 0;

function timeLoop(fn: () => void, reps = 7): number {
  const samples: number[] = [];
  fn(); // warm up
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

type Filled = ReturnType<typeof filled>;

/** Memory first, on a quiet heap: the store's bytes per entry, retained and steady, and a plain Map's; returns the Map. */
function memoryFigures(report: BenchReport, n: number): { big: Filled; plain: Map<string, ArpEntry> } {
  const h0 = heapUsed();
  const big = filled(n);
  const h1 = heapUsed();
  report.add('store.bytes_per_entry_1m', (h1 - h0) / n, 'B/entry', undefined, 'heap of 1M ARP-like entries, keys and values included');
  // Once the fill commit leaves the retention window, its undo records go: the steady-state cost.
  for (let i = 0; i <= big.store.retention; i++) {
    big.main.table(arp).set(big.keyList[i], entry(i, 61_000));
    big.main.commit({ message: 'roll the retention window' });
  }
  const h1s = heapUsed();
  report.add('store.bytes_per_entry_1m_steady', (h1s - h0) / n, 'B/entry', undefined, 'the same once the fill commit is out of the retention window');
  const plain = new Map<string, ArpEntry>();
  for (const [k, v] of big.main.table(arp).committedEntries()) plain.set(k, v);
  const h2 = heapUsed();
  report.add('store.map_bytes_per_entry_1m', (h2 - h1s) / n, 'B/entry', undefined, 'a plain Map of the same entries (values shared), for scale');
  return { big, plain };
}

/** get on a fork of the 1M table vs Map.get, interleaved reps of the same random keys. */
function getFigures(report: BenchReport, big: Filled, plain: Map<string, ArpEntry>): void {
  const lookups = shuffled(big.keyList, 2_000_000);
  const fork = big.main.fork('reader');
  const ft = fork.table(arp);
  const getMap = () => { let s = 0; for (let i = 0; i < lookups.length; i++) s += plain.get(lookups[i])!.expires; sink += s; };
  const getBranch = () => { let s = 0; for (let i = 0; i < lookups.length; i++) s += ft.get(lookups[i])!.expires; sink += s; };
  const gm: number[] = [];
  const gb: number[] = [];
  for (let r = 0; r < 5; r++) { gm.push(timeLoop(getMap, 1)); gb.push(timeLoop(getBranch, 1)); }
  report.add('store.get_ns', (median(gb) * 1e6) / lookups.length, 'ns/op', undefined, 'get on a fork of a 1M-entry table');
  report.add('store.map_get_ns', (median(gm) * 1e6) / lookups.length, 'ns/op');
  report.add('store.get_ratio', median(gb) / median(gm), '×Map.get', '<= 1.3');
}

/** set on a branch vs Map.set, the same 200k random keys (updates of existing entries). */
function setFigures(report: BenchReport, big: Filled, plain: Map<string, ArpEntry>): void {
  const writes = shuffled(big.keyList, 200_000, 11);
  const vals = writes.map((_, i) => entry(i, 120_000));
  const sm: number[] = [];
  const sb: number[] = [];
  for (let r = 0; r < 5; r++) {
    const m = new Map(plain.size < 0 ? [] : undefined); // a fresh Map per rep, like a fresh branch overlay
    let t0 = performance.now();
    for (let i = 0; i < writes.length; i++) plain.set(writes[i], vals[i]);
    sm.push(performance.now() - t0);
    const w = big.main.fork('writer');
    const wt = w.table(arp);
    t0 = performance.now();
    for (let i = 0; i < writes.length; i++) wt.set(writes[i], vals[i]);
    sb.push(performance.now() - t0);
    w.close();
    sink += m.size;
  }
  report.add('store.set_ns', (median(sb) * 1e6) / writes.length, 'ns/op', undefined, 'set on a fresh fork of the 1M table');
  report.add('store.map_set_ns', (median(sm) * 1e6) / writes.length, 'ns/op', undefined, 'Map.set updating the 1M Map');
  report.add('store.set_ratio', median(sb) / median(sm), '×Map.set', '<= 2');
}

/** Merge a 1,000-key delta from a replica into the primary (checked, merged, head delta built), ms: median after 3 warm-up rounds. */
function mergeMs(main: Branch, keyList: string[], host: ReplicaHost, rounds: number): number {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // An empty snapshot: the replica only writes here, and a 1M-entry snapshot is not what is measured.
    const rep = new Replica(main.store.schema, { type: 'snapshot', replica: `r${r}`, base: host.pin(`r${r}`), tables: [] });
    const rt = rep.table(arp);
    for (const k of shuffled(keyList, 1000, 100 + r)) rt.set(k, entry(r, 200_000 + r));
    // The primary moves on meanwhile, so this is a three-way merge, not a fast-forward.
    const mt = main.table(arp);
    for (const k of shuffled(keyList, 1000, 900 + r)) mt.set(k, entry(r, 150_000 + r));
    main.commit({ message: 'concurrent' });
    const delta = rep.takeDelta()!;
    // No forced GC here: a collection just before moves the heap and leaves the big Map cold (first
    // lookups then cost several µs each), which measures the collector, not the merge.
    const t0 = performance.now();
    host.accept(delta);
    if (r >= 3) samples.push(performance.now() - t0); // the first rounds warm the code up
    host.detach(`r${r}`);
  }
  return median(samples);
}

function mergeFigures(report: BenchReport, big: Filled): void {
  const bigHost = new ReplicaHost(big.main);
  const m1m = mergeMs(big.main, big.keyList, bigHost, 33);
  const small = filled(1000);
  const m1k = mergeMs(small.main, small.keyList, new ReplicaHost(small.main), 33);
  report.add('store.merge_1k_into_1m_ms', m1m, 'ms', '<= 5', 'a 1,000-key delta, three-way, primary moved meanwhile');
  report.add('store.merge_1k_into_1k_ms', m1k, 'ms');
  report.add('store.merge_scaling_ratio', m1m / m1k, '×', '<= 1.5', 'same delta into 1M ÷ into 1k entries');
}

export async function run(report: BenchReport): Promise<void> {
  const { big, plain } = memoryFigures(report, 1_000_000);
  getFigures(report, big, plain);
  setFigures(report, big, plain);
  // fork of the 1M branch.
  const F = 100_000;
  const tf = timeLoop(() => { for (let i = 0; i < F; i++) { const f = big.main.fork('f'); sink += f.baseSeq; f.close(); } }, 5);
  report.add('store.fork_us_1m', (tf * 1000) / F, 'µs', '< 5', 'fork + close of a 1M-entry branch, garbage collection included');
  mergeFigures(report, big);
  if (sink === 42) process.stdout.write(''); // keep the loops' results alive
}
