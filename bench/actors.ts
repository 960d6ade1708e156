// Actor benchmarks: the cost of the merge loop, as packet-actor throughput with merging on vs off,
// measured alternately in one run on the same actors.
import { performance } from 'node:perf_hooks';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { parseIpv4 } from '../wire/index.js';
import { StackActors } from '../actors/host/host-actors.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { arpFrame, echoRequestFrame } from '../test/support/frames.js';
import { type BenchReport, median } from './report.js';

const ME: NetInterface = { name: 'bench0', mac: localMac(0xbe), ip: parseIpv4('10.66.0.1'), prefix: 16 };

/** A closed-loop load: `window` frames outstanding; each answer is counted and replaced while a round runs. */
class ClosedLoop {
  private inFlight = 0;
  private answered = 0;
  private active = false;
  private i = 0;

  constructor(private readonly peer: RingLink, private readonly frames: Uint8Array[], private readonly window = 256) {
    peer.onFrames((batch) => {
      this.inFlight -= batch.length;
      if (!this.active) return;
      this.answered += batch.length;
      for (let k = 0; k < batch.length; k++) this.sendOne();
    });
  }

  private sendOne(): void {
    if (this.peer.send(this.frames[this.i++ % this.frames.length])) this.inFlight++;
  }

  /** Frames answered per second over `seconds`. */
  async round(seconds: number): Promise<number> {
    this.answered = 0;
    this.active = true;
    const t0 = performance.now();
    while (this.inFlight < this.window) this.sendOne();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    this.active = false;
    const rate = this.answered / ((performance.now() - t0) / 1000);
    const end = Date.now() + 2_000;
    while (this.inFlight > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5)); // drain before the next round
    return rate;
  }
}

async function overhead(report: BenchReport, key: string, refreshSlackMs: number, note: string): Promise<void> {
  const [a, b] = ringLinkPair('bench-wire', 1 << 22);
  const stackEnd = new RingLink(a);
  const peer = new RingLink(b);
  const actors = new StackActors(stackEnd, ME, { packetActors: 2, mergeIntervalMs: 100, arp: { refreshSlackMs, maxEntries: 1 << 20 } });
  await actors.ready();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 4096; i++) {
    const src = parseIpv4('10.66.1.0') + i;
    const mac = 0x02_00_00_66_00_00 + i;
    if (i % 4 === 0) frames.push(arpFrame({ op: 'request', srcMac: mac, senderIp: src, targetIp: ME.ip }));
    else frames.push(echoRequestFrame({ srcMac: mac, dstMac: ME.mac, src, dst: ME.ip, seq: i & 0xffff }));
  }
  const setMerging = async (on: boolean) => {
    for (const h of actors.supervisor.actors) await h.control?.setMerging(on);
  };
  const load = new ClosedLoop(peer, frames);
  await load.round(0.5); // warm up
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < 6; r++) {
    // Alternate which mode goes first, so neither always inherits the other's garbage.
    for (const mode of r % 2 === 0 ? [true, false] : [false, true]) {
      await setMerging(mode);
      (mode ? on : off).push(await load.round(1));
    }
  }
  await setMerging(true);
  const mOn = median(on);
  const mOff = median(off);
  report.add(`${key}.fps_merging_on`, mOn, 'frames/s', undefined, note);
  report.add(`${key}.fps_merging_off`, mOff, 'frames/s');
  report.add(`${key}.merge_overhead_pct`, ((mOff - mOn) / mOff) * 100, '%', key === 'actors' ? '<= 5' : undefined, 'throughput lost to the merge loop (100 ms interval)');
  report.add(`${key}.merges`, actors.store.stats.merges, 'merges');
  await actors.stop();
  peer.close();
  stackEnd.close();
}

export async function run(report: BenchReport): Promise<void> {
  // As configured by default: a neighbour heard again within a second is not rewritten (refresh coalescing).
  await overhead(report, 'actors', 1_000, '2 packet actors, ping + ARP from 1,024 senders, default refresh coalescing');
  // Worst case: every ARP request rewrites its entry, ~25% of frames are store writes.
  await overhead(report, 'actors.write_heavy', 0, 'the same with every ARP request a store write (no coalescing)');
}
