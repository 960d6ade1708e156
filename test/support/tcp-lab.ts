// The TCP lab: network namespaces holding the Linux kernel as a TCP peer, our endpoint (tcp-tap-peer) on a TAP
// moved into one of them, and the kernel's side as tcp-kernel-peer.py. Tracks what it made so teardown removes
// exactly that: the namespaces it added and the processes it started, by pid.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const KERNEL_IP = '192.0.2.1'; // the namespace's kernel (TEST-NET-1: never a real host)
export const STACK_IP = '192.0.2.2'; // our endpoint behind the TAP
export const STACK_MAC = '02:4e:42:00:00:02';
export const PYTHON = '/usr/bin/python3'; // Debian's, where python3-scapy lands (not a pyenv shim on PATH)

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PEER = fileURLToPath(new URL('./tcp-tap-peer.ts', import.meta.url));
const KERNEL_PEER = fileURLToPath(new URL('./tcp-kernel-peer.py', import.meta.url));

/** Why the lab's kernel side cannot run here (root and the TAP are test/support/cli.ts's `noTap`), or false. */
export const noPython: string | false = existsSync(PYTHON) ? false : `${PYTHON} is missing (apt-get install python3; npm test's lab-tools does)`;

/** A started process that prints JSON lines: the lines so far, and the last one once it exited. */
export class JsonProcess {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private out = '';
  readonly exit: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      const parts = this.out.split('\n');
      this.out = parts.pop()!;
      for (const p of parts) {
        try { this.lines.push(JSON.parse(p)); } catch { this.stderr += `(stdout, not JSON) ${p}\n`; }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-4000); });
    this.exit = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  /** Waits for a line with `key`, bounded by `ms`. */
  async line(key: string, ms: number): Promise<Record<string, unknown>> {
    const end = Date.now() + ms;
    for (;;) {
      const found = this.lines.find((l) => key in l);
      if (found) return found;
      if (Date.now() > end || this.child.exitCode !== null) throw new Error(`no '${key}' line within ${ms} ms; stderr: ${this.stderr.slice(-800)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The exit code and last JSON line; SIGKILLed (this process only) when it runs past `ms`. */
  async result<T = Record<string, any>>(ms: number): Promise<{ code: number | null; json: T }> {
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.exit, new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), ms); })]);
    clearTimeout(timer);
    if (code === 'late') {
      this.child.kill('SIGKILL');
      await this.exit;
      throw new Error(`still running after ${ms} ms, killed; stderr: ${this.stderr.slice(-800)}`);
    }
    const json = this.lines.at(-1);
    if (json === undefined) throw new Error(`exit ${code} with no JSON line; stderr: ${this.stderr.slice(-800)}`);
    return { code, json: json as T };
  }
}

export class TcpLab {
  private readonly namespaces = new Set<string>();
  private readonly processes = new Set<JsonProcess>();

  constructor(private readonly prefix: string) {
    process.on('exit', this.teardown);
  }

  /** A name for a namespace and its TAP, at most 15 bytes. */
  name(tag: string): string {
    return `${this.prefix}${process.pid % 100000}${tag}`.slice(0, 15);
  }

  /** A namespace with IPv6 off (no router solicitations or MLD on the TAP) and lo up. */
  namespace(tag: string): string {
    const ns = this.name(tag);
    ip('netns', 'add', ns);
    this.namespaces.add(ns);
    ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** tcp-tap-peer on TAP `ns` (same name), moved into `ns` with KERNEL_IP/24 there. */
  peer(ns: string, args: string[]): JsonProcess {
    return this.spawn(process.execPath, ['--import', 'tsx', PEER, ...args, '--tap', ns, '--netns', ns, '--kernel-addr', `${KERNEL_IP}/24`, '--addr', `${STACK_IP}/24`]);
  }

  /** tcp-kernel-peer.py in `ns`. */
  kernel(ns: string, args: string[]): JsonProcess {
    return this.spawn('ip', ['netns', 'exec', ns, PYTHON, KERNEL_PEER, ...args]);
  }

  /** Any command in `ns`, its stdout read as JSON lines. */
  inNamespace(ns: string, cmd: string[]): JsonProcess {
    return this.spawn('ip', ['netns', 'exec', ns, ...cmd]);
  }

  /** `cmd ARGS` from the repository's root, killed at teardown if still running. */
  spawn(cmd: string, args: string[]): JsonProcess {
    const p = new JsonProcess(spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.processes.add(p);
    void p.exit.then(() => this.processes.delete(p));
    return p;
  }

  readonly teardown = (): void => {
    for (const p of this.processes) if (p.child.exitCode === null && p.child.pid !== undefined) {
      try { process.kill(p.child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    this.processes.clear();
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    this.namespaces.clear();
  };

  /** Whether this kernel has sch_netem (many small VM kernels are built without it): tried on a dummy device in `ns`. */
  netemAvailable(ns: string): boolean {
    const probe = 'nbnetemprobe';
    if (spawnSync('ip', ['-n', ns, 'link', 'add', probe, 'type', 'dummy']).status !== 0) return false;
    const ok = spawnSync('tc', ['-n', ns, 'qdisc', 'add', 'dev', probe, 'root', 'netem', 'loss', '1%']).status === 0;
    spawnSync('ip', ['-n', ns, 'link', 'del', probe]);
    return ok;
  }
}

/** Moves device `dev` (down, in this namespace) into `ns` with address `cidr` there, and sets it up, as tap-e2e does. */
export function moveIntoNamespace(dev: string, ns: string, cidr: string): void {
  ip('link', 'set', dev, 'netns', ns);
  ip('netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`);
  ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
  ip('-n', ns, 'link', 'set', dev, 'up');
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Polls `cond` every 20 ms for up to `ms`; false when it never held (cli.ts's waitFor, under the lab's name). */
export { waitFor as until } from './cli.js';
