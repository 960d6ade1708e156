// DNS cache-hit load for bench/dns.ts, the same for the router and its kernel + dnsmasq twin: a Python client in a
// client namespace asks NAMES cached names (after one warm-up round), first one at a time (the latency samples),
// then WINDOW at a time for a fixed time (the rate). Both caches are built here: the router's over its TAPs,
// the twin as dnsmasq caching in a namespace routed by the kernel over veths; one upstream dnsmasq each.
import { ServicesLab, PY, ip } from './services-lab.js';
import { startDnsmasq } from './services-dns.js';

export interface DnsLoad { p50_us: number; p99_us: number; samples: number; qps: number; answered: number; lost: number; seconds: number }

const NAMES = 100;
const UPSTREAM_OPTS = ['--address=/bench.test/10.202.0.9', '--local-ttl=3600'];

const LOAD = `
import socket, struct, sys, time, json
server, names, samples, window, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
def q(i, n):
    name = b''.join(bytes([len(l)]) + l for l in (b'n%d' % n, b'bench', b'test')) + b'\\0'
    return struct.pack('!HHHHHH', i, 0x0100, 1, 0, 0, 0) + name + b'\\0\\x01\\0\\x01'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((server, 53)); s.settimeout(1)
for n in range(names):   # warm: each name once through the upstream
    s.send(q(n, n)); s.recv(512)
lat = []
for i in range(samples):
    p = q(i & 0xffff, i % names); t = time.perf_counter(); s.send(p)
    while True:
        d = s.recv(512)
        if d[:2] == p[:2]: break
    lat.append(time.perf_counter() - t)
lat.sort()
s.settimeout(0.2); sent = got = 0; out = 0; t0 = time.perf_counter(); end = t0 + secs
while time.perf_counter() < end:
    while out < window:
        s.send(q(sent & 0xffff, sent % names)); sent += 1; out += 1
    try:
        s.recv(512); got += 1; out -= 1
    except OSError:
        out = 0   # a lost answer: refill the window
el = time.perf_counter() - t0
pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e6
print(json.dumps({'p50_us': round(pct(50), 1), 'p99_us': round(pct(99), 1), 'samples': len(lat), 'qps': round(got / el), 'answered': got, 'lost': sent - got - out, 'seconds': round(el, 2)}))
`;

/** Runs the load from `ns` against `server`. */
async function load(lab: ServicesLab, ns: string, server: string, samples: number, window: number, seconds: number): Promise<DnsLoad> {
  const r = await lab.run(ns, PY, ['-c', LOAD, server, String(NAMES), String(samples), String(window), String(seconds)], 120_000);
  if (r.code !== 0) throw new Error(`dns load against ${server}: ${r.stderr.slice(-1000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as DnsLoad;
}

/** The router's DNS cache over its TAPs: client 10.201.0.2 → router 10.201.0.1, upstream dnsmasq at 10.202.0.2. */
export async function routerDnsLoad(lab: ServicesLab, samples: number, window: number, seconds: number): Promise<DnsLoad> {
  await lab.startRouter(['--inside', `${lab.tapIn}:10.201.0.1/24`, '--outside', `${lab.tapOut}:10.202.0.1/24`, '--dns-upstream', '10.202.0.2']);
  const client = lab.addNamespace('c');
  const server = lab.addNamespace('s');
  lab.moveInto(lab.tapIn, client, ['10.201.0.2/24'], '10.201.0.1');
  lab.moveInto(lab.tapOut, server, ['10.202.0.2/24']);
  await startDnsmasq(lab, server, 'upstream', '10.202.0.2', UPSTREAM_OPTS, false);
  return load(lab, client, '10.201.0.1', samples, window, seconds);
}

/** The twin: the same client and upstream, dnsmasq caching in a middle namespace the kernel routes through. */
export async function twinDnsLoad(lab: ServicesLab, samples: number, window: number, seconds: number): Promise<DnsLoad> {
  const client = lab.addNamespace('kc');
  const middle = lab.addNamespace('kr');
  const server = lab.addNamespace('ks');
  const pair = (a: string, an: string, b: string, bn: string, net: string) => {
    ip('link', 'add', `${lab.tag}${an}`, 'type', 'veth', 'peer', 'name', `${lab.tag}${bn}`);
    lab.moveInto(`${lab.tag}${an}`, a, [`${net}.2/24`]);
    lab.moveInto(`${lab.tag}${bn}`, b, [`${net}.1/24`]);
  };
  pair(client, 'a', middle, 'b', '10.211.0');
  pair(server, 'c', middle, 'd', '10.212.0');
  ip('-n', client, 'route', 'add', 'default', 'via', '10.211.0.1');
  await startDnsmasq(lab, server, 'twin-upstream', '10.212.0.2', UPSTREAM_OPTS, false);
  await startDnsmasq(lab, middle, 'twin-cache', '10.211.0.1', ['--server=10.212.0.2', '--cache-size=10000'], false);
  return load(lab, client, '10.211.0.1', samples, window, seconds);
}
