// systemd readiness (cli/sd-notify.ts, native/sd-notify.cc): the datagrams a Type=notify unit's process sends,
// received by a python3 AF_UNIX SOCK_DGRAM listener standing in for systemd's socket, on a path and on an
// abstract name. Then the router itself (root: TAPs in a namespace this test makes): READY=1 with its status
// and MAINPID at the moment of its ready line, from its own pid (NotifyAccess=main), and STOPPING=1 on SIGTERM.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceNotifier } from '../cli/sd-notify.js';
import { NotifySocket } from './support/notify-socket.js';
import { missing, noLab, ServicesLab, waitOutput } from './support/services-lab.js';
import { ROOT } from './support/cli.js';

const DIR = mkdtempSync(join(tmpdir(), 'nb-sd-notify-'));
chmodSync(DIR, 0o755);
const sockets: NotifySocket[] = [];
after(() => {
  for (const s of sockets) s.close();
  rmSync(DIR, { recursive: true, force: true });
});

const noPython = missing('python3') ? 'python3 is not installed: no listener to stand in for systemd' : false;
const noAddon = !existsSync(join(ROOT, 'build/Release/sd_notify.node')) ? 'build/Release/sd_notify.node is not built (node scripts/build-addon.mjs)' : false;
const skip = noPython || noAddon;
if (skip) process.stdout.write(`# skipping the sd_notify datagram tests: ${skip}\n`);

async function listen(address: string): Promise<NotifySocket> {
  const s = await NotifySocket.open(address);
  sockets.push(s);
  return s;
}

test('without NOTIFY_SOCKET nothing is sent, nothing is loaded, nothing is said', () => {
  const warnings: string[] = [];
  assert.equal(ServiceNotifier.fromEnv((m) => warnings.push(m), {}).socket, undefined);
  let loads = 0;
  const n = new ServiceNotifier(undefined, (m) => warnings.push(m), () => { loads++; return new Error('not here'); });
  n.ready('up');
  n.stopping('down');
  assert.equal(loads, 0);
  assert.deepEqual(warnings, []);
});

for (const [kind, address] of [['a path', join(DIR, 'notify.sock')], ['an abstract name', `@nb-sd-notify-${process.pid}`]] as const) {
  test(`NOTIFY_SOCKET ${kind}: READY=1 with STATUS and MAINPID, STATUS, then STOPPING=1, each from this pid`, { skip }, async () => {
    const sock = await listen(address);
    const warnings: string[] = [];
    const n = ServiceNotifier.fromEnv((m) => warnings.push(m), { NOTIFY_SOCKET: address });
    n.ready('routing: inside tap-in 10.201.0.1/24\nsecond line');
    n.status('busy');
    n.stopping('stopping (SIGTERM): final merge and flush');
    assert.ok(await sock.next('STOPPING', 5_000), `nothing arrived: ${JSON.stringify(sock.received)}`);
    assert.deepEqual(sock.received.map((r) => r.raw), [
      `READY=1\nSTATUS=routing: inside tap-in 10.201.0.1/24 second line\nMAINPID=${process.pid}`,
      'STATUS=busy',
      'STOPPING=1\nSTATUS=stopping (SIGTERM): final merge and flush',
    ]);
    assert.deepEqual(sock.received.map((r) => r.pid), [process.pid, process.pid, process.pid]);
    assert.deepEqual(warnings, []);
  });
}

test('no addon: one warning, however many notifications, and the caller goes on', () => {
  const warnings: string[] = [];
  let loads = 0;
  const n = new ServiceNotifier(join(DIR, 'notify.sock'), (m) => warnings.push(m), () => { loads++; return new Error('the sd_notify addon is not built (no build/Release/sd_notify.node)'); });
  n.ready('up');
  n.status('still up');
  n.stopping('down');
  assert.equal(loads, 1);
  assert.deepEqual(warnings, ['cannot notify the service manager (the sd_notify addon is not built (no build/Release/sd_notify.node)): under systemd, Type=notify will not see the service ready']);
});

test('a socket nobody listens on, or one systemd would not write: one warning naming why', { skip: noAddon }, () => {
  const gone: string[] = [];
  const n = new ServiceNotifier(join(DIR, 'nobody-here.sock'), (m) => gone.push(m));
  n.ready('up');
  n.stopping('down');
  assert.equal(gone.length, 1);
  assert.match(gone[0], /^cannot notify the service manager \(sendto \S+nobody-here\.sock: No such file or directory\)/);
  const odd: string[] = [];
  new ServiceNotifier('relative.sock', (m) => odd.push(m)).ready('up');
  assert.deepEqual(odd, ["cannot notify the service manager (NOTIFY_SOCKET='relative.sock' is neither an absolute path nor an @abstract name): under systemd, Type=notify will not see the service ready"]);
});

const noRouter = noLab || skip;
if (noLab) process.stdout.write(`# skipping the router's readiness notification: ${noLab}\n`);

test('the router: READY=1 when it prints its ready line, from its own pid; STOPPING=1 on SIGTERM; exit 0', { skip: noRouter, timeout: 120_000 }, async () => {
  const lab = new ServicesLab(`nbsd${process.pid % 100000}`);
  try {
    const ns = lab.addNamespace('r');
    const sock = await listen(join(lab.dir, 'notify.sock'));
    const router = lab.spawn('env', [`NOTIFY_SOCKET=${sock.address}`, process.execPath, '--import', 'tsx', join(ROOT, 'cli/main.ts'),
      'router', '--inside', `${lab.tapIn}:10.241.0.1/24`, '--outside', `${lab.tapOut}:10.242.0.1/24`, '--workers', '2'], { ns });
    lab.router = router;
    await waitOutput(router, /"event":"ready"/, 60_000, 'netbranch router');
    const ready = await sock.next('READY', 5_000);
    assert.ok(ready, `no READY=1: ${router.err().slice(-2000)}`);
    const pid = JSON.parse(router.out().split('\n')[0]).pid as number;
    assert.equal(ready.pid, pid, 'READY=1 came from another process than the router');
    assert.equal(ready.fields.MAINPID, String(pid));
    assert.match(ready.fields.STATUS, new RegExp(`^routing: inside ${lab.tapIn} 10\\.241\\.0\\.1/24, outside ${lab.tapOut} 10\\.242\\.0\\.1/24, 2 workers \\((kernel|handoff) steering\\), store memory$`));
    const stopped = await lab.stopRouter();
    assert.equal(stopped?.code, 0, stopped?.stderr.slice(-2000));
    const stopping = await sock.next('STOPPING', 1_000);
    assert.deepEqual(stopping?.fields, { STOPPING: '1', STATUS: 'stopping (SIGTERM): final merge and flush' });
    assert.equal(stopping.pid, pid);
    assert.equal(sock.received.length, 2, JSON.stringify(sock.received));
  } finally {
    await lab.teardown();
  }
});

const noVerify = missing('systemd-analyze') ? 'systemd-analyze is not installed (Debian: systemd): the unit file is not linted' : false;

test('the example unit file: Type=notify, the user, the capabilities, the runtime directory, no restart loop; systemd-analyze finds nothing', { skip: noVerify }, () => {
  const unit = readFileSync(join(ROOT, 'docs/systemd/netbranch-router.service'), 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=main', 'User=netbranch', 'AmbientCapabilities=CAP_NET_ADMIN CAP_BPF', 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_BPF',
    'RuntimeDirectory=netbranch', 'Restart=on-failure', 'RestartPreventExitStatus=2', 'DeviceAllow=/dev/net/tun rw',
    'ExecStart=/usr/bin/node /opt/netbranch/bin/netbranch.js router --config /etc/netbranch/router.toml']) {
    assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), line);
  }
  // verify wants ExecStart's program to exist: the checkout's own entry point stands in for /opt/netbranch's.
  const copy = join(DIR, 'netbranch-router.service');
  writeFileSync(copy, unit.replace('/usr/bin/node /opt/netbranch/bin/netbranch.js', `${process.execPath} ${join(ROOT, 'bin/netbranch.js')}`));
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});
