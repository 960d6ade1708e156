// The failover pair's lab (issue 17, docs/ha.md), for test/ha-failover and bench/ha: two `netbranch router`
// processes (bin/netbranch.js, so dist/) holding the same inside and outside addresses, sharing their tables
// through a git http-backend on loopback, their TAPs joined to the client's and the server's networks by bridges:
//
//   [client ns] veth ─ bridge ─┬─ TAP a-in ┐  [root ns: router a, router b, ┌ TAP a-out ─┬─ bridge ─ veth [server ns]
//    10.243.0.2        (switch │            │   git server on 127.0.0.1]    │            │  (switch     10.244.0.2
//                          ns) └─ TAP b-in ┘                               └ TAP b-out ─┘   ns)
//
// The routers run in the root namespace (to reach the git server on loopback) and create their TAPs there; the
// lab moves each TAP into the switch namespace while its router holds it. Everything made is remembered: the
// namespaces, directories and processes (killed by pid), so `teardown()` removes exactly that.
import { join } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { connect } from '../../api/client.js';
import type { StackReport } from '../../api/protocol.js';
import { HTTP_BACKEND, initBareRepo, startGitHttpServer, type GitHttpServer } from './git-http-server.js';
import { ip, missing, noLab, poll, ServicesLab, sleep, waitOutput, type Child } from './services-lab.js';
import type { ConnState } from './ha-stream.js';
import { ROOT } from './cli.js';

export const CLIENT_IP = '10.243.0.2';
/** The client namespace's second address: its idle "holder" connections claim the outside ports (ha-stream.ts). */
export const HOLDER_IP = '10.243.0.3';
export const SERVER_IP = '10.244.0.2';
/** The shared addresses both routers hold (the client's gateway; the server sees the NAT's flows from OUTSIDE_IP). */
export const INSIDE_CIDR = '10.243.0.1/24';
export const OUTSIDE_CIDR = '10.244.0.1/24';
export const VRID = 17;

const BIN = join(ROOT, 'bin', 'netbranch.js');

/** Why the lab cannot run here, or false; the test or bench that skips prints it. */
export const noHaLab: string | false = noLab
  || (missing('ping') ? 'ping is not installed (scripts/lab-tools.mjs installs it)' : false)
  || (existsSync(HTTP_BACKEND) ? false : `${HTTP_BACKEND} is missing (apt-get install git)`)
  || (existsSync(join(ROOT, 'dist', 'cli', 'main.js')) ? false : 'dist/ is not built (npx tsc -p tsconfig.json)');

export type RouterName = 'a' | 'b';

export interface RouterOptions {
  priority: number;
  /** Sync through the git server and VRRP failover (false: a lone router, for debugging the lab itself). */
  pair: boolean;
  syncIntervalMs: number;
  advertIntervalMs: number;
}

export interface RouterProc {
  name: RouterName;
  proc: Child;
  api: string;
  pid: number;
}

export class HaLab {
  readonly base: ServicesLab;
  readonly routers = new Map<RouterName, RouterProc>();
  git: GitHttpServer | null = null;
  /** The stream server in the server namespace, started by the first round. */
  streamServer: Child | null = null;
  /** The repository both routers push to and fetch from (a fresh one per pair: `newRepository`). */
  repoUrl = '';
  private repos = 0;
  private pairs = 0;
  /** Rounds started on this lab (each pair is one). */
  get round(): number { return this.pairs; }

  /** `tag` (≤ 10 bytes) prefixes every name: namespaces `${tag}c|s|w`, TAPs `${tag}ai` …, bridges `${tag}wi|wo`. */
  constructor(readonly tag: string) {
    this.base = new ServicesLab(tag);
  }

  get client(): string { return this.base.ns('c'); }
  get server(): string { return this.base.ns('s'); }
  get switch(): string { return this.base.ns('w'); }
  tap(r: RouterName, side: 'i' | 'o'): string { return `${this.tag}${r}${side}`; }

  /** The three namespaces, the two bridges with a veth each to the client and the server, and the git server. */
  async build(): Promise<void> {
    for (const role of ['c', 's', 'w']) this.base.addNamespace(role);
    const w = (...args: string[]) => ip('-n', this.switch, ...args);
    for (const [side, ns, addr, gw] of [['i', this.client, `${CLIENT_IP}/24`, INSIDE_CIDR.split('/')[0]], ['o', this.server, `${SERVER_IP}/24`, undefined]] as const) {
      const [bridge, veth, peer] = [`${this.tag}w${side}`, `${this.tag}v${side}`, `${this.tag}p${side}`];
      w('link', 'add', bridge, 'type', 'bridge');
      w('link', 'add', veth, 'type', 'veth', 'peer', 'name', peer, 'netns', ns);
      w('link', 'set', veth, 'master', bridge);
      for (const dev of [bridge, veth]) w('link', 'set', dev, 'up');
      ip('-n', ns, 'addr', 'add', addr, 'dev', peer);
      if (ns === this.client) ip('-n', ns, 'addr', 'add', `${HOLDER_IP}/24`, 'dev', peer);
      ip('-n', ns, 'link', 'set', peer, 'up');
      // The server has no route back to the client's network: its replies come back only through the NAT.
      if (gw) ip('-n', ns, 'route', 'add', 'default', 'via', gw);
    }
    const root = join(this.base.dir, 'git-server');
    mkdirSync(root);
    this.git = await startGitHttpServer(root);
  }

  /** A fresh bare repository on the git server for the next pair (routers' old branches would be merged in). */
  newRepository(): string {
    const name = `tables-${++this.repos}.git`;
    initBareRepo(join(this.base.dir, 'git-server'), name);
    this.repoUrl = `${this.git!.url}/${name}`;
    return this.repoUrl;
  }

  /** The flags of router `r` (its own store directory for this pair, its own API socket). */
  private routerArgs(r: RouterName, o: RouterOptions, store: string, api: string): string[] {
    const args = ['router', '--inside', `${this.tap(r, 'i')}:${INSIDE_CIDR}`, '--outside', `${this.tap(r, 'o')}:${OUTSIDE_CIDR}`,
      '--workers', '1', '--store', `git:${store}`, '--api', `unix:${api}`, '--log-format', 'json'];
    if (!o.pair) return args;
    return [...args, '--peer', this.repoUrl, '--router-name', r, '--sync-interval', String(o.syncIntervalMs),
      '--vrrp', String(VRID), '--priority', String(o.priority), '--advert-interval', String(o.advertIntervalMs)];
  }

  /** Starts router `r` in the root namespace, waits for its ready line, then moves its TAPs onto the bridges. */
  async startRouter(r: RouterName, o: RouterOptions): Promise<RouterProc> {
    if (this.routers.has(r)) throw new Error(`router ${r} is running already`);
    const dir = join(this.base.dir, `pair-${this.pairs}`, r);
    mkdirSync(dir, { recursive: true });
    const api = join(dir, 'api.sock');
    const proc = this.base.spawn(process.execPath, [BIN, ...this.routerArgs(r, o, join(dir, 'store'), api)]);
    await waitOutput(proc, /"event":"ready"/, 60_000, `router ${r}`);
    for (const side of ['i', 'o'] as const) {
      const tap = this.tap(r, side);
      ip('link', 'set', tap, 'netns', this.switch);
      ip('-n', this.switch, 'link', 'set', tap, 'master', `${this.tag}w${side}`);
      ip('-n', this.switch, 'link', 'set', tap, 'up');
    }
    const rp = { name: r, proc, api, pid: proc.child.pid! };
    this.routers.set(r, rp);
    return rp;
  }

  /** Both routers on a fresh repository: a at `priorities[0]`, b at `priorities[1]`. */
  async startPair(o: Omit<RouterOptions, 'priority'>, priorities: [number, number] = [200, 100]): Promise<void> {
    this.pairs++;
    if (o.pair) this.newRepository();
    await this.startRouter('a', { ...o, priority: priorities[0] });
    await this.startRouter('b', { ...o, priority: priorities[1] });
  }

  /** `signal` to router `r` (only the process this lab started); resolves when it exited. */
  async stopRouter(r: RouterName, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
    const rp = this.routers.get(r);
    if (!rp) return;
    this.routers.delete(r);
    if (rp.proc.child.exitCode !== null || rp.proc.child.signalCode !== null) return;
    rp.proc.child.kill(signal);
    const t = setTimeout(() => rp.proc.child.kill('SIGKILL'), timeoutMs);
    await rp.proc.exited;
    clearTimeout(t);
  }

  /** Router `r`'s stack report through its API socket, or undefined when it does not answer. */
  async stack(r: RouterName): Promise<StackReport | undefined> {
    const rp = this.routers.get(r);
    if (!rp) return undefined;
    const c = await connect({ unix: rp.api }, { timeoutMs: 3_000 }).catch(() => undefined);
    if (!c) return undefined;
    try { return (await c.stats()).stack; } catch { return undefined; } finally { await c.close().catch(() => undefined); }
  }

  /** Router `r`'s `nat` table through its API (every page), or [] when it does not answer. */
  async nat(r: RouterName): Promise<{ key: string; value: unknown }[]> {
    const rp = this.routers.get(r);
    const c = rp && await connect({ unix: rp.api }, { timeoutMs: 3_000 }).catch(() => undefined);
    if (!c) return [];
    const out: { key: string; value: unknown }[] = [];
    try { for await (const e of c.listAll('nat')) out.push(e); } catch { /* gone meanwhile: what was read */ } finally { await c.close().catch(() => undefined); }
    return out;
  }

  /** Router `r`'s failover state (`initialize`, `backup`, `master`), or undefined. */
  async state(r: RouterName): Promise<string | undefined> {
    return (await this.stack(r))?.failover?.state;
  }

  /** Waits (bounded) until router `r` reports `want`; the state last seen either way. */
  async waitState(r: RouterName, want: string, ms: number, everyMs = 50): Promise<string | undefined> {
    let last: string | undefined;
    const got = await poll(async () => { last = await this.state(r); return last === want ? last : undefined; }, ms, everyMs);
    return got ?? last;
  }

  /** The tail of router `r`'s log (stderr), for failure messages. */
  log(r: RouterName, chars = 3000): string {
    const rp = this.routers.get(r);
    return rp ? rp.proc.err().slice(-chars) : '(not running)';
  }

  /** Stops the routers (SIGTERM), the git server, every process started, and removes namespaces and directory. */
  async teardown(): Promise<void> {
    for (const r of [...this.routers.keys()]) await this.stopRouter(r, 'SIGTERM', 10_000).catch(() => undefined);
    await this.git?.stop().catch(() => undefined);
    this.git = null;
    await this.base.teardown();
  }
}

// ---- The failover round: streams and a ping through the master, the master killed, the backup's takeover measured.

export const STREAM_PORT = 7300;
/** Long-lived connections, each exchanging a message every EVERY_MS; a stall is no echo within STALL_MS. */
export const CONNS = 20;
export const EVERY_MS = 100;
export const STALL_MS = 5_000;
/** The ping's period (50 per second): each missing sequence number is this much loss. */
export const PING_PERIOD_MS = 20;
const STREAM = join(ROOT, 'test', 'support', 'ha-stream.ts');

export interface Timing {
  syncIntervalMs: number;
  advertIntervalMs: number;
  /**
   * After the 2.5 × sync interval wait, also wait (≤ 30 s) until b holds every binding of a's before killing a: the
   * test's choice (it asserts what a synced standby does; how fast the sync is, is the bench's). The bench kills
   * after the fixed wait, as the goal is written ("connections older than 2 × the sync interval").
   */
  untilSynced?: boolean;
}
/** The round's flags: the default sync interval; adverts every 500 ms, so a backup takes over in ~1.8 s (3 × 500 + skew). */
export const TIMING: Timing = { syncIntervalMs: 1000, advertIntervalMs: 500 };
/** How long the wait for the sync may take (`untilSynced`). */
const SYNC_WAIT_MS = 30_000;

export interface FailoverFigures {
  /** Connections opened before the kill, those older than 2 × the sync interval then, and those of them alive after. */
  opened: number;
  /** Idle connections from HOLDER_IP holding each streaming connection's own port on the NAT's outside. */
  holders: number;
  eligible: number;
  survived: number;
  survivalPct: number;
  /** Per connection at the end (the stream client's final line). */
  conns: ConnState[];
  /** The ping: sent, answered, missing sequence numbers up to the last answered, and their time (missing × period). */
  ping: { sent: number; received: number; missing: number; lossMs: number; resumed: boolean };
  /** New connections opened through the new master: opened, and those that exchanged messages without an error. */
  fresh: { opened: number; ok: number };
  /** Epoch ms the old master's process was seen dead. */
  deadAt: number;
  /** ms from the old master's death to the new master reporting `master` (as polled: an upper bound). */
  takeoverMs: number;
  /** ms from the death until every old connection had echoed again (status lines are 1 s apart: an upper bound), or null. */
  recoveredMs: number | null;
  /**
   * The streaming connections the master mapped to an outside port other than their own just before the kill (the
   * holders took those), how many of those bindings the new master had after, same port, how many b held at the
   * kill, and b's peer sync just before the kill.
   */
  bindings: { translated: number; kept: number; heldAtKill: number; peers: unknown };
  /** ms from the connections being open until b held all their bindings (with `untilSynced`; null otherwise). */
  syncedMs: number | null;
}

/**
 * The streaming client in the client namespace: `conns` connections to the server, for at most `seconds`; with
 * `firstPort`, each from CLIENT_IP:firstPort+i behind a holder from HOLDER_IP on the same port (see ha-stream.ts).
 */
function streamClient(lab: HaLab, conns: number, seconds: number, firstPort?: number): Child {
  const twins = firstPort === undefined ? [] : [CLIENT_IP, HOLDER_IP, String(firstPort)];
  return lab.base.spawn(process.execPath, ['--import', 'tsx', STREAM, 'client', `${SERVER_IP}:${STREAM_PORT}`, String(conns), String(EVERY_MS), String(STALL_MS), String(seconds), ...twins], { ns: lab.client });
}

/** The last JSON line of `c` with `key`, waiting (bounded) for one. */
async function lineOf<T>(c: Child, key: string, ms: number): Promise<T> {
  const found = await poll(() => c.out().split('\n').filter((l) => l.includes(`"${key}"`)).map((l) => JSON.parse(l) as T).at(-1), ms, 50);
  if (found === undefined) throw new Error(`no "${key}" line within ${ms} ms: ${c.out().slice(-500)} ${c.err().slice(-1500)}`);
  return found;
}

/** The stream client's final line: SIGTERM, then its report (it exits right after). */
async function finalOf(c: Child): Promise<ConnState[]> {
  c.child.kill('SIGTERM');
  await c.exited;
  return (await lineOf<{ conns: ConnState[] }>(c, 'final', 1_000)).conns;
}

/** `ping -D` output: missing sequence numbers up to the last answered one, and whether any reply came after `since`. */
export function pingLoss(out: string, since: number): FailoverFigures['ping'] {
  const replies = [...out.matchAll(/^\[(\d+\.\d+)\].*icmp_seq=(\d+)/gm)].map((m) => ({ at: Number(m[1]) * 1000, seq: Number(m[2]) }));
  const seqs = new Set(replies.map((r) => r.seq));
  const last = Math.max(0, ...seqs);
  const missing = last - [...seqs].filter((s) => s >= 1).length;
  return {
    sent: Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? 0),
    received: seqs.size,
    missing,
    lossMs: missing * PING_PERIOD_MS,
    resumed: replies.some((r) => r.at > since),
  };
}

/** A connection that lived: opened, never reset, errored, closed or answered wrongly, and echoing after `since`. */
export function survived(c: ConnState, since: number): boolean {
  return c.openedAt > 0 && c.resets === 0 && c.errors === 0 && c.mismatches === 0 && !c.closed && c.lastReplyAt > since;
}

/** Both routers up, a master and b backup (bounded waits); throws with both logs otherwise. */
async function pairReady(lab: HaLab, t: Timing): Promise<void> {
  await lab.startPair({ pair: true, ...t });
  const wait = 10 * t.advertIntervalMs + 10_000;
  const [a, b] = [await lab.waitState('a', 'master', wait), await lab.waitState('b', 'backup', wait)];
  if (a !== 'master' || b !== 'backup') throw new Error(`the pair did not settle (a: ${a}, b: ${b}); a's log: ${lab.log('a')}\nb's log: ${lab.log('b')}`);
}

/** The stream server in the server namespace, once per lab. */
async function streamServer(lab: HaLab): Promise<void> {
  if (lab.streamServer) return;
  lab.streamServer = lab.base.spawn(process.execPath, ['--import', 'tsx', STREAM, 'server', String(STREAM_PORT)], { ns: lab.server });
  await waitOutput(lab.streamServer, /"listening"/, 20_000, 'the stream server');
}

/** A `nat` entry's fields as the API gives them (addresses as text). */
interface Binding { insideIp: string; insidePort: number; remotePort: number; outPort: number }

/** Router `r`'s bindings of the round's streaming connections, by key. */
async function bindings(lab: HaLab, r: RouterName, firstPort: number): Promise<Map<string, Binding>> {
  const out = new Map<string, Binding>();
  for (const { key, value } of await lab.nat(r)) {
    const v = value as Binding;
    if (v.insideIp === CLIENT_IP && v.remotePort === STREAM_PORT && v.insidePort >= firstPort && v.insidePort < firstPort + CONNS) out.set(key, v);
  }
  return out;
}

/** Of a's bindings on a port not their own (`before`), those b has now with the same outside port. */
function kept(before: Map<string, Binding>, after: Map<string, Binding>): { translated: number; kept: number } {
  const translated = [...before].filter(([, v]) => v.outPort !== v.insidePort);
  return { translated: translated.length, kept: translated.filter(([k, v]) => after.get(k)?.outPort === v.outPort).length };
}

/** Waits (bounded) until b holds every binding a has, same outside port; ms after `since`, or null if it never did. */
async function syncedToBackup(lab: HaLab, firstPort: number, since: number): Promise<number | null> {
  const at = await poll(async () => {
    const [a, b] = [await bindings(lab, 'a', firstPort), await bindings(lab, 'b', firstPort)];
    return a.size === CONNS && [...a].every(([k, v]) => b.get(k)?.outPort === v.outPort) ? Date.now() : undefined;
  }, SYNC_WAIT_MS, 250);
  return at === undefined ? null : at - since;
}

/** New connections through whoever is master now: `n` for 3 s, each must exchange messages without an error. */
async function freshConnections(lab: HaLab, n: number): Promise<FailoverFigures['fresh']> {
  const c = streamClient(lab, n, 3);
  const { open } = await lineOf<{ open: number }>(c, 'open', 15_000);
  await c.exited;
  const conns = (await lineOf<{ conns: ConnState[] }>(c, 'final', 1_000)).conns;
  return { opened: open, ok: conns.filter((x) => survived(x, 0)).length };
}

/** The round's traffic through the master: the streaming client (each connection behind a holder) and the ping. */
interface Traffic { stream: Child; ping: Child; open: number; holders: number; firstPort: number; openAt: number }

/** Kills `c` (a process this lab started) if it still runs. */
function kill(c: Child | undefined): void {
  if (c && c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
}

async function startTraffic(lab: HaLab): Promise<Traffic> {
  await streamServer(lab);
  // Ports of this round only: a later round's connections never meet an earlier one's TIME_WAIT.
  const firstPort = 20_000 + 100 * lab.round;
  const stream = streamClient(lab, CONNS, 300, firstPort);
  try {
    const { open, holders } = await lineOf<{ open: number; holders: number }>(stream, 'open', 20_000);
    // Bounded twice: 3,000 pings at most, 120 s at most; stopped with SIGINT once the round is over.
    const ping = lab.base.spawn('ping', ['-n', '-D', '-i', String(PING_PERIOD_MS / 1000), '-W', '1', '-c', '3000', '-w', '120', SERVER_IP], { ns: lab.client });
    return { stream, ping, open, holders, firstPort, openAt: Date.now() };
  } catch (e) {
    kill(stream);
    throw e;
  }
}

/** a killed with SIGKILL; b's takeover awaited, then every old connection echoing again (bounded: 20 s, 30 s). */
async function killMaster(lab: HaLab, stream: Child): Promise<{ deadAt: number; takeoverMs: number; recoveredMs: number | null }> {
  await lab.stopRouter('a', 'SIGKILL');
  const deadAt = Date.now();
  const state = await lab.waitState('b', 'master', 20_000, 20);
  const takeoverMs = Date.now() - deadAt;
  if (state !== 'master') throw new Error(`b did not take over in 20 s (state ${state}); b's log: ${lab.log('b')}`);
  // A stalled connection retransmits with backoff: it may take a few seconds more than the takeover.
  const echoing = await poll(async () => (await lineOf<{ conns: ConnState[] }>(stream, 'status', 2_000)).conns.every((c) => c.lastReplyAt > deadAt) || undefined, 30_000, 250);
  return { deadAt, takeoverMs, recoveredMs: echoing ? Date.now() - deadAt : null };
}

/**
 * One round on a built lab: the pair started on a fresh repository, CONNS connections and a 50 pps ping through a,
 * more than 2 × the sync interval waited, a killed with SIGKILL; then b's takeover, the old connections, new ones
 * and the ping measured. b is stopped at the end, so the lab is ready for another round.
 */
export async function failoverRound(lab: HaLab, t: Timing): Promise<FailoverFigures> {
  await pairReady(lab, t);
  const { stream, ping, open, holders, firstPort, openAt } = await startTraffic(lab);
  try {
    await sleep(Math.max(2.5 * t.syncIntervalMs, 2_000));
    const syncedMs = t.untilSynced ? await syncedToBackup(lab, firstPort, openAt) : null;
    if (t.untilSynced && syncedMs === null) throw new Error(`b did not get a's bindings within ${SYNC_WAIT_MS} ms; b's peer sync: ${JSON.stringify((await lab.stack('b'))?.peers)}; a's log: ${lab.log('a')}\nb's log: ${lab.log('b')}`);
    const [before, atKill, peers] = [await bindings(lab, 'a', firstPort), await bindings(lab, 'b', firstPort), (await lab.stack('b'))?.peers ?? null];
    const { deadAt, takeoverMs, recoveredMs } = await killMaster(lab, stream);
    const after = await bindings(lab, 'b', firstPort);
    const conns = await finalOf(stream);
    const fresh = await freshConnections(lab, 5);
    await sleep(500);
    ping.child.kill('SIGINT');
    const p = pingLoss((await ping.exited).stdout, deadAt);
    await lab.stopRouter('b');
    const eligible = conns.filter((c) => c.openedAt > 0 && c.openedAt <= deadAt - 2 * t.syncIntervalMs);
    const alive = eligible.filter((c) => survived(c, deadAt)).length;
    return {
      deadAt, opened: open, holders, eligible: eligible.length, survived: alive, survivalPct: eligible.length ? (100 * alive) / eligible.length : 0,
      conns, ping: p, fresh, takeoverMs, recoveredMs, syncedMs, bindings: { ...kept(before, after), heldAtKill: kept(before, atKill).kept, peers },
    };
  } finally {
    kill(stream);
    kill(ping);
  }
}
