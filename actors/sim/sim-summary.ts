// What `netbranch sim` reports: a progress line while it runs, and at the end a row per node, the frames,
// TCP's figures when TCP carried the messages, and each node's repository with --store git.
import { ipv4ToString, macToString } from '../../wire/index.js';
import type { SimNode, SimProto } from './sim-node.js';
import type { SimRepoSummary } from './sim-repos.js';
import { TcpMessenger } from './tcp-messenger.js';

/** A node's TCP figures: its connections (as the messenger saw them), the endpoints' retransmits, rows in its store. */
export interface SimTcpSummary {
  opened: number;
  established: number;
  accepted: number;
  failed: number;
  closedIdle: number;
  retransmits: number;
  resetsSent: number;
  /** Rows of the `tcp` table in the node's primary at the end. */
  rows: number;
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
  /** With --proto tcp. */
  tcp?: SimTcpSummary;
}

export interface SimResult {
  proto: SimProto;
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
    ...(n.messenger instanceof TcpMessenger ? { tcp: tcpSummary(n, n.messenger) } : {}),
  };
}

function tcpSummary(n: SimNode, m: TcpMessenger): SimTcpSummary {
  const c = n.tcpCounters();
  const { opened, established, accepted, failed, closedIdle } = m.counters;
  return { opened, established, accepted, failed, closedIdle, retransmits: c.retransmits, resetsSent: c.resetsSent, rows: n.tcpRows };
}

/** The totals over all nodes, for the progress lines. */
export function progressLine(nodes: SimNode[]): string {
  let entries = 0, merges = 0, conflicts = 0, expired = 0, sent = 0, acked = 0, conns = 0;
  for (const n of nodes) {
    entries += n.entries;
    merges += n.store.stats.merges;
    conflicts += n.store.stats.conflicts;
    expired += n.expired;
    sent += n.sent;
    acked += n.acked;
    if (n.messenger instanceof TcpMessenger) conns += n.messenger.connections;
  }
  const tcp = nodes[0]?.proto === 'tcp' ? `  tcp connections ${String(conns).padStart(3)}` : '';
  return `arp entries ${String(entries).padStart(4)}  merges ${String(merges).padStart(5)}  conflicts ${conflicts}  expired ${String(expired).padStart(3)}  messages acked ${acked}/${sent}${tcp}`;
}

const pad = (x: number, w: number) => String(x).padStart(w);

export function formatSummary(r: SimResult): string[] {
  const tcp = r.proto === 'tcp';
  const head = `node  ip          mac                arp  merges  conflicts  sent  recv  acked  expired${tcp ? '  conns  retx' : ''}`;
  const rows = r.nodes.map((n) => `${pad(n.node, 4)}  ${n.ip.padEnd(10)}  ${n.mac}  ${pad(n.entries, 3)}  ${pad(n.merges, 6)}  ${pad(n.conflicts, 9)}  ${pad(n.sent, 4)}  ${pad(n.received, 4)}  ${pad(n.acked, 5)}  ${pad(n.expired, 7)}${n.tcp ? `  ${pad(n.tcp.established, 5)}  ${pad(n.tcp.retransmits, 4)}` : ''}`);
  const git = (r.git ?? []).map((g) => `git: ${g.repo} at ${g.head?.slice(0, 12) ?? '(empty)'}: ${g.flushes} flushes, ${g.objects} objects written, ${g.editsMerged} edits merged`);
  const stopped = r.stoppedBy ? [`stopped early by ${r.stoppedBy}: final merge and flush done`] : [];
  return [head, ...rows, ...totals(r), `${r.frames} frames in ${r.simulatedSeconds.toFixed(1)} simulated s (${r.realSeconds.toFixed(1)} s real)`, ...git, ...stopped];
}

/** One line of what every node sent and got acknowledged, and TCP's connections and retransmits. */
function totals(r: SimResult): string[] {
  const sum = (f: (n: SimNodeSummary) => number) => r.nodes.reduce((s, n) => s + f(n), 0);
  const msgs = `messages over ${r.proto.toUpperCase()}: ${sum((n) => n.acked)} of ${sum((n) => n.sent)} acknowledged`;
  if (r.proto !== 'tcp') return [msgs];
  const t = (f: (x: SimTcpSummary) => number) => sum((n) => (n.tcp ? f(n.tcp) : 0));
  return [`${msgs}; tcp: ${t((x) => x.opened)} connections opened, ${t((x) => x.established)} established, ${t((x) => x.accepted)} accepted by their peers, ${t((x) => x.closedIdle)} closed idle, ${t((x) => x.failed)} failed, ${t((x) => x.retransmits)} retransmits, ${t((x) => x.rows)} rows in the tcp tables`];
}
