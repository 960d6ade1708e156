// `netbranch sim` and `netbranch demo`: the virtual network, on the embedded defaults (no root).
import type { Command } from 'commander';
import { runSim, type SimOptions } from '../actors/sim/sim.js';
import { formatSummary, type SimResult } from '../actors/sim/sim-summary.js';
import { numberFlag, openPcapFlag, requireGitStoreFor, storeFlag, UsageError } from './usage.js';
import { isSimProto, type SimProto } from '../actors/sim/sim-node.js';
import { addApiOptions, checkApiListeners, parseApiOptions } from './api-serve.js';
import { addLogOptions, logOptions, stderrLogger, type LogOptions } from './log.js';
import { trapStop } from './stop.js';
import { stackTables } from '../actors/host/host-schema.js';

type SimFlags = Record<string, string | boolean | undefined>;

/** The API's refusals and writes go to stderr as pino lines. */
function apiLog(o: LogOptions) {
  const log = stderrLogger('sim', o);
  return (level: 'info' | 'warn' | 'error', msg: string, fields: object = {}) => log[level](fields, msg);
}

const num = numberFlag;

/** runSim until the end or SIGTERM/SIGINT (or stdout's reader leaving): the summary, the pcap closed, exit 0. */
async function runStoppable(o: Omit<SimOptions, 'signal' | 'pcap'>, pcapPath: string | undefined): Promise<SimResult> {
  const stop = trapStop({ onStdoutClosed: true });
  try {
    return await runSim({ ...o, pcap: pcapPath ? () => openPcapFlag(pcapPath) : undefined, signal: stop.signal });
  } finally {
    stop.dispose(); // its signal handlers go with the run (main() may run again in this process)
  }
}

export function registerSim(program: Command): void {
  const sim = program
    .command('sim')
    .description('simulate a network of nodes, each with its own ARP stack and store, on a virtual switch')
    .option('--nodes <n>', 'nodes on the switch', '10')
    .option('--seconds <s>', 'simulated seconds to run', '30')
    .option('--speed <x>', "simulated seconds per real second, or 'max'", '1')
    .option('--pcap <file>', 'write every frame to a pcap file (tcpdump -r FILE; written out every second; missing directories are made)')
    .option('--seed <n>', 'random seed', '1')
    .option('--proto <tcp|udp>', 'what carries the messages: tcp (a connection per peer, each message acked on it) or udp (a datagram each)', 'tcp')
    .option('--packet-actors <n>', 'packet actors per node', '2')
    .option('--merge-interval <ms>', 'actor merge interval, simulated ms', '100')
    .option('--json', 'print the summary as JSON')
    .option('--store <kind>', "memory, or git:DIR: each node's primary persisted to DIR/node<i> (then: git -C DIR/node0 log -p -- tcp/)", 'memory')
    .option('--flush-interval <ms>', 'with --store git:DIR: simulated ms between commits to git', '1000')
    .option('--git-history <commits>', 'with --store git:DIR: commits of full history kept per node', '60')
    .option('--api-node <i>', "with --api: whose tables the API serves", '0');
  addLogOptions(addApiOptions(sim))
    .action(async (opts: SimFlags, cmd: Command) => {
      const o = simOptions(opts, cmd);
      await checkApiListeners(o.api);
      const r = await runStoppable(o, typeof opts.pcap === 'string' ? opts.pcap : undefined);
      if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
      else for (const l of formatSummary(r)) process.stdout.write(l + '\n');
    });
  registerDemo(program);
}

/** The sim's flags, each checked (a bad one is one line and exit 2). */
function simOptions(opts: SimFlags, cmd: Command): Omit<SimOptions, 'signal' | 'pcap'> {
  const api = parseApiOptions(opts, stackTables.map((t) => t.name), 'sim');
  const store = storeFlag(opts.store, false);
  requireGitStoreFor(cmd, store);
  const speed = opts.speed === 'max' ? Infinity : num('--speed', String(opts.speed), 0.001, 1e6);
  const log = logOptions(opts);
  return {
    nodes: num('--nodes', String(opts.nodes), 2, 250, true),
    seconds: num('--seconds', String(opts.seconds), 0.01, 86_400),
    speed,
    seed: num('--seed', String(opts.seed), 0, 2 ** 32 - 1, true),
    proto: protoFlag(opts.proto),
    packetActors: num('--packet-actors', String(opts.packetActors), 1, 16, true),
    mergeIntervalMs: num('--merge-interval', String(opts.mergeInterval), 1, 60_000),
    git: store.git,
    gitFlushIntervalMs: num('--flush-interval', String(opts.flushInterval), 10, 3_600_000),
    gitHistory: num('--git-history', String(opts.gitHistory), 2, 10_000_000, true),
    gitLogger: store.git ? stderrLogger('sim', log) : undefined,
    api,
    apiNode: num('--api-node', String(opts.apiNode), 0, 249, true),
    apiLog: api ? apiLog(log) : undefined,
    out: opts.json ? undefined : (l: string) => process.stdout.write(l + '\n'),
  };
}

function protoFlag(v: unknown): SimProto {
  if (isSimProto(v)) return v;
  throw new UsageError(`--proto must be tcp or udp, got '${String(v)}'`);
}

function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('a ~10 s run of the virtual network on the embedded defaults (in-memory store, no root): tables learned, merged, expired')
    .option('--seed <n>', 'random seed', '1')
    .option('--store <kind>', "memory, or git:DIR: each node's primary persisted to DIR/node<i> (then: git -C DIR/node0 log -p -- arp/)", 'memory')
    .action(async (opts: { seed: string; store: string }) => {
      const store = storeFlag(opts.store, false);
      const seed = num('--seed', opts.seed, 0, 2 ** 32 - 1, true); // every flag checked before the banner
      const out = (l: string) => process.stdout.write(l + '\n');
      out('netbranch demo: 6 nodes, each with its own store; packet actors and an ARP-expiry actor on their own branches,');
      out('merging back every 100 ms. Nodes message peers over TCP; peers change every 40 s, so entries not refreshed');
      out('expire after 60 s and idle connections close.\n');
      const r = await runStoppable({ nodes: 6, seconds: 150, speed: 15, seed, reportEveryS: 10, out, git: store.git, gitLogger: store.git ? stderrLogger('demo') : undefined }, undefined);
      out('');
      for (const l of formatSummary(r)) out(l);
      if (store.git) out(`\nthe tables in git: git -C ${store.git}/node0 log -p -- arp/ tcp/   (docs/git-store.md: editing them with git)`);
      out('\nnext: netbranch sim --help, netbranch stress --help, and docs/actors.md');
    });
}
