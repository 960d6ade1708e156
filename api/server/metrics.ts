// GET /metrics's body: a `stats` answer (the API server's counters and the stack's report) in Prometheus's text
// exposition format 0.0.4. Written by hand, not with prom-client: prom-client keeps live metric objects in a
// registry of this process, while our counters are a snapshot gathered from other threads (each actor's, the
// primary's, git's) at scrape time. Rendering that snapshot is a pure function, with no registry to keep in step.
// Names follow node_exporter's conventions: a `netbranch_` prefix, `_total` on counters, units in the name.
// docs/operations.md#metrics lists the families and where each comes from.
import type { ActorReport, FailoverReport, Histogram, PeerSyncReport, StackReport, StatsResult } from '../protocol.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type MetricType = 'counter' | 'gauge' | 'histogram' | 'untyped';
type Labels = Readonly<Record<string, string>>;

/** Every family /metrics may hold: its type and HELP text (each written here once). */
export const METRIC_FAMILIES = {
  netbranch_stack_report_ok: ['gauge', '1 when the stack answered this scrape with its report, 0 when only the API server\'s own counters are here'],
  netbranch_info: ['gauge', 'Always 1; the role label says what serves this endpoint (router, host, sim)'],
  netbranch_uptime_seconds: ['gauge', 'Seconds since the process started'],
  netbranch_primary_head: ['gauge', 'Sequence number of the primary branch\'s head commit'],
  netbranch_table_entries: ['gauge', 'Entries in a table of the primary (as node_nf_conntrack_entries)'],
  netbranch_table_entries_limit: ['gauge', 'Most entries a table may hold, where it has a limit (nat: max flows per actor times packet actors)'],
  netbranch_store_commits_total: ['counter', 'Commits made on the primary'],
  netbranch_store_merges_total: ['counter', 'Merges of actor branches into the primary'],
  netbranch_store_fast_forwards_total: ['counter', 'Merges into the primary that were fast-forwards'],
  netbranch_store_conflicts_total: ['counter', 'Conflicts the primary\'s merges settled by the tables\' rules'],
  netbranch_store_released_commits_total: ['counter', 'Old commits released from the primary\'s retained history'],
  netbranch_store_rejected_deltas_total: ['counter', 'Actor deltas the primary refused'],
  netbranch_store_watch_errors_total: ['counter', 'Errors thrown by watchers of the primary'],
  netbranch_store_retained_commits: ['gauge', 'Commits the primary keeps in its history'],
  netbranch_merge_conflicts_total: ['counter', 'Conflicts settled while merging actor deltas into the primary, by table (each settles by its own rule)'],
  netbranch_merge_duration_seconds: ['histogram', 'Time to merge one actor\'s delta into the primary'],
  netbranch_supervisor_deltas_total: ['counter', 'Actor deltas the supervisor merged into the primary'],
  netbranch_supervisor_rejected_deltas_total: ['counter', 'Actor deltas the supervisor rejected'],
  netbranch_supervisor_crashes_total: ['counter', 'Actor threads that died after they were ready'],
  netbranch_supervisor_restarts_total: ['counter', 'Actor restarts, all actors'],
  netbranch_supervisor_startup_failures_total: ['counter', 'Actor incarnations that died before they were ready'],
  netbranch_supervisor_given_up_total: ['counter', 'Actors no longer restarted because they kept failing at start-up'],
  netbranch_actor_up: ['gauge', '1 when the actor answered this scrape\'s stats call, 0 when it is down or did not answer in time'],
  netbranch_actor_info: ['gauge', 'Always 1; the kind label says what the actor does'],
  netbranch_actor_restarts_total: ['counter', 'Restarts of an actor (crashes and start-up retries)'],
  netbranch_actor_incarnation: ['gauge', 'Which incarnation of the actor is running (1 until its first restart)'],
  netbranch_replica_base_commit: ['gauge', 'The primary commit the actor\'s replica is based on'],
  netbranch_replica_lag_commits: ['gauge', 'Commits the actor\'s replica is behind the primary (head minus base)'],
  netbranch_replica_pending_edits: ['gauge', 'Edits the actor made that the primary has not merged yet'],
  netbranch_replica_pushes_total: ['counter', 'Deltas the actor pushed to the primary'],
  netbranch_replica_heads_total: ['counter', 'Head deltas the actor took from the primary'],
  netbranch_replica_conflicts_total: ['counter', 'Conflicts the actor\'s replica settled when rebasing on the primary'],
  netbranch_replica_rejected_total: ['counter', 'Deltas of the actor the primary rejected'],
  netbranch_replica_resyncs_total: ['counter', 'Fresh snapshots the actor\'s replica needed'],
  netbranch_frames_received_total: ['counter', 'Frames an actor took in from a network (a packet actor: off its TAP queue or ring; the dispatcher: off the link)'],
  netbranch_frames_transmitted_total: ['counter', 'Frames an actor sent on a network'],
  netbranch_frames_dropped_total: ['counter', 'Frames an actor dropped at its links, by reason'],
  netbranch_link_receive_bytes_total: ['counter', 'Bytes an actor received on a network'],
  netbranch_link_transmit_bytes_total: ['counter', 'Bytes an actor sent on a network'],
  netbranch_link_receive_gso_frames_total: ['counter', 'Frames received as GSO super-frames (queues with a virtio-net header)'],
  netbranch_link_receive_csum_partial_frames_total: ['counter', 'Frames received with a partial checksum (queues with a virtio-net header)'],
  netbranch_handoff_frames_total: ['counter', 'Frames passed between packet actors over hand-off rings (in, out, ARP replies copied)'],
  netbranch_router_packets_forwarded_total: ['counter', 'Packets the router forwarded, by direction'],
  netbranch_router_packets_dropped_total: ['counter', 'Packets the router dropped, by reason'],
  netbranch_nat_flows: ['gauge', 'Flows a packet actor holds live in memory'],
  netbranch_nat_inserts_total: ['counter', 'NAT flows made (masquerade: inside to outside; forward: by a port-forward rule)'],
  netbranch_nat_drops_total: ['counter', 'Packets NAT dropped, by reason (table_full, port_exhaustion, forward_clash: no flow could be made; no_binding: return traffic with no flow)'],
  netbranch_nat_packets_total: ['counter', 'Packets translated, by direction'],
  netbranch_nat_ports_preserved_total: ['counter', 'New flows that kept their inside port as the outside port'],
  netbranch_nat_remap_removed_total: ['counter', 'Flows removed because the outside address changed under them'],
  netbranch_expired_entries_total: ['counter', 'Entries removed because their time was up, by table'],
  netbranch_git_flushes_total: ['counter', 'Flushes of the primary to the git repository'],
  netbranch_git_flush_errors_total: ['counter', 'Flushes to the git repository that failed'],
  netbranch_git_last_flush_duration_seconds: ['gauge', 'How long the last flush to the git repository took'],
  netbranch_git_last_flush_changes: ['gauge', 'Entries the last flush wrote'],
  netbranch_git_backlog_changes: ['gauge', 'Changed entries waiting for the next flush'],
  netbranch_git_objects_written_total: ['counter', 'Git objects written'],
  netbranch_git_written_bytes_total: ['counter', 'Bytes of git objects written'],
  netbranch_git_edits_merged_total: ['counter', 'Edits made in the repository and merged into the primary'],
  netbranch_git_edit_entries_applied_total: ['counter', 'Entries those edits changed'],
  netbranch_git_edit_files_rejected_total: ['counter', 'Edited files refused (bad key or value)'],
  netbranch_git_edit_errors_total: ['counter', 'Edits that could not be read'],
  netbranch_git_squashed_commits_total: ['counter', 'Old git commits squashed'],
  netbranch_git_pruned_objects_total: ['counter', 'Unreachable git objects pruned'],
  netbranch_api_requests_total: ['counter', 'API requests answered, by op (socket and HTTP)'],
  netbranch_api_errors_total: ['counter', 'API errors answered, by code (refusals: unauthenticated, forbidden)'],
  netbranch_api_refused_total: ['counter', 'API requests refused for want of a token or scope'],
  netbranch_api_connections_total: ['counter', 'Socket API connections accepted'],
  netbranch_api_connections_open: ['gauge', 'Socket API connections open'],
  netbranch_api_socket_requests_total: ['counter', 'Requests read off socket API connections'],
  netbranch_api_connections_closed_total: ['counter', 'Socket API connections the server closed, by reason'],
  netbranch_api_writes_total: ['counter', 'API writes (set, delete)'],
  netbranch_api_watch_events_total: ['counter', 'Watch events sent'],
  netbranch_api_dropped_logs_total: ['counter', 'API log lines dropped by the rate limit'],
  netbranch_api_http_requests_total: ['counter', 'HTTP view requests'],
  netbranch_api_http_errors_total: ['counter', 'HTTP view error answers'],
  netbranch_peer_syncs_total: ['counter', 'Syncs with the peer routers through the git server that worked'],
  netbranch_peer_sync_errors_total: ['counter', 'Syncs with the peer routers that failed (the log says why)'],
  netbranch_peer_sync_failing: ['gauge', 'Syncs failed in a row (0: the last one worked); alert on it staying above 0'],
  netbranch_peer_sync_failures_total: ['counter', 'Pushes and fetches to the git server that failed, by reason (connect, http, timeout, rejected, other)'],
  netbranch_peer_sync_last_success_timestamp_seconds: ['gauge', 'When the last push or fetch to the git server worked, by op'],
  netbranch_peer_sync_bytes_total: ['counter', 'Bytes to and from the git server, by direction'],
  netbranch_peer_merges_total: ['counter', "Peers' heads merged into the primary"],
  netbranch_peer_entries_applied_total: ['counter', "Entries the peers' merges changed"],
  netbranch_peer_files_rejected_total: ['counter', "Files of a peer's branch refused (bad key or value)"],
  netbranch_peer_conflicts_total: ['counter', "Conflicts the peers' merges settled by the tables' rules"],
  netbranch_peer_lag_seconds: ['gauge', 'How far the primary is behind each peer router: time since its head as last listed was merged'],
  netbranch_peer_seen_timestamp_seconds: ['gauge', "When each peer router's branch was last listed by a fetch"],
  netbranch_vrrp_state: ['gauge', 'The failover state: 1 on the current one of initialize, backup, master'],
  netbranch_vrrp_priority: ['gauge', "This router's VRRP priority"],
  netbranch_vrrp_events_total: ['counter', 'VRRP advertisements, drops by reason and transitions, by event'],
  netbranch_actor_stat: ['untyped', 'Every other counter an actor reports, by its own name (component.counter; counts and levels alike)'],
  netbranch_stat: ['untyped', 'Every other counter of the store, the supervisor, git or the API server, by its own name'],
} as const satisfies Record<string, readonly [MetricType, string]>;

export type MetricName = keyof typeof METRIC_FAMILIES;

/** The families of one scrape, each written once with its HELP and TYPE, its samples together. */
class Exposition {
  private readonly families = new Map<MetricName, string[]>();

  sample(name: MetricName, value: number, labels: Labels = {}): void {
    this.lines(name).push(`${name}${labelText(labels)} ${num(value)}`);
  }

  /** A histogram in ms as Prometheus wants it in seconds: cumulative `_bucket`s, `+Inf` (the count), `_sum`, `_count`. */
  histogramMs(name: MetricName, h: Histogram): void {
    const lines = this.lines(name);
    for (const [le, count] of h.buckets) lines.push(`${name}_bucket${labelText({ le: num(le / 1000) })} ${num(count)}`);
    lines.push(`${name}_bucket{le="+Inf"} ${num(h.count)}`, `${name}_sum ${num(h.sum / 1000)}`, `${name}_count ${num(h.count)}`);
  }

  text(): string {
    let out = '';
    for (const [name, lines] of this.families) {
      const [type, help] = METRIC_FAMILIES[name];
      out += `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n${lines.join('\n')}\n`;
    }
    return out;
  }

  private lines(name: MetricName): string[] {
    let l = this.families.get(name);
    if (!l) this.families.set(name, (l = []));
    return l;
  }
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A sample value as the format writes it (Go's ParseFloat reads JavaScript's shortest form, exponents too). */
function num(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
}

/** A counter of a record with a family of its own: its key (after a prefix), the family, fixed labels. */
type Mapping = readonly [key: string, name: MetricName, labels?: Labels, scale?: number];

/** Samples for the mapped keys of `src` that are numbers, each key marked used. */
function mapped(x: Exposition, src: Readonly<Record<string, unknown>>, table: readonly Mapping[], labels: Labels, used: Set<string>, prefix = ''): void {
  for (const [key, name, more, scale] of table) {
    const v = src[prefix + key];
    used.add(prefix + key);
    if (typeof v === 'number') x.sample(name, scale === undefined ? v : v / scale, { ...labels, ...more });
  }
}

/** What no family took: under `name`, labelled with its own key. */
function others(x: Exposition, name: 'netbranch_actor_stat' | 'netbranch_stat', src: Readonly<Record<string, unknown>>, labels: Labels, used: Set<string>): void {
  for (const [k, v] of Object.entries(src)) if (!used.has(k) && typeof v === 'number') x.sample(name, v, { ...labels, stat: k });
}

// ------------------------------------------------------------------ the API server

const API: readonly Mapping[] = [
  ['connections', 'netbranch_api_connections_total'], ['open', 'netbranch_api_connections_open'],
  ['requests', 'netbranch_api_socket_requests_total'], ['refused', 'netbranch_api_refused_total'],
  ['oversized', 'netbranch_api_connections_closed_total', { reason: 'frame_too_large' }],
  ['timeouts', 'netbranch_api_connections_closed_total', { reason: 'timeout' }],
  ['slowConsumers', 'netbranch_api_connections_closed_total', { reason: 'slow_consumer' }],
  ['tooManyConnections', 'netbranch_api_connections_closed_total', { reason: 'too_many_connections' }],
  ['writes', 'netbranch_api_writes_total'], ['events', 'netbranch_api_watch_events_total'], ['droppedLogs', 'netbranch_api_dropped_logs_total'],
];
/** Summed in errors by code (errors) or there as bad-frame (badFrames): not a family again. */
const API_IN_CODES = ['errors', 'badFrames'];

function apiMetrics(x: Exposition, stats: StatsResult): void {
  for (const [op, n] of Object.entries(stats.requestsByOp)) x.sample('netbranch_api_requests_total', n, { op });
  for (const [code, n] of Object.entries(stats.errorsByCode)) x.sample('netbranch_api_errors_total', n, { code });
  const used = new Set(['requestsByOp', 'errorsByCode', 'stack', ...API_IN_CODES]);
  mapped(x, stats, API, {}, used);
  others(x, 'netbranch_stat', stats, { source: 'api' }, used);
}

// ------------------------------------------------------------------ the primary, the store, the supervisor, git

const STORE: readonly Mapping[] = [
  ['commits', 'netbranch_store_commits_total'], ['merges', 'netbranch_store_merges_total'], ['fastForwards', 'netbranch_store_fast_forwards_total'],
  ['conflicts', 'netbranch_store_conflicts_total'], ['released', 'netbranch_store_released_commits_total'],
  ['rejectedDeltas', 'netbranch_store_rejected_deltas_total'], ['watchErrors', 'netbranch_store_watch_errors_total'],
  ['retainedCommits', 'netbranch_store_retained_commits'],
];
const SUPERVISOR: readonly Mapping[] = [
  ['deltas', 'netbranch_supervisor_deltas_total'], ['rejected', 'netbranch_supervisor_rejected_deltas_total'],
  ['crashes', 'netbranch_supervisor_crashes_total'], ['restarts', 'netbranch_supervisor_restarts_total'],
  ['startupFailures', 'netbranch_supervisor_startup_failures_total'], ['givenUp', 'netbranch_supervisor_given_up_total'],
];
const GIT: readonly Mapping[] = [
  ['flushes', 'netbranch_git_flushes_total'], ['flushErrors', 'netbranch_git_flush_errors_total'],
  ['lastFlushMs', 'netbranch_git_last_flush_duration_seconds', {}, 1000], ['lastFlushChanges', 'netbranch_git_last_flush_changes'],
  ['backlog', 'netbranch_git_backlog_changes'], ['objectsWritten', 'netbranch_git_objects_written_total'], ['bytesWritten', 'netbranch_git_written_bytes_total'],
  ['editsMerged', 'netbranch_git_edits_merged_total'], ['editEntriesApplied', 'netbranch_git_edit_entries_applied_total'],
  ['editFilesRejected', 'netbranch_git_edit_files_rejected_total'], ['editErrors', 'netbranch_git_edit_errors_total'],
  ['squashedCommits', 'netbranch_git_squashed_commits_total'], ['prunedObjects', 'netbranch_git_pruned_objects_total'],
  ['peerSyncs', 'netbranch_peer_syncs_total'], ['peerSyncErrors', 'netbranch_peer_sync_errors_total'], ['peerMerges', 'netbranch_peer_merges_total'],
  ['peerEntriesApplied', 'netbranch_peer_entries_applied_total'], ['peerFilesRejected', 'netbranch_peer_files_rejected_total'],
  ['peerConflicts', 'netbranch_peer_conflicts_total'],
];

/** The sync with the peers (--peer): failures by reason, the last successes, each peer's lag. */
function peerMetrics(x: Exposition, p: PeerSyncReport): void {
  x.sample('netbranch_peer_sync_failing', p.failingFor);
  for (const [reason, n] of Object.entries(p.failures)) x.sample('netbranch_peer_sync_failures_total', n, { reason });
  x.sample('netbranch_peer_sync_last_success_timestamp_seconds', p.lastPushAt / 1000, { op: 'push' });
  x.sample('netbranch_peer_sync_last_success_timestamp_seconds', p.lastFetchAt / 1000, { op: 'fetch' });
  x.sample('netbranch_peer_sync_bytes_total', p.bytesSent, { direction: 'sent' });
  x.sample('netbranch_peer_sync_bytes_total', p.bytesReceived, { direction: 'received' });
  for (const peer of p.peers) {
    if (peer.lagMs >= 0) x.sample('netbranch_peer_lag_seconds', peer.lagMs / 1000, { peer: peer.name });
    x.sample('netbranch_peer_seen_timestamp_seconds', peer.seenAt / 1000, { peer: peer.name });
  }
}

/** VRRP failover (--vrrp): the state as one sample per state, the priority, the events. */
function failoverMetrics(x: Exposition, f: FailoverReport): void {
  for (const state of ['initialize', 'backup', 'master'] as const) x.sample('netbranch_vrrp_state', f.state === state ? 1 : 0, { vrid: String(f.vrid), state });
  x.sample('netbranch_vrrp_priority', f.priority, { vrid: String(f.vrid) });
  for (const [event, n] of Object.entries(f.counters)) x.sample('netbranch_vrrp_events_total', n, { vrid: String(f.vrid), event });
}

function primaryMetrics(x: Exposition, s: StackReport): void {
  x.sample('netbranch_info', 1, { role: s.role });
  x.sample('netbranch_uptime_seconds', s.uptimeS);
  x.sample('netbranch_primary_head', s.head);
  for (const t of s.tables) x.sample('netbranch_table_entries', t.entries, { table: t.name });
  for (const t of s.tables) if (t.limit !== undefined) x.sample('netbranch_table_entries_limit', t.limit, { table: t.name });
  for (const [src, table, source] of [[s.store, STORE, 'store'], [s.supervisor, SUPERVISOR, 'supervisor'], [s.git, GIT, 'git']] as const) {
    if (!src) continue;
    const used = new Set<string>();
    mapped(x, src, table, {}, used);
    others(x, 'netbranch_stat', src, { source }, used);
  }
  for (const [table, n] of Object.entries(s.conflictsByTable)) x.sample('netbranch_merge_conflicts_total', n, { table });
  x.histogramMs('netbranch_merge_duration_seconds', s.mergeMs);
  if (s.peers) peerMetrics(x, s.peers);
  if (s.failover) failoverMetrics(x, s.failover);
}

// ------------------------------------------------------------------ actors

const REPLICA: readonly Mapping[] = [
  ['incarnation', 'netbranch_actor_incarnation'], ['base', 'netbranch_replica_base_commit'], ['pendingEdits', 'netbranch_replica_pending_edits'],
  ['pushes', 'netbranch_replica_pushes_total'], ['heads', 'netbranch_replica_heads_total'], ['conflicts', 'netbranch_replica_conflicts_total'],
  ['rejected', 'netbranch_replica_rejected_total'], ['resyncs', 'netbranch_replica_resyncs_total'],
];
/** A packet actor's link on one network (`link.inside.rxFrames`): its TAP queue, or its ring to the dispatcher. */
const LINK: readonly Mapping[] = [
  ['rxFrames', 'netbranch_frames_received_total'], ['txFrames', 'netbranch_frames_transmitted_total'],
  ['rxBytes', 'netbranch_link_receive_bytes_total'], ['txBytes', 'netbranch_link_transmit_bytes_total'],
  ['rxDropped', 'netbranch_frames_dropped_total', { reason: 'receive' }], ['txDropped', 'netbranch_frames_dropped_total', { reason: 'transmit' }],
  ['errors', 'netbranch_frames_dropped_total', { reason: 'link_error' }],
  ['gsoRx', 'netbranch_link_receive_gso_frames_total'], ['csumPartialRx', 'netbranch_link_receive_csum_partial_frames_total'],
];
/** Queues mode: frames on the hand-off rings between packet actors (`handoff.inside.handedOut`). */
const HANDOFF: readonly Mapping[] = [
  ['handedOut', 'netbranch_handoff_frames_total', { direction: 'out' }], ['handedIn', 'netbranch_handoff_frames_total', { direction: 'in' }],
  ['arpCopies', 'netbranch_handoff_frames_total', { direction: 'arp_copy' }], ['handoffDropped', 'netbranch_frames_dropped_total', { reason: 'handoff_refused' }],
];
/** The main thread's dispatcher on one network (`inside.ringFull`); what it read off the link is the sum of its outcomes. */
const DISPATCHER: readonly Mapping[] = [
  ['fromActors', 'netbranch_frames_transmitted_total'],
  ['noActor', 'netbranch_frames_dropped_total', { reason: 'no_actor' }], ['ringFull', 'netbranch_frames_dropped_total', { reason: 'ring_full' }],
];
const ROUTER: readonly Mapping[] = [
  ['forwardedOut', 'netbranch_router_packets_forwarded_total', { direction: 'outbound' }],
  ['forwardedIn', 'netbranch_router_packets_forwarded_total', { direction: 'inbound' }],
  ...([['malformed', 'malformed'], ['badChecksum', 'bad_checksum'], ['ttlExceeded', 'ttl_exceeded'], ['noRoute', 'no_route'], ['unsupported', 'unsupported'],
    ['unsolicited', 'unsolicited'], ['notForUs', 'not_for_us'], ['noOutsideAddress', 'no_outside_address'], ['broadcastDropped', 'broadcast'],
    ['insideUnreachable', 'inside_unreachable'], ['backupDropped', 'backup'], ['backupUnsent', 'backup_unsent'], ['vrrpMalformed', 'vrrp_malformed'], ['vrrpBadChecksum', 'vrrp_bad_checksum']] as const).map(([k, reason]): Mapping => [k, 'netbranch_router_packets_dropped_total', { reason }]),
];
/** nat-engine.ts's counters. Linux's insert_failed and early_drop have no counterpart: see docs/operations.md#metrics. */
const NAT: readonly Mapping[] = [
  ['nat.flows', 'netbranch_nat_flows'],
  ['nat.forwardCreated', 'netbranch_nat_inserts_total', { kind: 'forward' }],
  ['nat.tableFull', 'netbranch_nat_drops_total', { reason: 'table_full' }], ['nat.portsExhausted', 'netbranch_nat_drops_total', { reason: 'port_exhaustion' }],
  ['nat.forwardClash', 'netbranch_nat_drops_total', { reason: 'forward_clash' }], ['nat.noBinding', 'netbranch_nat_drops_total', { reason: 'no_binding' }],
  ['nat.outbound', 'netbranch_nat_packets_total', { direction: 'outbound' }], ['nat.inbound', 'netbranch_nat_packets_total', { direction: 'inbound' }],
  ['nat.preserved', 'netbranch_nat_ports_preserved_total'], ['nat.remapExpired', 'netbranch_nat_remap_removed_total'],
  ['nat.expired', 'netbranch_expired_entries_total', { table: 'nat' }],
];
/** The expiry actor's counters. */
const EXPIRY: readonly Mapping[] = [
  ['natExpired', 'netbranch_expired_entries_total', { table: 'nat' }], ['arpExpired', 'netbranch_expired_entries_total', { table: 'arp' }],
  ['fragExpired', 'netbranch_expired_entries_total', { table: 'frag' }],
];
/** The lookup actor's own: its server's counters are the API's, already above. */
const LOOKUP: readonly Mapping[] = [['httpRequests', 'netbranch_api_http_requests_total'], ['httpErrors', 'netbranch_api_http_errors_total']];

/** The networks an actor's counters name: `link.NET.rxFrames` → NET (or `NET.dispatched` for the dispatcher). */
function networks(counters: Readonly<Record<string, number>>, pattern: RegExp): string[] {
  return Object.keys(counters).flatMap((k) => pattern.exec(k)?.[1] ?? []);
}

function frameMetrics(x: Exposition, a: ActorReport, used: Set<string>): void {
  const c = a.counters;
  for (const link of networks(c, /^link\.([^.]+)\.rxFrames$/)) mapped(x, c, LINK, { actor: a.name, link }, used, `link.${link}.`);
  for (const link of networks(c, /^handoff\.([^.]+)\.handedOut$/)) mapped(x, c, HANDOFF, { actor: a.name, link }, used, `handoff.${link}.`);
  if (a.kind !== 'dispatcher') return;
  for (const link of networks(c, /^([^.]+)\.dispatched$/)) {
    const p = `${link}.`;
    x.sample('netbranch_frames_received_total', (c[`${p}dispatched`] ?? 0) + (c[`${p}noActor`] ?? 0) + (c[`${p}ringFull`] ?? 0), { actor: a.name, link });
    used.add(`${p}dispatched`);
    mapped(x, c, DISPATCHER, { actor: a.name, link }, used, p);
  }
}

function actorMetrics(x: Exposition, a: ActorReport, head: number, apiKeys: readonly string[]): void {
  const labels = { actor: a.name };
  const c = a.counters;
  const used = new Set<string>();
  x.sample('netbranch_actor_info', 1, { actor: a.name, kind: a.kind });
  if (a.kind !== 'dispatcher') {
    mapped(x, a as unknown as Record<string, unknown>, REPLICA, labels, new Set());
    x.sample('netbranch_replica_lag_commits', Math.max(0, head - a.base), labels);
  }
  frameMetrics(x, a, used);
  if (a.kind === 'packet' && 'forwardedOut' in c) {
    mapped(x, c, ROUTER, labels, used);
    mapped(x, c, NAT, labels, used);
    // Every flow made counts in `created`, forwarded ones in `forwardCreated` too.
    if (typeof c['nat.created'] === 'number') x.sample('netbranch_nat_inserts_total', c['nat.created'] - (c['nat.forwardCreated'] ?? 0), { ...labels, kind: 'masquerade' });
    used.add('nat.created');
  }
  if (a.kind === 'router-expiry') mapped(x, c, EXPIRY, labels, used);
  if (a.kind === 'lookup') {
    mapped(x, c, LOOKUP, {}, used);
    for (const k of apiKeys) used.add(k);
  }
  others(x, 'netbranch_actor_stat', c, labels, used);
}

function stackMetrics(x: Exposition, s: StackReport, apiKeys: readonly string[]): void {
  primaryMetrics(x, s);
  const reported = new Set(s.actors.map((a) => a.name));
  for (const a of s.actors) x.sample('netbranch_actor_up', 1, { actor: a.name });
  for (const name of Object.keys(s.restarts)) if (!reported.has(name)) x.sample('netbranch_actor_up', 0, { actor: name });
  for (const [actor, n] of Object.entries(s.restarts)) x.sample('netbranch_actor_restarts_total', n, { actor });
  for (const a of s.actors) actorMetrics(x, a, s.head, apiKeys);
}

/** The text /metrics answers: the API server's counters, then the stack's report when there is one. */
export function renderMetrics(stats: StatsResult): string {
  const x = new Exposition();
  x.sample('netbranch_stack_report_ok', stats.stack ? 1 : 0);
  apiMetrics(x, stats);
  if (stats.stack) stackMetrics(x, stats.stack, Object.keys(stats).filter((k) => typeof stats[k] === 'number'));
  return x.text();
}
