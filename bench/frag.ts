// IPv4 reassembly in-process: datagrams of `ping -s 4000` size cut in 3 fragments, shuffled, through a Reassembler
// writing its `frag` rows to a store branch; then a flood of fragments that never complete against the memory bound.
//   node --import tsx bench/frag.ts            (or: npm run bench -- frag)
import { performance } from 'node:perf_hooks';
import { Store } from '../store/index.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4 } from '../wire/ipv4.js';
import { fragmentIpv4 } from '../wire/ipv4-fragment.js';
import { fragTable } from '../actors/iface/frag-table.js';
import { Reassembler } from '../actors/iface/reassembly.js';
import { prng } from '../actors/sim/prng.js';
import { median, runAlone, type BenchReport } from './report.js';

const POOL = 4096;
/** Datagrams whose fragments are shuffled together, so several are pending at once. */
const WINDOW = 8;
const PAYLOAD = 4008; // ping -s 4000: 8 bytes of ICMP header + 4000
const MTU = 1500;
const ROUNDS = 5;
const ROUND_MS = 1000;
const FLOOD = 200_000;
const HIGH_THRESH = 4 * 1024 * 1024;

function datagram(ident: number, rand: () => number): Uint8Array {
  const repr = new Ipv4Repr({ src: parseIpv4('10.0.0.1'), dst: parseIpv4('10.0.0.2'), protocol: IpProtocol.Icmp, payloadLen: PAYLOAD, ident });
  const out = new Uint8Array(repr.bufferLen() + PAYLOAD);
  repr.emit(Ipv4Packet.newUnchecked(out));
  for (let i = repr.bufferLen(); i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** POOL datagrams' fragments (3 each), shuffled within windows of WINDOW datagrams, back to back in one buffer as a ring holds them. */
function fragmentStream(): { ring: Uint8Array; at: number[]; len: number[] } {
  const rand = prng(14);
  const frags: Uint8Array[] = [];
  for (let w = 0; w < POOL; w += WINDOW) {
    const batch: Uint8Array[] = [];
    for (let i = w; i < w + WINDOW; i++) batch.push(...fragmentIpv4(datagram(i, rand), MTU));
    for (let i = batch.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [batch[i], batch[j]] = [batch[j], batch[i]];
    }
    frags.push(...batch);
  }
  const ring = new Uint8Array(frags.reduce((n, f) => n + f.length, 0));
  const at: number[] = [];
  frags.reduce((o, f) => { ring.set(f, o); at.push(o); return o + f.length; }, 0);
  return { ring, at, len: frags.map((f) => f.length) };
}

/** Datagrams reassembled per second over ROUND_MS, ROUNDS times; the branch commits after every pass over the pool. */
function reassemblyRates(withStore: boolean): number[] {
  const { ring, at, len } = fragmentStream();
  if (at.length !== 3 * POOL) throw new Error(`expected 3 fragments per datagram, got ${at.length / POOL}`);
  const branch = withStore ? new Store([fragTable]).main.fork('frag-bench') : null;
  const r = new Reassembler(branch ? branch.table(fragTable) : null);
  const view = Ipv4Packet.newUnchecked(ring);
  const pass = (now: number) => {
    for (let i = 0; i < at.length; i++) {
      view.reset(ring, at[i], len[i]);
      view.check();
      r.accept(view, now);
    }
    branch?.commit({ author: 'bench', message: 'frag pass' });
  };
  for (let i = 0; i < 20; i++) pass(0); // JIT
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = r.counters.reassembled;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ROUND_MS) { pass(t); t = performance.now(); }
    rates.push((r.counters.reassembled - before) / ((t - t0) / 1000));
  }
  if (r.counters.overlaps + r.counters.overMemory + r.counters.duplicates !== 0) throw new Error(`unexpected drops: ${JSON.stringify(r.counters)}`);
  return rates;
}

/** FLOOD fragments of new datagrams that never complete, 1 ms apart on a simulated clock: the peak of memoryBytes. */
function floodPeak(): { peak: number; overMemory: number; timeouts: number } {
  const branch = new Store([fragTable]).main.fork('frag-flood');
  const r = new Reassembler(branch.table(fragTable), { highThresh: HIGH_THRESH });
  const rand = prng(1858);
  const buf = new Uint8Array(20 + 1480).fill(0x55);
  const repr = new Ipv4Repr({ src: parseIpv4('192.0.2.66'), dst: parseIpv4('10.0.0.2'), protocol: IpProtocol.Udp, payloadLen: 0, moreFragments: true });
  const view = Ipv4Packet.newUnchecked(buf);
  let peak = 0;
  for (let i = 0; i < FLOOD; i++) {
    const len = 8 * (1 + Math.floor(rand() * 185));
    repr.ident = i & 0xffff;
    repr.src = (repr.src & 0xffffff00) | ((i >>> 16) & 0xff);
    repr.fragmentOffset = 8 * Math.floor(rand() * (8000 - len / 8));
    repr.emit(view, len);
    view.reset(buf, 0, 20 + len);
    r.poll(i);
    r.accept(view, i);
    if (r.memoryBytes > peak) peak = r.memoryBytes;
    if (i % 10_000 === 0) branch.commit({ author: 'bench', message: 'flood' });
  }
  return { peak, overMemory: r.counters.overMemory, timeouts: r.counters.timeouts };
}

export async function run(report: BenchReport): Promise<void> {
  const stored = median(reassemblyRates(true));
  const bare = median(reassemblyRates(false));
  const how = `${PAYLOAD + 20}-byte IPv4 datagrams (ping -s 4000) cut at MTU ${MTU} into 3 fragments, shuffled ${WINDOW} datagrams at a time, one thread; median of ${ROUNDS} × ${ROUND_MS} ms`;
  report.add('frag.reassembly_mpps', stored / 1e6, 'M datagrams/s', undefined, `${how}; each fragment writes its frag row to a store branch, committed every ${POOL} datagrams`);
  report.add('frag.reassembly_fragments_mpps', (3 * stored) / 1e6, 'M fragments/s', undefined, 'the same run, fragments accepted per s');
  report.add('frag.reassembly_nostore_mpps', bare / 1e6, 'M datagrams/s', undefined, `${how}; no store table (rows not written)`);
  const flood = floodPeak();
  const note = `${FLOOD} fragments (MF set, 8-1480 bytes at random offsets) of distinct datagrams, 1 ms apart on a simulated clock, highThresh ${HIGH_THRESH}; ${flood.overMemory} dropped over memory, ${flood.timeouts} timed out`;
  report.add('frag.memory_bound_held', flood.peak <= HIGH_THRESH ? 1 : 0, 'bool', '>= 1', note);
  report.add('frag.memory_peak_bytes', flood.peak, 'bytes', `<= ${HIGH_THRESH}`, 'peak of Reassembler.memoryBytes in the same flood');
}

await runAlone(import.meta.url, run);
