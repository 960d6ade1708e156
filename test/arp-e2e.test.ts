// `netbranch host` on a TAP with a real Linux host behind it, started as a user would: the CLI runs as a child
// process, its TAP moves into a namespace this test makes, and the kernel there pings, arpings and re-probes it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const skip =
  process.getuid?.() !== 0
    ? 'needs root: it creates a TAP device and a network namespace (CI runs as root)'
    : !existsSync('/dev/net/tun')
      ? '/dev/net/tun is missing (modprobe tun)'
      : !existsSync(fileURLToPath(new URL('../build/Release/tap.node', import.meta.url)))
        ? 'the TAP addon is not built (node scripts/build-addon.mjs)'
        : false;
if (skip) process.stdout.write(`# skipping arp-e2e: ${skip}\n`);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STACK_IP = '198.51.100.1'; // netbranch (TEST-NET-2: never a real host)
const PEER_IP = '198.51.100.2'; // the namespace's kernel
const cleanups = new Set<() => void>();
process.on('exit', () => { for (const c of cleanups) c(); });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `pred` is true, polling every `everyMs`; rejects after `ms` with `what`. */
async function until(pred: () => boolean, ms: number, what: string, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface LogLine { msg?: string; level?: number; [k: string]: unknown }

// The same checks in both modes: the dispatcher (main thread reads the TAP) and --queues (each actor its own queue).
hostSuite('dispatcher', [], 'd');
hostSuite('queues', ['--queues'], 'q');

function hostSuite(mode: string, extraArgs: string[], letter: string): void {
  const tag = `${process.pid % 100000}${letter}`;
  const DEV = `nbae${tag}`; // ≤ 15 bytes
  const NS = `nbae${process.pid}${letter}`;

  // ---- what this file made, so teardown removes exactly that, even on a crash ----
  let child: ChildProcess | null = null;
  let childExited = false;
  let nsMade = false;
  function teardown(): void {
    if (child !== null && !childExited && child.pid !== undefined) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    if (nsMade) spawnSync('ip', ['netns', 'del', NS]); // deletes the TAP with it
    nsMade = false;
  }
  cleanups.add(teardown);


  function ip(...args: string[]): string {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  }

  function nsRun(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', NS, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr });
      });
    });
  }

  const logs: LogLine[] = [];
  let stdout = '';
  let ready: { event: string; mac: string; ip: string; pid: number } | null = null;
  let exitCode: number | null = null;
  let peerMac = '';

  describe(`netbranch host (${mode}) on a TAP, with the Linux kernel in a namespace as its peer`, { skip }, () => {
    before(async () => {
      child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'host', '--tap', `${DEV}:${STACK_IP}/24`, '--workers', '2', '--merge-interval', '50', ...extraArgs],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      child.on('close', (code) => { childExited = true; exitCode = code; }); // after its stdio is drained
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        for (const line of stdout.split('\n').slice(0, -1)) {
          try { const j = JSON.parse(line); if (j.event === 'ready') ready = j; } catch { /* not JSON */ }
        }
      });
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const lines = err.split('\n');
        err = lines.pop()!;
        for (const line of lines) {
          try { logs.push(JSON.parse(line)); } catch { logs.push({ msg: `(not JSON) ${line}` }); }
        }
      });
      await until(() => ready !== null || childExited, 60_000, "the host's ready line");
      assert.ok(ready, `host exited (${exitCode}) before ready; stderr: ${JSON.stringify(logs.slice(-5))}`);

      ip('netns', 'add', NS);
      nsMade = true;
      const sysctl = (...kv: string[]) => execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw', ...kv], { timeout: 10_000 });
      sysctl('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
      ip('link', 'set', DEV, 'netns', NS);
      sysctl(`net.ipv6.conf.${DEV}.disable_ipv6=1`);
      ip('-n', NS, 'addr', 'add', `${PEER_IP}/24`, 'dev', DEV);
      ip('-n', NS, 'link', 'set', 'lo', 'up');
      ip('-n', NS, 'link', 'set', DEV, 'up');
      peerMac = (JSON.parse(ip('-n', NS, '-j', 'link', 'show', DEV))[0].address as string).toLowerCase();
    });

    after(async () => {
      if (child !== null && !childExited) {
        child.kill('SIGTERM');
        await until(() => childExited, 10_000, 'the host to exit').catch(() => undefined);
      }
      teardown();
    });

    it('answers ping -c 100 -i 0.01 from the peer with 0% loss', async () => {
      const { code, out } = await nsRun(['ping', '-n', '-c', '100', '-i', '0.01', '-W', '1', STACK_IP], 30_000);
      assert.equal(code, 0, out);
      assert.match(out, /100 packets transmitted, 100 received, 0% packet loss/);
      const neigh = ip('-n', NS, 'neigh', 'show', STACK_IP, 'dev', DEV);
      assert.match(neigh, new RegExp(`lladdr ${ready!.mac}`, 'i'), neigh);
    });

    it('answers arping -c 3 -I DEV from the peer, with our MAC in every reply', async () => {
      const { code, out } = await nsRun(['arping', '-c', '3', '-w', '10', '-I', DEV, STACK_IP], 20_000);
      assert.equal(code, 0, out);
      const replies = out.split('\n').filter((l) => /reply from/i.test(l));
      assert.equal(replies.length, 3, out);
      for (const r of replies) assert.ok(r.toLowerCase().includes(`[${ready!.mac.toLowerCase()}]`), `reply without our MAC ${ready!.mac}: ${r}`);
      assert.match(out, /Received 3 response/);
    });

    it("answers the peer's unicast re-probes: its entry goes STALE → DELAY → PROBE and back to REACHABLE", async () => {
      // Short timers: reachable for 0.25–0.75 s, one second in DELAY, then unicast probes 100 ms apart.
      execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw',
        `net.ipv4.neigh.${DEV}.base_reachable_time_ms=500`, `net.ipv4.neigh.${DEV}.delay_first_probe_time=1`,
        `net.ipv4.neigh.${DEV}.retrans_time_ms=100`], { timeout: 10_000 });
      ip('-n', NS, 'neigh', 'flush', 'dev', DEV); // the entry the earlier tests made still runs on the old 15–45 s timer
      const cap = spawn('ip', ['netns', 'exec', NS, 'tcpdump', '-i', DEV, '-n', '-e', '-l', 'arp'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let capOut = '';
      let capErr = '';
      let capExited = false;
      cap.on('exit', () => (capExited = true));
      cap.stdout!.setEncoding('utf8').on('data', (d: string) => (capOut += d));
      cap.stderr!.setEncoding('utf8').on('data', (d: string) => (capErr += d));
      try {
        await until(() => /listening on/.test(capErr) || capExited, 10_000, 'tcpdump to listen');
        assert.ok(!capExited, `tcpdump failed: ${capErr}`);
        // ICMP echo replies do not confirm a neighbour, so steady pings walk the entry through the whole cycle.
        const states: string[] = [];
        const ping = nsRun(['ping', '-n', '-c', '40', '-i', '0.1', '-W', '1', STACK_IP], 20_000);
        let pingDone = false;
        void ping.then(() => (pingDone = true));
        while (!pingDone) {
          const m = /\b(REACHABLE|STALE|DELAY|PROBE|FAILED|INCOMPLETE)\b/.exec(ip('-n', NS, 'neigh', 'show', STACK_IP, 'dev', DEV));
          const s = m ? m[1] : 'none';
          if (states[states.length - 1] !== s) states.push(s);
          await sleep(25);
        }
        const { code, out } = await ping;
        assert.equal(code, 0, out);
        assert.match(out, /40 received, 0% packet loss/);
        assert.ok(!states.includes('FAILED'), `states: ${states.join(' → ')}`);
        const delayAt = states.indexOf('DELAY');
        assert.ok(delayAt >= 0, `the entry never went to DELAY: ${states.join(' → ')}`);
        assert.ok(states.slice(delayAt).includes('REACHABLE'), `not REACHABLE again after DELAY: ${states.join(' → ')}`);
        const stats = ip('-n', NS, '-s', 'neigh', 'show', STACK_IP, 'dev', DEV);
        assert.match(stats, /REACHABLE|STALE|DELAY/, stats);
      } finally {
        cap.kill('SIGINT');
        await until(() => capExited, 5_000, 'tcpdump to exit').catch(() => cap.kill('SIGKILL'));
      }
      // tcpdump -e: "src > dst, ethertype ARP (0x0806), length 42: Request who-has A tell B, length 28"
      const mac = ready!.mac.toLowerCase();
      const lines = capOut.toLowerCase().split('\n');
      const unicastProbes = lines.filter((l) => l.includes(`${peerMac} > ${mac}`) && l.includes(`request who-has ${STACK_IP}`));
      const replies = lines.filter((l) => l.includes(`${mac} > ${peerMac}`) && l.includes(`reply ${STACK_IP} is-at ${mac}`));
      assert.ok(unicastProbes.length >= 1, `no unicast ARP request to our MAC in the capture:\n${capOut}`);
      assert.ok(replies.length >= unicastProbes.length, `${unicastProbes.length} unicast probes, ${replies.length} replies:\n${capOut}`);
    });

    it('learned the peer: SIGUSR1 logs a table summary whose arp entries hold its IP and MAC', async () => {
      let found: { ip: string; mac: string; kind: string } | undefined;
      for (let attempt = 0; attempt < 20 && found === undefined; attempt++) {
        const seen = logs.length;
        process.kill(child!.pid!, 'SIGUSR1');
        await until(() => logs.slice(seen).some((l) => l.msg === 'table summary'), 5_000, 'the table summary line');
        const summary = logs.slice(seen).find((l) => l.msg === 'table summary')!;
        const arp = summary.arp as { ip: string; mac: string; kind: string }[];
        assert.ok(Array.isArray(arp), JSON.stringify(summary));
        found = arp.find((e) => e.ip === PEER_IP);
        if (found === undefined) await sleep(100); // not merged into the primary yet
      }
      assert.ok(found, 'the peer is not in the primary arp table');
      assert.equal(found.mac.toLowerCase(), peerMac);
      assert.equal(found.kind, 'dynamic');
    });

    it('stops on SIGTERM: exit status 0 and "stopped" logged', async () => {
      process.kill(child!.pid!, 'SIGTERM');
      await until(() => childExited, 15_000, 'the host to exit after SIGTERM');
      assert.equal(exitCode, 0, JSON.stringify(logs.slice(-5)));
      await sleep(50); // the last stderr chunk
      assert.ok(logs.some((l) => l.msg === 'stopped'), JSON.stringify(logs.slice(-5)));
      assert.ok(!logs.some((l) => (l.level ?? 0) >= 50), `errors logged: ${JSON.stringify(logs.filter((l) => (l.level ?? 0) >= 50))}`);
    });
  });

}
