// GSO and partial checksums passed through userspace: two namespaces, each behind a vnet TAP with offloads on, joined by
// a bridge in this process (directly, or over a vnet RingLink pair); 4 MiB of TCP crosses intact, in GSO super-frames.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Link } from '../wire/link/link.js';
import { RingLink, ringLinkPair } from '../wire/link/ring-link.js';
import { TapLink, TunOffload, tapSupport } from '../wire/link/tap.js';

const support = tapSupport();
const skip =
  process.getuid?.() !== 0
    ? 'needs root: it creates TAP devices and network namespaces'
    : !support.ok
      ? support.error.message
      : spawnSync('python3', ['-c', 'import hashlib, socket']).status !== 0
        ? 'needs python3 for the TCP client and server'
        : false;
if (skip) process.stdout.write(`# skipping vnet TAP tests: ${skip}\n`);

const namespaces = new Set<string>();
const links = new Set<Link>();
const children = new Set<ChildProcess>();
function teardown(): void {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
  children.clear();
  for (const l of links) l.close();
  links.clear();
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  namespaces.clear();
}
process.on('exit', teardown);
after(teardown);

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const OFFLOADS = TunOffload.Csum | TunOffload.Tso4 | TunOffload.Tso6 | TunOffload.TsoEcn;

/** A vnet TAP with offloads on, moved into a new namespace (IPv6 off) as `addr`/24. */
function tapInNamespace(tag: string, addr: string): { tap: TapLink; ns: string } {
  const tap = TapLink.open('nbvn%d', { vnetHdr: true, up: false });
  links.add(tap);
  tap.setOffload(OFFLOADS);
  const ns = `nbv${process.pid}${tag}`;
  ip('netns', 'add', ns);
  namespaces.add(ns);
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  ip('link', 'set', tap.name, 'netns', ns);
  ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', tap.name);
  ip('-n', ns, 'link', 'set', tap.name, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  spawnSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', tap.name, 'tx', 'on', 'tso', 'on', 'gso', 'on']); // when ethtool is there
  return { tap, ns };
}

const SERVER = `
import hashlib, socket, sys
s = socket.socket(); s.bind(('10.77.0.2', 5001)); s.listen(1)
print('ready', flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
`;
const CLIENT = `
import hashlib, random, socket
data = random.Random(13).randbytes(4 << 20)
s = socket.create_connection(('10.77.0.2', 5001), timeout=20); s.sendall(data); s.close()
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
`;

/** Runs python3 `code` in namespace `ns`; resolves with its stdout lines as they come (first line) and at exit (all). */
function python(ns: string, code: string): { first: Promise<string>; done: Promise<string> } {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  let onFirst: (line: string) => void = () => {};
  const first = new Promise<string>((resolve) => (onFirst = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('\n')) onFirst(out.split('\n')[0]);
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<string>((resolve, reject) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(out.trim());
      else reject(new Error(`python3 in ${ns} exited ${code}: ${err}`));
    }));
  return { first, done };
}

/** The longest frame each bridge direction carried, by the link it was read from. */
const largest = new Map<Link, number>();

/** Every frame read on `from` is sent on `to`. */
function forward(from: Link, to: Link): void {
  largest.set(from, 0);
  from.onFrames((frames) => {
    for (const f of frames) {
      if (f.length > largest.get(from)!) largest.set(from, f.length);
      to.send(f);
    }
  });
}

/** 4 MiB from namespace a to namespace b; returns what the client sent and what the server received. */
async function transfer(nsA: string, nsB: string): Promise<{ sent: string; received: string }> {
  const server = python(nsB, SERVER);
  assert.equal(await server.first, 'ready');
  const client = python(nsA, CLIENT);
  const [sent, serverOut] = await Promise.all([client.done, server.done]);
  return { sent, received: serverOut.split('\n')[1] };
}

test('TCP through a userspace bridge of two vnet TAPs keeps GSO frames and partial checksums', { skip, timeout: 60_000 }, async (t) => {
  const a = tapInNamespace('a', '10.77.0.1');
  const b = tapInNamespace('b', '10.77.0.2');
  forward(a.tap, b.tap);
  forward(b.tap, a.tap);
  const { sent, received } = await transfer(a.ns, b.ns);
  assert.equal(received, sent);
  assert.ok(a.tap.counters.gsoRx! > 0, `no GSO frame came from the client's side: ${JSON.stringify(a.tap.counters)}`);
  assert.ok(a.tap.counters.csumPartialRx! > 0);
  assert.ok(largest.get(a.tap)! > 1514, `largest frame ${largest.get(a.tap)}`);
  t.diagnostic(`direct: ${JSON.stringify(a.tap.counters)}, largest ${largest.get(a.tap)}`);
  assert.equal(b.tap.counters.txDropped + b.tap.counters.errors, 0);
  for (const l of [a.tap, b.tap]) { l.close(); links.delete(l); }
  for (const ns of [a.ns, b.ns]) { spawnSync('ip', ['netns', 'del', ns]); namespaces.delete(ns); }
});

test('the same through a vnet RingLink pair between the TAPs (header passthrough over rings)', { skip, timeout: 60_000 }, async (t) => {
  const a = tapInNamespace('c', '10.77.0.1');
  const b = tapInNamespace('d', '10.77.0.2');
  const [ea, eb] = ringLinkPair('vnet', 1 << 22, { vnetHdr: true });
  const ra = new RingLink(ea, { vnetHdr: true });
  const rb = new RingLink(eb, { vnetHdr: true });
  links.add(ra).add(rb);
  forward(a.tap, ra);
  forward(rb, b.tap);
  forward(b.tap, rb);
  forward(ra, a.tap);
  const { sent, received } = await transfer(a.ns, b.ns);
  assert.equal(received, sent);
  assert.ok(rb.counters.gsoRx! > 0, `no GSO frame crossed the ring: ${JSON.stringify(rb.counters)}`);
  assert.equal(rb.counters.gsoRx, a.tap.counters.gsoRx! - ra.counters.txDropped);
  assert.ok(largest.get(rb)! > 1514, `largest frame off the ring ${largest.get(rb)}`);
  t.diagnostic(`ring: ${JSON.stringify(rb.counters)}, largest ${largest.get(rb)}`);
  assert.throws(() => new RingLink(ea, { vnetHdr: false }), /vnetHdr/);
});
