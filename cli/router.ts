// `netbranch router`: a NAT router between two TAP devices; packet actors on their own branches of
// the store (or, with --store hashtable, on plain Maps: the original experiment's baseline).
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { pino } from 'pino';
import { macToString, parseIpv4, ipv4ToString } from '../wire/index.js';
import { TapLink } from '../wire/tap.js';
import { PcapWriter, tee } from '../wire/pcap.js';
import type { Link } from '../wire/link.js';
import { RouterActors } from '../actors/router-actors.js';
import { natTable } from '../actors/nat-table.js';
import { arpTable } from '../actors/arp-table.js';
import { formatNatEntry } from '../actors/nat-format.js';
import { describeInterface, localMac, onLink, parseInterfaceSpec } from '../actors/net-interface.js';
import { Store } from '../store/index.js';
import { routerTables } from '../actors/router-schema.js';
import { numberFlag, storeFlag, UsageError } from './usage.js';
import { openGit } from './git.js';
import { addApiOptions, parseApiOptions } from './api-serve.js';

export function registerRouter(program: Command): void {
  const cmd = program
    .command('router')
    .description('a NAT router between two TAP devices (root): masquerade on the outside, tables on the versioned store')
    .requiredOption('--inside <name:addr/prefix>', "inside TAP and the router's address on it, e.g. tap-in:10.201.0.1/24")
    .requiredOption('--outside <name:addr/prefix>', "outside TAP and the router's address on it, e.g. tap-out:10.202.0.1/24")
    .option('--gateway <addr>', 'default route: next hop on the outside network (default: connected networks only)')
    .option('--workers <n>', 'packet actors', '2')
    .option('--store <kind>', "memory (branches and merges), hashtable (plain Maps, the baseline), or git:DIR", 'memory')
    .option('--pcap <dir>', 'record both networks into DIR/inside.pcap and DIR/outside.pcap')
    .option('--flush-interval <ms>', 'with --store git:DIR: how often the primary is committed to git', '1000')
    .option('--git-history <commits>', 'with --store git:DIR: commits of full history kept; older ones are cut off', '60')
    .option('--merge-interval <ms>', 'how often each actor merges its branch into the primary', '100')
    .option('--max-flows <n>', 'NAT entries per packet actor before new flows are dropped', '65536');
  addApiOptions(cmd)
    .action(async (opts: Record<string, string | undefined>) => {
      const parse = (flag: string, spec: string | undefined, n: number) => {
        try {
          return parseInterfaceSpec(String(spec), localMac((process.pid & 0xffff) * 4 + n));
        } catch (err) {
          throw new UsageError(`${flag}: ${(err as Error).message}`);
        }
      };
      const inside = parse('--inside', opts.inside, 1);
      const outside = parse('--outside', opts.outside, 2);
      if (inside.name === outside.name) throw new UsageError('--inside and --outside must be different devices');
      if (onLink(inside, outside.ip) || onLink(outside, inside.ip)) throw new UsageError('--inside and --outside must be on different networks');
      let gateway: number | undefined;
      if (opts.gateway !== undefined) {
        try { gateway = parseIpv4(opts.gateway); } catch { throw new UsageError(`--gateway must be an IPv4 address, got '${opts.gateway}'`); }
        if (!onLink(outside, gateway)) throw new UsageError(`--gateway ${opts.gateway} is not on the outside network`);
      }
      const storeSpec = storeFlag(opts.store, true);
      const store = storeSpec.kind;
      const flushIntervalMs = numberFlag('--flush-interval', opts.flushInterval, 10, 3_600_000);
      const gitHistory = numberFlag('--git-history', opts.gitHistory, 2, 10_000_000, true);
      const api = parseApiOptions(opts, routerTables.map((t) => t.name), 'router', (m) => process.stderr.write(`netbranch: warning: ${m}\n`));
      if (api && store === 'hashtable') throw new UsageError('--api needs the store (memory or git:DIR): in hashtable mode there are no tables to serve');
      const workers = numberFlag('--workers', opts.workers, 1, 64, true);
      const mergeIntervalMs = numberFlag('--merge-interval', opts.mergeInterval, 1, 60_000);
      const maxFlows = numberFlag('--max-flows', opts.maxFlows, 1, 10_000_000, true);

      const log = pino({ base: { cmd: 'router' } }, pino.destination(2));
      const tapIn = TapLink.open(inside.name, {});
      const tapOut = TapLink.open(outside.name, {});
      let links: [Link, Link] = [tapIn, tapOut];
      const pcaps: PcapWriter[] = [];
      if (opts.pcap) {
        mkdirSync(opts.pcap, { recursive: true });
        pcaps.push(PcapWriter.open(join(opts.pcap, 'inside.pcap')), PcapWriter.open(join(opts.pcap, 'outside.pcap')));
        links = [tee(tapIn, pcaps[0]), tee(tapOut, pcaps[1])];
      }
      const primary = new Store(routerTables);
      const git = storeSpec.git ? await openGit(storeSpec.git, primary, { flushIntervalMs, historyCommits: gitHistory, logger: log }) : null;
      const actors = new RouterActors(links[0], links[1], { inside, outside, gateway, packetActors: workers, mergeIntervalMs, store, maxFlows, logger: log, primary, api });
      git?.start();
      await actors.ready();
      log.info({ inside: describeInterface(inside), outside: describeInterface(outside), workers, store }, 'router up');
      process.stdout.write(JSON.stringify({
        event: 'ready', inside: { dev: inside.name, ip: ipv4ToString(inside.ip), mac: macToString(inside.mac) },
        outside: { dev: outside.name, ip: ipv4ToString(outside.ip), mac: macToString(outside.mac) }, workers, store: storeSpec.git ? `git:${storeSpec.git}` : store, pid: process.pid,
        ...(api ? { api: { unix: api.unix, tcp: api.tcp ? `${api.tcp.host}:${api.tcp.port}` : undefined, http: api.http ? `http://${api.http.host}:${api.http.port}/api` : undefined } } : {}),
      }) + '\n');
      process.on('SIGUSR1', () => {
        void actors.supervisor.stats().then((stats) => {
          const now = Date.now();
          // The hashtable baseline keeps each actor's flows in its own Map: there is no primary to list.
          const nat = store === 'hashtable'
            ? [`hashtable mode: no primary table; flows per actor: ${stats.filter((s) => s.kind === 'packet').map((s) => `${s.name}=${s.counters['nat.flows']}`).join(' ')}`]
            : [...actors.store.main.table(natTable).entries()].map(([, e]) => formatNatEntry(e, outside.ip, now));
          const arp = [...actors.store.main.table(arpTable).entries()].map(([ip, e]) => ({ ip: ipv4ToString(ip), mac: macToString(e.mac), kind: e.kind }));
          log.info({ nat, arp, store: actors.store.stats, git: git?.stats, actors: stats.map((s) => ({ name: s.name, incarnation: s.incarnation, counters: s.counters })), supervisor: actors.supervisor.counters, inside: tapIn.counters, outside: tapOut.counters }, 'table summary');
        });
      });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => { log.info({ signal: sig }, 'stopping: final merge'); resolve(); };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      await actors.stop();
      if (git) log.info({ head: (await git.close())?.oid ?? git.head, stats: git.stats }, 'git: final flush');
      for (const p of pcaps) p.close();
      tapIn.close();
      tapOut.close();
      log.info({ natEntries: actors.store.main.table(natTable).size, stats: actors.store.stats }, 'stopped');
      log.flush();
    });
}
