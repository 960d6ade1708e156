// `netbranch host` against the Linux kernel in a namespace, its tables read through its own API (--api):
// a kernel connection's row in `netbranch tcp`, ping with fragmented requests and replies, reassembly rows.
// A busy API socket is refused before the TAP is made, so that test runs without root too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../api/client.js';
import { noTap, runCli } from './support/cli.js';
import { KERNEL_IP, PYTHON, STACK_IP, TcpLab, moveIntoNamespace, noPython, type JsonProcess } from './support/tcp-lab.js';

const skip = noTap || noPython;
if (skip) process.stdout.write(`# skipping host e2e tests on a TAP: ${skip}\n`);

const lab = new TcpLab('nbt14g');
const dir = mkdtempSync(join(tmpdir(), `nbt14g${process.pid}-`));
const held: Server[] = [];
after(async () => {
  lab.teardown();
  for (const s of held) await new Promise((r) => s.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** A kernel client: connects, checks one echo, reports its address, and holds the connection until `flag` exists. */
const HOLDING_CLIENT = `
import json, os, socket, sys, time
host, port, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=30)
s.sendall(b'hello')
got = b''
while len(got) < 5:
    d = s.recv(5 - len(got))
    if not d: break
    got += d
local = s.getsockname()
print(json.dumps({'connected': '%s:%d' % local, 'echo': got.decode()}), flush=True)
end = time.time() + 120
while not os.path.exists(flag) and time.time() < end: time.sleep(0.05)
s.close()
print(json.dumps({'closed': True}), flush=True)
`;

/** One first fragment (MF set, offset 0) of a UDP datagram whose rest never comes, with IP identification `ident`. */
const LONE_FRAGMENT = `
import socket, struct, sys
src, dst, ident = sys.argv[1], sys.argv[2], int(sys.argv[3])
udp = struct.pack('!HHHH', 40000, 9, 8 + 2992, 0) + bytes(1472)
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), ident, 0x2000, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(ip + udp, (dst, 0))
print('{"sent": 1}', flush=True)
`;

/** `count` UDP datagrams of `size` random bytes, each from its own port: the kernel cuts each into fragments at the TAP's MTU. */
const UDP_DATAGRAMS = `
import os, socket, sys
dst, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s: s.sendto(os.urandom(size), (dst, 9))
print('{"sent": %d}' % count, flush=True)
`;

/** `netbranch host` on TAP `tag` with `args`, ready, its TAP moved into namespace `tag` holding KERNEL_IP. */
async function hostInNamespace(tag: string, args: string[]): Promise<{ host: JsonProcess; ns: string; ready: Record<string, unknown> }> {
  const dev = lab.name(tag);
  const host = lab.spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'host', '--tap', `${dev}:${STACK_IP}/24`, '--workers', '2', '--merge-interval', '50', ...args]);
  const ready = await host.line('event', 60_000);
  assert.equal(ready.event, 'ready', JSON.stringify(ready));
  const ns = lab.namespace(tag);
  moveIntoNamespace(dev, ns, `${KERNEL_IP}/24`);
  return { host, ns, ready };
}

async function stopHost(host: JsonProcess): Promise<void> {
  host.child.kill('SIGTERM'); // the host this test started
  const { code } = await host.result(20_000);
  assert.equal(code, 0, `the host exits 0 after SIGTERM; stderr: ${host.stderr.slice(-800)}`);
}

/** `netbranch ARGS` from source, without blocking this thread (the processes' pipes are read meanwhile). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** Runs `probe` until it gives a value, for up to `ms`; the last value tried (undefined) otherwise. */
async function poll<T>(ms: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("a kernel connection to `netbranch host --tcp-echo 7 --api` is an ESTAB line in `netbranch tcp`, and leaves once the kernel closes it", { skip }, async () => {
  const sock = join(dir, 'tcp.sock');
  const { host, ns, ready } = await hostInNamespace('a', ['--tcp-echo', '7', '--api', `unix:${sock}`]);
  assert.deepEqual(ready.api, { unix: sock }, 'the ready line says where the API is');
  const flag = join(dir, 'close-a');
  const client = lab.inNamespace(ns, [PYTHON, '-c', HOLDING_CLIENT, STACK_IP, '7', flag]);
  const connected = await client.line('connected', 30_000);
  assert.equal(connected.echo, 'hello', 'the echo service answers');
  const tuple = new RegExp(`^ESTAB +\\d+ +${STACK_IP.replaceAll('.', '\\.')}:7 +${String(connected.connected).replaceAll('.', '\\.')} `, 'm');
  let last = '';
  const line = await poll(20_000, async () => {
    const r = await cli(['tcp', '--api', `unix:${sock}`]);
    last = `exit ${r.code}\n${r.stdout}${r.stderr}`;
    return r.code === 0 ? tuple.exec(r.stdout)?.[0] : undefined;
  });
  assert.ok(line, `no ESTAB line for ${STACK_IP}:7 ${connected.connected}; last output:\n${last}`);

  writeFileSync(flag, ''); // the kernel closes first: our side goes CLOSE-WAIT, LAST-ACK, and the row is deleted
  await client.line('closed', 10_000);
  const peer = new RegExp(` ${String(connected.connected).replaceAll('.', '\\.')} `);
  const gone = await poll(20_000, async () => {
    const r = await cli(['tcp', '--api', `unix:${sock}`]);
    last = `exit ${r.code}\n${r.stdout}${r.stderr}`;
    return r.code === 0 && !peer.test(r.stdout) ? true : undefined;
  });
  assert.ok(gone, `the row is still there after the close; last output:\n${last}`);
  await stopHost(host);
  assert.ok(!existsSync(sock), 'the API socket is removed at stop');
});

test('kernel `ping -s 4000` to `netbranch host` gets its replies: the request reassembled, the reply cut into fragments', { skip }, async () => {
  const { host, ns } = await hostInNamespace('b', []);
  for (const extra of [[], ['-M', 'dont']]) {
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', '-s', '4000', ...extra, STACK_IP], { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr });
      });
    });
    assert.equal(r.code, 0, `ping -s 4000 ${extra.join(' ')}: ${r.out}`);
    assert.match(r.out, /3 packets transmitted, 3 received, 0% packet loss/, r.out);
    assert.match(r.out, /4008 bytes from 192\.0\.2\.2/, 'each reply is the whole 4000-byte echo');
  }
  await stopHost(host);
});

/** The packet actors' counters `names`, summed, from the table summary the host logs on SIGUSR1. */
async function packetCounters(host: JsonProcess, stderr: () => string, names: string[]): Promise<number[]> {
  const before = stderr().length;
  host.child.kill('SIGUSR1'); // the host this test started
  const line = await poll(10_000, async () => stderr().slice(before).split('\n').find((l) => l.includes('"msg":"table summary"')));
  assert.ok(line, 'no table summary after SIGUSR1');
  const actors = (JSON.parse(line) as { actors: { name: string; counters: Record<string, number> }[] }).actors.filter((a) => a.name.startsWith('packet-'));
  return names.map((n) => actors.reduce((sum, a) => sum + (a.counters[n] ?? 0), 0));
}

test('fragmented UDP datagrams to `netbranch host --workers 2` are all reassembled; a lone first fragment waits in `frag`', { skip }, async () => {
  const sock = join(dir, 'frag.sock');
  const { host, ns } = await hostInNamespace('c', ['--api', `unix:${sock}`]);
  let err = '';
  host.child.stderr!.on('data', (d: string) => { err += d; }); // the whole log: a summary line is longer than JsonProcess keeps
  const ident = 4660;
  const lone = lab.inNamespace(ns, [PYTHON, '-c', LONE_FRAGMENT, KERNEL_IP, STACK_IP, String(ident)]);
  assert.equal((await lone.result(20_000)).code, 0, lone.stderr);
  const key = `${KERNEL_IP}>${STACK_IP}:17:${ident}`;
  const row = await poll(20_000, async () => {
    const r = await cli(['get', 'frag', key, '--api', `unix:${sock}`, '--json']);
    return r.code === 0 ? ((JSON.parse(r.stdout) as { value: { holes: string; received: number } }).value) : undefined;
  });
  assert.ok(row, `no frag row ${key}`);
  assert.deepEqual([row.holes, row.received], ['1480-*', 1480], JSON.stringify(row));

  // 8 datagrams of 4008 UDP bytes, 3 fragments each; each from its own port, so a dispatcher that hashed the bytes
  // where a first fragment has its ports would scatter the later fragments over the actors.
  const udp = lab.inNamespace(ns, [PYTHON, '-c', UDP_DATAGRAMS, STACK_IP, '8', '4000']);
  assert.equal((await udp.result(20_000)).code, 0, udp.stderr);
  let counts: number[] = [];
  const names = ['frag.fragments', 'frag.reassembled', 'udpReceived'];
  const all = await poll(20_000, async () => {
    counts = await packetCounters(host, () => err, names);
    return counts[0] === 1 + 8 * 3 ? true : undefined;
  });
  assert.ok(all, `fragments seen by the packet actors: ${counts[0]}, expected ${1 + 8 * 3}`);
  assert.deepEqual(counts, [25, 8, 8], `${names.join(', ')}: every datagram completed on one actor and was received whole`);
  let keys: string[] = [];
  const onlyLone = await poll(10_000, async () => {
    const c = await connect(`unix:${sock}`);
    try {
      keys = [];
      for await (const e of c.listAll('frag')) keys.push(e.key);
    } finally {
      await c.close();
    }
    return keys.length === 1 ? true : undefined;
  });
  assert.ok(onlyLone, `rows left in frag besides the lone fragment's: ${keys.join(' ')}`);
  assert.deepEqual(keys, [key]);
  await stopHost(host);
});

test('`netbranch host --api unix:PATH` held by a live server: one line naming the flag, exit 2, before any TAP', async () => {
  const sock = join(dir, 'held.sock');
  const s = createServer();
  held.push(s);
  await new Promise<void>((r) => s.listen(sock, r));
  const r = runCli(['host', '--tap', `nbt14g${process.pid % 10_000}z:10.199.91.1/24`, '--api', `unix:${sock}`], 30_000);
  assert.equal(r.stdout, '', 'no ready line');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line, got: ${r.stderr}`);
  assert.match(r.stderr.trimEnd(), new RegExp(`^netbranch: --api unix:${sock}: in use by a live server$`));
  assert.equal(r.status, 2, r.stderr);
  assert.ok(existsSync(sock), "the live server's socket is left alone");
});

test('`netbranch host` API flags are checked like the router\'s: --tokens alone, and --api tcp:, are one line and exit 2', () => {
  const tap = ['host', '--tap', `nbt14g${process.pid % 10_000}y:10.199.92.1/24`];
  for (const [args, line] of [
    [['--tokens', join(dir, 'none.json')], /^netbranch: --tokens needs --api, --api-tcp or --http$/],
    [['--api', 'tcp:127.0.0.1:7070'], /^netbranch: --api takes a Unix socket \(unix:PATH\); use --api-tcp HOST:PORT for TCP$/],
  ] as const) {
    const r = runCli([...tap, ...args], 30_000);
    assert.match(r.stderr.trimEnd(), line, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.equal(r.status, 2, r.stderr);
  }
});
