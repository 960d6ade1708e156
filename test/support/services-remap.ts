// The outside address moved under running flows, for test/router-remap-e2e and bench/nat-remap: the router takes
// its outside address from dnsmasq (`--outside TAP:dhcp`); a ping, a UDP echo stream and a TCP connection run
// from the client namespace to the server; dnsmasq restarts with another range and an empty lease file, so the
// router's next renewal (T1 set to 4 s) is NAKed and it rebinds to a new address. Returns what each flow saw.
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { ServicesLab, PY, poll, sleep, waitOutput, type Child } from './services-lab.js';
import type { Client } from '../../api/client.js';

export const SERVER = '10.202.0.2';
export const OLD_RANGE = ['10.202.0.50', '10.202.0.59'];
export const NEW_RANGE = ['10.202.0.150', '10.202.0.159'];
/** The UDP stream's period, ms, and the ping's. */
export const UDP_PERIOD_MS = 10;
export const PING_PERIOD_MS = 50;

// A UDP and a TCP echo server on the server's address.
const ECHO = `
import socket, threading, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 7100))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('0.0.0.0', 7200)); t.listen(8)
def tcp():
    while True:
        c, _ = t.accept()
        def serve(c=c):
            try:
                while True:
                    d = c.recv(4096)
                    if not d: break
                    c.sendall(d)
            except OSError: pass
            c.close()
        threading.Thread(target=serve, daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
print('ready', flush=True)
while True:
    d, a = u.recvfrom(2048); u.sendto(d, a)
`;

// A datagram every PERIOD ms, numbered; each echo's arrival time kept. On SIGINT (or at the deadline): JSON of the
// sent and received counts and the largest gap between consecutive echoes, with when it began (epoch ms).
const UDP_STREAM = `
import socket, sys, time, json, signal
dst, period, secs = sys.argv[1], float(sys.argv[2]) / 1000, float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.002)
stop = []
signal.signal(signal.SIGINT, lambda *a: stop.append(1))
t0 = time.time(); nxt = t0; seq = 0; got = {}
print('streaming', flush=True)
while not stop and time.time() - t0 < secs:
    if time.time() >= nxt:
        s.sendto(seq.to_bytes(4, 'big') + b'x' * 60, (dst, 7100)); seq += 1; nxt += period
    try:
        d = s.recv(2048); got.setdefault(int.from_bytes(d[:4], 'big'), time.time())
    except OSError: pass
end = time.time() + 0.5
while time.time() < end:
    try:
        d = s.recv(2048); got.setdefault(int.from_bytes(d[:4], 'big'), time.time())
    except OSError: pass
ts = sorted(got.values()); gap, at = 0.0, 0.0
for a, b in zip(ts, ts[1:]):
    if b - a > gap: gap, at = b - a, a
print(json.dumps({'sent': seq, 'received': len(got), 'lost': seq - len(got), 'max_gap_ms': round(gap * 1000, 1),
                  'gap_from_ms': round(at * 1000), 'last_rx_ms': round(ts[-1] * 1000) if ts else 0}), flush=True)
`;

// A TCP connection echoing one byte every 200 ms; prints 'connected', then at SIGINT, the deadline or the first
// error: JSON of the outcome (error name, when, bytes echoed before it).
const TCP_HOLD = `
import socket, sys, time, json, signal
dst, secs = sys.argv[1], float(sys.argv[2])
stop = []
signal.signal(signal.SIGINT, lambda *a: stop.append(1))
c = socket.create_connection((dst, 7200), timeout=3); c.settimeout(3)
print('connected', flush=True)
t0 = time.time(); n = 0; err = None
while not stop and time.time() - t0 < secs:
    try:
        c.sendall(b'x')
        if c.recv(1) != b'x': err = 'closed'; break
        n += 1
    except OSError as e:
        err = type(e).__name__ + (':' + e.strerror if getattr(e, 'strerror', None) else ''); break
    time.sleep(0.2)
print(json.dumps({'error': err, 'error_at_ms': round(time.time() * 1000) if err else 0, 'echoed': n}), flush=True)
`;

export interface RemapFigures {
  oldIp: string;
  newIp: string;
  /** Epoch ms: dnsmasq restarted; the router's row showed the new address. */
  changedAt: number;
  remappedAt: number;
  /** The ping: sent, answered, and the longest run of unanswered sequence numbers, ms (count × period). */
  ping: { sent: number; received: number; longestLossMs: number };
  udp: { sent: number; received: number; lost: number; max_gap_ms: number; gap_from_ms: number; last_rx_ms: number };
  tcp: { error: string | null; error_at_ms: number; echoed: number };
  /** Epoch ms the TCP connection failed after the remap (negative: before it). */
  tcpFailedAfterMs: number | null;
  renewedBeforeChange: boolean;
  dnsmasqLog: string;
}

/** dnsmasq as the outside network's DHCP server (no DNS), its range and lease file given. */
function dhcpServer(lab: ServicesLab, ns: string, range: string[], leaseFile: string, log: string): Child {
  writeFileSync(leaseFile, '');
  return lab.spawn('dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--pid-file=', '--port=0', `--interface=${lab.tapOut}`, '--bind-interfaces',
    `--dhcp-range=${range[0]},${range[1]},255.255.255.0,2m`, '--dhcp-authoritative', `--dhcp-leasefile=${leaseFile}`,
    '--dhcp-option=option:T1,4', '--dhcp-option=option:T2,7', '--no-ping', '--log-dhcp', `--log-facility=${log}`], { ns });
}

function ipText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
  return String(v);
}

/** The router's `dhcp-client` row for the outside TAP: address and `obtained`, when bound. */
async function outsideRow(api: Client, dev: string): Promise<{ ip: string; obtained: number; state: string } | undefined> {
  try {
    const r = await api.get('dhcp-client', dev);
    const v = r.value as { ip?: unknown; obtained?: number; state?: string } | null;
    return v ? { ip: ipText(v.ip), obtained: Number(v.obtained), state: String(v.state) } : undefined;
  } catch { return undefined; }
}

const inRange = (ip: string, r: string[]): boolean => {
  const last = (x: string) => Number(x.split('.')[3]);
  return ip.startsWith('10.202.0.') && last(ip) >= last(r[0]) && last(ip) <= last(r[1]);
};

/**
 * Builds the lab (router with `--outside TAP:dhcp`, client and server namespaces, dnsmasq), runs the flows
 * across one address change and returns the figures. The caller tears `lab` down.
 */
export async function remapAcrossChange(lab: ServicesLab, workers = 2): Promise<RemapFigures> {
  await lab.startRouter(['--inside', `${lab.tapIn}:10.201.0.1/24`, '--outside', `${lab.tapOut}:dhcp`, '--workers', String(workers)]);
  const client = lab.addNamespace('c');
  const server = lab.addNamespace('s');
  lab.moveInto(lab.tapIn, client, ['10.201.0.2/24'], '10.201.0.1');
  lab.moveInto(lab.tapOut, server, [`${SERVER}/24`]);
  const log = join(lab.dir, 'dnsmasq-dhcp.log');
  let dnsmasq = dhcpServer(lab, server, OLD_RANGE, join(lab.dir, 'leases-1'), log);
  const api = await lab.api();
  const first = await poll(async () => { const r = await outsideRow(api, lab.tapOut); return r && inRange(r.ip, OLD_RANGE) ? r : undefined; }, 45_000, 250);
  if (!first) throw new Error(`the router got no outside lease from dnsmasq in 45 s; row: ${JSON.stringify(await outsideRow(api, lab.tapOut))}; router: ${lab.router!.err().slice(-2000)}`);
  // A renewal at T1 (4 s) with the first dnsmasq: `obtained` moves, the address stays.
  const renewed = await poll(async () => { const r = await outsideRow(api, lab.tapOut); return r && r.obtained > first.obtained && r.ip === first.ip ? r : undefined; }, 10_000, 250);

  const echo = lab.spawn(PY, ['-c', ECHO], { ns: server });
  await waitOutput(echo, /ready/, 10_000, 'the echo servers');
  const tcp = lab.spawn(PY, ['-c', TCP_HOLD, SERVER, '90'], { ns: client });
  await waitOutput(tcp, /connected/, 10_000, 'the TCP connection');
  const ping = lab.spawn('ping', ['-n', '-i', String(PING_PERIOD_MS / 1000), '-W', '1', '-w', '90', SERVER], { ns: client });
  const udp = lab.spawn(PY, ['-c', UDP_STREAM, SERVER, String(UDP_PERIOD_MS), '90'], { ns: client });
  await waitOutput(udp, /streaming/, 10_000, 'the UDP stream');
  await sleep(2000);

  dnsmasq.child.kill('SIGTERM');
  await dnsmasq.exited;
  const changedAt = Date.now();
  dnsmasq = dhcpServer(lab, server, NEW_RANGE, join(lab.dir, 'leases-2'), log);
  const moved = await poll(async () => { const r = await outsideRow(api, lab.tapOut); return r && inRange(r.ip, NEW_RANGE) ? r : undefined; }, 40_000, 100);
  const remappedAt = Date.now();
  if (!moved) throw new Error(`the router did not move to ${NEW_RANGE.join('-')} within 40 s; row: ${JSON.stringify(await outsideRow(api, lab.tapOut))}`);
  await sleep(3000);

  for (const c of [ping, udp, tcp]) c.child.kill('SIGINT');
  const [p, u, t] = await Promise.all([ping.exited, udp.exited, tcp.exited]);
  const tcpOut = JSON.parse(t.stdout.trim().split('\n').pop()!) as RemapFigures['tcp'];
  return {
    oldIp: first.ip, newIp: moved.ip, changedAt, remappedAt, renewedBeforeChange: renewed !== undefined,
    ping: pingFigures(p.stdout),
    udp: JSON.parse(u.stdout.trim().split('\n').pop()!) as RemapFigures['udp'],
    tcp: tcpOut,
    tcpFailedAfterMs: tcpOut.error ? tcpOut.error_at_ms - remappedAt : null,
    dnsmasqLog: readFileSync(log, 'utf8'),
  };
}

/** ping's output: sent and received, and the longest run of missing replies between two answered ones, ms. */
function pingFigures(out: string): RemapFigures['ping'] {
  const seqs = [...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  const sent = Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? 0);
  let run = 0;
  for (let i = 1; i < seqs.length; i++) run = Math.max(run, seqs[i] - seqs[i - 1] - 1);
  return { sent, received: new Set(seqs).size, longestLossMs: run * PING_PERIOD_MS };
}
