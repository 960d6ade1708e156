// The router end to end (root only): client namespace → `netbranch router` on two TAPs → server namespace
// (no route back, so every answer proves the masquerade), next to the Linux kernel doing the same job
// (router namespace with ip_forward + nft masquerade over veths, as shared/lab/kernel-reference.sh
// builds it), measured by the same tools in the same run. Everything is bounded; only what this suite
// made is torn down.
//   npm run bench -- router-e2e      (or: node --import tsx bench/router-e2e.ts)
//   NB_E2E_WORKERS=2 NB_E2E_STORE=memory|hashtable   router flags
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAlone, type BenchReport } from './report.js';
import { parsePing } from './arp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const SERVER = '10.202.0.2';
const UDP_RATES_KPPS = [20, 30, 40, 50, 75, 100, 150, 200];
const UDP_SECONDS = 3;
const TCP_SECONDS = 5;
const WORKERS = process.env.NB_E2E_WORKERS ?? '2';
const STORE = process.env.NB_E2E_STORE ?? 'memory';

interface Figures {
  pingUs: number | null; pingLoss: number | null;
  dnsP50Us: number | null; dnsQps: number | null;
  udpKpps: number | null; udpNote: string;
  tcpGbps: number | null;
  connPerS: number | null; connNote: string;
}

const KEYS: [string, keyof Figures, string, string | undefined, 'lat' | 'rate'][] = [
  ['flood_ping_rtt_us', 'pingUs', 'µs', undefined, 'lat'],
  ['dns_p50_us', 'dnsP50Us', 'µs', undefined, 'lat'],
  ['udp64_kpps', 'udpKpps', 'kpps', '>= 100', 'rate'],
  ['tcp_gbps', 'tcpGbps', 'Gbit/s', '>= 1', 'rate'],
  ['new_conns_per_s', 'connPerS', 'conn/s', '>= 10000', 'rate'],
];

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

async function measure(client: string, dir: string, log: (s: string) => void): Promise<Figures> {
  const cx = (args: string[], ms: number, ok?: number[]) => exec('ip', ['netns', 'exec', client, ...args], ms, ok);
  const f: Figures = { pingUs: null, pingLoss: null, dnsP50Us: null, dnsQps: null, udpKpps: null, udpNote: '', tcpGbps: null, connPerS: null, connNote: '' };
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try { await fn(); } catch (err) { log(`${what} failed: ${(err as Error).message.slice(0, 300)}`); }
  };
  await attempt('warm-up ping', async () => { await cx(['ping', '-n', '-c', '3', '-i', '0.1', '-W', '1', SERVER], 10_000, [0, 1]); });
  await attempt('flood ping', async () => {
    const r = parsePing(await cx(['ping', '-n', '-q', '-f', '-c', '5000', '-w', '15', SERVER], 30_000, [0, 1]));
    f.pingUs = r.avg; f.pingLoss = r.loss;
  });
  await attempt('dns', async () => {
    const j = JSON.parse(await cx([PY, join(dir, 'e2e.py'), 'dnsloop', SERVER, '2000', '10'], 30_000)) as { p50_us: number; qps: number; answered: number };
    if (j.answered > 0) { f.dnsP50Us = j.p50_us; f.dnsQps = j.qps; }
  });
  await attempt('udp', async () => {
    const tried: string[] = [];
    for (const kpps of UDP_RATES_KPPS) {
      const out = await cx(['timeout', String(UDP_SECONDS + 12), 'iperf3', '-c', SERVER, '-p', '5201', '-u', '-l', '64', '-b', String(kpps * 1000 * 64 * 8), '-t', String(UDP_SECONDS), '-J'], (UDP_SECONDS + 15) * 1000, [0, 1]);
      const j = JSON.parse(out) as { end?: { sum?: Record<string, number>; sum_sent?: Record<string, number>; sum_received?: Record<string, number> }; error?: string };
      if (j.error) throw new Error(j.error);
      const sent = j.end?.sum_sent ?? j.end?.sum ?? {};
      const rcv = j.end?.sum_received ?? j.end?.sum ?? {};
      const sentPps = (sent.packets ?? 0) / (sent.seconds || UDP_SECONDS);
      const lossPct = rcv.lost_percent ?? 100;
      const rcvPps = ((rcv.packets ?? 0) - (rcv.lost_packets ?? 0)) / (rcv.seconds || UDP_SECONDS);
      tried.push(`${kpps}k: sent ${(sentPps / 1000).toFixed(0)}k, loss ${lossPct.toFixed(2)}%`);
      if (lossPct >= 0.1 || sentPps < 0.9 * kpps * 1000) break; // the offered rate was not carried (or not even sent)
      f.udpKpps = rcvPps / 1000;
    }
    f.udpNote = tried.join('; ');
  });
  await attempt('tcp', async () => {
    const out = await cx(['timeout', String(TCP_SECONDS + 15), 'iperf3', '-c', SERVER, '-p', '5201', '-t', String(TCP_SECONDS), '-J'], (TCP_SECONDS + 20) * 1000, [0, 1]);
    const j = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    if (j.error) throw new Error(j.error);
    f.tcpGbps = (j.end?.sum_received?.bits_per_second ?? 0) / 1e9;
  });
  await attempt('connrate', async () => {
    const j = JSON.parse(await cx([PY, join(dir, 'e2e.py'), 'connrate', SERVER, '8080', '5000', '10'], 30_000)) as { ok: number; failed: number; conn_per_s: number; connect_p50_us: number };
    f.connPerS = j.conn_per_s;
    f.connNote = `${j.ok} ok, ${j.failed} failed, connect p50 ${j.connect_p50_us.toFixed(0)} µs`;
  });
  return f;
}

/** Ours: the router process on two TAPs in the root namespace, each TAP handed to a peer namespace. */
async function ours(res: Resources, dir: string, log: (s: string) => void): Promise<Ours> {
  const id = process.pid % 100000;
  const tapIn = `nbei${id}`;
  const tapOut = `nbeo${id}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'router', '--inside', `${tapIn}:10.201.0.1/24`, '--outside', `${tapOut}:10.202.0.1/24`, '--workers', WORKERS, '--store', STORE],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  res.procs.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-20_000)));
  await waitFor(() => out.includes('"event":"ready"') || child.exitCode !== null, 60_000, 'netbranch router');
  if (child.exitCode !== null) throw new Error(`netbranch router exited: ${err.slice(-500)}`);
  const c = res.ns(`nbe${process.pid}c`);
  const s = res.ns(`nbe${process.pid}s`);
  sh('ip', 'link', 'set', tapIn, 'netns', c);
  sh('ip', '-n', c, 'addr', 'add', '10.201.0.2/24', 'dev', tapIn);
  sh('ip', '-n', c, 'link', 'set', tapIn, 'up');
  sh('ip', '-n', c, 'route', 'add', 'default', 'via', '10.201.0.1');
  sh('ip', 'link', 'set', tapOut, 'netns', s);
  sh('ip', '-n', s, 'addr', 'add', `${SERVER}/24`, 'dev', tapOut);
  sh('ip', '-n', s, 'link', 'set', tapOut, 'up'); // no default route: replies reach only the router's address
  await startServices(res, s, dir);
  const f = await measure(c, dir, (m) => log(`netbranch: ${m}`));
  // The table summary (SIGUSR1) for the report: counters only.
  child.kill('SIGUSR1');
  await new Promise((r) => setTimeout(r, 500));
  const m = /"actors":(\[.*?\]),"supervisor"/.exec(err);
  return { ...f, counters: m ? m[1].slice(0, 600) : '' };
}

/** The kernel: client → router namespace (ip_forward, nft masquerade on out0) → server, over veths, offloads off. */
async function kernel(res: Resources, dir: string, log: (s: string) => void): Promise<Figures> {
  const c = res.ns(`nbk${process.pid}c`);
  const r = res.ns(`nbk${process.pid}r`);
  const s = res.ns(`nbk${process.pid}s`);
  sh('ip', 'link', 'add', 'veth0', 'netns', c, 'type', 'veth', 'peer', 'name', 'in0', 'netns', r);
  sh('ip', 'link', 'add', 'out0', 'netns', r, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', s);
  sh('ip', '-n', c, 'addr', 'add', '10.201.0.2/24', 'dev', 'veth0');
  sh('ip', '-n', c, 'link', 'set', 'veth0', 'up');
  sh('ip', '-n', r, 'addr', 'add', '10.201.0.1/24', 'dev', 'in0');
  sh('ip', '-n', r, 'link', 'set', 'in0', 'up');
  sh('ip', '-n', r, 'addr', 'add', '10.202.0.1/24', 'dev', 'out0');
  sh('ip', '-n', r, 'link', 'set', 'out0', 'up');
  sh('ip', '-n', s, 'addr', 'add', `${SERVER}/24`, 'dev', 'veth0');
  sh('ip', '-n', s, 'link', 'set', 'veth0', 'up');
  sh('ip', '-n', c, 'route', 'add', 'default', 'via', '10.201.0.1');
  sh('ip', 'netns', 'exec', r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  const nft = join(dir, 'kref.nft');
  writeFileSync(nft, 'table ip kref {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "out0" counter masquerade\n  }\n}\n');
  sh('ip', 'netns', 'exec', r, 'nft', '-f', nft);
  // As a TAP without vnet_hdr sees frames: 1500-byte frames, no segmentation offload (the reference's "offloads off").
  for (const [ns, dev] of [[c, 'veth0'], [r, 'in0'], [r, 'out0'], [s, 'veth0']]) spawnSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
  await startServices(res, s, dir);
  return measure(c, dir, (m) => log(`kernel: ${m}`));
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
async function measureBoth(whyKernel: string | null): Promise<{ mine: Ours | null; kern: Figures | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'nb-e2e-'));
  writeFileSync(join(dir, 'e2e.py'), CLIENT_PY);
  writeFileSync(join(dir, 'hosts'), ['www', 'api', 'cdn', 'mail', 'db'].map((n) => `${SERVER} ${n}.kref.test\n`).join(''));
  const log = (s: string) => process.stdout.write(`  (${s})\n`);
  const res = new Resources();
  const onExit = () => res.teardownSync();
  process.once('exit', onExit);
  let mine: Ours | null = null;
  let kern: Figures | null = null;
  try {
    try { mine = await ours(res, dir, log); } catch (err) { log(`netbranch setup failed: ${(err as Error).message}`); }
    await res.teardown();
    if (!whyKernel) try { kern = await kernel(res, dir, log); } catch (err) { log(`kernel setup failed: ${(err as Error).message}`); }
    await res.teardown();
  } finally {
    await res.teardown();
    process.removeListener('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  }
  return { mine, kern };
}

const NOTES: Record<string, string> = {
  flood_ping_rtt_us: 'ping -f -c 5000 from the client namespace through the NAT to the server, average RTT',
  dns_p50_us: 'closed-loop python client, 2,000 A queries (≤ 10 s) to dnsmasq in the server namespace through the NAT, p50',
  udp64_kpps: `iperf3 -u -l 64 for ${UDP_SECONDS} s at ${UDP_RATES_KPPS.join(', ')} kpps offered, highest with < 0.1% loss (packets received/s)`,
  tcp_gbps: `iperf3 TCP ${TCP_SECONDS} s, received`,
  new_conns_per_s: 'python client: connect, wait for the server\'s close, at most 5,000 in at most 10 s',
};

/** Each figure for ours, the kernel's twin, and the ratio between them. */
function reportFigures(report: BenchReport, mine: Ours | null, kern: Figures | null, whyKernel: string | null): void {
  for (const [k, field, unit, goal, kind] of KEYS) {
    const a = mine ? (mine[field] as number | null) : null;
    const b = kern ? (kern[field] as number | null) : null;
    const extra = k === 'udp64_kpps' ? mine?.udpNote : k === 'new_conns_per_s' ? mine?.connNote : k === 'flood_ping_rtt_us' && mine?.pingLoss ? `loss ${mine.pingLoss}%` : '';
    const kextra = k === 'udp64_kpps' ? kern?.udpNote : k === 'new_conns_per_s' ? kern?.connNote : '';
    report.add(`e2e.${k}`, a, unit, goal, `${NOTES[k]}; netbranch router --workers ${WORKERS} --store ${STORE}${extra ? `; ${extra}` : ''}`);
    report.add(`kernel.e2e.${k}`, b, unit, undefined, whyKernel ?? `the same through a kernel router namespace (ip_forward, nft masquerade, veths, offloads off)${kextra ? `; ${kextra}` : ''}`);
    const ratio = a !== null && b !== null && a > 0 && b > 0 ? (kind === 'lat' ? a / b : b / a) : null;
    report.add(`e2e.${k.replace(/_(us|kpps|gbps|per_s)$/, '')}_ratio`, ratio, kind === 'lat' ? '×kernel (ours ÷ kernel)' : '×kernel (kernel ÷ ours)', undefined,
      kind === 'lat' ? 'latency: how many times the kernel\'s' : 'rate: how many times slower than the kernel');
  }
}

export async function run(report: BenchReport): Promise<void> {
  const whyOurs = unmeasurable(['dnsmasq', 'iperf3', 'ping', 'ss']);
  const whyKernel = whyOurs ?? unmeasurable(['nft', 'ethtool']);
  if (whyKernel) process.stdout.write(`  (${whyOurs ? 'router-e2e' : 'the kernel reference'} ${whyKernel})\n`);
  if (whyOurs) {
    for (const [k, , unit, goal] of KEYS) {
      report.add(`e2e.${k}`, null, unit, goal, whyOurs);
      report.add(`kernel.e2e.${k}`, null, unit, undefined, whyOurs);
    }
    return;
  }
  const { mine, kern } = await measureBoth(whyKernel);
  reportFigures(report, mine, kern, whyKernel);
  if (mine?.counters) process.stdout.write(`  (router actors' counters: ${mine.counters})\n`);
}

await runAlone(import.meta.url, run, true);
