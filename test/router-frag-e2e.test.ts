// Fragments through `netbranch router` with real Linux peers (root): `ping -s 4000` both ways, and a
// 5000-byte UDP datagram sent with DF off that the server's kernel reassembles whole (sha256 checked),
// its 5000-byte answer coming back the same way; in the queues mode (two actors: fragments owned by
// their datagram, handed to their port's owner) and with --dispatcher. The fragments on the wire are
// captured (--pcap, or tcpdump in the server's namespace) and must re-emit byte for byte through wire/frame.ts.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFrame, emitFrame } from '../wire/index.js';
import { readPcapFile } from '../wire/pcap-file.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'netbranch.js');
const skip = process.getuid?.() !== 0
  ? 'needs root: it creates TAP devices and network namespaces (CI runs as root)'
  : !existsSync('/dev/net/tun') ? '/dev/net/tun is missing (modprobe tun)'
    : !existsSync(join(ROOT, 'dist', 'cli', 'main.js')) ? 'the CLI is not built (npx tsc -p tsconfig.json)' : false;
if (skip) process.stdout.write(`# skipping router-frag-e2e: ${skip}\n`);

const tag = `${process.pid % 10000}`;
const CLIENT_IP = '10.221.0.2';
const SERVER_IP = '10.222.0.2';

// ---- what this file made, so teardown removes exactly that ----
const namespaces = new Set<string>();
const children = new Set<ChildProcess>();
const dirs: string[] = [];
function teardown(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  children.clear();
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  namespaces.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
process.on('exit', teardown);
after(teardown);

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function namespaceWith(ns: string, dev: string, addr: string, gw?: string): void {
  ip('netns', 'add', ns);
  namespaces.add(ns);
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  ip('link', 'set', dev, 'netns', ns);
  ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'link', 'set', dev, 'up');
  if (gw) ip('-n', ns, 'route', 'add', 'default', 'via', gw);
}

// The server: one datagram in; prints its length and sha256, answers it with the same bytes.
const UDP_SERVER = `
import socket, sys, hashlib
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 7000))
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: the answer may be fragmented
print('ready', flush=True)
d, a = s.recvfrom(65535)
print(len(d), hashlib.sha256(d).hexdigest(), flush=True)
s.sendto(d, a)`;
// The client: 5000 seeded bytes with DF off (so the kernel fragments them); prints their sha256 and the answer's.
const UDP_CLIENT = `
import socket, sys, hashlib, random
data = random.Random(14).randbytes(5000)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
s.sendto(data, (sys.argv[1], 7000))
back = s.recvfrom(65535)[0]
print(len(data), hashlib.sha256(data).hexdigest(), len(back), hashlib.sha256(back).hexdigest())`;

function nsExec(ns: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(' ')}: ${err.message} ${stdout} ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** A child and what it printed so far; resolves once a line matching `ready` came. */
function serve(cmd: string, args: string[], ready: RegExp, what: string): Promise<{ child: ChildProcess; out: () => string; err: () => string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${out} ${err}`)), 20_000);
    const check = () => {
      if (!ready.test(out + err)) return;
      clearTimeout(t);
      resolve({ child, out: () => out, err: () => err });
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`${what} exited ${code}: ${out} ${err}`)); });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

/** IPv4 fragments in a capture: each must decode and emit back to the very same bytes. */
function fragmentsReEmitted(path: string): number {
  let n = 0;
  for (const rec of readPcapFile(path).records) {
    const bytes = new Uint8Array(rec.data);
    const f = decodeFrame(bytes, { checksum: 'keep' });
    if (f.network.kind !== 'ipv4' || !f.network.ipv4.isFragment) continue;
    assert.equal(f.network.transport.kind, 'fragment');
    assert.deepEqual(f.checksumErrors, [], 'the fragment\'s header checksum is right');
    assert.deepEqual(emitFrame(f), bytes, 'a captured fragment re-emits byte for byte');
    n++;
  }
  return n;
}

for (const mode of ['queues', 'dispatcher'] as const) {
  describe(`fragments through netbranch router (${mode})`, { skip }, () => {
    const m = mode === 'queues' ? 'q' : 'd';
    const inTap = `nbt14f${m}i${tag}`;
    const outTap = `nbt14f${m}o${tag}`;
    const client = `nbt14f${m}${tag}c`;
    const server = `nbt14f${m}${tag}s`;
    const dir = mkdtempSync(join(tmpdir(), 'nbt14f-'));
    dirs.push(dir);
    let router: ChildProcess | null = null;
    let capture: { child: ChildProcess } | null = null;

    test('the router comes up and its TAPs move into a client and a server namespace', async () => {
      const args = [BIN, 'router', '--inside', `${inTap}:10.221.0.1/24`, '--outside', `${outTap}:10.222.0.1/24`, '--workers', '2'];
      if (mode === 'dispatcher') args.push('--dispatcher', '--pcap', dir);
      router = (await serve(process.execPath, args, /"event":"ready"/, 'netbranch router')).child;
      namespaceWith(client, inTap, CLIENT_IP, '10.221.0.1');
      namespaceWith(server, outTap, SERVER_IP); // no route back: every answer proves the masquerade
      if (mode === 'queues') {
        // --immediate-mode: otherwise frames still in libpcap's block buffer at SIGINT are counted but never written.
        capture = (await serve('ip', ['netns', 'exec', server, 'tcpdump', '-Z', 'root', '-i', outTap, '--immediate-mode', '-U', '-n', '-w', join(dir, 'outside.pcap')], /listening on/, 'tcpdump'));
      }
    });

    test('ping -s 4000 goes through in fragments and comes back whole', async () => {
      const out = await nsExec(client, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-s', '4000', SERVER_IP], 20_000);
      assert.match(out, /3 packets transmitted, 3 received/);
      assert.match(out, /4008 bytes from 10\.222\.0\.2/);
    });

    test('a 5000-byte UDP datagram with DF off arrives whole at the server (sha256), and its answer at the client', async () => {
      const srv = await serve('ip', ['netns', 'exec', server, 'python3', '-c', UDP_SERVER, SERVER_IP], /ready/, 'udp server');
      const sent = (await nsExec(client, ['python3', '-c', UDP_CLIENT, SERVER_IP], 20_000)).split(' ');
      await exited(srv.child);
      const got = srv.out().trim().split('\n').pop()!.split(' ');
      assert.equal(sent[0], '5000');
      assert.deepEqual(got, [sent[0], sent[1]], 'the server\'s kernel reassembled exactly what the client sent');
      assert.deepEqual([sent[2], sent[3]], [sent[0], sent[1]], 'the answer came back through the NAT whole');
    });

    test('the router stops cleanly, and the captured fragments re-emit byte for byte', async () => {
      capture?.child.kill('SIGINT');
      if (capture) await exited(capture.child);
      router!.kill('SIGTERM');
      assert.equal(await exited(router!), 0);
      const files = mode === 'dispatcher' ? ['inside.pcap', 'outside.pcap'] : ['outside.pcap'];
      const counts = files.map((f) => fragmentsReEmitted(join(dir, f)));
      // 3 pings of 4008 bytes and 2 datagrams of 5008: at least 3 fragments each, on every network captured.
      for (const n of counts) assert.ok(n >= 3 * 3 + 2 * 4, `fragments captured: ${counts}`);
    });
  });
}
