// `netbranch router` end to end with real Linux peers: runs test/lab/router-lab.sh as a child. The lab
// starts the router from source, moves its TAPs into a client and a server namespace (the server has no
// route back, so every reply proves the masquerade), drives ping, dig, curl, 1,000 short TCP connections
// and iperf3 (TCP, and UDP at a fixed rate) through it, reads its NAT table with SIGUSR1 and stops it
// with SIGTERM. One summary line per check; this test asserts each, and that the lab exited 0.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const skip =
  process.getuid?.() !== 0
    ? 'needs root: the lab creates TAP devices and network namespaces (CI runs as root)'
    : !existsSync('/dev/net/tun')
      ? '/dev/net/tun is missing (modprobe tun)'
      : false;
if (skip) process.stdout.write(`# skipping router-e2e: ${skip}\n`);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LAB = join(ROOT, 'test', 'lab', 'router-lab.sh');
const TIMEOUT_MS = 180_000;
/** Every check the lab reports, in its order. */
const CHECKS = ['router-ready', 'topology', 'dns', 'http', 'tcp-conns', 'iperf3-tcp', 'iperf3-udp', 'ping', 'nat-table', 'router-stop'];
const GIT_CHECKS = ['router-ready', 'topology', 'dns', 'http', 'tcp-conns', 'iperf3-tcp', 'iperf3-udp', 'ping', 'nat-table', 'git', 'api', 'router-stop'];

interface LabCheck { name: string; pass: boolean; summary: string; figures: unknown }
interface LabResults { ok: boolean; seconds: number; checks: LabCheck[] }

/** One lab run; `git` runs the router on `--store git:DIR` with lighter load (the full load runs in memory mode). */
function labSuite(title: string, mode: 'memory' | 'git'): void {
describe(title, { skip }, () => {
  const PREFIX = `nbr${mode === 'git' ? 'g' : 't'}${process.pid}-`; // the lab's namespaces: ${PREFIX}client, ${PREFIX}server
  const checks = mode === 'git' ? GIT_CHECKS : CHECKS;
  const conns = mode === 'git' ? 200 : 1000;
  let out = '';
  let child: ChildProcess | null = null;
  let code: number | null = null;
  let signal: string | null = null;
  let timedOut = false;
  let log = '';
  let summary = '';
  let results: LabResults | null = null;
  let seconds = 0;

  /** After a timeout or a crash of the lab: remove what it may have left (its namespaces, its router). */
  function fallbackCleanup(labPid: number | undefined): void {
    for (const ns of [`${PREFIX}client`, `${PREFIX}server`]) {
      if (existsSync(`/run/netns/${ns}`)) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    }
    try {
      const pid = Number(readFileSync(join(out, 'router.pid'), 'utf8'));
      const tap = labPid === undefined ? '' : `nbri${labPid % 10_000_000}`;
      // Only our own router: the pid file's process, still running with our TAP on its command line.
      if (pid > 0 && tap && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(tap)) process.kill(pid, 'SIGKILL');
    } catch { /* no pid file, or that router is gone */ }
  }

  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'netbranch-router-lab-'));
    const t0 = Date.now();
    child = spawn('bash', [LAB], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
        RLAB_OUT: out,
        RLAB_NS_PREFIX: PREFIX,
        ...(mode === 'git' ? { RLAB_GIT: join(out, 'repo'), RLAB_API: '1', RLAB_CONNS: String(conns), RLAB_DURATION: '2', RLAB_UDP_SECONDS: '2' } : {}),
        RLAB_INSTALL: '0', // a test never installs packages: .ci/run does
      },
    });
    const labPid = child.pid;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    await new Promise<void>((resolve) => {
      let kill: NodeJS.Timeout | undefined;
      const term = setTimeout(() => {
        // The lab's trap tears down what it made on SIGTERM; SIGKILL only if it does not finish.
        timedOut = true;
        child!.kill('SIGTERM');
        kill = setTimeout(() => child!.kill('SIGKILL'), 30_000);
      }, TIMEOUT_MS);
      child!.on('close', (c, s) => {
        clearTimeout(term);
        if (kill) clearTimeout(kill);
        code = c;
        signal = s;
        resolve();
      });
    });
    seconds = (Date.now() - t0) / 1000;
    if (timedOut || signal !== null) fallbackCleanup(labPid);
    try { summary = readFileSync(join(out, 'summary.txt'), 'utf8'); } catch { /* the lab stopped before its summary */ }
    try { results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as LabResults; } catch { /* likewise */ }
    process.stdout.write(
      `# router-lab ran ${seconds.toFixed(1)} s, exit ${code}${signal ? ` (${signal})` : ''}${timedOut ? ' after timing out' : ''}\n`
      + (summary || `(no summary; lab output:)\n${log.slice(-4000)}`).split('\n').filter(Boolean).map((l) => `# ${l}\n`).join(''),
    );
  });

  after(() => {
    // Keep the results of a failing run for a look (their path is in the messages below).
    if (code === 0 && out) {
      rmSync(out, { recursive: true, force: true });
      process.stdout.write(`# router-lab passed: removed ${out}\n`);
    }
  });

  const why = () => `\nlab results in ${out}\n${summary || log.slice(-4000)}`;

  it('the lab exits 0 within the time limit, with every check in results.json passed', () => {
    assert.equal(timedOut, false, `the lab ran past ${TIMEOUT_MS / 1000} s${why()}`);
    assert.equal(code, 0, `lab exit ${code}${signal ? ` (${signal})` : ''}${why()}`);
    assert.ok(results, `no results.json${why()}`);
    assert.equal(results.ok, true, why());
    assert.deepEqual(results.checks.map((c) => c.name), checks, why());
    assert.ok(results.checks.every((c) => c.pass), why());
  });

  for (const name of checks) {
    it(`check ${name}`, () => {
      const line = summary.split('\n').find((l) => l.startsWith(`PASS ${name}: `) || l.startsWith(`FAIL ${name}: `));
      assert.ok(line, `no "${name}" line in the summary${why()}`);
      assert.ok(line.startsWith('PASS '), `${line}${why()}`);
    });
  }

  it(`figures: no datagram lost at the fixed UDP rate, ${conns}/${conns} connections, the ping flow in the NAT table both ways`, () => {
    assert.ok(results, `no results.json${why()}`);
    const fig = (n: string) => results!.checks.find((c) => c.name === n)?.figures as Record<string, unknown> | undefined;
    const udp = fig('iperf3-udp');
    assert.equal(udp?.lost_pkts, 0, JSON.stringify(udp));
    const tcp = fig('tcp-conns');
    assert.equal(tcp?.ok, conns, JSON.stringify(tcp));
    const nat = fig('nat-table') as { missing?: string[]; found?: Record<string, { max_pkts_out: number; max_pkts_in: number }> } | undefined;
    assert.deepEqual(nat?.missing, [], JSON.stringify(nat));
    const icmp = nat?.found?.icmp;
    assert.ok(icmp && icmp.max_pkts_out >= 50 && icmp.max_pkts_in >= 50, `the 50-echo ping flow: ${JSON.stringify(icmp)}`);
  });
  if (mode === 'git') {
    it('git: the flows are files in the repository, the edit pushed to `edits` was merged within 2 s, fsck clean', () => {
      const g = results?.checks.find((c) => c.name === 'git')?.figures as { nat_files?: Record<string, number>; dns_entry_ok?: number; edit_merged?: number; edit_ms?: number } | undefined;
      assert.ok(g, `no git figures${why()}`);
      assert.ok((g.nat_files?.icmp ?? 0) > 0 && (g.nat_files?.udp ?? 0) > 0 && (g.nat_files?.tcp ?? 0) > 0, JSON.stringify(g));
      assert.equal(g.dns_entry_ok, 1, JSON.stringify(g));
      assert.equal(g.edit_merged, 1, JSON.stringify(g));
      assert.ok((g.edit_ms ?? Infinity) <= 2000, JSON.stringify(g));
    });
  }
});
}

labSuite('netbranch router: NAT between a client and a server namespace (test/lab/router-lab.sh)', 'memory');
labSuite('netbranch router on --store git:DIR with --api: the same lab, the tables in git, an edit through the edits branch, the external-lookup API and a port forward set through it', 'git');
