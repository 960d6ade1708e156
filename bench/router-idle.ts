// An idle router's CPU (root only): `netbranch router` on two fresh TAPs that carry no traffic, and
// the CPU time of its process (utime + stime of every thread, /proc/PID/stat) over a window. The
// first window starts at the ready line; the figure is the one after the process has settled (V8
// runs memory-reducing garbage collections for about 25 s after start-up). Only what this suite
// made is removed: its child process, and its two TAPs if that process did not take them with it.
//   npm run bench -- router-idle        NB_IDLE_SECONDS=10 NB_IDLE_SETTLE=30 NB_IDLE_FLAGS='--api unix:/tmp/x.sock'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tapSupport } from '../wire/link/tap.js';
import { runAlone, type BenchReport } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WINDOW_S = Number(process.env.NB_IDLE_SECONDS ?? 10);
const SETTLE_S = Number(process.env.NB_IDLE_SETTLE ?? 30);
const EXTRA = (process.env.NB_IDLE_FLAGS ?? '').split(' ').filter(Boolean);

/** CPU seconds the process has used, all threads (utime + stime, fields 14 and 15 of /proc/PID/stat). */
export function cpuSeconds(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name in parentheses may hold spaces
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // fields 14 and 15, counted from 3
}

/** Nanoseconds on a CPU per thread (/proc/PID/task/TID/schedstat): finer than clock ticks, for the note. */
function threadNs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try { out.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])); } catch { /* the thread ended */ }
  }
  return out;
}

function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout) > 0 ? Number(r.stdout) : 100;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Window { pct: number; threadsPct: number; busiest: string }

/** CPU use over `seconds`, % of one core: from clock ticks (the figure) and from schedstat (finer). */
async function window(pid: number, seconds: number, hz: number): Promise<Window> {
  const t0 = performance.now();
  const c0 = cpuSeconds(pid, hz);
  const n0 = threadNs(pid);
  await sleep(seconds * 1000);
  const c1 = cpuSeconds(pid, hz);
  const n1 = threadNs(pid);
  const wall = (performance.now() - t0) / 1000;
  const perThread = [...n1].map(([tid, ns]) => [tid, (ns - (n0.get(tid) ?? 0)) / 1e9] as const).sort((a, b) => b[1] - a[1]);
  const busy = perThread.reduce((a, [, s]) => a + s, 0);
  return {
    pct: ((c1 - c0) / wall) * 100,
    threadsPct: (busy / wall) * 100,
    busiest: perThread.slice(0, 3).map(([tid, s]) => `${tid === String(pid) ? 'main' : tid} ${((s / wall) * 100).toFixed(2)}%`).join(', '),
  };
}

function startRouter(tapIn: string, tapOut: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'router', '--inside', `${tapIn}:10.233.0.1/24`, '--outside', `${tapOut}:10.234.0.1/24`, ...EXTRA],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { err = (err + d).slice(-2000); });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready line in 60 s')), 60_000);
    const check = () => {
      if (out.includes('"event":"ready"')) { clearTimeout(timer); resolve(); }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`netbranch router exited (${code}): ${err.trim().split('\n').at(-1)}`)); });
  });
  return { child, ready };
}

async function stop(child: ChildProcess, taps: string[]): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const gone = new Promise((r) => child.once('exit', r));
    if (await Promise.race([gone.then(() => true), sleep(5_000).then(() => false)]) === false) child.kill('SIGKILL');
  }
  for (const t of taps) if (existsSync(`/sys/class/net/${t}`)) spawnSync('ip', ['link', 'del', t]);
}

export async function run(report: BenchReport): Promise<void> {
  const support = tapSupport();
  const why = process.getuid?.() !== 0 ? 'needs root (TAP devices)' : !support.ok ? support.error.message : undefined;
  if (why !== undefined) {
    report.add('router.idle_cpu_pct', null, '% of a core', '<= 1', `not measured: ${why}`);
    return;
  }
  const id = process.pid % 100000;
  const taps = [`nbii${id}`, `nbio${id}`];
  const { child, ready } = startRouter(taps[0], taps[1]);
  try {
    await ready;
    // The kernel's own IPv6 chatter (router solicitations, MLD) would be traffic: off on our two TAPs.
    for (const t of taps) spawnSync('sysctl', ['-qw', `net.ipv6.conf.${t}.disable_ipv6=1`]);
    const hz = clockTicks();
    const first = await window(child.pid!, WINDOW_S, hz);
    await sleep(Math.max(0, SETTLE_S - WINDOW_S) * 1000);
    const settled = await window(child.pid!, WINDOW_S, hz);
    const flags = EXTRA.length ? EXTRA.join(' ') : '--workers 2 --store memory (the defaults)';
    report.add('router.idle_cpu_pct', settled.pct, '% of a core', '<= 1',
      `netbranch router ${flags} on two TAPs with no traffic: utime+stime of all threads (/proc/PID/stat) over ${WINDOW_S} s, from ${SETTLE_S} s after the ready line; `
      + `per-thread schedstat ${settled.threadsPct.toFixed(2)}% (busiest: ${settled.busiest})`);
    report.add('router.idle_startup_cpu_pct', first.pct, '% of a core', undefined,
      `the same over the first ${WINDOW_S} s after the ready line (V8's post-start-up garbage collections); schedstat ${first.threadsPct.toFixed(2)}% (busiest: ${first.busiest})`);
  } catch (err) {
    report.add('router.idle_cpu_pct', null, '% of a core', '<= 1', `failed: ${(err as Error).message}`);
  } finally {
    await stop(child, taps);
  }
}

await runAlone(import.meta.url, run);
