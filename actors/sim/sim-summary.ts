// What `netbranch sim` reports: a progress line while it runs, and at the end a row per node, the frames,
// and each node's repository with --store git.
import { ipv4ToString, macToString } from '../../wire/index.js';
import type { SimNode } from './sim-node.js';
import type { SimRepoSummary } from './sim-repos.js';

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
  git?: SimRepoSummary[];
  /** Why the run ended before `seconds` (the abort's reason, e.g. 'SIGTERM'). */
  stoppedBy?: string;
}

export function nodeSummary(n: SimNode, i: number): SimNodeSummary {
  return {
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
  };
}

/** The totals over all nodes, for the progress lines. */
export function progressLine(nodes: SimNode[]): string {
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
