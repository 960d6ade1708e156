// The stack's report (api/protocol.ts StackReport) as a table people read: `netbranch stats` prints it, and
// the router's SIGUSR1 prints the same lines on stderr. Pure: a report (and the API server's own counters,
// when the caller has them) in, lines out. The counter names are the ones the actors emit (router-worker.ts,
// packet-worker.ts, router-actors.ts's dispatcher line, nat-engine.ts, wire/link/link.ts).
import type { ActorReport, StackReport, StatsResult } from '../api/protocol.js';
import { quantile } from '../actors/runtime/histogram.js';
import { formatDuration, formatRelative } from './time-format.js';

/** The API server's own counters: `stats` without the stack's report. */
export type ServerStats = Pick<StatsResult, 'requestsByOp' | 'errorsByCode'> & Record<string, unknown>;

/** Counters (by their last name segment) that add up to an actor's frames: links (TAP queue, ring), a host's stack, the dispatcher. */
const FRAMES_IN = new Set(['rxFrames', 'dispatched']);
const FRAMES_OUT = new Set(['txFrames', 'fromActors']);
/** Frames lost on the way: a ring or queue full, a hand-off refused, a frame no actor owns. */
const FRAMES_DROPPED = new Set(['rxDropped', 'txDropped', 'handoffDropped', 'ringFull', 'noActor']);

/** The NAT columns: nat-engine.ts's counters (the expiry actor counts its removals as `natExpired`). */
const NAT_COLUMNS: [header: string, counters: string[]][] = [
  ['flows', ['nat.flows']],
  ['inserts', ['nat.created']],
  ['forwarded', ['nat.forwardCreated']],
  ['expired', ['nat.expired', 'natExpired']],
  ['table full', ['nat.tableFull']],
  ['no port', ['nat.portsExhausted']],
  ['no binding', ['nat.noBinding']],
  ['forward clash', ['nat.forwardClash']],
];

/** Rows as aligned columns two spaces apart, indented: the first `left` (names) left-aligned, the numbers after them right-aligned. */
export function formatColumns(header: string[], rows: string[][], left = 1, indent = '  '): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => indent + cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The sum of an actor's counters whose last name segment is in `names`; undefined when it has none of them. */
function sumBySuffix(counters: Record<string, number>, names: ReadonlySet<string>): number | undefined {
  let sum: number | undefined;
  for (const [k, v] of Object.entries(counters)) {
    if (names.has(k.slice(k.lastIndexOf('.') + 1)) && typeof v === 'number') sum = (sum ?? 0) + v;
  }
  return sum;
}

const cell = (n: number | undefined): string => (n === undefined ? '-' : String(n));

/** `nat 2, arp 1`, or `none`, largest first. */
function byCount(counts: Record<string, number> | undefined): string {
  const parts = Object.entries(counts ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
  return parts.length ? parts.join(', ') : 'none';
}

/** A duration in ms with two significant digits below 10 (merges take tens of µs). */
function ms(v: number): string {
  return v < 10 ? `${Number(v.toPrecision(2))} ms` : `${Math.round(v)} ms`;
}

function tableLines(r: StackReport): string[] {
  const rows = r.tables.map((t) => [t.name, String(t.entries), cell(t.limit), t.limit ? `${((100 * t.entries) / t.limit).toFixed(1)}%` : '']);
  return ['Tables', ...formatColumns(['table', 'entries', 'limit', 'used'], rows)];
}

function actorLines(r: StackReport): string[] {
  const rows = r.actors.map((a) => [
    a.name, a.kind, String(a.incarnation),
    cell(sumBySuffix(a.counters, FRAMES_IN)), cell(sumBySuffix(a.counters, FRAMES_OUT)), cell(sumBySuffix(a.counters, FRAMES_DROPPED)),
    String(a.pushes), String(a.conflicts), String(a.rejected), String(a.resyncs), String(r.restarts[a.name] ?? 0),
  ]);
  const header = ['actor', 'kind', 'inc', 'frames in', 'frames out', 'dropped', 'pushes', 'conflicts', 'rejected', 'resyncs', 'restarts'];
  return ['Actors (pushes: deltas merged into the primary)', ...formatColumns(header, rows, 2)];
}

/** One actor's NAT columns, or null when it counts none of them. */
function natRow(a: ActorReport): number[] | null {
  const cols = NAT_COLUMNS.map(([, names]) => names.reduce<number | undefined>((s, n) => (a.counters[n] === undefined ? s : (s ?? 0) + a.counters[n]), undefined));
  return cols.every((c) => c === undefined) ? null : cols.map((c) => c ?? 0);
}

function natLines(r: StackReport): string[] {
  const rows = r.actors.flatMap((a) => { const n = natRow(a); return n ? [{ name: a.name, n }] : []; });
  if (!rows.length) return [];
  const shown = rows.map((x) => [x.name, ...x.n.map(String)]);
  if (rows.length > 1) shown.push(['total', ...NAT_COLUMNS.map((_, i) => String(rows.reduce((s, x) => s + x.n[i], 0)))]);
  return ['NAT (drops: table full, no port, no binding for return traffic, forward clash)', ...formatColumns(['actor', ...NAT_COLUMNS.map(([h]) => h)], shown)];
}

function mergeLines(r: StackReport): string[] {
  const s = r.store;
  const h = r.mergeMs;
  const p50 = quantile(h, 0.5), p99 = quantile(h, 0.99);
  const duration = h.count === 0 || p50 === undefined || p99 === undefined ? 'no merges timed yet'
    : `p50 ${ms(p50)}, p99 ${ms(p99)}, mean ${ms(h.sum / h.count)} over ${h.count} merges`;
  const sup = r.supervisor;
  return [
    `Merges: ${s.merges ?? 0} merges, ${s.fastForwards ?? 0} fast-forwards, ${s.commits ?? 0} commits, ${s.rejectedDeltas ?? 0} deltas rejected, ${s.released ?? 0} commits released`,
    `Merge duration: ${duration} (estimated from the histogram's buckets)`,
    `Conflicts settled: ${byCount(r.conflictsByTable)}`,
    `Supervisor: ${sup.deltas ?? 0} deltas, ${sup.crashes ?? 0} crashes, ${sup.restarts ?? 0} restarts, ${sup.startupFailures ?? 0} start-up failures, ${sup.givenUp ?? 0} given up`,
    `Restarts: ${byCount(r.restarts)}`,
  ];
}

function gitLines(r: StackReport): string[] {
  const g = r.git;
  if (g === undefined) return [];
  return [`Git: ${g.flushes ?? 0} flushes (${g.flushErrors ?? 0} failed), the last ${g.lastFlushMs ?? 0} ms for ${g.lastFlushChanges ?? 0} entries, backlog ${g.backlog ?? 0} entries; `
    + `${g.editsMerged ?? 0} edits merged (${g.editFilesRejected ?? 0} files rejected)`];
}

/** The pair (docs/ha.md): the sync with the peers through the git server, loud when it fails; the failover state. */
function pairLines(r: StackReport): string[] {
  const lines: string[] = [];
  const p = r.peers;
  if (p) {
    const when = (t: number) => (t === 0 ? 'never' : formatRelative(t, r.now));
    const failures = Object.entries(p.failures).filter(([, n]) => n > 0);
    lines.push(p.failingFor > 0
      ? `PEER SYNC FAILING: the last ${p.failingFor} syncs with ${p.url} failed (${p.lastError ?? 'no message'}); the tables are not being shared`
      : `Peers: synced through ${p.url} as ${p.branch}`);
    lines.push(`  last push ${when(p.lastPushAt)}, last fetch ${when(p.lastFetchAt)}; ${p.bytesSent} bytes sent, ${p.bytesReceived} received; `
      + `failures: ${failures.length ? failures.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`);
    const g = r.git ?? {};
    lines.push(`  ${g.peerMerges ?? 0} peer merges, ${g.peerEntriesApplied ?? 0} entries applied, ${g.peerConflicts ?? 0} conflicts settled by rule, ${g.peerFilesRejected ?? 0} files rejected`);
    if (p.peers.length) lines.push(...formatColumns(['peer', 'head', 'lag', 'last seen'], p.peers.map((x) => [x.name, x.head.slice(0, 12), x.lagMs < 0 ? 'not merged yet' : `${x.lagMs} ms`, when(x.seenAt)]), 4));
    else lines.push('  no peer has pushed yet');
  }
  const f = r.failover;
  if (f) {
    const c = f.counters;
    lines.push(`Failover: VRRP ${f.vrid} priority ${f.priority}, ${f.state.toUpperCase()} since ${formatRelative(f.since, r.now)}; `
      + Object.entries(c).map(([k, n]) => `${k} ${n}`).join(', '));
  }
  return lines;
}

/** The API server's line: requests by op, refusals by code, connections. */
export function formatServerStats(s: ServerStats): string[] {
  const n = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : 0);
  return [
    `API: ${n('requests')} requests (${byCount(s.requestsByOp)}), ${n('errors')} errors (${byCount(s.errorsByCode)}), ${n('refused')} refused`,
    `API connections: ${n('open')} open, ${n('connections')} since start; ${n('events')} watch events sent, ${n('slowConsumers')} slow consumers dropped`,
  ];
}

/** The whole report as lines: a header, tables, actors, NAT, merges, git, and the API server's counters if given. */
export function formatStats(report: StackReport, server?: ServerStats): string[] {
  const head = `${report.role}: up ${formatDuration(report.uptimeS)}, head commit #${report.head}, ${report.actors.length} actors`;
  const sections = [tableLines(report), actorLines(report), natLines(report), [...mergeLines(report), ...gitLines(report)], pairLines(report), server ? formatServerStats(server) : []];
  return [head, ...sections.filter((s) => s.length).flatMap((s) => ['', ...s])];
}
