// wire.tap_rx_fps: frames per second a TapLink reads while a network namespace floods the TAP with small UDP datagrams.
// Root only (TAP + namespace); otherwise the figure is reported as not measured, with the reason.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TapLink, tapSupport } from '../wire/link/tap.js';
import { median, type BenchReport } from './report.js';

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
  if (process.getuid?.() !== 0) {
    report.add(KEY, null, UNIT, GOAL, 'needs root: creates a TAP device and a network namespace');
    return;
  }
  const support = tapSupport();
  if (!support.ok) {
    report.add(KEY, null, UNIT, GOAL, support.error.message);
    return;
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'nb-tapbench-'));
  const flood = join(dir, 'udp-flood');
  const cc = spawnSync('cc', ['-O2', '-o', flood, fileURLToPath(new URL('./udp-flood.c', import.meta.url))], { encoding: 'utf8' });
  if (cc.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    report.add(KEY, null, UNIT, GOAL, `cannot build the flood generator (cc): ${(cc.stderr || cc.error?.message || '').trim().slice(0, 200)}`);
    return;
  }

  const name = `nbb${process.pid}`;
  const ns = name;
  let tap: TapLink | null = null;
  let nsMade = false;
  const cleanup = (): void => {
    tap?.close();
    tap = null;
    if (nsMade) spawnSync('ip', ['netns', 'del', ns]);
    nsMade = false;
  };
  process.once('exit', cleanup);
  const restoreAffinity = pinSelf();
  try {
    tap = TapLink.open(name, { up: false });
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    ip('netns', 'add', ns);
    nsMade = true;
    ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('link', 'set', name, 'netns', ns);
    ip('-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', name);
    ip('-n', ns, 'link', 'set', name, 'up');
    // A permanent neighbour entry: the flood needs no ARP answer from us.
    ip('-n', ns, 'neigh', 'add', '192.0.2.2', 'lladdr', '02:4e:42:00:00:02', 'dev', name, 'nud', 'permanent');

    let frames = 0;
    let batches = 0;
    let ipv4 = 0;
    tap.onFrames((fs) => {
      batches++;
      frames += fs.length;
      for (let i = 0; i < fs.length; i++) if (fs[i][12] === 0x08) ipv4++;
    });

    const rates: number[] = [];
    const perBatch: number[] = [];
    const cpuPerFrame: number[] = [];
    let generated = 0;
    let generatedSeconds = 0;
    const droppedBefore = txDropped(ns, name);
    for (let r = 0; r < RUNS; r++) {
      const floodArgs = ['netns', 'exec', ns, ...(restoreAffinity ? ['taskset', '-c', String(os.cpus().length - 1)] : []),
        flood, '192.0.2.2', '9', String(PAYLOAD), String(FLOOD_SECONDS), String(FLOOD_MAX)];
      const child = spawn('ip', floodArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      await sleep(WARM_MS);
      const f0 = frames;
      const b0 = batches;
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await sleep(WINDOW_MS);
      const cpu = process.cpuUsage(c0);
      const f1 = frames;
      const b1 = batches;
      const t1 = performance.now();
      await exited;
      rates.push(((f1 - f0) * 1000) / (t1 - t0));
      perBatch.push((f1 - f0) / Math.max(1, b1 - b0));
      cpuPerFrame.push((cpu.user + cpu.system) / Math.max(1, f1 - f0));
      generated += Number(out.trim().split(' ')[0]) || 0;
      generatedSeconds += FLOOD_SECONDS;
      await sleep(100);
    }
    const dropped = txDropped(ns, name) - droppedBefore;
    const rate = median(rates);
    const pinning = restoreAffinity ? `reader pinned to cpu 0, flood to cpu ${os.cpus().length - 1}` : 'unpinned';
    report.add(KEY, rate, UNIT, GOAL,
      `median of ${RUNS} x ${WINDOW_MS} ms; 60-byte UDP frames; ${pinning}; flood offered ${Math.round(generated / generatedSeconds)}/s, ` +
      `kernel dropped ${dropped} at the TAP queue; ${ipv4 === frames ? 'all IPv4' : `${frames - ipv4} non-IPv4`}`);
    report.add('wire.tap_rx_cpu_us_per_frame', median(cpuPerFrame), 'µs', undefined,
      'CPU time of this process per frame read (user + system); 1e6 / it is the rate a whole free vCPU would give');
    report.add('wire.tap_rx_frames_per_batch', median(perBatch), 'frames', undefined, 'frames handed over per wake-up during the flood (max 256)');
  } catch (err) {
    report.add(KEY, null, UNIT, GOAL, `failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    restoreAffinity?.();
    cleanup();
    process.removeListener('exit', cleanup);
    rmSync(dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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

// `node --import tsx bench/tap.ts` runs this suite alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { BenchReport } = await import('./report.js');
  await run(new BenchReport());
}
