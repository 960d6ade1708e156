// `netbranch host`: the stack as a host on a TAP device — packet actors and the ARP-expiry actor on
// their own branches, answering ARP and ping. JSON logs on stderr; one ready line on stdout.
import type { Command } from 'commander';
import { pino } from 'pino';
import { macToString, parseMac, ipv4ToString } from '../wire/index.js';
import { TapLink, TapQueueSet } from '../wire/tap.js';
import { PcapWriter, tee } from '../wire/pcap.js';
import { StackActors } from '../actors/stack-actors.js';
import { arpTable } from '../actors/arp-table.js';
import { describeInterface, localMac, parseInterfaceSpec } from '../actors/net-interface.js';
import { numberFlag, UsageError } from './usage.js';

export function registerHost(program: Command): void {
  program
    .command('host')
    .description('run the stack as a host on a TAP device (root): ARP and ping answered by packet actors on their own branches')
    .requiredOption('--tap <name:addr/prefix>', 'TAP device (created, or attached when it exists) and our address on it, e.g. nb0:10.199.0.1/24')
    .option('--mac <mac>', 'our MAC (default: a locally administered one)')
    .option('--workers <n>', 'packet actors', '2')
    .option('--merge-interval <ms>', 'how often each actor merges its branch into the primary', '100')
    .option('--arp-ttl <ms>', 'lifetime of a learned ARP entry', '60000')
    .option('--pcap <file>', 'record every frame on the TAP')
    .option('--queues', 'multi-queue TAP: each packet actor reads and writes its own queue in its own thread (no dispatcher hop)')
    .option('--spin-us <us>', 'with --queues: busy-poll a queue this many µs after frames arrive (0: never spin)', '50')
    .action(async (opts: Record<string, string | undefined>) => {
      let mac: number;
      try {
        mac = opts.mac ? parseMac(opts.mac) : localMac(process.pid & 0xffffff);
      } catch {
        throw new UsageError(`--mac must look like 02:00:00:00:00:01, got '${opts.mac}'`);
      }
      let iface;
      try {
        iface = parseInterfaceSpec(String(opts.tap), mac);
      } catch (err) {
        throw new UsageError(`--tap: ${(err as Error).message}`);
      }
      const workers = numberFlag('--workers', opts.workers, 1, 64, true);
      const mergeIntervalMs = numberFlag('--merge-interval', opts.mergeInterval, 1, 60_000);
      const ttlMs = numberFlag('--arp-ttl', opts.arpTtl, 1_000, 86_400_000, true);
      const spinUs = numberFlag('--spin-us', opts.spinUs, 0, 10_000);
      if (opts.queues && opts.pcap) throw new UsageError('--pcap needs the dispatcher: it cannot be combined with --queues');
      const log = pino({ base: { cmd: 'host' } }, pino.destination(2));
      const queues = opts.queues ? TapQueueSet.open(iface.name, workers) : null;
      const tap = queues ? null : TapLink.open(iface.name, {});
      const pcap = opts.pcap ? PcapWriter.open(opts.pcap) : null;
      const link = queues ?? (pcap ? tee(tap!, pcap) : tap!);
      const actors = new StackActors(link, iface, { packetActors: workers, mergeIntervalMs, arp: { ttlMs }, logger: log, spinUs });
      await actors.ready();
      log.info({ iface: describeInterface(iface), workers, mode: queues ? 'queues' : 'dispatcher' }, 'host up');
      process.stdout.write(JSON.stringify({ event: 'ready', iface: iface.name, ip: ipv4ToString(iface.ip), mac: macToString(iface.mac), workers, pid: process.pid }) + '\n');
      const arp = actors.store.main.table(arpTable);
      process.on('SIGUSR1', () => {
        const entries = [...arp.entries()].map(([ip, e]) => ({ ip: ipv4ToString(ip), mac: macToString(e.mac), kind: e.kind, expiresInMs: e.kind === 'static' ? null : e.expires - Date.now() }));
        log.info({ arp: entries, stats: actors.store.stats, dispatcher: actors.dispatcher?.counters, tap: tap?.counters, supervisor: actors.supervisor.counters }, 'table summary');
      });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => { log.info({ signal: sig }, 'stopping: final merge'); resolve(); };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await actors.stop();
      pcap?.close();
      tap?.close();
      queues?.close();
      log.info({ arpEntries: arp.size, stats: actors.store.stats }, 'stopped');
      log.flush();
    });
}
