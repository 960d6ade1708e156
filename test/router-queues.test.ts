// The router on per-actor TAP queues with real Linux peers: each packet actor reads and writes its
// own queue of each TAP, the kernel steering frames by port (or the actors handing them over), in
// namespaces this test makes. Root only (CI runs as root); elsewhere every test says why it skips.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseIpv4 } from '../wire/index.js';
import { TapQueueSet, TunOffload } from '../wire/link/tap.js';
import { RouterActors, type Steering } from '../actors/router/router-actors.js';
import { natTable } from '../actors/router/nat-table.js';
import { portOwner } from '../actors/router/nat-engine.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';

const skip = process.getuid?.() !== 0
  ? 'needs root: it creates TAP devices and network namespaces (CI runs as root)'
  : !existsSync('/dev/net/tun') ? '/dev/net/tun is missing (modprobe tun)' : false;
if (skip) process.stdout.write(`# skipping router queue tests: ${skip}\n`);

const tag = `${process.pid % 100000}`;
const INSIDE: NetInterface = { name: `nbqi${tag}`, mac: localMac(0x501), ip: parseIpv4('10.211.0.1'), prefix: 24 };
const OUTSIDE: NetInterface = { name: `nbqo${tag}`, mac: localMac(0x502), ip: parseIpv4('10.212.0.1'), prefix: 24 };
const CLIENT_IP = '10.211.0.2';
const SERVER_IP = '10.212.0.2';

// ---- what this file made, so teardown removes exactly that ----
const namespaces = new Set<string>();
const children = new Set<ChildProcess>();
const closers: (() => Promise<void>)[] = [];
async function teardown(): Promise<void> {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const c of closers.splice(0)) await c();
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  namespaces.clear();
}
process.on('exit', () => { for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]); });
after(teardown);

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A namespace (IPv6 off) holding `dev` as `addr/24`, with a default route via `gw` if given. */
function namespaceWith(name: string, dev: string, addr: string, gw?: string): string {
  const ns = `nbq${tag}${name}`;
  ip('netns', 'add', ns);
  namespaces.add(ns);
  const sysctl = (...kv: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', ...kv]);
  sysctl('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  ip('link', 'set', dev, 'netns', ns);
  ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'link', 'set', dev, 'up');
  if (gw) ip('-n', ns, 'route', 'add', 'default', 'via', gw);
  return ns;
}

// A UDP echo server that also says which source port it saw, and a TCP sink that prints the sha256 of what it got.
const ECHO_SERVER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 7))
print('ready', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(d + b' ' + str(a[1]).encode(), a)`;
// A TCP sink: prints 'ready', then for one connection the sha256 and length of what it received.
const TCP_SINK = `
import socket, sys, hashlib
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], 9000)); s.listen(1)
print('ready', flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
print(h.hexdigest(), n, flush=True)`;
// A TCP source: sends N pseudo-random bytes, prints their sha256 and length.
const TCP_SOURCE = `
import socket, sys, hashlib, random
n = int(sys.argv[2]); data = random.Random(7).randbytes(n)
s = socket.create_connection((sys.argv[1], 9000), timeout=20); s.sendall(data); s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
print(hashlib.sha256(data).hexdigest(), n)`;
// Sends from each given source port, one datagram at a time; prints each echo's "port seen" (or 'lost').
const UDP_CLIENT = `
import socket, sys
out = []
for p in sys.argv[2].split(','):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(p))); s.settimeout(1.0)
    seen = 'lost'
    for attempt in range(3):
        s.sendto(b'x', (sys.argv[1], 7))
        try:
            seen = s.recvfrom(2048)[0].split(b' ')[1].decode(); break
        except socket.timeout:
            pass
    out.append(p + '=' + seen); s.close()
print(' '.join(out))`;

function nsExec(ns: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** A long-lived helper in a namespace and everything it printed so far. */
interface Served { child: ChildProcess; output: string }

/** Starts a helper in a namespace; resolves once it printed its first line. */
function nsServe(ns: string, args: string[]): Promise<Served> {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const served: Served = { child, output: '' };
  child.stdout!.on('data', (d: Buffer) => { served.output += d.toString(); });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${args.join(' ')} did not start`)), 10_000);
    child.stdout!.once('data', () => { clearTimeout(t); resolve(served); });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`${args.join(' ')} exited ${code}`)); });
  });
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 8_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The router on two 2-queue TAPs, the client and server namespaces behind them, the echo server up. */
async function lab(steering: Steering, opts: { vnetHdr?: boolean } = {}) {
  const tin = TapQueueSet.open(INSIDE.name, 2, { up: false, ...opts });
  const tout = TapQueueSet.open(OUTSIDE.name, 2, { up: false, ...opts });
  let actors: RouterActors;
  try {
    if (opts.vnetHdr) for (const t of [tin, tout]) t.setOffload(TunOffload.Csum | TunOffload.Tso4);
    actors = new RouterActors(tin, tout, { inside: INSIDE, outside: OUTSIDE, packetActors: 2, mergeIntervalMs: 30, steering, vnetHdr: opts.vnetHdr });
  } catch (err) {
    tin.close();
    tout.close();
    throw err;
  }
  const client = namespaceWith('c', INSIDE.name, CLIENT_IP, '10.211.0.1');
  const server = namespaceWith('s', OUTSIDE.name, SERVER_IP);
  const close = async () => {
    await actors.stop();
    tin.close();
    tout.close();
    for (const ns of [client, server]) { spawnSync('ip', ['netns', 'del', ns]); namespaces.delete(ns); }
  };
  closers.push(close);
  await actors.ready();
  const echo = await nsServe(server, ['python3', '-c', ECHO_SERVER, SERVER_IP]);
  const udp = async (ports: number[]) => Object.fromEntries((await nsExec(client, ['python3', '-c', UDP_CLIENT, SERVER_IP, ports.join(',')], 20_000)).split(' ').map((kv) => kv.split('=')));
  const counters = async () => (await actors.supervisor.stats()).filter((s) => s.kind === 'packet').sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => s.counters);
  return { actors, client, server, udp, counters, close: async () => { echo.child.kill('SIGKILL'); children.delete(echo.child); closers.splice(closers.indexOf(close), 1); await close(); } };
}

describe('the router on per-actor TAP queues', { skip }, () => {
  for (const steering of ['kernel', 'handoff'] as const) {
    test(`steering '${steering}': every flow is NATed and answered by the actor owning its port`, async () => {
      const l = await lab(steering);
      try {
        assert.equal(l.actors.steering, steering, 'the kernel took the steering program (root, kernel ≥ 4.16)');
        assert.equal(l.actors.insideDispatcher, null, 'the main thread reads no TAP');
        const ports = [2000, 2001, 30000, 40001, 50000, 61000];
        const seen = await l.udp(ports);
        for (const p of ports) assert.equal(seen[p], String(p), `port ${p} kept on the outside and answered`);
        const created = (await l.counters()).map((c) => c['nat.created']);
        assert.deepEqual(created, [0, 1].map((i) => ports.filter((p) => portOwner(p, 2) === i).length), 'each actor made its own slice\'s bindings');
        const nat = l.actors.store.main.table(natTable);
        await waitFor('the bindings merged', () => nat.size === ports.length);
        if (steering === 'kernel') {
          const handed = (await l.counters()).reduce((a, c) => a + c['handoff.inside.handedOut'] + c['handoff.outside.handedOut'], 0);
          assert.equal(handed, 0, 'the kernel put every datagram and answer on its owner\'s queue');
        }
      } finally {
        await l.close();
      }
    });
  }

  test('segment offload: 16 MiB of TCP crosses the NAT in 64 KiB segments, checksummed right (the kernel peer checks)', async () => {
    const l = await lab('kernel', { vnetHdr: true });
    try {
      const sink = await nsServe(l.server, ['python3', '-c', TCP_SINK, SERVER_IP]);
      const sent = await nsExec(l.client, ['python3', '-c', TCP_SOURCE, SERVER_IP, String(16 << 20)], 30_000);
      await waitFor('the sink\'s digest', () => sink.output.trim().split('\n').length >= 2, 15_000).catch(() => undefined);
      assert.equal(sink.output.trim().split('\n').at(-1), sent, 'the server got every byte, in order: the kernel accepted every checksum');
      const c = await l.counters();
      const gso = c.reduce((a, x) => a + (x['link.inside.gsoRx'] ?? 0), 0);
      assert.ok(gso > 0, `segments bigger than the MTU came in from the client (gsoRx ${gso})`);
    } finally {
      await l.close();
    }
  });

  test('a packet actor killed mid-flow comes back on the same queues and still translates its flow', async () => {
    const l = await lab('kernel');
    try {
      assert.equal((await l.udp([50000]))['50000'], '50000');
      const nat = l.actors.store.main.table(natTable);
      await waitFor('the binding merged', () => nat.size === 1);
      const victim = l.actors.supervisor.actors[portOwner(50000, 2)];
      await victim.worker!.terminate();
      await waitFor('the restart', () => victim.up && victim.incarnation === 2);
      assert.equal((await l.udp([50000]))['50000'], '50000', 'the same binding, from the new incarnation');
      assert.equal([...nat.entries()][0][1].outPort, 50000);
      const c = (await l.counters())[portOwner(50000, 2)];
      assert.ok(c.rxInside >= 1, 'the new incarnation read its queue');
    } finally {
      await l.close();
    }
  });
});
