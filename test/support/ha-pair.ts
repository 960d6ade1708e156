// Two routers sharing their tables WITHOUT failover (active/active, issue 17's partition and remote-fault
// tests, bench/ha-sync): each `netbranch router` (from source) has its own client and server namespace and
// its own addresses, and reaches the shared `netbranch git-serve` on loopback through its own FaultProxy,
// so the test can cut, slow or break one router's way to the server while both keep forwarding.
//
//   [a-client ns] ─ TAP ─ router a ─┐                     ┌─ router b ─ TAP ─ [b-client ns]
//   [a-server ns] ─ TAP ─┘          └ proxy a ┐  ┌ proxy b ┘         └─ TAP ─ [b-server ns]
//                                   git-serve 127.0.0.1:PORT/tables.git
//
// Everything made is remembered (each router's ServicesLab, the proxies, the git server's pid), so
// `teardown()` removes exactly that.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Client } from '../../api/client.js';
import type { PeerSyncReport, StackReport } from '../../api/protocol.js';
import { FaultProxy } from './fault-proxy.js';
import { gitAsync } from './git-cli.js';
import { freePort } from './free-port.js';
import { ROOT } from './cli.js';
import { missing, noLab, poll, ServicesLab, sleep, waitOutput, type Child } from './services-lab.js';

const MAIN = join(ROOT, 'cli', 'main.ts');

/** Why the pair cannot run here, or false; the test or bench that skips prints it. */
export const noPair: string | false = noLab || (missing('git', 'ping') ? 'git or ping is not installed (scripts/lab-tools.mjs installs them)' : false);

export type Tables = Record<string, { key: string; value: unknown }[]>;

/** Whether `table` of `t` has a row at `key`. */
export const hasRow = (t: Tables, table: string, key: string): boolean => t[table]?.some((e) => e.key === key) ?? false;

/** A static ARP entry, as `netbranch set arp` writes it. */
export const staticArp = (mac: string) => ({ mac, expires: 0, kind: 'static' });

/** One router of the pair: its lab (namespaces, process, API), its proxy, its addresses and store. */
export class PairRouter {
  readonly lab: ServicesLab;
  proxy!: FaultProxy;
  api!: Client;
  /** 10.171.1.1/24 inside and 10.172.1.1/24 outside for a; 10.173/10.174 for b, and so on. */
  readonly net: number;

  constructor(readonly name: string, tag: string, index: number) {
    this.lab = new ServicesLab(`${tag}${name}`);
    this.net = 171 + 2 * index;
  }

  get store(): string { return join(this.lab.dir, 'store'); }
  get clientIp(): string { return `10.${this.net}.1.2`; }
  get serverIp(): string { return `10.${this.net + 1}.1.2`; }
  get client(): string { return this.lab.ns('c'); }
  get server(): string { return this.lab.ns('s'); }

  /** Starts the router against the server behind its proxy, then plugs its TAPs into its namespaces. */
  async start(syncIntervalMs: number): Promise<void> {
    await this.lab.startRouter(['--inside', `${this.lab.tapIn}:10.${this.net}.1.1/24`, '--outside', `${this.lab.tapOut}:10.${this.net + 1}.1.1/24`,
      '--workers', '1', '--store', `git:${this.store}`, '--log-format', 'json',
      '--peer', `git+${this.proxy.url('/tables.git')}`, '--router-name', this.name, '--sync-interval', String(syncIntervalMs)]);
    this.lab.addNamespace('c');
    this.lab.addNamespace('s');
    this.lab.moveInto(this.lab.tapIn, this.client, [`${this.clientIp}/24`], `10.${this.net}.1.1`);
    this.lab.moveInto(this.lab.tapOut, this.server, [`${this.serverIp}/24`]);
    this.api = await this.lab.api();
  }

  /** A port-forward rule to host `host` of this router's inside network, as `netbranch set dnat` writes it. */
  forwardRule(port: number, host: number, created: number): { proto: string; port: number; insideIp: string; insidePort: number; created: number } {
    return { proto: 'tcp', port, insideIp: `10.${this.net}.1.${host}`, insidePort: 80, created };
  }

  /** Every table the router serves, each listed whole through the API, rows in key order. */
  async tables(): Promise<Tables> {
    const out: Tables = {};
    for (const t of (await this.api.hello()).tables) {
      out[t.name] = [];
      for await (const e of this.api.listAll(t.name)) out[t.name].push(e);
    }
    return out;
  }

  async stack(): Promise<StackReport> {
    return (await this.api.stats()).stack as StackReport;
  }

  /** The peer sync's report (`stack.peers`); throws when the router has none. */
  async peers(): Promise<PeerSyncReport> {
    const p = (await this.stack()).peers;
    if (!p) throw new Error(`router ${this.name} reports no peer sync (stack.peers)`);
    return p;
  }

  /** `count` new UDP flows from the client to the server (one socket, so one source port, each), bounded. */
  async udpFlows(count: number, port = 9): Promise<void> {
    const script = `for i in $(seq ${count}); do echo flow-$i > /dev/udp/${this.serverIp}/${port}; done`;
    const r = await this.lab.run(this.client, 'bash', ['-c', script], 30_000);
    if (r.code !== 0) throw new Error(`udp flows through ${this.name}: ${r.stderr}`);
  }

  /** Three pings from the client to the server through the router: true when any came back. */
  async forwards(): Promise<boolean> {
    const r = await this.lab.run(this.client, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', this.serverIp], 15_000);
    return r.code === 0;
  }

  /** The router's log lines (JSON) at error level from `from` (a length of its stderr). */
  errorLines(from = 0): string[] {
    return (this.lab.router?.err() ?? '').slice(from).split('\n').filter((l) => /"level":50/.test(l));
  }
}

export class HaPair {
  readonly routers: PairRouter[];
  gitServe: Child | null = null;
  gitPort = 0;
  readonly gitRoot: string;

  /** `tag` (≤ 8 bytes) prefixes every namespace and TAP name; `names` are the routers' (their branches). */
  constructor(readonly tag: string, names: string[] = ['a', 'b']) {
    this.routers = names.map((n, i) => new PairRouter(n, tag, i));
    this.gitRoot = join(this.routers[0].lab.dir, 'git-server');
  }

  get a(): PairRouter { return this.routers[0]; }
  get b(): PairRouter { return this.routers[1]; }
  /** The repository, straight (not through a proxy): what a third party pushes to. */
  get repoUrl(): string { return `http://127.0.0.1:${this.gitPort}/tables.git`; }

  /** The git server, a proxy in front of it for each router, and the routers. */
  async build(syncIntervalMs = 1000): Promise<void> {
    mkdirSync(this.gitRoot);
    this.gitPort = await freePort();
    await this.startGitServer();
    for (const r of this.routers) r.proxy = await FaultProxy.start({ host: '127.0.0.1', port: this.gitPort });
    for (const r of this.routers) await r.start(syncIntervalMs);
  }

  /** `netbranch git-serve` on the pair's port (the same one after a kill: the proxies point there). */
  async startGitServer(): Promise<void> {
    this.gitServe = this.a.lab.spawn(process.execPath, ['--import', 'tsx', MAIN, 'git-serve', '--root', this.gitRoot, '--init', 'tables',
      '--listen', `127.0.0.1:${this.gitPort}`, '--log-format', 'json']);
    await waitOutput(this.gitServe, /"event":"ready"/, 30_000, 'netbranch git-serve');
  }

  /** SIGKILL to the git server this pair started: the server dies mid-whatever, as a crash does. */
  async killGitServer(): Promise<void> {
    const g = this.gitServe;
    if (!g || g.child.exitCode !== null || g.child.signalCode !== null) return;
    g.child.kill('SIGKILL');
    await g.exited;
    this.gitServe = null;
  }

  /** Polls until every router lists the same rows in every table; the tables, or undefined after `ms`. */
  async converged(ms: number, everyMs = 250): Promise<Tables | undefined> {
    return poll(async () => {
      const all = await Promise.all(this.routers.map((r) => r.tables()));
      const first = JSON.stringify(all[0]);
      return all.every((t) => JSON.stringify(t) === first) ? all[0] : undefined;
    }, ms, everyMs);
  }

  async teardown(): Promise<void> {
    for (const r of this.routers) await r.lab.stopRouter(10_000).catch(() => undefined); // their final syncs, while the server is up
    for (const r of this.routers) await r.lab.teardown().catch(() => undefined); // a's lab also kills git-serve
    for (const r of this.routers) await r.proxy?.stop().catch(() => undefined);
  }
}

/** git, asynchronously, throwing with its output unless it exits 0. */
async function gitOk(cwd: string, ...args: string[]): Promise<string> {
  const r = await gitAsync(cwd, ...args);
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.out}`);
  return r.out;
}

/**
 * A third party pushes a commit git's fsck calls corrupt (its author line has no email: missingEmail) to
 * `ref` at `url`, from a fresh repository in `dir`. Git's client checks nothing it sends, so the pack
 * reaches the server; the push's exit status and output.
 */
export async function pushCorruptCommit(dir: string, url: string, ref: string): Promise<{ status: number | null; out: string }> {
  await gitOk(dirname(dir), 'init', '-q', '-b', 'main', dir);
  writeFileSync(join(dir, 'note'), 'a third party\n');
  await gitOk(dir, 'add', 'note');
  const tree = (await gitOk(dir, 'write-tree')).trim();
  const body = `tree ${tree}\nauthor nobody 0 +0000\ncommitter nobody 0 +0000\n\nno email\n`;
  writeFileSync(join(dir, 'bad-commit'), body);
  const bad = (await gitOk(dir, 'hash-object', '-t', 'commit', '--literally', '-w', 'bad-commit')).trim();
  await gitOk(dir, 'update-ref', 'refs/heads/evil', bad);
  return gitAsync(dir, 'push', url, `evil:${ref}`);
}

/**
 * A third party pushes a well-formed commit on top of `from` that writes `files` (table paths → text) as
 * branch `ref`: git accepts it, the routers must judge the files themselves. Resolves with the pushed head.
 */
export async function pushTableFiles(dir: string, url: string, from: string, ref: string, files: Record<string, string>): Promise<string> {
  await gitOk(dirname(dir), 'clone', '-q', '-b', from, url, dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  await gitOk(dir, 'add', '-A');
  await gitOk(dir, 'commit', '-q', '-m', 'a third party');
  await gitOk(dir, 'push', '-q', 'origin', `HEAD:${ref}`);
  return (await gitOk(dir, 'rev-parse', 'HEAD')).trim();
}

export { poll, sleep };
