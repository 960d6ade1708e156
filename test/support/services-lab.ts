// The router's services (DHCP, DNS, remap) against real Linux peers: a `netbranch router` run from source whose
// TAPs are moved into namespaces this lab made, children started inside them, and the router's SIGUSR1
// summary and API read back. Everything made is remembered, so `teardown()` removes exactly that.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '../../api/client.js';
import { ROOT } from './cli.js';

const MAIN = join(ROOT, 'cli', 'main.ts');

/** Why the services tests cannot run here, or false; the reason is printed by the test that skips. */
export const noLab: string | false =
  process.getuid?.() !== 0 ? 'needs root: it creates TAP devices and network namespaces (CI runs as root)'
    : !existsSync('/dev/net/tun') ? '/dev/net/tun is missing (modprobe tun)'
      : false;

/** Debian's python3: Scapy (python3-scapy) is installed for it, not for a python3 found earlier on PATH. */
export const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** A command that is not installed, by name, or null (scripts/lab-tools.mjs installs them). */
export function missing(...cmds: string[]): string | null {
  for (const c of cmds) {
    if (spawnSync('sh', ['-c', `command -v ${c} || test -x /usr/sbin/${c}`], { encoding: 'utf8' }).status !== 0) return c;
  }
  return null;
}

export interface Run { code: number | null; stdout: string; stderr: string }

/** A process this lab started, with what it printed so far. */
export interface Child {
  child: ChildProcess;
  out(): string;
  err(): string;
  exited: Promise<Run>;
}

export interface Summary { nat: string[]; actors: { name: string; counters: Record<string, unknown> }[]; [k: string]: unknown }

export class ServicesLab {
  readonly dir: string;
  readonly namespaces: string[] = [];
  readonly children = new Set<ChildProcess>();
  router: Child | null = null;
  apiSock = '';
  readonly token = `nbt15-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
  private clients: Client[] = [];

  /** `tag` names everything: namespaces `${tag}c`, `${tag}s`, …; TAPs `${tag}i`, `${tag}o` (≤ 15 bytes). */
  constructor(readonly tag: string) {
    this.dir = mkdtempSync(join(tmpdir(), `${tag}-`));
    chmodSync(this.dir, 0o755);
  }

  get tapIn(): string { return `${this.tag}i`; }
  get tapOut(): string { return `${this.tag}o`; }
  ns(role: string): string { return `${this.tag}${role}`; }

  /** A namespace with loopback up and IPv6 off (no router solicitations muddying captures). */
  addNamespace(role: string): string {
    const ns = this.ns(role);
    if (existsSync(`/run/netns/${ns}`)) throw new Error(`namespace ${ns} exists already: not touching it`);
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Moves `dev` into `ns`, brings it up, with `addrs` (CIDR) and a default route via `gw` if given. */
  moveInto(dev: string, ns: string, addrs: string[], gw?: string): void {
    sh('ip', ['link', 'set', dev, 'netns', ns]);
    for (const a of addrs) sh('ip', ['-n', ns, 'addr', 'add', a, 'dev', dev]);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    if (gw) sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', gw]);
  }

  /** `netbranch router ARGS --api unix:…` with a token allowed to write `leases` and `dhcp-client`; resolves on its ready line. */
  async startRouter(args: string[], timeoutMs = 60_000): Promise<Child> {
    this.apiSock = join(this.dir, 'api.sock');
    const tokens = join(this.dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'nbt15', token: this.token, scopes: ['read:*', 'write:leases', 'write:dhcp-client', 'write:dns', 'admin'] }] }));
    chmodSync(tokens, 0o600);
    // NBT15_ROUTER_ARGS: more router flags for a look at one variant (e.g. "--offload off --workers 1").
    const extra = (process.env.NBT15_ROUTER_ARGS ?? '').split(' ').filter(Boolean);
    const c = this.spawn(process.execPath, ['--import', 'tsx', MAIN, 'router', ...args, ...extra, '--api', `unix:${this.apiSock}`, '--tokens', tokens], { cwd: ROOT });
    this.router = c;
    await waitOutput(c, /"event":"ready"/, timeoutMs, 'netbranch router');
    return c;
  }

  /** A child, remembered for teardown; inside `ns` when given (`ip netns exec` execs, so the pid is the tool's). */
  spawn(cmd: string, args: string[], opts: { ns?: string; cwd?: string } = {}): Child {
    const [c, a] = opts.ns ? ['ip', ['netns', 'exec', opts.ns, cmd, ...args]] : [cmd, args];
    const child = spawn(c, a, { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const exited = new Promise<Run>((resolve) => child.once('close', (code) => { this.children.delete(child); resolve({ code, stdout: out, stderr: err }); }));
    return { child, out: () => out, err: () => err, exited };
  }

  /** Runs to completion in `ns` (or here), killed after `timeoutMs`. */
  async run(ns: string | null, cmd: string, args: string[], timeoutMs = 20_000): Promise<Run> {
    const c = this.spawn(cmd, args, ns ? { ns } : {});
    const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
    const r = await c.exited;
    clearTimeout(timer);
    return r;
  }

  /** `netbranch ARGS --api unix:…` (the CLI from source) to completion. */
  cli(args: string[], timeoutMs = 30_000): Promise<Run> {
    return this.run(null, process.execPath, ['--import', 'tsx', MAIN, ...args, '--api', `unix:${this.apiSock}`, '--token', this.token], timeoutMs);
  }

  /** An API client on the router's socket, authenticated; closed at teardown. */
  async api(): Promise<Client> {
    const c = await connect({ unix: this.apiSock }, { token: this.token, timeoutMs: 10_000 });
    this.clients.push(c);
    return c;
  }

  /** SIGUSR1 to the router, then its next "table summary" log line, parsed. */
  async summary(timeoutMs = 10_000): Promise<Summary> {
    const r = this.router!;
    const from = r.err().length;
    r.child.kill('SIGUSR1');
    const end = Date.now() + timeoutMs;
    for (;;) {
      const line = r.err().slice(from).split('\n').find((l) => l.includes('"table summary"'));
      if (line && r.err().slice(from).includes(`${line}\n`)) return JSON.parse(line) as Summary;
      if (Date.now() > end) throw new Error(`no table summary within ${timeoutMs} ms; router stderr tail: ${r.err().slice(-2000)}`);
      await sleep(50);
    }
  }

  /** Stops the router with SIGTERM (its final merge); its exit. */
  async stopRouter(timeoutMs = 20_000): Promise<Run | null> {
    const r = this.router;
    if (!r || r.child.exitCode !== null) return null;
    r.child.kill('SIGTERM');
    const t = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
    const e = await r.exited;
    clearTimeout(t);
    return e;
  }

  /** Kills what this lab started (the router first, with SIGTERM), deletes its namespaces and directory. */
  async teardown(keepDir = false): Promise<void> {
    for (const c of this.clients.splice(0)) await c.close().catch(() => undefined);
    await this.stopRouter(10_000).catch(() => undefined);
    for (const c of [...this.children]) if (c.exitCode === null) c.kill('SIGKILL');
    this.children.clear();
    for (const ns of this.namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Sum of every actor counter whose key ends with `name`, over actors/keys matching `scope`. */
export function counter(s: Summary, scope: RegExp, name: string): number {
  let n = 0;
  const visit = (prefix: string, v: unknown): void => {
    if (typeof v === 'number') { if (prefix.toLowerCase().endsWith(name.toLowerCase()) && scope.test(prefix)) n += v; return; }
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(`${prefix}.${k}`, x);
  };
  for (const a of s.actors ?? []) visit(a.name, a.counters);
  for (const [k, v] of Object.entries(s)) if (k !== 'actors' && k !== 'nat' && k !== 'arp') visit(k, v);
  return n;
}

/** The non-zero counters whose key matches `keys`, summed over actors: for the test's log lines. */
export function countersOf(s: Summary, keys: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of s.actors ?? []) {
    for (const [k, v] of Object.entries(a.counters)) if (typeof v === 'number' && v !== 0 && keys.test(k)) out[k] = (out[k] ?? 0) + v;
  }
  return out;
}

export async function waitOutput(c: Child, re: RegExp, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!re.test(c.out() + c.err())) {
    if (c.child.exitCode !== null || c.child.signalCode !== null) throw new Error(`${what} exited (${c.child.exitCode ?? c.child.signalCode}): ${c.out()} ${c.err().slice(-3000)}`);
    if (Date.now() > end) throw new Error(`${what}: no ${re} within ${timeoutMs} ms: ${c.out()} ${c.err().slice(-3000)}`);
    await sleep(50);
  }
}

/** Polls `probe` every `everyMs` until it gives a value other than undefined, or `ms` pass (then undefined). */
export async function poll<T>(probe: () => Promise<T | undefined> | T | undefined, ms: number, everyMs = 200): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) return undefined;
    await sleep(everyMs);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** ip(8) in the root namespace, throwing with its message. */
export const ip = (...args: string[]): string => sh('ip', args);

/**
 * A udhcpc script that logs each event with its options to LOG and applies bound/renew to the interface
 * (address and, with `route`, the default route): the test reads LOG to see what the server gave.
 */
export function udhcpcScript(dir: string, name: string, route: boolean): { script: string; log: string } {
  const log = join(dir, `${name}.events`);
  const script = join(dir, `${name}.sh`);
  writeFileSync(script, `#!/bin/sh
echo "$1 ip=$ip subnet=$subnet router=$router dns=$dns lease=$lease serverid=$serverid" >> ${log}
case "$1" in
  deconfig) ip addr flush dev "$interface" ;;
  bound|renew)
    ip addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface"
    ${route ? 'for r in $router; do ip route replace default via "$r" dev "$interface"; break; done' : ':'} ;;
esac
exit 0
`);
  chmodSync(script, 0o755);
  return { script, log };
}
