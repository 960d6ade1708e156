// `netbranch sim`: a virtual network of nodes on one VirtualSwitch, each with its own ARP stack and
// store, exchanging TCP (or UDP) messages on a simulated clock that can run faster than real time.
import type { PcapWriter } from '../../wire/pcap.js';
import type { LookupInit } from '../../api/server/listeners.js';
import { SimClock } from './sim-clock.js';
import { SimNetwork, type SimNetworkOptions } from './sim-network.js';
import { isSimProto } from './sim-node.js';
import { SimRepos, type SimReposOptions } from './sim-repos.js';
import { closeSimApi, serveSimApi, type SimApi } from './sim-api.js';
import type { ApiLog } from '../../api/server/log-limiter.js';
import { nodeSummary, progressLine, type SimResult } from './sim-summary.js';

/** The network's and the repositories' options, and the run's own. */
export interface SimOptions extends SimNetworkOptions, SimReposOptions {
  /** Simulated seconds to run. */
  seconds: number;
  /** Simulated seconds per real second; Infinity runs as fast as the machine can. */
  speed: number;
  /**
   * Opens the capture every frame is recorded in; called once the stores (and their git locks) are held, so a sim
   * refused a store never truncates the capture of the sim that holds it. The run closes it when it ends.
   */
  pcap?: () => PcapWriter;
  /** Progress lines every this many simulated seconds (0: none). */
  reportEveryS?: number;
  out?: (line: string) => void;
  /** Persist each node's primary to its own git repository, DIR/node<i> (created or loaded). */
  git?: string;
  /** Serve node `apiNode`'s tables on the external-lookup API from a lookup actor on its own fork. */
  api?: LookupInit;
  apiNode?: number;
  apiLog?: ApiLog;
  /** Aborted (SIGTERM, SIGINT): the run ends at the next step, with the same final merge, flush and summary. */
  signal?: AbortSignal;
}

const STEP_MS = 10;

/** What a run is made of once it is set up. */
interface SimRun {
  clock: SimClock;
  net: SimNetwork;
  repos: SimRepos | null;
  api: SimApi | null;
  pcap: PcapWriter | null;
}

export async function runSim(o: SimOptions): Promise<SimResult> {
  checkSimOptions(o);
  const out = o.out ?? (() => {});
  const run = await setUp(o, new SimClock(), out);
  try {
    out(`sim: ${o.nodes} nodes on one switch, ${o.packetActors ?? 2} packet actors + 1 ARP-expiry actor each, messages over ${(o.proto ?? 'tcp').toUpperCase()}, ${o.seconds} s simulated at ${Number.isFinite(o.speed) ? `${o.speed}×` : 'full speed'}`);
    run.net.announce();
    const t0 = performance.now();
    await runSteps(o, run, t0, out);
    await finish(run);
    return simResult(o, run, (performance.now() - t0) / 1000);
  } finally {
    run.pcap?.close();
  }
}

function checkSimOptions(o: SimOptions): void {
  if (!Number.isInteger(o.nodes) || o.nodes < 2 || o.nodes > 250) throw new RangeError(`--nodes must be an integer from 2 to 250, got ${o.nodes}`);
  if (!(o.seconds > 0) || o.seconds > 86_400) throw new RangeError(`--seconds must be > 0 and at most 86400, got ${o.seconds}`);
  if (o.proto !== undefined && !isSimProto(o.proto)) throw new RangeError(`--proto must be tcp or udp, got ${o.proto}`);
  if (!(o.speed > 0)) throw new RangeError(`--speed must be > 0 (or 'max'), got ${o.speed}`);
  const apiNode = o.apiNode ?? 0;
  if (o.api && (!Number.isInteger(apiNode) || apiNode < 0 || apiNode >= o.nodes)) throw new RangeError(`--api-node must be a node from 0 to ${o.nodes - 1}, got ${apiNode}`);
}

/** The stores (and their git locks), then the capture, the network and the API; what failed leaves nothing open. */
async function setUp(o: SimOptions, clock: SimClock, out: (line: string) => void): Promise<SimRun> {
  const repos = o.git ? await SimRepos.open(o.git, o, clock, out) : null;
  let pcap: PcapWriter | null = null;
  try {
    pcap = o.pcap?.() ?? null; // only now: a sim refused the stores' locks must not truncate the holder's capture
    const net = new SimNetwork(o, clock, repos?.stores, pcap);
    const n = o.apiNode ?? 0;
    const api = o.api
      ? await serveSimApi(o.api, n, net.nodes[n], { mergeIntervalMs: o.mergeIntervalMs ?? 100, now: clock.now, clock: () => clock.now, log: o.apiLog }, out)
      : null;
    return { clock, net, repos, api, pcap };
  } catch (err) {
    await repos?.close(clock.wallMs());
    pcap?.close();
    throw err;
  }
}

/** Steps of STEP_MS until `seconds` or the abort, at `speed`, with a progress line every `reportEveryS`. */
async function runSteps(o: SimOptions, run: SimRun, t0: number, out: (line: string) => void): Promise<void> {
  const { clock, net } = run;
  const end = o.seconds * 1000;
  const report = (o.reportEveryS ?? 10) * 1000;
  let nextReport = report;
  while (clock.now <= end && !o.signal?.aborted) {
    net.step(clock.now);
    run.repos?.tick(clock.wallMs());
    run.api?.actor.tick(clock.now);
    if (report > 0 && clock.now >= nextReport) {
      nextReport += report;
      out(`  t=${String(clock.now / 1000).padStart(5)}s  ${progressLine(net.nodes)}`);
    }
    clock.now += STEP_MS;
    await keepPace(clock.now, o.speed, performance.now() - t0);
  }
}

/** Sleeps while the simulated clock is ahead of real time × speed; otherwise yields once a simulated second. */
async function keepPace(now: number, speed: number, elapsedMs: number): Promise<void> {
  const ahead = Number.isFinite(speed) ? now / speed - elapsedMs : 0;
  if (ahead > 20) await new Promise((r) => setTimeout(r, ahead));
  else if (now % 1000 === 0) await new Promise((r) => setImmediate(r)); // behind real time (or at full speed): let I/O (git) run
}

/** The final merge of every actor, the API closed, each repository's last flush. */
async function finish(run: SimRun): Promise<void> {
  run.net.flush(run.clock.now);
  if (run.api) await closeSimApi(run.api, run.clock.now);
  await run.repos?.close(run.clock.wallMs());
}

function simResult(o: SimOptions, run: SimRun, realSeconds: number): SimResult {
  const stoppedBy = o.signal?.aborted ? String(o.signal.reason) : undefined;
  return {
    proto: o.proto ?? 'tcp',
    simulatedSeconds: run.clock.now / 1000,
    realSeconds,
    frames: run.net.frames,
    nodes: run.net.nodes.map(nodeSummary),
    git: run.repos?.summary(),
    ...(stoppedBy ? { stoppedBy } : {}),
  };
}
