// `netbranch host`: the stack as a host on a TAP device — packet actors and the ARP-expiry actor on
// their own branches, answering ARP and ping (and TCP echo with --tcp-echo), and with --api a lookup actor
// serving the tables. JSON logs on stderr; one ready line on stdout.
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { macToString, parseMac, ipv4ToString } from '../wire/index.js';
import { TapLink, TapQueueSet } from '../wire/link/tap.js';
import { tee } from '../wire/pcap.js';
import { StackActors } from '../actors/host/host-actors.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { tcpTable } from '../actors/tcp/tcp-table.js';
import { describeInterface, localMac, parseInterfaceSpec } from '../actors/iface/net-interface.js';
import { ActorStartupError } from '../actors/runtime/supervisor.js';
import type { ActorStats } from '../actors/runtime/messages.js';
import { stackTables } from '../actors/host/host-schema.js';
import type { LookupInit } from '../api/server/listeners.js';
import { addApiOptions, checkApiListeners, parseApiOptions } from './api-serve.js';
import { numberFlag, openPcapFlag, openTapFlag, UsageError } from './usage.js';
import { addLogOptions, logOptions, stderrLogger, stderrSink } from './log.js';
import { formatStats } from './stats-format.js';
import { trapStop } from './stop.js';

export function registerHost(program: Command): void {
  const cmd = program
    .command('host')
    .description('run the stack as a host on a TAP device (root): ARP and ping answered by packet actors on their own branches')
    .requiredOption('--tap <name:addr/prefix>', 'TAP device (created, or attached when it exists) and our address on it, e.g. nb0:10.199.0.1/24')
    .option('--mac <mac>', 'our MAC (default: a locally administered one)')
    .option('--workers <n>', 'packet actors', '2')
    .option('--merge-interval <ms>', 'how often each actor merges its branch into the primary', '100')
    .option('--arp-ttl <ms>', 'lifetime of a learned ARP entry', '60000')
    .option('--pcap <file>', 'record every frame on the TAP (written out every second; missing directories are made)')
    .option('--queues', 'multi-queue TAP: each packet actor reads and writes its own queue in its own thread (no dispatcher hop)')
    .option('--spin-us <us>', 'with --queues: busy-poll a queue this many µs after frames arrive (0: never spin)', '50')
    .option('--tcp-echo <port>', 'serve TCP echo on this port (every packet actor listens; repeat the flag, or give a comma list, for more ports)', collect, []);
  addLogOptions(addApiOptions(cmd)).action(runHost);
}

type HostFlags = Record<string, string | string[] | boolean | undefined>;

function collect(v: string, all: string[]): string[] {
  return [...all, ...v.split(',')];
}

/** Starts the host, serves until a signal (or an actor lost for good), then stops it with a final merge. */
async function runHost(opts: HostFlags): Promise<void> {
  const c = hostConfig(opts);
  await checkApiListeners(c.api);
  const pcap = opts.pcap ? openPcapFlag(String(opts.pcap)) : null;
  const stop = trapStop(); // from here on, SIGTERM/SIGINT always end in a final merge and `stopped`
  const log = stderrLogger('host', c.log);
  let queues: TapQueueSet | null;
  let tap: TapLink | null;
  try {
    queues = opts.queues ? openTapFlag('--tap', () => TapQueueSet.open(c.iface.name, c.workers)) : null;
    tap = queues ? null : openTapFlag('--tap', () => TapLink.open(c.iface.name, {}));
  } catch (err) {
    pcap?.close();
    throw err;
  }
  const link = queues ?? (pcap ? tee(tap!, pcap) : tap!);
  const actors = new StackActors(link, c.iface, { packetActors: c.workers, mergeIntervalMs: c.mergeIntervalMs, arp: { ttlMs: c.ttlMs }, logger: log, spinUs: c.spinUs, tcpEcho: c.tcpEcho, api: c.api });
  const arp = actors.store.main.table(arpTable);
  const tcp = actors.store.main.table(tcpTable);
  const failed = await stop.until(actors.ready());
  if (!failed) stop.stopOnGivenUp(actors.supervisor); // an actor lost for good from here on stops the host (exit 1)
  if (!failed && !stop.reason) {
    log.info({ iface: describeInterface(c.iface), workers: c.workers, mode: queues ? 'queues' : 'dispatcher', tcpEcho: c.tcpEcho }, c.tcpEcho.length ? `host up, tcp echo on port ${c.tcpEcho.join(', ')}` : 'host up');
    process.stdout.write(JSON.stringify({ event: 'ready', iface: c.iface.name, ip: ipv4ToString(c.iface.ip), mac: macToString(c.iface.mac), workers: c.workers, tcpEcho: c.tcpEcho, pid: process.pid, ...apiFields(c.api) }) + '\n');
    // The time is read when the actors' stats are in, as the summary describes that moment.
    // The human table (netbranch stats's) on stderr, and the whole summary as one JSON log line for machines.
    process.on('SIGUSR1', () => void actors.report(Date.now()).then((report) => {
      stderrSink.write(formatStats(report).join('\n') + '\n');
      logTableSummary(actors, tap, log, report.actors as ActorStats[], report.now);
    }));
    log.info({ signal: await stop.requested }, 'stopping: final merge');
  }
  await actors.stop();
  pcap?.close();
  tap?.close();
  queues?.close();
  log.info({ arpEntries: arp.size, tcpConnections: tcp.size, stats: actors.store.stats }, 'stopped');
  // A lookup actor that cannot listen says why in the flag's own words (`--api unix:PATH: address in use`).
  if (failed) throw failed instanceof ActorStartupError ? new UsageError(failed.kind === 'lookup' ? failed.reason : failed.message) : failed;
  if (stop.failure) throw stop.failure; // after the final merge: a runtime failure, exit 1
}

/** Where the API is served, for the ready line (as the router's ready line gives it). */
function apiFields(api: LookupInit | undefined): object {
  if (!api) return {};
  return { api: { unix: api.unix, tcp: api.tcp ? `${api.tcp.host}:${api.tcp.port}` : undefined, http: api.http ? `http://${api.http.host}:${api.http.port}/api` : undefined } };
}

/** SIGUSR1: the ARP table, the TCP connections, store, dispatcher, TAP, actors' and supervisor counters, as one log line. */
function logTableSummary(actors: StackActors, tap: TapLink | null, log: Logger, stats: ActorStats[], now: number): void {
  const entries = [...actors.store.main.table(arpTable).entries()].map(([ip, e]) => ({ ip: ipv4ToString(ip), mac: macToString(e.mac), kind: e.kind, expiresInMs: e.kind === 'static' ? null : e.expires - now }));
  const tcp = [...actors.store.main.table(tcpTable).entries()].map(([key, e]) => ({ key, state: e.state }));
  log.info({
    arp: entries, tcp, stats: actors.store.stats, dispatcher: actors.dispatcher?.counters, tap: tap?.counters,
    actors: stats.map((s) => ({ name: s.name, incarnation: s.incarnation, counters: s.counters })), supervisor: actors.supervisor.counters,
  }, 'table summary');
}

/** Every flag checked before anything is opened or printed. */
function hostConfig(opts: HostFlags) {
  let mac: number;
  try {
    mac = opts.mac ? parseMac(String(opts.mac)) : localMac(process.pid & 0xffffff);
  } catch {
    throw new UsageError(`--mac must look like 02:00:00:00:00:01, got '${opts.mac}'`);
  }
  let iface;
  try {
    iface = parseInterfaceSpec(String(opts.tap), mac);
  } catch (err) {
    throw new UsageError(`--tap: ${(err as Error).message}`);
  }
  if (opts.queues && opts.pcap) throw new UsageError('--pcap needs the dispatcher: it cannot be combined with --queues');
  return {
    iface,
    workers: numberFlag('--workers', opts.workers, 1, 64, true),
    mergeIntervalMs: numberFlag('--merge-interval', opts.mergeInterval, 1, 60_000),
    ttlMs: numberFlag('--arp-ttl', opts.arpTtl, 1_000, 86_400_000, true),
    spinUs: numberFlag('--spin-us', opts.spinUs, 0, 10_000),
    tcpEcho: [...new Set(((opts.tcpEcho ?? []) as string[]).map((p) => numberFlag('--tcp-echo', p, 1, 65_535, true)))],
    api: parseApiOptions(opts, stackTables.map((t) => t.name), 'host'),
    log: logOptions(opts),
  };
}
