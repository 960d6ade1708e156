// Flood-ping latency of `netbranch host` on a TAP, with the Linux kernel in a namespace as the pinger, next to
// the same ping against a kernel peer over a veth pair (the reference). Root only.
//   node --import tsx bench/arp.ts            (or: npm run bench -- arp)
//   NB_BENCH_HOST_ARGS="--spin-us 0" node --import tsx bench/arp.ts    extra flags for `netbranch host`
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { median, runAlone, type BenchReport } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COUNT = 5000;
const RUNS = 3;
const GOAL = '<= 30';

interface Rtt { min: number; avg: number; max: number; mdev: number; loss: number }

export async function run(report: BenchReport): Promise<void> {
  const why = process.getuid?.() !== 0 ? 'needs root (TAP device and network namespaces)'
    : !existsSync('/dev/net/tun') ? '/dev/net/tun is missing'
      : !existsSync(fileURLToPath(new URL('../build/Release/tap.node', import.meta.url))) ? 'the TAP addon is not built' : null;
  if (why !== null) {
    for (const k of ['arp.flood_ping_rtt_us', 'kernel.flood_ping_rtt_us']) report.add(k, null, 'µs', k.startsWith('arp') ? GOAL : undefined, `not measured: ${why}`);
    return;
  }
  const extra = (process.env.NB_BENCH_HOST_ARGS ?? '').split(/\s+/).filter(Boolean);
  const workers = process.env.NB_BENCH_WORKERS ?? '2';
  // The goal figure: --queues (each packet actor on its own TAP queue, busy-polling 50 µs); then the default
  // dispatcher mode (main thread reads the TAP, rings to the actors and back).
  const modes: [string, string[]][] = [['arp', ['--queues', ...extra]], ['arp.dispatcher', extra]];
  for (const [key, args] of modes) {
    try {
      const r = await measureStack(workers, args);
      const note = `median of ${RUNS} runs of ping -f -c ${COUNT} from a namespace; netbranch host --workers ${workers}${args.length ? ' ' + args.join(' ') : ''}; loss ${r.loss}%`;
      report.add(`${key}.flood_ping_rtt_us`, r.avg, 'µs', key === 'arp' ? GOAL : undefined, note);
      report.add(`${key}.flood_ping_rtt_min_us`, r.min, 'µs', undefined, 'min of the same runs (median over runs)');
      report.add(`${key}.flood_ping_rtt_mdev_us`, r.mdev, 'µs', undefined, 'mdev of the same runs (median over runs)');
    } catch (err) {
      report.add(`${key}.flood_ping_rtt_us`, null, 'µs', key === 'arp' ? GOAL : undefined, `failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  try {
    const kernel = await measureKernel();
    report.add('kernel.flood_ping_rtt_us', kernel.avg, 'µs', undefined, `reference: the same ping to a kernel peer over a veth pair between two namespaces (median of ${RUNS})`);
    report.add('kernel.flood_ping_rtt_min_us', kernel.min, 'µs');
    report.add('kernel.flood_ping_rtt_mdev_us', kernel.mdev, 'µs');
  } catch (err) {
    report.add('kernel.flood_ping_rtt_us', null, 'µs', undefined, `failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

function exec(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** `rtt min/avg/max/mdev = 0.041/0.160/23.776/0.451 ms` → µs. */
export function parsePing(out: string): Rtt {
  const m = /rtt min\/avg\/max\/mdev = ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(out);
  const l = /([\d.]+)% packet loss/.exec(out);
  if (!m || !l) throw new Error(`cannot read ping's summary: ${out.slice(-300)}`);
  return { min: +m[1] * 1000, avg: +m[2] * 1000, max: +m[3] * 1000, mdev: +m[4] * 1000, loss: +l[1] };
}

async function floodPing(ns: string, dst: string): Promise<Rtt> {
  await exec('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', '3', '-i', '0.05', '-W', '1', dst], 10_000); // ARP, warm-up
  const runs: Rtt[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(parsePing(await exec('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-f', '-c', String(COUNT), '-W', '1', dst], 120_000)));
  const med = (k: keyof Rtt) => median(runs.map((x) => x[k]));
  return { min: med('min'), avg: med('avg'), max: med('max'), mdev: med('mdev'), loss: Math.max(...runs.map((x) => x.loss)) };
}

async function measureStack(workers: string, extra: string[]): Promise<Rtt> {
  const dev = `nbab${process.pid % 100000}`;
  const ns = `nbab${process.pid}`;
  let child: ChildProcess | null = null;
  let exited = false;
  let nsMade = false;
  const cleanup = () => {
    if (child?.pid !== undefined && !exited) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    if (nsMade) spawnSync('ip', ['netns', 'del', ns]);
    nsMade = false;
  };
  process.once('exit', cleanup);
  try {
    child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'host', '--tap', `${dev}:198.51.100.1/24`, '--workers', workers, ...extra],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.on('exit', () => (exited = true));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    const end = Date.now() + 60_000;
    while (!out.includes('"event":"ready"')) {
      if (exited || Date.now() > end) throw new Error(`netbranch host not ready: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    ip('netns', 'add', ns);
    nsMade = true;
    ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('link', 'set', dev, 'netns', ns);
    ip('-n', ns, 'addr', 'add', '198.51.100.2/24', 'dev', dev);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
    return await floodPing(ns, '198.51.100.1');
  } finally {
    if (child !== null && !exited) {
      child.kill('SIGTERM');
      const end = Date.now() + 10_000;
      while (!exited && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    }
    cleanup();
    process.removeListener('exit', cleanup);
  }
}

async function measureKernel(): Promise<Rtt> {
  const a = `nbka${process.pid}`;
  const b = `nbkb${process.pid}`;
  const made: string[] = [];
  const cleanup = () => { for (const ns of made.splice(0)) spawnSync('ip', ['netns', 'del', ns]); };
  process.once('exit', cleanup);
  try {
    for (const ns of [a, b]) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', a, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', b);
    ip('-n', a, 'addr', 'add', '198.51.100.2/24', 'dev', 'veth0');
    ip('-n', b, 'addr', 'add', '198.51.100.1/24', 'dev', 'veth1');
    ip('-n', a, 'link', 'set', 'veth0', 'up');
    ip('-n', b, 'link', 'set', 'veth1', 'up');
    return await floodPing(a, '198.51.100.1');
  } finally {
    cleanup();
    process.removeListener('exit', cleanup);
  }
}

await runAlone(import.meta.url, run);
