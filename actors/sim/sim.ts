// `netbranch sim`: a virtual network of nodes on one VirtualSwitch, each with its own ARP stack and
// store, exchanging UDP messages on a simulated clock that can run faster than real time.
import type { PcapWriter } from '../../wire/pcap.js';
import { VirtualSwitch } from '../../wire/link/virtual-switch.js';
import { ipv4ToString, macToString } from '../../wire/index.js';
import { localMac } from '../iface/net-interface.js';
import { SimCable } from './sim-link.js';
import { SimNode } from './sim-node.js';
import { prng } from './prng.js';
import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { Store } from '../../store/index.js';
import { GitStore, type GitStoreLogger } from '../../store/git/index.js';
import { stackTables } from '../host/host-schema.js';
import { arpTable } from '../iface/arp-table.js';
import { LocalActor } from '../runtime/local-actor.js';
import { LookupServer } from '../../api/server/lookup-server.js';
import { BranchSource } from '../../api/server/source.js';
import { HttpView } from '../../api/server/http-view.js';
import type { LookupInit } from '../../api/server/listeners.js';
import { openListeners } from '../../api/server/listeners.js';
import { arpApiRule } from '../iface/arp-api.js';

export interface SimOptions {
  nodes: number;
  /** Simulated seconds to run. */
  seconds: number;
  /** Simulated seconds per real second; Infinity runs as fast as the machine can. */
  speed: number;
  seed: number;
  packetActors?: number;
  mergeIntervalMs?: number;
  ttlMs?: number;
  /** Seconds between a node's messages (on average). */
  messageEveryS?: number;
  /** Simulated seconds after which each node switches to other peers (so old entries expire). */
  peerShiftS?: number;
  /** Every frame is recorded here (the caller opens and closes it). */
  pcap?: PcapWriter;
  /** Progress lines every this many simulated seconds (0: none). */
  reportEveryS?: number;
  out?: (line: string) => void;
  /** Persist each node's primary to its own git repository, DIR/node<i> (created or loaded). */
  git?: string;
  gitFlushIntervalMs?: number;
  gitHistory?: number;
  gitLogger?: GitStoreLogger;
  /** Serve node `apiNode`'s tables on the external-lookup API from a lookup actor on its own fork. */
  api?: LookupInit;
  apiNode?: number;
  apiLog?: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;
  /** Aborted (SIGTERM, SIGINT): the run ends at the next step, with the same final merge, flush and summary. */
  signal?: AbortSignal;
}

export interface SimNodeSummary {
  node: number;
  ip: string;
  mac: string;
  entries: number;
  merges: number;
  conflicts: number;
  commits: number;
  sent: number;
  received: number;
  acked: number;
  expired: number;
}

export interface SimResult {
  simulatedSeconds: number;
  realSeconds: number;
  frames: number;
  nodes: SimNodeSummary[];
  /** With git: each node's repository and the commit its last flush wrote. */
  git?: { repo: string; head: string | null; flushes: number; objects: number; editsMerged: number }[];
  /** Why the run ended before `seconds` (the abort's reason, e.g. 'SIGTERM'). */
  stoppedBy?: string;
}

const STEP_MS = 10;


export async function runSim(o: SimOptions): Promise<SimResult> {
  if (!Number.isInteger(o.nodes) || o.nodes < 2 || o.nodes > 250) throw new RangeError(`--nodes must be an integer from 2 to 250, got ${o.nodes}`);
  if (!(o.seconds > 0) || o.seconds > 86_400) throw new RangeError(`--seconds must be > 0 and at most 86400, got ${o.seconds}`);
  if (!(o.speed > 0)) throw new RangeError(`--speed must be > 0 (or 'max'), got ${o.speed}`);
  const apiNode = o.apiNode ?? 0;
  if (o.api && (!Number.isInteger(apiNode) || apiNode < 0 || apiNode >= o.nodes)) throw new RangeError(`--api-node must be a node from 0 to ${o.nodes - 1}, got ${apiNode}`);
  const out = o.out ?? (() => {});
  if (o.git) checkGitParent(o.git);
  const rand = prng(o.seed);
  const epoch = Date.UTC(2026, 0, 1);
  let now = 0;
  const clock = () => now;
  const sw = new VirtualSwitch({ clock });
  const pcap = o.pcap ?? null;
  let frames = 0;
  const cables: SimCable[] = [];
  const nodes: SimNode[] = [];
  const gits: GitStore[] = [];
  const next: number[] = [];
  const every = (o.messageEveryS ?? 1) * 1000;
  const shift = (o.peerShiftS ?? 40) * 1000;
  for (let i = 0; i < o.nodes; i++) {
    const cable = new SimCable(`node${i}`);
    cable.a.tap = (f) => { frames++; pcap?.write(f, (epoch + now) * 1000); };
    sw.attach(cable.b);
    const iface = { name: `sim${i}`, mac: localMac(0x0a00 + i), ip: ((10 << 24) | (0 << 16) | (0 << 8) | (i + 1)) >>> 0, prefix: 24 };
    let store: Store | undefined;
    if (o.git) {
      store = new Store(stackTables, { clock: () => epoch + now, retention: 256 });
      const repo = join(o.git, `node${i}`);
      let g: GitStore;
      try {
        g = await GitStore.open(repo, store.main, { thread: false, flushIntervalMs: o.gitFlushIntervalMs, historyCommits: o.gitHistory, logger: o.gitLogger });
      } catch (err) {
        for (const opened of gits) await opened.close(epoch + now);
        throw new RangeError(`--store git:${o.git}: ${(err as Error).message}`);
      }
      gits.push(g);
      out(`git: node${i} loaded ${g.head ?? '(new repository)'} with ${store.main.table(arpTable).size} entries from ${repo}`);
    }
    nodes.push(new SimNode(iface, cable.a, { packetActors: o.packetActors ?? 2, mergeIntervalMs: o.mergeIntervalMs ?? 100, ttlMs: o.ttlMs ?? 60_000, now, store }, clock));
    cables.push(cable);
    next.push(Math.floor(rand() * every));
  }
  let lookup: { actor: LocalActor; server: LookupServer; http: HttpView } | null = null;
  if (o.api) {
    const n = apiNode;
    const actor = new LocalActor('lookup', nodes[n].store.main, o.mergeIntervalMs ?? 100, now);
    const server = new LookupServer(new BranchSource(actor.branch, nodes[n].store.main), { role: 'sim', tokens: o.api.tokens, log: o.apiLog, clock, tables: { arp: arpApiRule } });
    const http = new HttpView(server);
    lookup = { actor, server, http };
    try {
      await openListeners(o.api, server, http);
    } catch (err) {
      await server.close();
      await http.close();
      for (const g of gits) await g.close(epoch + now);
      throw new RangeError((err as Error).message); // names its flag: `--api-tcp 127.0.0.1:7070: address in use`
    }
    out(`api: node${n}'s tables (${nodes[n].iface.name}, ${ipv4ToString(nodes[n].iface.ip)}) on${o.api.unix ? ` unix:${o.api.unix}` : ''}${o.api.tcp ? ` tcp:${o.api.tcp.host}:${o.api.tcp.port}` : ''}${o.api.http ? ` http://${o.api.http.host}:${o.api.http.port}/api` : ''}`);
  }
  out(`sim: ${o.nodes} nodes on one switch, ${o.packetActors ?? 2} packet actors + 1 ARP-expiry actor each, ${o.seconds} s simulated at ${Number.isFinite(o.speed) ? `${o.speed}×` : 'full speed'}`);
  for (const n of nodes) n.stacks[0].arp.announce(); // the initial broadcast
  const t0 = performance.now();
  const end = o.seconds * 1000;
  const report = (o.reportEveryS ?? 10) * 1000;
  let nextReport = report;
  while (now <= end && !o.signal?.aborted) {
    // Traffic: each node messages a peer from its current window; the window moves every `shift`.
    for (let i = 0; i < nodes.length; i++) {
      if (now < next[i]) continue;
      next[i] = now + Math.floor(every * (0.5 + rand()));
      const phase = Math.floor(now / shift);
      const k = 1 + ((phase * 3 + Math.floor(rand() * 3)) % (nodes.length - 1));
      nodes[i].send(nodes[(i + k) % nodes.length].iface.ip, now);
    }
    // Frames move until the network is quiet for this step (bounded).
    for (let round = 0; round < 16; round++) {
      let moved = 0;
      for (const c of cables) moved += c.deliver();
      if (moved === 0) break;
    }
    for (const n of nodes) n.tick(now);
    for (const g of gits) g.tick(epoch + now);
    lookup?.actor.tick(now);
    if (report > 0 && now >= nextReport) {
      nextReport += report;
      out(`  t=${String(now / 1000).padStart(5)}s  ${line(nodes)}`);
    }
    now += STEP_MS;
    if (Number.isFinite(o.speed)) {
      const ahead = now / o.speed - (performance.now() - t0);
      if (ahead > 20) await new Promise((r) => setTimeout(r, ahead));
      else if (now % 1000 === 0) await new Promise((r) => setImmediate(r)); // behind real time: let I/O (git) run
    } else if (now % 1000 === 0) {
      await new Promise((r) => setImmediate(r));
    }
  }
  for (const n of nodes) n.flush(now);
  if (lookup) {
    lookup.actor.tick(now, true);
    await lookup.server.close();
    await lookup.http.close();
  }
  for (const g of gits) await g.close(epoch + now);
  const summaries = nodes.map((n, i): SimNodeSummary => ({
    node: i,
    ip: ipv4ToString(n.iface.ip),
    mac: macToString(n.iface.mac),
    entries: n.entries,
    merges: n.store.stats.merges,
    conflicts: n.store.stats.conflicts,
    commits: n.store.stats.commits,
    sent: n.sent,
    received: n.received,
    acked: n.acked,
    expired: n.expired,
  }));
  const git = o.git ? gits.map((g) => ({ repo: g.dir, head: g.head, flushes: g.stats.flushes, objects: g.stats.objectsWritten, editsMerged: g.stats.editsMerged })) : undefined;
  const stoppedBy = o.signal?.aborted ? String(o.signal.reason) : undefined;
  return { simulatedSeconds: now / 1000, realSeconds: (performance.now() - t0) / 1000, frames, nodes: summaries, git, ...(stoppedBy ? { stoppedBy } : {}) };
}

/** A sim's git directory holds one repository per node and nothing else: never write into a directory of other things. */
function checkGitParent(dir: string): void {
  if (!existsSync(dir)) return;
  const other = readdirSync(dir).filter((f) => !/^node\d+$/.test(f));
  if (other.length) throw new RangeError(`--store git:${dir}: the directory holds other things (${other.slice(0, 3).join(', ')}${other.length > 3 ? ', …' : ''}); give a new or empty directory (each node gets DIR/node<i>)`);
}

function line(nodes: SimNode[]): string {
  let entries = 0, merges = 0, conflicts = 0, expired = 0, sent = 0, acked = 0;
  for (const n of nodes) {
    entries += n.entries;
    merges += n.store.stats.merges;
    conflicts += n.store.stats.conflicts;
    expired += n.expired;
    sent += n.sent;
    acked += n.acked;
  }
  return `arp entries ${String(entries).padStart(4)}  merges ${String(merges).padStart(5)}  conflicts ${conflicts}  expired ${String(expired).padStart(3)}  messages acked ${acked}/${sent}`;
}

export function formatSummary(r: SimResult): string[] {
  const head = 'node  ip          mac                arp  merges  conflicts  sent  recv  acked  expired';
  const rows = r.nodes.map((n) => `${String(n.node).padStart(4)}  ${n.ip.padEnd(10)}  ${n.mac}  ${String(n.entries).padStart(3)}  ${String(n.merges).padStart(6)}  ${String(n.conflicts).padStart(9)}  ${String(n.sent).padStart(4)}  ${String(n.received).padStart(4)}  ${String(n.acked).padStart(5)}  ${String(n.expired).padStart(7)}`);
  const git = (r.git ?? []).map((g) => `git: ${g.repo} at ${g.head?.slice(0, 12) ?? '(empty)'}: ${g.flushes} flushes, ${g.objects} objects written, ${g.editsMerged} edits merged`);
  const stopped = r.stoppedBy ? [`stopped early by ${r.stoppedBy}: final merge and flush done`] : [];
  return [head, ...rows, `${r.frames} frames in ${r.simulatedSeconds.toFixed(1)} simulated s (${r.realSeconds.toFixed(1)} s real)`, ...git, ...stopped];
}
