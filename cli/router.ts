// `netbranch router`: a NAT router between two TAP devices; packet actors on their own branches of
// the store (or, with --store hashtable, on plain Maps: the original experiment's baseline).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { macToString, parseIpv4, ipv4ToString, vrrpVirtualMac } from '../wire/index.js';
import { TapLink, TapQueueSet, TunOffload } from '../wire/link/tap.js';
import { tee, type PcapWriter } from '../wire/pcap.js';
import type { Link } from '../wire/link/link.js';
import { RouterActors, type Steering } from '../actors/router/router-actors.js';
import { natTable } from '../actors/router/nat-table.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { formatNatEntry } from '../actors/router/nat-format.js';
import { describeInterface, localMac, onLink, parseInterfaceSpec, type NetInterface } from '../actors/iface/net-interface.js';
import { ActorStartupError } from '../actors/runtime/supervisor.js';
import type { ActorStats } from '../actors/runtime/messages.js';
import type { LookupInit } from '../api/server/listeners.js';
import { Store } from '../store/index.js';
import { type GitStore } from '../store/git/index.js';
import { routerTables } from '../actors/router/router-schema.js';
import { AddressPool } from '../actors/dhcp/address-pool.js';
import { leasesTable } from '../actors/dhcp/lease-table.js';
import { clientLeaseTable } from '../actors/dhcp/client-lease-table.js';
import { formatLeaseLine } from '../actors/dhcp/lease-file.js';
import type { RouterServicesInit } from '../actors/runtime/messages.js';
import { numberFlag, openPcapFlag, openTapFlag, requireGitStoreFor, storeFlag, UsageError, wordFlag } from './usage.js';
import { openGit } from './git.js';
import { addApiOptions, checkApiListeners, parseApiOptions } from './api-serve.js';
import { addLogOptions, logOptions, stderrLogger, stderrSink, type LogOptions } from './log.js';
import { formatStats } from './stats-format.js';
import { addConfigOptions, ConfigFile, type ConfigSchema } from './config.js';
import { ServiceNotifier } from './sd-notify.js';
import { trapStop } from './stop.js';
import { addPairOptions, pairConfig, PAIR_CONFIG, peerReport, syncResult, type PairConfig } from './pair.js';

interface RouterConfig {
  inside: NetInterface;
  outside: NetInterface;
  gateway?: number;
  storeSpec: ReturnType<typeof storeFlag>;
  flushIntervalMs: number;
  gitHistory: number;
  api?: LookupInit;
  workers: number;
  mergeIntervalMs: number;
  maxFlows: number;
  pcap?: string;
  /** 'queues': each packet actor owns a queue of each TAP; 'dispatcher': the main thread reads the TAPs (--dispatcher, or --pcap). */
  io: 'queues' | 'dispatcher';
  steering: Steering;
  /** Queues mode: virtio-net headers and segment offload on both TAPs. */
  offload: boolean;
  spinUs: number;
  /** The router's own services (--dhcp-range, --lease, --dns-upstream, --outside NAME:dhcp); none: it only routes. */
  services?: RouterServicesInit;
  /** --peer (tables shared through a git server) and --vrrp (failover), docs/ha.md. */
  pair: PairConfig;
  log: LogOptions;
}

/**
 * `--config FILE`: every router flag's key (docs/operations.md, the config file). Addresses and the store at the
 * top; each service, the API, the git store and the logs in a table of their own.
 */
export const ROUTER_CONFIG: ConfigSchema = {
  inside: { flag: '--inside', type: 'string' },
  outside: { flag: '--outside', type: 'string' },
  gateway: { flag: '--gateway', type: 'string' },
  workers: { flag: '--workers', type: 'integer' },
  store: { flag: '--store', type: 'string' },
  'merge-interval': { flag: '--merge-interval', type: 'number' },
  'max-flows': { flag: '--max-flows', type: 'integer' },
  pcap: { flag: '--pcap', type: 'string' },
  dispatcher: { flag: '--dispatcher', type: 'boolean' },
  steering: { flag: '--steering', type: 'string' },
  offload: { flag: '--offload', type: 'string' },
  'spin-us': { flag: '--spin-us', type: 'integer' },
  'git.flush-interval': { flag: '--flush-interval', type: 'number' },
  'git.history': { flag: '--git-history', type: 'integer' },
  'dhcp.range': { flag: '--dhcp-range', type: 'string' },
  'dhcp.lease': { flag: '--lease', type: 'duration' },
  'dns.upstream': { flag: '--dns-upstream', type: 'string' },
  'api.socket': { flag: '--api', type: 'socket' },
  'api.tcp': { flag: '--api-tcp', type: 'string' },
  'api.http': { flag: '--http', type: 'string' },
  'api.tokens': { flag: '--tokens', type: 'string' },
  'log.level': { flag: '--log-level', type: 'string' },
  'log.format': { flag: '--log-format', type: 'string' },
  ...PAIR_CONFIG,
};

/** `1h`, `30m`, `3600s`, `3600` (seconds): a lease length in ms, from a minute to a year. */
function leaseFlag(v: string | undefined): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(String(v ?? '1h').trim());
  const ms = m ? Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 's'] : NaN;
  if (!(ms >= 60_000 && ms <= 365 * 86_400_000)) throw new UsageError(`--lease must be a duration from 1m to 365d like 1h, 30m or 3600s, got '${v}'`);
  return ms;
}

/** `--outside NAME:dhcp`: the address comes from a lease, 0.0.0.0 until then (/32: nothing is on-link before it). */
const DHCP_SPEC = /^([^:]+):dhcp$/;

/** The router's own services from their flags; undefined when none is asked for. */
function servicesConfig(opts: Record<string, string | undefined>, inside: NetInterface, outsideDhcp: boolean): RouterServicesInit | undefined {
  let dhcpRange: [number, number] | undefined;
  if (opts.dhcpRange !== undefined) {
    let pool: AddressPool;
    try { pool = AddressPool.parse(opts.dhcpRange); } catch (err) { throw new UsageError(`--dhcp-range: ${(err as Error).message}`); }
    if (!onLink(inside, pool.first) || !onLink(inside, pool.last) || pool.has(inside.ip)) {
      throw new UsageError(`--dhcp-range ${opts.dhcpRange} must lie in the inside network and leave out the router's ${ipv4ToString(inside.ip)}`);
    }
    dhcpRange = [pool.first, pool.last];
  } else if (opts.lease !== undefined) {
    throw new UsageError('--lease needs --dhcp-range');
  }
  let dnsUpstream: number | undefined;
  if (opts.dnsUpstream !== undefined) {
    try { dnsUpstream = parseIpv4(opts.dnsUpstream); } catch { throw new UsageError(`--dns-upstream must be an IPv4 address, got '${opts.dnsUpstream}'`); }
  }
  const dns = dnsUpstream !== undefined || outsideDhcp;
  if (dhcpRange === undefined && !dns) return undefined;
  return { dhcpRange, leaseMs: dhcpRange ? leaseFlag(opts.lease) : undefined, dnsUpstream, dns, outsideDhcp };
}

/**
 * The router's MAC on a device: the same on every start on this machine (from the machine id and the device name,
 * like systemd's MACAddressPolicy=persistent), so the neighbours' ARP caches still hold after a restart.
 */
function persistentMac(device: string): number {
  let id = hostname();
  for (const path of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const text = readFileSync(path, 'utf8').trim();
      if (text) { id = text; break; }
    } catch { /* the next, or the host name */ }
  }
  return localMac(createHash('sha256').update(`${id}\0netbranch\0${device}`).digest().readUInt32BE(0));
}

/** --inside and --outside (required, on the command line or in the config file): names, addresses, MACs. */
function interfacesConfig(opts: Record<string, string | undefined>, vrid?: number): { inside: NetInterface; outside: NetInterface } {
  const parse = (flag: '--inside' | '--outside') => {
    const spec = opts[flag.slice(2)];
    if (spec === undefined) throw new UsageError(`${flag} is required: give it here, or as ${flag.slice(2)} in the --config file`);
    const dhcp = flag === '--outside' ? DHCP_SPEC.exec(spec) : null;
    try {
      // A name checked as any interface's is (the address part is a placeholder).
      const iface = dhcp ? { ...parseInterfaceSpec(`${dhcp[1]}:10.0.0.1/24`, 0), ip: 0, prefix: 32 } : parseInterfaceSpec(spec, 0);
      // A failover pair answers from one MAC, VRRP's, so the neighbours' caches hold across a takeover.
      return { ...iface, mac: vrid === undefined ? persistentMac(iface.name) : vrrpVirtualMac(vrid) };
    } catch (err) {
      throw new UsageError(`${flag}: ${(err as Error).message}`);
    }
  };
  return { inside: parse('--inside'), outside: parse('--outside') };
}

/** Every flag checked before anything is opened or printed; `given` says which flags were given (on the command line or in the config file). */
function routerConfig(opts: Record<string, string | undefined>, given: Pick<Command, 'getOptionValueSource'>): RouterConfig {
  const storeSpec = storeFlag(opts.store, true);
  const pair = pairConfig(opts, given, storeSpec.git);
  const { inside, outside } = interfacesConfig(opts, pair.failover?.vrid);
  const outsideDhcp = outside.ip === 0;
  if (outsideDhcp && pair.failover) throw new UsageError('--vrrp needs a static --outside address: the pair shares it, and a lease belongs to one MAC and one router');
  if (inside.name === outside.name) throw new UsageError('--inside and --outside must be different devices');
  if (!outsideDhcp && (onLink(inside, outside.ip) || onLink(outside, inside.ip))) throw new UsageError('--inside and --outside must be on different networks');
  if (outsideDhcp && opts.gateway !== undefined) throw new UsageError('--gateway goes with a static --outside address: with NAME:dhcp the lease gives the router');
  let gateway: number | undefined;
  if (opts.gateway !== undefined) {
    try { gateway = parseIpv4(opts.gateway); } catch { throw new UsageError(`--gateway must be an IPv4 address, got '${opts.gateway}'`); }
    if (!onLink(outside, gateway)) throw new UsageError(`--gateway ${opts.gateway} is not on the outside network`);
  }
  requireGitStoreFor(given, storeSpec);
  const api = parseApiOptions(opts, routerTables.map((t) => t.name), 'router');
  if (api && storeSpec.kind === 'hashtable') throw new UsageError('--api needs the store (memory or git:DIR): in hashtable mode there are no tables to serve');
  // The lease reaches the other actors by merges, and the hashtable baseline merges nothing.
  if (outsideDhcp && storeSpec.kind === 'hashtable') throw new UsageError('--outside NAME:dhcp needs the store (memory or git:DIR): in hashtable mode the lease would reach no other actor');
  return {
    inside, outside, gateway, storeSpec, api, pcap: opts.pcap,
    flushIntervalMs: numberFlag('--flush-interval', opts.flushInterval, 10, 3_600_000),
    gitHistory: numberFlag('--git-history', opts.gitHistory, 2, 10_000_000, true),
    workers: numberFlag('--workers', opts.workers, 1, 64, true),
    mergeIntervalMs: numberFlag('--merge-interval', opts.mergeInterval, 1, 60_000),
    maxFlows: numberFlag('--max-flows', opts.maxFlows, 1, 10_000_000, true),
    // A capture needs every frame on one thread: --pcap runs the dispatcher.
    io: opts.dispatcher || opts.pcap ? 'dispatcher' : 'queues',
    steering: wordFlag('--steering', opts.steering, ['kernel', 'handoff'] as const),
    offload: wordFlag('--offload', opts.offload, ['on', 'off'] as const) === 'on' && !opts.dispatcher && !opts.pcap,
    spinUs: numberFlag('--spin-us', opts.spinUs, 0, 2_000, true),
    services: servicesConfig(opts, inside, outsideDhcp),
    pair,
    log: logOptions(opts),
  };
}

interface RunningRouter {
  /** The TAPs: links read on this thread (dispatcher), or queue sets the packet actors read. */
  tapIn: TapLink | TapQueueSet;
  tapOut: TapLink | TapQueueSet;
  pcaps: PcapWriter[];
  git: GitStore | null;
  actors: RouterActors;
}

/**
 * Opens git, the captures, the TAPs and the actors, in that order: git first, because it takes the store's lock,
 * so a second router on the same --store is told who holds it before it touches the first one's TAPs or captures.
 * On a failure, closes what it had opened (the lock included) and rethrows.
 */
async function startRouter(c: RouterConfig, log: Logger): Promise<RunningRouter> {
  const undo: (() => unknown)[] = [];
  try {
    const primary = new Store(routerTables);
    const git = c.storeSpec.git ? await openGit(c.storeSpec.git, primary, { flushIntervalMs: c.flushIntervalMs, historyCommits: c.gitHistory, logger: log, remote: c.pair.peer }) : null;
    if (git) undo.push(() => git.close());
    const pcaps = openCaptures(c.pcap, undo);
    const tapIn = openTap('--inside', c, c.inside, undo);
    const tapOut = openTap('--outside', c, c.outside, undo);
    const links: [Link | TapQueueSet, Link | TapQueueSet] = pcaps.length
      ? [tee(tapIn as TapLink, pcaps[0]), tee(tapOut as TapLink, pcaps[1])] : [tapIn, tapOut];
    const actors = new RouterActors(links[0], links[1], {
      inside: c.inside, outside: c.outside, gateway: c.gateway, packetActors: c.workers, mergeIntervalMs: c.mergeIntervalMs,
      store: c.storeSpec.kind, maxFlows: c.maxFlows, logger: log, primary, api: c.api, steering: c.steering, spinUs: c.spinUs, vnetHdr: c.offload,
      services: c.services, gitStats: git ? () => ({ ...git.stats, backlog: git.pendingChanges() }) : undefined,
      peers: git && c.pair.peer ? (now) => peerReport(git, c.pair.peer!, now) : undefined, failover: c.pair.failover,
    });
    // A standby taking over merges what the peers pushed last, at once rather than at the next interval.
    if (git && c.pair.peer && actors.failover) actors.failover.onMaster = (now) => void git.syncNow(now);
    if (git && c.pair.peer) actors.supervisor.syncer = async (now) => syncResult(await git.syncNow(now));
    git?.start();
    return { tapIn, tapOut, pcaps, git, actors };
  } catch (err) {
    for (const u of undo.reverse()) await u();
    throw err;
  }
}

/** With --pcap DIR: DIR/inside.pcap and DIR/outside.pcap, each closed by `undo` should the start fail later. */
function openCaptures(dir: string | undefined, undo: (() => unknown)[]): PcapWriter[] {
  const pcaps: PcapWriter[] = [];
  for (const side of dir ? ['inside', 'outside'] : []) {
    const w = openPcapFlag(join(dir!, `${side}.pcap`));
    pcaps.push(w);
    undo.push(() => w.close());
  }
  return pcaps;
}

/** One network's TAP: a queue per packet actor (with offload if asked), or one link for the dispatcher. */
function openTap(flag: string, c: RouterConfig, iface: NetInterface, undo: (() => unknown)[]): TapLink | TapQueueSet {
  const tap = openTapFlag(flag, () => (c.io === 'queues' ? TapQueueSet.open(iface.name, c.workers, { vnetHdr: c.offload }) : TapLink.open(iface.name, {})));
  undo.push(() => tap.close());
  if (c.offload) openTapFlag(flag, () => (tap as TapQueueSet).setOffload(ROUTER_OFFLOADS));
  return tap;
}

/** What the kernel may leave to us: checksums and TCP segmentation (the router NATs a 64 KiB segment whole). */
const ROUTER_OFFLOADS = TunOffload.Csum | TunOffload.Tso4 | TunOffload.TsoEcn;

/** Final merge, final git flush, captures written out, TAPs closed. */
async function stopRouter(r: RunningRouter, log: Logger): Promise<void> {
  await r.actors.stop();
  if (r.git) log.info({ head: (await r.git.close())?.oid ?? r.git.head, stats: r.git.stats }, 'git: final flush');
  for (const p of r.pcaps) p.close();
  r.tapIn.close();
  r.tapOut.close();
  log.info({ natEntries: r.actors.store.main.table(natTable).size, stats: r.actors.store.stats }, 'stopped');
}

/** The services the ready line names: `dhcp` (its range), `dns` (its upstream, or the lease's), `dhcp-client`. */
function servicesLine(s: RouterServicesInit | undefined): object {
  if (s === undefined) return {};
  const range = s.dhcpRange;
  return {
    services: {
      ...(range ? { dhcp: { range: `${ipv4ToString(range[0])}-${ipv4ToString(range[1])}`, leaseS: (s.leaseMs ?? 0) / 1000 } } : {}),
      ...(s.dns ? { dns: { upstream: s.dnsUpstream !== undefined ? ipv4ToString(s.dnsUpstream) : 'from the outside lease' } } : {}),
      ...(s.outsideDhcp ? { 'dhcp-client': true } : {}),
    },
  };
}

function readyLine(c: RouterConfig, steering: Steering | null): string {
  const { inside, outside, api, storeSpec } = c;
  return JSON.stringify({
    event: 'ready', inside: { dev: inside.name, ip: ipv4ToString(inside.ip), mac: macToString(inside.mac) },
    outside: { dev: outside.name, ip: outside.ip === 0 ? 'dhcp' : ipv4ToString(outside.ip), mac: macToString(outside.mac) }, workers: c.workers,
    ...servicesLine(c.services),
    io: c.io, ...(c.io === 'queues' ? { steering: steering ?? c.steering, offload: c.offload } : {}),
    store: storeSpec.git ? `git:${storeSpec.git}` : storeSpec.kind, pid: process.pid,
    ...(c.pair.peer ? { peer: { url: c.pair.peer.url, branch: `routers/${c.pair.peer.name}`, syncMs: c.pair.peer.syncMs } } : {}),
    ...(c.pair.failover ? { vrrp: c.pair.failover } : {}),
    ...(api ? { api: { unix: api.unix, tcp: api.tcp ? `${api.tcp.host}:${api.tcp.port}` : undefined, http: api.http ? `http://${api.http.host}:${api.http.port}/api` : undefined } } : {}),
  }) + '\n';
}

/** SIGUSR1: the NAT table (conntrack style), ARP, store, git, actors and TAP counters, as one log line. */
function logTableSummary(r: RunningRouter, c: RouterConfig, log: Logger, stats: ActorStats[], now: number): void {
  const { actors, git, tapIn, tapOut } = r;
  // The hashtable baseline keeps each actor's flows in its own Map: there is no primary to list.
  const nat = c.storeSpec.kind === 'hashtable'
    ? [`hashtable mode: no primary table; flows per actor: ${stats.filter((s) => s.kind === 'packet').map((s) => `${s.name}=${s.counters['nat.flows']}`).join(' ')}`]
    : [...actors.store.main.table(natTable).entries()].map(([, e]) => formatNatEntry(e, c.outside.ip, now));
  const arp = [...actors.store.main.table(arpTable).entries()].map(([ip, e]) => ({ ip: ipv4ToString(ip), mac: macToString(e.mac), kind: e.kind }));
  const leases = [...actors.store.main.table(leasesTable).entries()].map(([ip, e]) => `${formatLeaseLine(ip, e)} ${e.state} ${e.kind}`);
  const lease = actors.store.main.table(clientLeaseTable).get(c.outside.name);
  const dhcpClient = lease && { ...lease, ip: ipv4ToString(lease.ip), gateway: ipv4ToString(lease.gateway), server: ipv4ToString(lease.server), dns: lease.dns.map(ipv4ToString) };
  log.info({ nat, arp, leases, ...(c.services?.outsideDhcp ? { dhcpClient: dhcpClient ?? 'no lease yet' } : {}), store: actors.store.stats, git: git?.stats, actors: stats.map((s) => ({ name: s.name, incarnation: s.incarnation, counters: s.counters })), supervisor: actors.supervisor.counters, ...tapCounters(tapIn, tapOut) }, 'table summary');
}

/** The TAPs' counters when this thread reads them (with queues, each actor counts its own, in its stats). */
function tapCounters(tapIn: TapLink | TapQueueSet, tapOut: TapLink | TapQueueSet): object {
  return tapIn instanceof TapLink && tapOut instanceof TapLink ? { inside: tapIn.counters, outside: tapOut.counters } : {};
}

export function registerRouter(program: Command): void {
  const cmd = program
    .command('router')
    .description('a NAT router between two TAP devices (root): masquerade on the outside, tables on the versioned store')
    .option('--inside <name:addr/prefix>', "inside TAP and the router's address on it, e.g. tap-in:10.201.0.1/24 (required: here or in --config)")
    .option('--outside <name:addr/prefix>', "outside TAP and the router's address on it, e.g. tap-out:10.202.0.1/24, or NAME:dhcp for an address leased by the outside network's DHCP server (required: here or in --config)")
    .option('--gateway <addr>', 'default route: next hop on the outside network (default: connected networks only)')
    .option('--workers <n>', 'packet actors', '2')
    .option('--store <kind>', "memory (branches and merges), hashtable (plain Maps, the baseline), or git:DIR", 'memory')
    .option('--pcap <dir>', 'record both networks into DIR/inside.pcap and DIR/outside.pcap (written out every second; DIR is made if missing)')
    .option('--flush-interval <ms>', 'with --store git:DIR: how often the primary is committed to git', '1000')
    .option('--git-history <commits>', 'with --store git:DIR: commits of full history kept; older ones are cut off', '60')
    .option('--merge-interval <ms>', 'how often each actor merges its branch into the primary', '100')
    .option('--max-flows <n>', 'NAT entries per packet actor before new flows are dropped', '65536')
    .option('--dispatcher', 'read both TAPs on the main thread and pass frames to the actors over rings (default: each actor owns a queue of each TAP; --pcap implies this)')
    .option('--steering <how>', "with queues: 'kernel' (an eBPF program puts each frame on its owner's queue; hand-off rings for the rest) or 'handoff' (actors hand misplaced frames to their owner)", 'kernel')
    .option('--offload <on|off>', 'with queues: virtio-net headers and TCP segment offload on the TAPs (64 KiB segments NATed whole)', 'on')
    .option('--spin-us <us>', 'with queues: busy-poll a queue this many µs after frames arrive (0: never spin)', '50')
    .option('--dhcp-range <first-last>', 'serve DHCP on the inside from this range, e.g. 10.201.0.100-10.201.0.200 (hosts get the router as gateway and DNS server)')
    .option('--lease <duration>', 'with --dhcp-range: lease length, e.g. 1h, 30m, 3600s (default 1h)')
    .option('--dns-upstream <addr>', "run a DNS cache on the inside address forwarding to this server (with --outside NAME:dhcp: default the lease's DNS server)");
  addConfigOptions(addLogOptions(addApiOptions(addPairOptions(cmd)))).action(runRouter);
}

/** The flags, over the config file's values when there is one, every one checked (a bad one names its flag, or its key and the file). */
function checkedConfig(cmd: Command): { c: RouterConfig; file: ConfigFile | null } {
  const file = ConfigFile.load(cmd, ROUTER_CONFIG);
  const c = file ? file.check(() => routerConfig(cmd.opts(), file.givenView())) : routerConfig(cmd.opts(), cmd);
  return { c, file };
}

/** What runs, in a few words: for --check, and for systemd's STATUS= (`systemctl status`). */
function routerSummary(c: RouterConfig, steering: Steering | null = null): string {
  const where = (i: NetInterface) => `${i.name} ${i.ip === 0 ? 'dhcp' : `${ipv4ToString(i.ip)}/${i.prefix}`}`;
  const range = c.services?.dhcpRange;
  return [
    `inside ${where(c.inside)}`, `outside ${where(c.outside)}${c.gateway !== undefined ? ` via ${ipv4ToString(c.gateway)}` : ''}`,
    `${c.workers} workers${c.io === 'queues' ? ` (${steering ?? c.steering} steering)` : ' (dispatcher)'}`,
    `store ${c.storeSpec.git ? `git:${c.storeSpec.git}` : c.storeSpec.kind}`,
    ...(range ? [`dhcp ${ipv4ToString(range[0])}-${ipv4ToString(range[1])}`] : []), ...(c.services?.dns ? ['dns'] : []),
    ...(c.pair.peer ? [`peer ${c.pair.peer.url} as routers/${c.pair.peer.name}`] : []),
    ...(c.pair.failover ? [`vrrp ${c.pair.failover.vrid} priority ${c.pair.failover.priority}`] : []),
    ...(c.api?.unix ? [`api ${c.api.unix}`] : []), ...(c.api?.tcp ? [`api-tcp ${c.api.tcp.host}:${c.api.tcp.port}`] : []), ...(c.api?.http ? [`http ${c.api.http.host}:${c.api.http.port}`] : []),
  ].join(', ');
}

/** Starts the router, serves until a signal (or an actor lost for good), then stops it with a final merge and flush. */
async function runRouter(_opts: unknown, command: Command): Promise<void> {
  const { c, file } = checkedConfig(command);
  if (command.opts().check) {
    process.stdout.write(`netbranch router: ${file ? file.path : 'flags'}: ok: ${routerSummary(c)} (checked only: nothing opened)\n`);
    return;
  }
  await checkApiListeners(c.api);
  const stop = trapStop(); // from here on, SIGTERM/SIGINT always end in stopRouter
  const log = stderrLogger('router', c.log);
  const notify = ServiceNotifier.fromEnv((msg) => log.warn(msg)); // systemd Type=notify; nothing without $NOTIFY_SOCKET
  const r = await startRouter(c, log);
  const failed = await stop.until(r.actors.ready());
  if (failed) {
    await stopRouter(r, log);
    throw failed instanceof ActorStartupError ? new UsageError(failed.kind === 'lookup' ? failed.reason : failed.message) : failed;
  }
  stop.stopOnGivenUp(r.actors.supervisor); // an actor lost for good from here on stops the router (exit 1)
  if (!stop.reason) {
    log.info({ inside: describeInterface(c.inside), outside: describeInterface(c.outside), workers: c.workers, store: c.storeSpec.kind }, 'router up');
    process.stdout.write(readyLine(c, r.actors.steering));
    notify.ready(`routing: ${routerSummary(c, r.actors.steering)}`);
    // The time is read when the actors' stats are in, as the summary describes that moment.
    // The human table (netbranch stats's) on stderr, and the whole summary as one JSON log line for machines.
    process.on('SIGUSR1', () => void r.actors.report(Date.now()).then((report) => {
      stderrSink.write(formatStats(report).join('\n') + '\n');
      logTableSummary(r, c, log, report.actors as ActorStats[], report.now);
    }));
  }
  const reason = await stop.requested;
  notify.stopping(`stopping (${reason}): final merge and flush`);
  log.info({ signal: reason }, 'stopping: final merge');
  await stopRouter(r, log);
  if (stop.failure) throw stop.failure; // after the final merge and flush: a runtime failure, exit 1
}
