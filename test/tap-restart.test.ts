// The restart story of docs/operations.md ("Restarting with TAPs in namespaces"), run as the example unit file
// (docs/systemd/netbranch-router.service) runs the router: TAPs made once, persistent and multi-queue, owned by
// an unprivileged user and joined to the client's and the server's namespaces by a bridge and a veth each; the
// router as that user with only the unit's capabilities, from a config file, telling its readiness on
// NOTIFY_SOCKET. Ping through it, SIGTERM, start it again with no ip step in between, ping again.
//
//   [client ns] veth ── bridge ── TAP in ┐                       ┌ TAP out ── bridge ── veth [server ns]
//    10.231.0.2                          └─ [router ns: netbranch router as uid 65534] ─┘          10.232.0.2
//
// Everything lives in three namespaces this test makes, deleted at the end with all in them.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotifySocket } from './support/notify-socket.js';
import { ip, missing, noLab, ServicesLab, waitOutput, type Child } from './support/services-lab.js';
import { ROOT } from './support/cli.js';

/** The unprivileged user the router runs as: nobody (the unit file's is `netbranch`). */
const UID = 65534;
const tool = missing('ping', 'setpriv', 'unshare', 'mknod', 'python3');
const skip = noLab || (tool ? `${tool} is not installed (scripts/lab-tools.mjs installs it)` : false);
if (skip) process.stdout.write(`# skipping the TAP restart story: ${skip}\n`);

const lab = new ServicesLab(`nbtr${process.pid % 100000}`);
const sockets: NotifySocket[] = [];
after(async () => {
  for (const s of sockets) s.close();
  await lab.teardown();
});

async function listen(address: string, ns?: string): Promise<NotifySocket> {
  const s = await NotifySocket.open(address, { ns });
  sockets.push(s);
  return s;
}

/** CapEff bits: CAP_NET_ADMIN (12), CAP_BPF (39). */
const CAP = { net_admin: 1n << 12n, bpf: 1n << 39n };

/** The example unit's AmbientCapabilities=, as setpriv names them: the second run gets exactly these. */
const UNIT_CAPS = /^AmbientCapabilities=(.*)$/m.exec(readFileSync(join(ROOT, 'docs/systemd/netbranch-router.service'), 'utf8'))![1]
  .split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase()) as (keyof typeof CAP)[];

/**
 * The namespaces, the persistent TAPs (`user` UID, multi_queue as the router's queues need), bridges and veths,
 * and a /dev/net/tun of mode 0666 for the router (what Debian's udev gives; this machine's may be 0600).
 */
function makeLab(): { router: string; client: string; tun: string } {
  const [router, client, server] = ['r', 'c', 's'].map((role) => lab.addNamespace(role));
  const t = lab.tag;
  const inR = (...args: string[]) => ip('-n', router, ...args);
  for (const [tap, bridge, veth, peer, ns] of [[lab.tapIn, `${t}bi`, `${t}vi`, `${t}ci`, client], [lab.tapOut, `${t}bo`, `${t}vo`, `${t}so`, server]]) {
    inR('tuntap', 'add', 'dev', tap, 'mode', 'tap', 'multi_queue', 'user', String(UID));
    inR('link', 'add', bridge, 'type', 'bridge');
    inR('link', 'add', veth, 'type', 'veth', 'peer', 'name', peer, 'netns', ns);
    for (const port of [tap, veth]) inR('link', 'set', port, 'master', bridge);
    for (const dev of [bridge, veth, tap]) inR('link', 'set', dev, 'up');
  }
  ip('-n', client, 'addr', 'add', '10.231.0.2/24', 'dev', `${t}ci`);
  ip('-n', client, 'link', 'set', `${t}ci`, 'up');
  ip('-n', client, 'route', 'add', 'default', 'via', '10.231.0.1');
  ip('-n', server, 'addr', 'add', '10.232.0.2/24', 'dev', `${t}so`); // no route back: replies prove the NAT
  ip('-n', server, 'link', 'set', `${t}so`, 'up');
  const tun = join(lab.dir, 'tun');
  const made = spawnSync('mknod', ['-m', '0666', tun, 'c', '10', '200'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`mknod ${tun}: ${made.stderr}`);
  return { router, client, tun };
}

/** `netbranch router --config FILE` in `ns`, as UID with only `caps` (ambient, as systemd's AmbientCapabilities=). */
function startRouter(ns: string, tun: string, caps: string[], notify: string, config: string): Child {
  const capList = caps.map((c) => `+${c}`).join(',');
  const r = lab.spawn('env', [`NOTIFY_SOCKET=${notify}`, 'unshare', '--mount', '--propagation', 'private',
    'sh', '-c', 'mount --bind "$0" /dev/net/tun && exec "$@"', tun,
    'ip', 'netns', 'exec', ns, 'setpriv', `--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', `--inh-caps=${capList}`, `--ambient-caps=${capList}`,
    process.execPath, '--import', 'tsx', join(ROOT, 'cli/main.ts'), 'router', '--config', config]);
  lab.router = r;
  return r;
}

/** The router's user and effective capabilities, as the kernel says. */
function credentials(pid: number): { uid: number; capEff: bigint } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: Number(/^Uid:\s+(\d+)/m.exec(status)![1]), capEff: BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)![1]}`) };
}

async function ping(client: string): Promise<string> {
  const r = await lab.run(client, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.232.0.2']);
  assert.equal(r.code, 0, `no reply through the router: ${r.stdout}${r.stderr}\n${lab.router?.err().slice(-2000)}`);
  return /\d+ received/.exec(r.stdout)![0];
}

/** One run: ready (the line and READY=1 from the router's pid, as UID), a ping through it, SIGTERM, exit 0 and STOPPING=1. */
async function run(ns: string, client: string, tun: string, config: string, caps: (keyof typeof CAP)[], sock: NotifySocket): Promise<{ steering: string; received: string; err: string }> {
  const router = startRouter(ns, tun, caps, sock.address, config);
  await waitOutput(router, /"event":"ready"/, 60_000, 'netbranch router');
  const ready = JSON.parse(router.out().split('\n')[0]) as { pid: number; steering: string };
  const notified = await sock.next('READY', 5_000);
  assert.ok(notified, `no READY=1 on ${sock.address}: ${router.err().slice(-2000)}`);
  assert.deepEqual([notified.pid, notified.uid, notified.fields.MAINPID], [ready.pid, UID, String(ready.pid)]);
  assert.deepEqual(credentials(ready.pid), { uid: UID, capEff: caps.reduce((m, c) => m | CAP[c], 0n) }, 'the router runs as the user with exactly these capabilities');
  const received = await ping(client);
  const exit = await lab.stopRouter();
  assert.equal(exit?.code, 0, exit?.stderr.slice(-2000));
  assert.equal((await sock.next('STOPPING', 1_000))?.pid, ready.pid);
  return { steering: ready.steering, received, err: router.err() };
}

test('persistent TAPs: the router as an unprivileged user routes, stops, starts again and routes, with no ip step between', { skip, timeout: 180_000 }, async () => {
  const { router, client, tun } = makeLab();
  const config = join(lab.dir, 'router.toml');
  writeFileSync(config, `inside = "${lab.tapIn}:10.231.0.1/24"\noutside = "${lab.tapOut}:10.232.0.1/24"\nworkers = 2\n`);
  // CAP_NET_ADMIN alone: the kernel refuses the eBPF steering program, the router says so once and hands frames over.
  const first = await run(router, client, tun, config, ['net_admin'], await listen(join(lab.dir, 'notify.sock')));
  assert.equal(first.steering, 'handoff');
  assert.match(first.err, /loading an eBPF program needs CAP_BPF or CAP_SYS_ADMIN.*the kernel refused the steering program/);
  // Started again, nothing done to the devices in between, with the unit file's capabilities (CAP_BPF too: the
  // kernel steers). An abstract socket this time.
  assert.deepEqual(UNIT_CAPS, ['net_admin', 'bpf']);
  const second = await run(router, client, tun, config, UNIT_CAPS, await listen(`@${lab.tag}-notify`, router));
  assert.equal(second.steering, 'kernel');
  assert.doesNotMatch(second.err, /refused the steering program/);
  process.stdout.write(`# pings through the router: first run ${first.received}, second run ${second.received}\n`);
});

test('teardown leaves nothing behind', { skip }, async () => {
  const namespaces = [...lab.namespaces];
  await lab.teardown();
  const left = ip('netns', 'list').split('\n').filter((l) => namespaces.some((ns) => l.startsWith(`${ns} `) || l === ns));
  assert.deepEqual(left, []);
  assert.doesNotMatch(ip('-br', 'link'), new RegExp(lab.tag));
});
