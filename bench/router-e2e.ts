// The router end to end (root only): client namespace → `netbranch router` on two TAPs → server namespace
// (no route back, so every answer proves the masquerade), next to the Linux kernel doing the same job
// (router namespace with ip_forward + nft masquerade over veths, as shared/lab/kernel-reference.sh
// builds it), measured by the same tools in the same run: ping -f, a DNS loop, a UDP rate search with C
// tools (bench/udp-ladder.ts), iperf3 TCP with offloads off and on, a connection-rate loop. Everything is
// bounded; only what this suite made is torn down.
//   npm run bench -- router-e2e      (or: node --import tsx bench/router-e2e.ts)
//   NB_E2E_WORKERS=2 NB_E2E_STORE=memory|hashtable NB_E2E_FLAGS='--steering handoff'   router flags
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAlone, type BenchReport } from './report.js';
import { parsePing } from './arp.js';
import { buildUdpTools, describe, offeredMax, udpLadder, UDP_PAYLOAD, UDP_RATES_KPPS, UDP_SECONDS, type UdpPath, type UdpTools } from './udp-ladder.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const SERVER = '10.202.0.2';
const TCP_SECONDS = 5;
const WORKERS = process.env.NB_E2E_WORKERS ?? '2';
const STORE = process.env.NB_E2E_STORE ?? 'memory';
const FLAGS = (process.env.NB_E2E_FLAGS ?? '').split(' ').filter(Boolean);

/** What one side measured; null: not measured (the log says why). */
interface Figures {
  pingUs: number | null; pingLoss: number | null;
  dnsP50Us: number | null; dnsQps: number | null;
  udpKpps: number | null; udpNote: string; udpOfferedKpps: number | null; udpOfferedNote: string;
  tcpGbps: number | null; tcpGsoGbps: number | null; tcpGsoNote: string;
  connPerS: number | null; connectP50Us: number | null; connNote: string;
}

const noFigures = (): Figures => ({
  pingUs: null, pingLoss: null, dnsP50Us: null, dnsQps: null, udpKpps: null, udpNote: '', udpOfferedKpps: null, udpOfferedNote: '',
  tcpGbps: null, tcpGsoGbps: null, tcpGsoNote: '', connPerS: null, connectP50Us: null, connNote: '',
});

/** One figure: key, field, unit, its goal, latency or rate (which way the ratio reads), the ratio's goal. */
type Key = [string, keyof Figures, string, string | undefined, 'lat' | 'rate', string | undefined];
const KEYS: Key[] = [
  ['flood_ping_rtt_us', 'pingUs', 'µs', '<= 30', 'lat', undefined],
  ['dns_p50_us', 'dnsP50Us', 'µs', undefined, 'lat', undefined],
  ['udp64_kpps', 'udpKpps', 'kpps', '>= 200', 'rate', '<= 2'],
  ['udp64_offered_kpps_max', 'udpOfferedKpps', 'kpps', '>= 500', 'rate', undefined],
  ['tcp_gbps', 'tcpGbps', 'Gbit/s', '>= 1', 'rate', '<= 1'],
  ['tcp_gso_gbps', 'tcpGsoGbps', 'Gbit/s', undefined, 'rate', undefined],
  ['new_conns_per_s', 'connPerS', 'conn/s', '>= 10000', 'rate', '<= 1.5'],
  ['connect_p50_us', 'connectP50Us', 'µs', undefined, 'lat', undefined],
];

/** The measurements one router run makes; `tcp` fills tcpGbps, `tcpGso` tcpGsoGbps (the same iperf3, offloads on). */
type Step = 'ping' | 'dns' | 'udp' | 'tcp' | 'tcpGso' | 'conns';
const ALL_STEPS: Step[] = ['ping', 'dns', 'udp', 'tcp', 'conns'];

const CLIENT_PY = String.raw`
import json, socket, sys, time, random, struct
def pct(xs, p):
    xs = sorted(xs)
    if not xs: return None
    k = (len(xs) - 1) * p / 100; f = int(k); c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)
cmd = sys.argv[1]
if cmd == "acceptd":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3]))); s.listen(4096)
    while True:
        c, _ = s.accept(); c.close()
elif cmd == "connrate":
    host, port, count, limit = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    lat, fail, n = [], 0, 0; t0 = time.perf_counter(); end = t0 + limit
    while n < count and time.perf_counter() < end:
        n += 1; s = socket.socket(); s.settimeout(2); a = time.perf_counter()
        try:
            s.connect((host, port)); lat.append(time.perf_counter() - a); s.recv(1)
        except OSError: fail += 1
        finally: s.close()
    el = time.perf_counter() - t0
    print(json.dumps({"attempted": n, "ok": len(lat), "failed": fail, "seconds": el, "conn_per_s": len(lat) / el, "connect_p50_us": (pct(lat, 50) or 0) * 1e6}))
elif cmd == "dnsloop":
    server, count, limit = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    names = ["www.kref.test", "api.kref.test", "cdn.kref.test", "mail.kref.test", "db.kref.test"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((server, 53)); s.settimeout(1)
    lat, lost, n = [], 0, 0; t0 = time.perf_counter(); end = t0 + limit
    while n < count and time.perf_counter() < end:
        name = names[n % len(names)]; n += 1
        q = struct.pack("!HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 0) + b"".join(
            bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
        a = time.perf_counter(); s.send(q)
        try:
            while s.recv(2048)[:2] != q[:2]: pass
            lat.append(time.perf_counter() - a)
        except OSError: lost += 1
    el = time.perf_counter() - t0
    print(json.dumps({"queries": n, "answered": len(lat), "lost": lost, "qps": len(lat) / el, "p50_us": (pct(lat, 50) or 0) * 1e6, "p99_us": (pct(lat, 99) or 0) * 1e6}))
`;

function exec(cmd: string, args: string[], timeoutMs: number, okCodes: number[] = [0]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (err && !okCodes.includes(code)) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stdout.slice(-300)}${stderr.slice(-300)}`));
      else resolve(stdout);
    });
  });
}

function sh(...args: string[]): void {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

/** What this suite made, torn down in reverse: child processes first, then namespaces. */
class Resources {
  readonly procs: ChildProcess[] = [];
  readonly namespaces: string[] = [];
  ns(name: string): string {
    if (existsSync(`/run/netns/${name}`)) throw new Error(`namespace ${name} exists already; not touching it`);
    sh('ip', 'netns', 'add', name);
    this.namespaces.push(name);
    sh('ip', 'netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
    return name;
  }
  bg(ns: string, args: string[], out = 'ignore'): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', out === 'ignore' ? 'ignore' : 'pipe', 'ignore'] });
    this.procs.push(p);
    return p;
  }
  async teardown(): Promise<void> {
    for (const p of this.procs.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns]);
  }
  teardownSync(): void {
    for (const p of this.procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns]);
  }
}

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const listening = (ns: string, flag: string, pat: string) => {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ss', flag], { encoding: 'utf8', timeout: 5000 });
  return (r.stdout ?? '').includes(pat);
};

/** Servers in the server namespace: dnsmasq with static names, iperf3, a TCP accept-and-close server. */
async function startServices(res: Resources, ns: string, dir: string): Promise<void> {
  res.bg(ns, ['dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--addn-hosts=${join(dir, 'hosts')}`,
    '--local=/kref.test/', '--local-ttl=300', `--listen-address=${SERVER}`, '--bind-interfaces', '--pid-file=', '--user=root', '--log-facility=-']);
  res.bg(ns, ['iperf3', '-s', '-B', SERVER, '-p', '5201']);
  res.bg(ns, [PY, join(dir, 'e2e.py'), 'acceptd', SERVER, '8080']);
  await waitFor(() => listening(ns, '-Hlun', `${SERVER}:53 `) && listening(ns, '-Hltn', ':5201 ') && listening(ns, '-Hltn', ':8080 '), 10_000, 'the servers to listen');
}

/** A side's client and server namespaces, the compiled UDP tools, and where to log. */
interface Side { res: Resources; client: string; server: string; dir: string; udp: UdpTools; log: (s: string) => void }

/** The CPU the UDP flood is pinned to on both sides (the last), so the kernel's forwarding can be steered off it. */
const FLOOD_CPU = cpus().length > 1 && spawnSync('sh', ['-c', 'command -v taskset']).status === 0 ? cpus().length - 1 : null;

const cx = (side: Side, args: string[], ms: number, ok?: number[]) => exec('ip', ['netns', 'exec', side.client, ...args], ms, ok);

/** Runs `steps` from the client namespace into `f`; a step that fails is logged and its figures left null. */
async function measure(side: Side, steps: Step[], f: Figures): Promise<void> {
  await attempt(side, 'warm-up ping', async () => { await cx(side, ['ping', '-n', '-c', '3', '-i', '0.1', '-W', '1', SERVER], 10_000, [0, 1]); });
  for (const step of steps) await attempt(side, step, () => STEPS[step](side, f));
}

async function attempt(side: Side, what: string, fn: () => Promise<void>): Promise<void> {
  try { await fn(); } catch (err) { side.log(`${what} failed: ${(err as Error).message.slice(0, 300)}`); }
}

const STEPS: Record<Step, (side: Side, f: Figures) => Promise<void>> = {
  async ping(side, f) {
    const r = parsePing(await cx(side, ['ping', '-n', '-q', '-f', '-c', '5000', '-w', '15', SERVER], 30_000, [0, 1]));
    f.pingUs = r.avg; f.pingLoss = r.loss;
  },
  async dns(side, f) {
    const j = JSON.parse(await cx(side, [PY, join(side.dir, 'e2e.py'), 'dnsloop', SERVER, '2000', '10'], 30_000)) as { p50_us: number; qps: number; answered: number };
    if (j.answered > 0) { f.dnsP50Us = j.p50_us; f.dnsQps = j.qps; }
  },
  async udp(side, f) {
    const path: UdpPath = {
      client: side.client, server: side.server, serverAddr: SERVER, floodCpu: FLOOD_CPU,
      run: (ns, args, ms) => exec('ip', ['netns', 'exec', ns, ...args], ms),
      start: (ns, args) => side.res.bg(ns, args, 'pipe'),
    };
    const ladder = await udpLadder(path, side.udp);
    f.udpKpps = ladder.kpps; f.udpNote = ladder.note;
    const top = await offeredMax(path, side.udp);
    f.udpOfferedKpps = top.offeredPps / 1000; f.udpOfferedNote = describe(top);
  },
  async tcp(side, f) { f.tcpGbps = await iperfTcp(side); },
  async tcpGso(side, f) { f.tcpGsoGbps = await iperfTcp(side); },
  async conns(side, f) {
    const j = JSON.parse(await cx(side, [PY, join(side.dir, 'e2e.py'), 'connrate', SERVER, '8080', '5000', '10'], 30_000)) as { ok: number; failed: number; conn_per_s: number; connect_p50_us: number };
    f.connPerS = j.conn_per_s; f.connectP50Us = j.ok > 0 ? j.connect_p50_us : null;
    f.connNote = `${j.ok} ok, ${j.failed} failed`;
  },
};

/** iperf3 TCP for TCP_SECONDS, received Gbit/s. */
async function iperfTcp(side: Side): Promise<number> {
  const out = await cx(side, ['timeout', String(TCP_SECONDS + 15), 'iperf3', '-c', SERVER, '-p', '5201', '-t', String(TCP_SECONDS), '-J'], (TCP_SECONDS + 20) * 1000, [0, 1]);
  const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  if (j.error) throw new Error(j.error);
  return (j.end?.sum_received?.bits_per_second ?? 0) / 1e9;
}

/** Whether this router has `--offload on|off` (vnet_hdr + TUNSETOFFLOAD): its --help lists it. */
function routerHasOffload(): boolean {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'router', '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return /--offload\b/.test(`${r.stdout}${r.stderr}`);
}

/** Starts `netbranch router` with `extra` flags on two fresh TAPs; resolves once it printed its ready line. */
async function startRouter(res: Resources, tapIn: string, tapOut: string, extra: string[]): Promise<{ child: ChildProcess; stderr: () => string }> {
  const args = ['--import', 'tsx', 'cli/main.ts', 'router', '--inside', `${tapIn}:10.201.0.1/24`, '--outside', `${tapOut}:10.202.0.1/24`, '--workers', WORKERS, '--store', STORE, ...FLAGS, ...extra];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  res.procs.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-20_000)));
  await waitFor(() => out.includes('"event":"ready"') || child.exitCode !== null, 60_000, 'netbranch router');
  if (child.exitCode !== null) throw new Error(`netbranch router exited: ${err.slice(-500)}`);
  return { child, stderr: () => err };
}

/** One run of our router with `extra` flags: each TAP handed to a peer namespace, the servers started, `steps` measured. */
async function oursOnce(res: Resources, dir: string, udp: UdpTools, log: (s: string) => void, extra: string[], steps: Step[], f: Figures): Promise<string> {
  const id = `${process.pid % 100000}${extra.includes('off') ? 'b' : 'a'}`; // a second run never meets the first's TAPs
  const [tapIn, tapOut] = [`nbei${id}`, `nbeo${id}`];
  const { child, stderr } = await startRouter(res, tapIn, tapOut, extra);
  const c = res.ns(`nbe${id}c`);
  const s = res.ns(`nbe${id}s`);
  sh('ip', 'link', 'set', tapIn, 'netns', c);
  sh('ip', '-n', c, 'addr', 'add', '10.201.0.2/24', 'dev', tapIn);
  sh('ip', '-n', c, 'link', 'set', tapIn, 'up');
  sh('ip', '-n', c, 'route', 'add', 'default', 'via', '10.201.0.1');
  sh('ip', 'link', 'set', tapOut, 'netns', s);
  sh('ip', '-n', s, 'addr', 'add', `${SERVER}/24`, 'dev', tapOut);
  sh('ip', '-n', s, 'link', 'set', tapOut, 'up'); // no default route: replies reach only the router's address
  await startServices(res, s, dir);
  await measure({ res, client: c, server: s, dir, udp, log: (m) => log(`netbranch ${extra.join(' ')}: ${m}`) }, steps, f);
  // The table summary (SIGUSR1) for the report: counters only.
  child.kill('SIGUSR1');
  await new Promise((r) => setTimeout(r, 500));
  const m = /"actors":(\[.*?\]),"supervisor"/.exec(stderr());
  return m ? m[1].slice(0, 600) : '';
}

/**
 * Ours: with `--offload` (when the router has it), one run with offloads on (the router's own default) for every
 * figure but TCP offloads off, then a run with `--offload off` for that; without it, one run and no GSO figure.
 */
async function ours(res: Resources, dir: string, udp: UdpTools, log: (s: string) => void): Promise<Ours> {
  const f = noFigures();
  if (!routerHasOffload()) {
    f.tcpGsoNote = 'not measured: `netbranch router --help` lists no --offload flag (vnet_hdr + TUNSETOFFLOAD)';
    return { ...f, counters: await oursOnce(res, dir, udp, log, [], ALL_STEPS, f) };
  }
  const counters = await oursOnce(res, dir, udp, log, ['--offload', 'on'], ['ping', 'dns', 'udp', 'tcpGso', 'conns'], f);
  await res.teardown();
  try { await oursOnce(res, dir, udp, log, ['--offload', 'off'], ['tcp'], f); } catch (err) { log(`netbranch --offload off setup failed: ${(err as Error).message}`); }
  return { ...f, counters };
}

/** Offloads (TSO, GSO, GRO) on or off on each veth of the kernel reference. */
function kernelOffloads(devs: [string, string][], on: boolean): void {
  const v = on ? 'on' : 'off';
  for (const [ns, dev] of devs) spawnSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tso', v, 'gso', v, 'gro', v]);
}

/** The kernel: client → router namespace (ip_forward, nft masquerade on out0) → server, over veths; offloads off, then on for TCP. */
async function kernel(res: Resources, dir: string, udp: UdpTools, log: (s: string) => void): Promise<Figures> {
  const { c, r, s, devs } = kernelTopology(res, dir);
  // As a TAP without vnet_hdr sees frames: 1500-byte frames, no segmentation offload (the reference's "offloads off").
  kernelOffloads(devs, false);
  await startServices(res, s, dir);
  const f = noFigures();
  const side: Side = { res, client: c, server: s, dir, udp, log: (m) => log(`kernel: ${m}`) };
  await measure(side, ALL_STEPS.filter((x) => x !== 'udp'), f);
  // Without RPS the kernel forwards in the flood's own softirq, on its core: the search would measure the generator.
  if (FLOOD_CPU !== null) rps(r, otherCpus(FLOOD_CPU));
  await measure(side, ['udp'], f);
  if (FLOOD_CPU !== null) rps(r, '0');
  kernelOffloads(devs, true);
  await measure(side, ['tcpGso'], f);
  return f;
}

/** Receive packet steering on the kernel router's in0: the CPUs (hex mask; 0: off) that forward what it receives. */
const rps = (ns: string, mask: string) => sh('ip', 'netns', 'exec', ns, 'sh', '-c', `echo ${mask} > /sys/class/net/in0/queues/rx-0/rps_cpus`);

/** The RPS mask (hex) of every CPU but `cpu`. */
const otherCpus = (cpu: number): string => (((2 ** cpus().length) - 1) & ~(1 << cpu)).toString(16);

/** The three namespaces and two veth pairs of shared/lab/kernel-reference.sh, with its nft masquerade. */
function kernelTopology(res: Resources, dir: string): { c: string; r: string; s: string; devs: [string, string][] } {
  const c = res.ns(`nbk${process.pid}c`);
  const r = res.ns(`nbk${process.pid}r`);
  const s = res.ns(`nbk${process.pid}s`);
  sh('ip', 'link', 'add', 'veth0', 'netns', c, 'type', 'veth', 'peer', 'name', 'in0', 'netns', r);
  sh('ip', 'link', 'add', 'out0', 'netns', r, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', s);
  for (const [ns, dev, addr] of [[c, 'veth0', '10.201.0.2/24'], [r, 'in0', '10.201.0.1/24'], [r, 'out0', '10.202.0.1/24'], [s, 'veth0', `${SERVER}/24`]]) {
    sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', dev);
    sh('ip', '-n', ns, 'link', 'set', dev, 'up');
  }
  sh('ip', '-n', c, 'route', 'add', 'default', 'via', '10.201.0.1');
  sh('ip', 'netns', 'exec', r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  const nft = join(dir, 'kref.nft');
  writeFileSync(nft, 'table ip kref {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "out0" counter masquerade\n  }\n}\n');
  sh('ip', 'netns', 'exec', r, 'nft', '-f', nft);
  return { c, r, s, devs: [[c, 'veth0'], [r, 'in0'], [r, 'out0'], [s, 'veth0']] };
}

/** Why a side cannot be measured here (null: it can): our router needs the lab's servers; the kernel side also nft and ethtool. */
function unmeasurable(tools: string[]): string | null {
  const absent = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  const why = process.getuid?.() !== 0 ? 'needs root (TAP devices and network namespaces)'
    : !existsSync('/dev/net/tun') ? '/dev/net/tun is missing'
      : !existsSync(fileURLToPath(new URL('../build/Release/tap.node', import.meta.url))) ? 'the TAP addon is not built'
        : absent.length ? `${absent.join(' ')} not installed (npm run bench installs them as root: scripts/lab-tools.mjs)` : null;
  return why && `not measured: ${why}`;
}

type Ours = Figures & { counters: string };

/** Our router, then the kernel (unless `whyKernel`), each torn down before the next; a side that fails is logged and left null. */
async function measureBoth(whyKernel: string | null, udp: UdpTools, dir: string): Promise<{ mine: Ours | null; kern: Figures | null }> {
  writeFileSync(join(dir, 'e2e.py'), CLIENT_PY);
  writeFileSync(join(dir, 'hosts'), ['www', 'api', 'cdn', 'mail', 'db'].map((n) => `${SERVER} ${n}.kref.test\n`).join(''));
  const log = (s: string) => process.stdout.write(`  (${s})\n`);
  const res = new Resources();
  const onExit = () => res.teardownSync();
  process.once('exit', onExit);
  let mine: Ours | null = null;
  let kern: Figures | null = null;
  try {
    try { mine = await ours(res, dir, udp, log); } catch (err) { log(`netbranch setup failed: ${(err as Error).message}`); }
    await res.teardown();
    if (!whyKernel) try { kern = await kernel(res, dir, udp, log); } catch (err) { log(`kernel setup failed: ${(err as Error).message}`); }
  } finally {
    await res.teardown();
    process.removeListener('exit', onExit);
  }
  return { mine, kern };
}

const NOTES: Record<string, string> = {
  flood_ping_rtt_us: 'ping -f -c 5000 from the client namespace through the NAT to the server, average RTT',
  dns_p50_us: 'closed-loop python client, 2,000 A queries (≤ 10 s) to dnsmasq in the server namespace through the NAT, p50',
  udp64_kpps: `C flood (sendmmsg, paced) → C sink (recvmmsg) in the server namespace, ${UDP_PAYLOAD} B payloads, ${UDP_SECONDS} s at ${UDP_RATES_KPPS.join(', ')} kpps until one loses; highest with < 0.1% loss (received/s); the flood ${FLOOD_CPU === null ? 'unpinned' : `pinned to cpu ${FLOOD_CPU}`}`,
  udp64_offered_kpps_max: 'the same flood unpaced for 1 s: what the generator offers (sent/s), so the search is not generator-bound below it',
  tcp_gbps: `iperf3 TCP ${TCP_SECONDS} s, received, offloads off`,
  tcp_gso_gbps: `iperf3 TCP ${TCP_SECONDS} s, received, segmentation offload on (ours: --offload on, vnet_hdr + TUNSETOFFLOAD)`,
  new_conns_per_s: 'python client: connect, wait for the server\'s close, at most 5,000 in at most 10 s',
  connect_p50_us: 'the same client: connect() time, p50',
};

/** What a side's note adds to a key's fixed text. */
function extraNote(k: string, f: Figures | null): string {
  if (!f) return '';
  const extra: Record<string, string> = {
    udp64_kpps: f.udpNote, udp64_offered_kpps_max: f.udpOfferedNote, tcp_gso_gbps: f.tcpGsoNote, new_conns_per_s: f.connNote,
    flood_ping_rtt_us: f.pingLoss ? `loss ${f.pingLoss}%` : '',
  };
  return extra[k] ? `; ${extra[k]}` : '';
}

/** Each figure for ours, the kernel's twin, and the ratio between them. */
function reportFigures(report: BenchReport, mine: Ours | null, kern: Figures | null, whyKernel: string | null): void {
  for (const [k, field, unit, goal, kind, ratioGoal] of KEYS) {
    const a = mine ? (mine[field] as number | null) : null;
    const b = kern ? (kern[field] as number | null) : null;
    const kernelHow = k === 'tcp_gso_gbps' ? 'veth offloads on' : k.startsWith('udp64') && FLOOD_CPU !== null
      ? `veths, offloads off, RPS on in0 to the CPUs but ${FLOOD_CPU}` : 'veths, offloads off';
    report.add(`e2e.${k}`, a, unit, goal, `${NOTES[k]}; netbranch router --workers ${WORKERS} --store ${STORE}${FLAGS.length ? ` ${FLAGS.join(' ')}` : ''}${extraNote(k, mine)}`);
    report.add(`kernel.e2e.${k}`, b, unit, undefined, whyKernel ?? `the same through a kernel router namespace (ip_forward, nft masquerade, ${kernelHow})${extraNote(k, kern)}`);
    if (k === 'udp64_offered_kpps_max') continue; // the generator's rate, not the router's: no ratio
    const ratio = a !== null && b !== null && a > 0 && b > 0 ? (kind === 'lat' ? a / b : b / a) : null;
    report.add(`e2e.${k.replace(/_(us|kpps|gbps|per_s)$/, '')}_ratio`, ratio, kind === 'lat' ? '×kernel (ours ÷ kernel)' : '×kernel (kernel ÷ ours)', ratioGoal,
      kind === 'lat' ? 'latency: how many times the kernel\'s' : 'rate: how many times slower than the kernel');
  }
}

/** Every key null with the same reason. */
function reportNone(report: BenchReport, why: string): void {
  for (const [k, , unit, goal] of KEYS) {
    report.add(`e2e.${k}`, null, unit, goal, why);
    report.add(`kernel.e2e.${k}`, null, unit, undefined, why);
  }
}

export async function run(report: BenchReport): Promise<void> {
  const whyOurs = unmeasurable(['dnsmasq', 'iperf3', 'ping', 'ss', 'cc']);
  const whyKernel = whyOurs ?? unmeasurable(['nft', 'ethtool']);
  if (whyKernel) process.stdout.write(`  (${whyOurs ? 'router-e2e' : 'the kernel reference'} ${whyKernel})\n`);
  if (whyOurs) return reportNone(report, whyOurs);
  const dir = mkdtempSync(join(tmpdir(), 'nb-e2e-'));
  try {
    const udp = buildUdpTools(dir);
    if (typeof udp === 'string') return reportNone(report, `not measured: ${udp}`);
    const { mine, kern } = await measureBoth(whyKernel, udp, dir);
    reportFigures(report, mine, kern, whyKernel);
    if (mine?.counters) process.stdout.write(`  (router actors' counters: ${mine.counters})\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await runAlone(import.meta.url, run, true);
