// The router's DHCP server against real clients (root): busybox udhcpc in a client namespace behind the inside
// TAP gets a lease in the range with the router as gateway and DNS server, renews it (a 1 min lease: T1 at 30 s),
// releases it; a reservation written through the API shows in `netbranch leases` and goes to its MAC; three
// clients on macvlans behind the TAP race for the two free addresses and end with distinct ones (the third none).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { ServicesLab, countersOf, ip, noLab, missing, poll, udhcpcScript, type Child } from './support/services-lab.js';

const tool = noLab ? null : missing('udhcpc', 'dnsmasq');
const skip = noLab || (tool ? `${tool} is not installed (node scripts/lab-tools.mjs test installs it)` : false);
if (skip) process.stdout.write(`# skipping router-dhcp-e2e: ${skip}\n`);

const RANGE = ['10.201.0.100', '10.201.0.101', '10.201.0.102'];
const RESERVED = { ip: '10.201.0.102', mac: '02:15:00:00:00:99' };

describe('netbranch router: DHCP server on the inside TAP, udhcpc as the clients', { skip }, () => {
  const lab = new ServicesLab(`nbt15d${process.pid % 10000}`);
  let client = '';

  before(async () => {
    await lab.startRouter(['--inside', `${lab.tapIn}:10.201.0.1/24`, '--outside', `${lab.tapOut}:10.202.0.1/24`,
      '--dhcp-range', `${RANGE[0]}-${RANGE[2]}`, '--lease', '1m', '--dns-upstream', '10.202.0.2', '--workers', '1']);
    client = lab.addNamespace('c');
    lab.moveInto(lab.tapIn, client, []); // no address: udhcpc gives it one
    lab.moveInto(lab.tapOut, lab.addNamespace('s'), ['10.202.0.2/24']);
  });
  after(async () => {
    const keep = process.exitCode !== undefined && process.exitCode !== 0;
    await lab.teardown(keep);
    if (keep) process.stdout.write(`# router-dhcp-e2e: kept ${lab.dir} for a look\n`);
  });

  /** udhcpc in `ns` on `dev`, in the foreground, its events logged by our script. */
  function udhcpc(ns: string, dev: string, name: string, extra: string[]): { c: Child; events: () => string[] } {
    const { script, log } = udhcpcScript(lab.dir, name, false);
    const c = lab.spawn('udhcpc', ['-f', '-i', dev, '-s', script, '-t', '6', '-T', '2', '-A', '1', ...extra], { ns });
    return { c, events: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
  }
  const leases = async (state = 'bound'): Promise<string[]> => {
    const r = await lab.cli(['leases', '--state', state]);
    assert.equal(r.code, 0, `netbranch leases: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean);
  };
  const macOf = (ns: string, dev: string): string => /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', ns, 'link', 'show', dev))![1];

  let mac = '';
  let bound = '';
  let a: ReturnType<typeof udhcpc> | null = null;

  it('udhcpc gets a lease in the range, with the router as gateway and DNS server, shown by `netbranch leases`', async () => {
    mac = macOf(client, lab.tapIn);
    a = udhcpc(client, lab.tapIn, 'a', ['-R', '-x', 'hostname:nbt15-a']);
    const ev = await poll(() => a!.events().find((l) => l.startsWith('bound ')), 30_000);
    assert.ok(ev, `no lease in 30 s; udhcpc: ${a.c.err()} events: ${a.events()}\nrouter: ${lab.router!.err().slice(-2000)}`);
    const f = fields(ev);
    bound = f.ip;
    assert.ok(RANGE.includes(f.ip), `address ${f.ip} in ${RANGE}`);
    assert.equal(f.router, '10.201.0.1');
    assert.equal(f.dns, '10.201.0.1');
    assert.equal(f.serverid, '10.201.0.1');
    assert.equal(f.lease, '60');
    const lines = await poll(async () => { const l = await leases(); return l.some((x) => x.includes(` ${mac} ${bound} `)) ? l : undefined; }, 5_000);
    assert.ok(lines, `netbranch leases shows ${mac} ${bound}: ${await leases()}`);
    const line = lines.find((x) => x.includes(` ${mac} ${bound} `))!;
    assert.match(line, new RegExp(`^\\d+ ${mac} ${bound.replaceAll('.', '\\.')} nbt15-a `), line);
  });

  it('renews at T1 (30 s into the 1 min lease, the shortest --lease takes): the same address, a later expiry in `netbranch leases`', async () => {
    assert.ok(a && bound, 'needs the lease of the first test');
    const before = Number((await leases()).find((x) => x.includes(` ${mac} `))?.split(' ')[0]);
    const ev = await poll(() => a!.events().find((l) => l.startsWith('renew ')), 40_000);
    assert.ok(ev, `no renew within 40 s: ${a.events()} ${a.c.err()}`);
    assert.equal(fields(ev).ip, bound);
    const after = await poll(async () => {
      const e = Number((await leases()).find((x) => x.includes(` ${mac} `))?.split(' ')[0]);
      return e > before ? e : undefined;
    }, 5_000);
    assert.ok(after, `the expiry moved past ${before}`);
  });

  it('releases on exit (udhcpc -R): the lease leaves `netbranch leases`', async () => {
    assert.ok(a, 'needs the client of the first test');
    a.c.child.kill('SIGTERM');
    await a.c.exited;
    const gone = await poll(async () => ((await leases()).some((x) => x.includes(` ${mac} `)) ? undefined : true), 5_000);
    assert.ok(gone, `still listed: ${await leases()}; ${JSON.stringify(countersOf(await lab.summary(), /^(dhcp\.(received|releases)|local\.badChecksum|link\.inside\.csumPartialRx)$/))}`);
    const s = await lab.summary();
    process.stdout.write(`# dhcp counters after one client: ${JSON.stringify(countersOf(s, /^(dhcp\.|local\.badChecksum)/))}\n`);
  });

  it('a reservation written through the API shows in `netbranch leases` and goes to its MAC', async () => {
    const api = await lab.api();
    await api.set('leases', RESERVED.ip, { mac: RESERVED.mac, clientId: '', hostname: 'printer', expires: 0, state: 'reserved', kind: 'static', created: Date.now() });
    const all = await poll(async () => { const l = await leases('all'); return l.some((x) => x.includes(` ${RESERVED.mac} ${RESERVED.ip} printer`)) ? l : undefined; }, 5_000);
    assert.ok(all, `reservation listed: ${await leases('all')}`);
    const ns = lab.addNamespace('r');
    macvlan(client, ns, 'mvr', RESERVED.mac);
    const r = udhcpc(ns, 'mvr', 'r', ['-q', '-n', '-R']);
    const done = await r.c.exited;
    const ev = r.events().find((l) => l.startsWith('bound '));
    assert.ok(ev, `no lease for the reserved MAC: ${done.stderr}`);
    assert.equal(fields(ev).ip, RESERVED.ip);
  });

  it('three clients racing for the two free addresses end with distinct ones; the third gets none', async () => {
    const clients = ['1', '2', '3'].map((n) => {
      const ns = lab.addNamespace(n);
      macvlan(client, ns, `mv${n}`, `02:15:00:00:01:0${n}`);
      return { ns, dev: `mv${n}` };
    });
    // -q: quit once bound (no release), -n: give up after the tries; all three start together.
    const runs = clients.map((c, i) => udhcpc(c.ns, c.dev, `race${i}`, ['-q', '-n', '-t', '4', '-T', '2']));
    await Promise.all(runs.map((r) => r.c.exited));
    const got = runs.map((r) => r.events().find((l) => l.startsWith('bound '))).map((l) => (l ? fields(l).ip : null));
    const held = got.filter((x): x is string => x !== null);
    process.stdout.write(`# race: ${JSON.stringify(got)}; dhcp counters: ${JSON.stringify(countersOf(await lab.summary(), /^(dhcp\.|local\.badChecksum)/))}\n`);
    assert.equal(new Set(held).size, held.length, `no address twice: ${got}`);
    assert.deepEqual([...held].sort(), [RANGE[0], RANGE[1]], `the two free addresses handed out once each: ${got}`);
    // The kernel's view agrees: each namespace has exactly the address its udhcpc was given.
    for (const [i, c] of clients.entries()) {
      const have = ip('-n', c.ns, '-4', '-o', 'addr', 'show', 'dev', c.dev);
      if (got[i]) assert.match(have, new RegExp(` ${got[i]!.replaceAll('.', '\\.')}/24 `));
      else assert.doesNotMatch(have, /inet /);
    }
    const all = await leases('all');
    const rows = all.filter((l) => / 02:15:00:00:01:0[123] /.test(l));
    const macs = rows.map((l) => l.split(' ')[1]);
    assert.equal(new Set(macs).size, macs.length, `no client holds two addresses:\n${all.join('\n')}`);
    assert.deepEqual(rows.map((l) => l.split(' ')[1]).sort(), held.map((h) => macOfLease(got, h)).sort(), `the table agrees with the clients:\n${all.join('\n')}`);
  });

  /** A macvlan on the client namespace's TAP, moved into `ns` with `mac`, up. */
  function macvlan(parentNs: string, ns: string, name: string, m: string): void {
    ip('-n', parentNs, 'link', 'add', 'link', lab.tapIn, 'name', name, 'address', m, 'type', 'macvlan', 'mode', 'bridge');
    ip('-n', parentNs, 'link', 'set', name, 'netns', ns);
    ip('-n', ns, 'link', 'set', name, 'up');
  }
});

/** The racer's MAC (02:15:00:00:01:0N, N its place + 1) that got `addr`. */
function macOfLease(got: (string | null)[], addr: string): string {
  return `02:15:00:00:01:0${got.indexOf(addr) + 1}`;
}

/** udhcpc script event line `bound ip=… router=…` as fields. */
function fields(line: string): Record<string, string> {
  return Object.fromEntries(line.split(' ').slice(1).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}
