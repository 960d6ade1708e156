// The router's DHCP leases on the git store against a real client (root): a lease udhcpc got is written to git
// by the SIGTERM's final flush, read back by a restarted router before any client talks, and handed to the same
// MAC again; a reservation and a hostname change committed and pushed to `edits` with plain git show in
// `netbranch leases` and the reservation goes to its MAC.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ServicesLab, ip, noLab, missing, poll, udhcpcScript } from './support/services-lab.js';
import { git, gitStatus } from './support/git-cli.js';

const tool = noLab ? null : missing('udhcpc', 'git');
const skip = noLab || (tool ? `${tool} is not installed (node scripts/lab-tools.mjs test installs it)` : false);
if (skip) process.stdout.write(`# skipping router-dhcp-git-e2e: ${skip}\n`);

const RANGE = '10.201.0.100-10.201.0.160';
// Not the pool's first address: a router that forgot the lease would offer .100, so the test can fail.
const ASKED = '10.201.0.117';
const CLIENT_MAC = '02:15:00:00:01:17';
const RESERVED = { ip: '10.201.0.150', mac: '02:15:00:00:01:50' };
const leasePath = (addr: string): string => `leases/${addr.split('.').slice(0, 3).join('.')}/${addr}`;

describe('netbranch router --store git:DIR: DHCP leases in git, across a restart and through edits', { skip }, () => {
  const lab = new ServicesLab(`nbt15m${process.pid % 10000}`);
  const repo = join(lab.dir, 'repo');
  let client = '';
  let server = '';

  const start = (extra: string[] = []) => lab.startRouter(['--inside', `${lab.tapIn}:10.201.0.1/24`, '--outside', `${lab.tapOut}:10.202.0.1/24`,
    '--dhcp-range', RANGE, '--lease', '1h', '--dns-upstream', '10.202.0.2', '--workers', '1', '--store', `git:${repo}`, ...extra]);

  /** The router's fresh TAPs into the namespaces: the inside one with the client's fixed MAC and no address. */
  function plug(): void {
    ip('link', 'set', lab.tapIn, 'netns', client);
    ip('-n', client, 'link', 'set', lab.tapIn, 'address', CLIENT_MAC);
    ip('-n', client, 'link', 'set', lab.tapIn, 'up');
    lab.moveInto(lab.tapOut, server, ['10.202.0.2/24']);
  }
  /** A stopped router's TAPs are gone from the namespaces (so the next ones can take their names). */
  const unplugged = (): Promise<true | undefined> => poll(() => {
    const r = spawnSync('ip', ['-n', client, 'link', 'show', lab.tapIn], { encoding: 'utf8' });
    const s = spawnSync('ip', ['-n', server, 'link', 'show', lab.tapOut], { encoding: 'utf8' });
    return r.status !== 0 && s.status !== 0 ? true : undefined;
  }, 10_000);

  before(async () => {
    // A flush interval of an hour: only the final flush at SIGTERM can put the first lease in git.
    await start(['--flush-interval', '3600000']);
    client = lab.addNamespace('c');
    server = lab.addNamespace('s');
    plug();
  });
  after(async () => {
    const keep = process.exitCode !== undefined && process.exitCode !== 0;
    await lab.teardown(keep);
    if (keep) process.stdout.write(`# router-dhcp-git-e2e: kept ${lab.dir} for a look\n`);
  });

  /** udhcpc in `ns` on `dev` until bound (-q) or its tries run out (-n), killed after 40 s; the `bound` event's fields. */
  async function lease(ns: string, dev: string, name: string, extra: string[]): Promise<Record<string, string> | null> {
    const { script, log } = udhcpcScript(lab.dir, name, false);
    const r = await lab.run(ns, 'udhcpc', ['-f', '-q', '-n', '-i', dev, '-s', script, '-t', '6', '-T', '2', '-A', '1', ...extra], 40_000);
    const ev = (existsSync(log) ? readFileSync(log, 'utf8') : '').split('\n').find((l) => l.startsWith('bound '));
    if (!ev) process.stdout.write(`# udhcpc ${name} got no lease (exit ${r.code}): ${r.stderr.slice(-1000)}\n`);
    return ev ? fields(ev) : null;
  }
  const leases = async (state = 'bound'): Promise<string[]> => {
    const r = await lab.cli(['leases', '--state', state]);
    assert.equal(r.code, 0, `netbranch leases: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean);
  };
  const lineOf = async (mac: string, addr: string, state = 'bound'): Promise<string | undefined> =>
    (await leases(state)).find((l) => l.includes(` ${mac} ${addr} `));
  const routerTail = (): string => lab.router?.err().slice(-2000) ?? '';

  it('a lease survives SIGTERM and a restart: in `git log -p -- leases/`, in `netbranch leases` before any client talks, and given again to the same MAC',
    { timeout: 180_000 }, async () => {
      const first = await lease(client, lab.tapIn, 'first', ['-r', ASKED, '-x', 'hostname:nbt15m-a']);
      assert.ok(first, `no lease; router: ${routerTail()}`);
      assert.equal(first.ip, ASKED, 'the requested address, free and in the range');
      const before = await poll(() => lineOf(CLIENT_MAC, ASKED), 5_000);
      assert.ok(before, `netbranch leases shows ${CLIENT_MAC} ${ASKED}: ${await leases('all')}`);
      assert.match(before, new RegExp(`^\\d+ ${CLIENT_MAC} ${ASKED.replaceAll('.', '\\.')} nbt15m-a `), before);
      assert.notEqual(gitStatus(repo, 'cat-file', '-e', `main:${leasePath(ASKED)}`).status, 0,
        'the lease is not in git before the final flush (--flush-interval is an hour)');

      const stopped = await lab.stopRouter(20_000);
      assert.equal(stopped?.code, 0, `the router exits 0 on SIGTERM: ${stopped?.stderr.slice(-2000)}`);
      assert.match(stopped!.stderr, /git: final flush/);
      const log = git(repo, 'log', '-p', '--', 'leases/');
      assert.match(log, new RegExp(`\\+\\+\\+ b/${leasePath(ASKED)}\\n`), `git log -p -- leases/ shows the lease file:\n${log}`);
      assert.match(log, new RegExp(`\\+\\s*"mac": "${CLIENT_MAC}"`), log);
      assert.match(log, /\+\s*"hostname": "nbt15m-a"/, log);
      assert.match(log, /\+\s*"state": "bound"/, log);

      assert.ok(await unplugged(), 'the stopped router\'s TAPs are gone');
      await start();
      plug();
      const after = await lineOf(CLIENT_MAC, ASKED);
      assert.equal(after, before, `the restarted router lists the lease as it was: ${await leases('all')}`);

      // DISCOVER without a requested address: only the remembered lease makes it .117 rather than the pool's first.
      const again = await lease(client, lab.tapIn, 'again', ['-x', 'hostname:nbt15m-a']);
      assert.ok(again, `no lease after the restart; router: ${routerTail()}`);
      assert.equal(again.ip, ASKED, 'the same MAC gets the same address from the restarted router');
      const renewed = await poll(async () => {
        const l = await lineOf(CLIENT_MAC, ASKED);
        return l && Number(l.split(' ')[0]) >= Number(before.split(' ')[0]) ? l : undefined;
      }, 5_000);
      assert.ok(renewed, `the lease is still ${CLIENT_MAC}'s, its expiry not earlier: ${await leases('all')}`);
    });

  it('a reservation and a hostname change pushed to `edits` with plain git show in `netbranch leases`; the reserved MAC gets its address',
    { timeout: 180_000 }, async () => {
      if (!lab.router || lab.router.child.exitCode !== null) { // the first test stopped short of its restart
        await unplugged();
        await start();
        plug();
        assert.ok(await lease(client, lab.tapIn, 'setup', ['-r', ASKED, '-x', 'hostname:nbt15m-a']), 'a lease to rename');
      }
      // The edit's base must hold the router's current row, or the merge (not a plain take) decides it.
      const live = await poll(() => lineOf(CLIENT_MAC, ASKED), 5_000);
      assert.ok(live, `a lease of ${CLIENT_MAC}: ${await leases('all')}`);
      const flushed = await poll(() => {
        const r = gitStatus(repo, 'show', `main:${leasePath(ASKED)}`);
        return r.status === 0 && Math.floor(JSON.parse(r.out).expires / 1000) === Number(live.split(' ')[0]) ? true : undefined;
      }, 10_000);
      assert.ok(flushed, `main holds the live row of ${ASKED}: ${gitStatus(repo, 'show', `main:${leasePath(ASKED)}`).out}`);

      const work = join(lab.dir, 'work');
      git(lab.dir, 'clone', '-q', repo, work);
      git(work, 'checkout', '-q', '-b', 'edits', 'origin/main');
      const file = join(work, leasePath(ASKED));
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), hostname: 'renamed' }, null, 2) + '\n');
      mkdirSync(join(work, 'leases/10.201.0'), { recursive: true });
      const reservation = { mac: RESERVED.mac, clientId: '', hostname: 'printer', expires: 0, state: 'reserved', kind: 'static', created: 0 };
      writeFileSync(join(work, leasePath(RESERVED.ip)), JSON.stringify(reservation, null, 2) + '\n');
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', 'reserve .150 for the printer; rename .117');
      git(work, 'push', '-q', 'origin', 'edits');
      const edit = git(work, 'rev-parse', 'HEAD').trim();

      const shown = await poll(async () => {
        const all = await leases('all');
        return all.some((l) => l === `0 ${RESERVED.mac} ${RESERVED.ip} printer *`) && all.some((l) => l.includes(` ${CLIENT_MAC} ${ASKED} renamed `)) ? all : undefined;
      }, 10_000);
      assert.ok(shown, `the edit in netbranch leases --state all: ${await leases('all')}\nrouter: ${routerTail()}`);
      const merged = await poll(() => (gitStatus(repo, 'merge-base', '--is-ancestor', edit, 'main').status === 0 ? true : undefined), 10_000);
      assert.ok(merged, `main merges the pushed commit: ${git(repo, 'log', '--oneline', '-5', 'main')}`);
      assert.equal(await lineOf(CLIENT_MAC, ASKED), `${live.split(' ')[0]} ${CLIENT_MAC} ${ASKED} renamed ${live.split(' ')[4]}`, 'only the hostname changed');

      const ns = lab.addNamespace('r');
      ip('-n', client, 'link', 'add', 'link', lab.tapIn, 'name', 'mvr', 'address', RESERVED.mac, 'type', 'macvlan', 'mode', 'bridge');
      ip('-n', client, 'link', 'set', 'mvr', 'netns', ns);
      ip('-n', ns, 'link', 'set', 'mvr', 'up');
      const got = await lease(ns, 'mvr', 'reserved', []);
      assert.ok(got, `no lease for the reserved MAC; router: ${routerTail()}`);
      assert.equal(got.ip, RESERVED.ip, 'the reserved MAC gets the reserved address');
      const bound = await poll(() => lineOf(RESERVED.mac, RESERVED.ip), 5_000);
      assert.ok(bound, `the reservation is bound to its MAC: ${await leases('all')}`);
    });
});

/** udhcpc script event line `bound ip=… router=…` as fields. */
function fields(line: string): Record<string, string> {
  return Object.fromEntries(line.split(' ').slice(1).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}
