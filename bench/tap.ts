// wire.tap_rx_fps: frames per second a TapLink reads while a network namespace floods the TAP with small UDP datagrams.
// Root only (TAP + namespace); otherwise the figure is reported as not measured, with the reason.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TapLink, tapSupport } from '../wire/link/tap.js';
import { median, runAlone, type BenchReport } from './report.js';

const KEY = 'wire.tap_rx_fps';
const UNIT = 'frames/s';
const GOAL = '>= 500000';
const RUNS = 3;
const WARM_MS = 400;
const WINDOW_MS = 1000;
const FLOOD_SECONDS = 2; // covers warm-up and window with room to spare
const FLOOD_MAX = 5_000_000;
const PAYLOAD = 18; // 14 + 20 + 8 + 18 = 60-byte frames, the Ethernet minimum

export async function run(report: BenchReport): Promise<void> {
  const why = unavailable();
  if (why) {
    report.add(KEY, null, UNIT, GOAL, why);
    return;
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'nb-tapbench-'));
  const flood = join(dir, 'udp-flood');
  const ccError = buildFlood(flood);
  if (ccError) {
    rmSync(dir, { recursive: true, force: true });
    report.add(KEY, null, UNIT, GOAL, ccError);
    return;
  }
  const rig = new FloodRig(`nbb${process.pid}`);
  process.once('exit', rig.cleanup);
  const restoreAffinity = pinSelf();
  try {
    const tap = rig.open();
    const reader = countFrames(tap);
    const droppedBefore = txDropped(rig.ns, rig.name);
    const runs = await floodRuns(rig, reader, flood, restoreAffinity !== null);
    const dropped = txDropped(rig.ns, rig.name) - droppedBefore;
    reportTap(report, runs, reader, dropped, restoreAffinity !== null);
  } catch (err) {
    report.add(KEY, null, UNIT, GOAL, `failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    restoreAffinity?.();
    rig.cleanup();
    process.removeListener('exit', rig.cleanup);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why this suite cannot run here (null: it can). */
function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root: creates a TAP device and a network namespace';
  const support = tapSupport();
  return support.ok ? null : support.error.message;
}

/** Compiles the small C flooder to `out`; returns why it could not (null: built). */
function buildFlood(out: string): string | null {
  const cc = spawnSync('cc', ['-O2', '-o', out, fileURLToPath(new URL('./udp-flood.c', import.meta.url))], { encoding: 'utf8' });
  return cc.status === 0 ? null : `cannot build the flood generator (cc): ${(cc.stderr || cc.error?.message || '').trim().slice(0, 200)}`;
}

/** The TAP (ours) and the namespace its other end is moved into (the flood's), and their teardown. */
class FloodRig {
  readonly ns: string;
  private tap: TapLink | null = null;
  private nsMade = false;
  constructor(readonly name: string) {
    this.ns = name;
  }

  open(): TapLink {
    const { name, ns } = this;
    const tap = (this.tap = TapLink.open(name, { up: false }));
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    ip('netns', 'add', ns);
    this.nsMade = true;
    ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('link', 'set', name, 'netns', ns);
    ip('-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', name);
    ip('-n', ns, 'link', 'set', name, 'up');
    // A permanent neighbour entry: the flood needs no ARP answer from us.
    ip('-n', ns, 'neigh', 'add', '192.0.2.2', 'lladdr', '02:4e:42:00:00:02', 'dev', name, 'nud', 'permanent');
    return tap;
  }

  readonly cleanup = (): void => {
    this.tap?.close();
    this.tap = null;
    if (this.nsMade) spawnSync('ip', ['netns', 'del', this.ns]);
    this.nsMade = false;
  };
}

/** Frames and wake-ups the TapLink delivered, and how many of the frames were IPv4. */
interface FrameCount {
  frames(): number;
  batches(): number;
  ipv4(): number;
}

/** Counts in the callback's own locals, as the benchmark always did: the figure includes this loop, so it must not change. */
function countFrames(tap: TapLink): FrameCount {
  let frames = 0;
  let batches = 0;
  let ipv4 = 0;
  tap.onFrames((fs) => {
    batches++;
    frames += fs.length;
    for (let i = 0; i < fs.length; i++) if (fs[i][12] === 0x08) ipv4++;
  });
  return { frames: () => frames, batches: () => batches, ipv4: () => ipv4 };
}

interface FloodRuns { rates: number[]; perBatch: number[]; cpuPerFrame: number[]; generated: number; generatedSeconds: number }

/** RUNS floods, each read for WINDOW_MS after WARM_MS. */
async function floodRuns(rig: FloodRig, reader: FrameCount, flood: string, pinned: boolean): Promise<FloodRuns> {
  const runs: FloodRuns = { rates: [], perBatch: [], cpuPerFrame: [], generated: 0, generatedSeconds: 0 };
  for (let r = 0; r < RUNS; r++) {
    const floodArgs = ['netns', 'exec', rig.ns, ...(pinned ? ['taskset', '-c', String(os.cpus().length - 1)] : []),
      flood, '192.0.2.2', '9', String(PAYLOAD), String(FLOOD_SECONDS), String(FLOOD_MAX)];
    const child = spawn('ip', floodArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await sleep(WARM_MS);
    const f0 = reader.frames();
    const b0 = reader.batches();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await sleep(WINDOW_MS);
    const cpu = process.cpuUsage(c0);
    const f1 = reader.frames();
    const b1 = reader.batches();
    const t1 = performance.now();
    await exited;
    runs.rates.push(((f1 - f0) * 1000) / (t1 - t0));
    runs.perBatch.push((f1 - f0) / Math.max(1, b1 - b0));
    runs.cpuPerFrame.push((cpu.user + cpu.system) / Math.max(1, f1 - f0));
    runs.generated += Number(out.trim().split(' ')[0]) || 0;
    runs.generatedSeconds += FLOOD_SECONDS;
    await sleep(100);
  }
  return runs;
}

function reportTap(report: BenchReport, runs: FloodRuns, reader: FrameCount, dropped: number, pinned: boolean): void {
  const frames = reader.frames();
  const ipv4 = reader.ipv4();
  const rate = median(runs.rates);
  const pinning = pinned ? `reader pinned to cpu 0, flood to cpu ${os.cpus().length - 1}` : 'unpinned';
  report.add(KEY, rate, UNIT, GOAL,
    `median of ${RUNS} x ${WINDOW_MS} ms; 60-byte UDP frames; ${pinning}; flood offered ${Math.round(runs.generated / runs.generatedSeconds)}/s, ` +
    `kernel dropped ${dropped} at the TAP queue; ${ipv4 === frames ? 'all IPv4' : `${frames - ipv4} non-IPv4`}`);
  report.add('wire.tap_rx_cpu_us_per_frame', median(runs.cpuPerFrame), 'µs', undefined,
    'CPU time of this process per frame read (user + system); 1e6 / it is the rate a whole free vCPU would give');
  report.add('wire.tap_rx_frames_per_batch', median(runs.perBatch), 'frames', undefined, 'frames handed over per wake-up during the flood (max 256)');
}

function txDropped(ns: string, dev: string): number {
  try {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${dev}/statistics/tx_dropped`], { encoding: 'utf8' });
    return Number(out.trim());
  } catch {
    return NaN;
  }
}

/**
 * Keeps this process (every thread) on cpu 0 for the measurement, so the flood gets the other vCPU to itself;
 * returns how to put the old affinity back, or null when there is one vCPU or no taskset.
 */
function pinSelf(): (() => void) | null {
  if (os.cpus().length < 2) return null;
  const now = spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' });
  const mask = /:\s*([0-9a-f]+)\s*$/.exec(now.stdout ?? '')?.[1];
  if (now.status !== 0 || mask === undefined) return null;
  if (spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)]).status !== 0) return null;
  return () => void spawnSync('taskset', ['-a', '-p', mask, String(process.pid)]);
}

await runAlone(import.meta.url, run);
