// GET /metrics: the stats answer rendered in Prometheus's text format (api/server/metrics.ts), read back with a strict
// parser of the format (test/support/prom-text.ts); then scraped from a router on worker threads over real HTTP.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActorReport, StatsResult } from '../api/protocol.js';
import { METRIC_FAMILIES, METRICS_CONTENT_TYPE, renderMetrics } from '../api/server/metrics.js';
import { BucketHistogram } from '../actors/runtime/histogram.js';
import { parsePromText, PromTextError, samplesOf, valueOf, type PromFamily } from './support/prom-text.js';
import { rig, waitFor } from './support/router-rig.js';
import { freePort } from './support/free-port.js';

function link(side: string, rx: number, tx: number, drops = 0): Record<string, number> {
  return { [`link.${side}.rxFrames`]: rx, [`link.${side}.rxBytes`]: rx * 60, [`link.${side}.txFrames`]: tx, [`link.${side}.txBytes`]: tx * 60,
    [`link.${side}.rxDropped`]: drops, [`link.${side}.txDropped`]: 0, [`link.${side}.errors`]: 0 };
}

function actor(name: string, kind: string, base: number, counters: Record<string, number>): ActorReport {
  return { name, kind, incarnation: 1, base, pendingEdits: 2, pushes: 40, heads: 39, conflicts: 1, rejected: 0, resyncs: 0, counters };
}

function packet(name: string, base: number, created: number): ActorReport {
  return actor(name, 'packet', base, {
    rxInside: 100, rxOutside: 90, forwardedOut: 95, forwardedIn: 88, malformed: 1, badChecksum: 2, ttlExceeded: 0, noRoute: 0, unsupported: 3,
    unsolicited: 4, notForUs: 0, noOutsideAddress: 0, broadcastDropped: 0, insideUnreachable: 0, dnatNoRule: 1, echoAnswered: 5,
    'nat.created': created, 'nat.forwardCreated': 2, 'nat.tableFull': 7, 'nat.portsExhausted': 1, 'nat.forwardClash': 1, 'nat.noBinding': 3,
    'nat.outbound': 95, 'nat.inbound': 88, 'nat.preserved': created - 3, 'nat.remapExpired': 0, 'nat.expired': 0, 'nat.flows': 12,
    'icmp.sent': 1, 'reasm.pending': 0, ...link('inside', 100, 88), ...link('outside', 90, 95, 1),
    'handoff.inside.handedOut': 4, 'handoff.inside.handedIn': 3, 'handoff.inside.arpCopies': 1, 'handoff.inside.handoffDropped': 1,
    'merge.turns': 50,
  });
}

/** A router's stats as the lookup actor answers them: two packet actors, expiry, lookup, the dispatcher, git, a down actor. */
function routerStats(): StatsResult {
  const h = new BucketHistogram();
  for (const ms of [0.03, 0.07, 0.2, 0.2, 0.9, 3, 400]) h.record(ms);
  return {
    connections: 3, open: 1, requests: 20, errors: 2, refused: 1, badFrames: 1, oversized: 0, timeouts: 0, slowConsumers: 0, tooManyConnections: 0,
    writes: 0, events: 7, droppedLogs: 0,
    requestsByOp: { stats: 5, list: 14, get: 1 }, errorsByCode: { unauthenticated: 1, 'bad-frame': 1 },
    stack: {
      role: 'router', now: 1_700_000_000_000, uptimeS: 42, head: 120,
      tables: [{ name: 'arp', entries: 3 }, { name: 'nat', entries: 30, limit: 131_072 }, { name: 'dnat', entries: 0 }],
      actors: [
        packet('packet-0', 118, 20), packet('packet-1', 120, 12),
        actor('expiry', 'router-expiry', 119, { ticks: 40, arpExpired: 1, natExpired: 5, fragExpired: 0 }),
        actor('lookup', 'lookup', 117, { connections: 3, open: 1, requests: 20, errors: 2, httpRequests: 9, httpErrors: 1, 'merge.turns': 9 }),
        { ...actor('dispatcher', 'dispatcher', 0, { 'inside.dispatched': 190, 'inside.noActor': 2, 'inside.ringFull': 1, 'inside.fromActors': 180,
          'outside.dispatched': 180, 'outside.noActor': 0, 'outside.ringFull': 0, 'outside.fromActors': 183 }), pushes: 0, heads: 0 },
      ],
      restarts: { 'packet-0': 0, 'packet-1': 1, expiry: 0, lookup: 0, 'dns "odd" \\ name\nhere': 2 },
      supervisor: { crashes: 1, restarts: 1, deltas: 80, rejected: 0, startupFailures: 0, givenUp: 0 },
      store: { commits: 5, merges: 70, fastForwards: 10, conflicts: 2, released: 0, watchErrors: 0, rejectedDeltas: 0, retainedCommits: 120 },
      conflictsByTable: { nat: 2 },
      mergeMs: h.snapshot(),
      git: { flushes: 4, flushErrors: 1, lastFlushMs: 137, lastFlushChanges: 30, backlog: 12, objectsWritten: 90, bytesWritten: 9000,
        editsMerged: 0, editEntriesApplied: 0, editFilesRejected: 0, editErrors: 0, squashedCommits: 0, prunedObjects: 0,
        peerSyncs: 30, peerSyncErrors: 4, peerMerges: 12, peerEntriesApplied: 340, peerFilesRejected: 3, peerConflicts: 2 },
      peers: {
        url: 'http://10.0.9.1:8418/tables.git', branch: 'routers/a', failingFor: 4, lastPushAt: 1_699_999_990_000, lastFetchAt: 1_699_999_995_000,
        lastError: 'fetch http://10.0.9.1:8418/tables.git: connect ECONNREFUSED', failures: { connect: 4, http: 0, timeout: 1, rejected: 0, other: 0 },
        bytesSent: 52_000, bytesReceived: 8_000, peers: [{ name: 'b', head: 'f'.repeat(40), seenAt: 1_699_999_995_000, lagMs: 5_000 }, { name: 'c', head: 'e'.repeat(40), seenAt: 1_699_999_999_000, lagMs: -1 }],
      },
      failover: { vrid: 7, priority: 200, state: 'master', since: 1_699_999_960_000, counters: { received: 4, becameMaster: 1, becameBackup: 1, advertsSent: 40, samePriority: 0 } },
    },
  };
}

const text = renderMetrics(routerStats());
const fams = parsePromText(text);

describe('the text format of a stack report', () => {
  test('every family once, with HELP and TYPE as METRIC_FAMILIES says, and nothing outside it', () => {
    assert.ok(fams.size > 40, `${fams.size} families`);
    for (const f of fams.values()) {
      const known = METRIC_FAMILIES[f.name as keyof typeof METRIC_FAMILIES];
      assert.ok(known, `${f.name} is listed`);
      assert.equal(f.type, known[0], f.name);
      assert.equal(f.help, known[1], f.name);
      assert.ok(f.samples.length > 0, `${f.name} has samples`);
      if (f.type === 'counter') assert.match(f.name, /_total$/, 'counters end in _total');
      else assert.doesNotMatch(f.name, /_total$/, `${f.name} is no counter`);
    }
    // Names after node_exporter: a prefix and units.
    for (const name of fams.keys()) assert.match(name, /^netbranch_[a-z0-9_]+$/);
    assert.equal(text.split('\n').filter((l) => l.startsWith('# TYPE netbranch_table_entries ')).length, 1);
  });

  test('the pair: sync failing, failures by reason, last successes, lag per peer, merges; the VRRP state one-hot', () => {
    assert.equal(valueOf(fams, 'netbranch_peer_sync_failing', {}), 4);
    assert.deepEqual(samplesOf(fams, 'netbranch_peer_sync_failures_total').map((x) => [x.labels.reason, x.value]), [['connect', 4], ['http', 0], ['timeout', 1], ['rejected', 0], ['other', 0]]);
    assert.equal(valueOf(fams, 'netbranch_peer_sync_last_success_timestamp_seconds', { op: 'fetch' }), 1_699_999_995);
    assert.deepEqual(samplesOf(fams, 'netbranch_peer_lag_seconds').map((x) => [x.labels.peer, x.value]), [['b', 5]], 'a peer not merged yet has no lag');
    assert.equal(valueOf(fams, 'netbranch_peer_seen_timestamp_seconds', { peer: 'c' }), 1_699_999_999);
    assert.equal(valueOf(fams, 'netbranch_peer_sync_bytes_total', { direction: 'sent' }), 52_000);
    assert.equal(valueOf(fams, 'netbranch_peer_merges_total', {}), 12);
    assert.equal(valueOf(fams, 'netbranch_peer_conflicts_total', {}), 2);
    assert.equal(valueOf(fams, 'netbranch_peer_files_rejected_total', {}), 3);
    assert.deepEqual(samplesOf(fams, 'netbranch_vrrp_state').map((x) => [x.labels.state, x.value]), [['initialize', 0], ['backup', 0], ['master', 1]]);
    assert.equal(valueOf(fams, 'netbranch_vrrp_priority', { vrid: '7' }), 200);
    assert.equal(valueOf(fams, 'netbranch_vrrp_events_total', { vrid: '7', event: 'advertsSent' }), 40);
  });

  test('tables: entries for each, a limit where there is one (as node_nf_conntrack_entries and _limit)', () => {
    assert.deepEqual(samplesOf(fams, 'netbranch_table_entries').map((s) => [s.labels.table, s.value]), [['arp', 3], ['nat', 30], ['dnat', 0]]);
    assert.deepEqual(samplesOf(fams, 'netbranch_table_entries_limit').map((s) => [s.labels.table, s.value]), [['nat', 131_072]]);
  });

  test('NAT inserts by kind and drops by reason, per actor', () => {
    assert.equal(valueOf(fams, 'netbranch_nat_inserts_total', { actor: 'packet-0', kind: 'masquerade' }), 18);
    assert.equal(valueOf(fams, 'netbranch_nat_inserts_total', { actor: 'packet-0', kind: 'forward' }), 2);
    const drops = samplesOf(fams, 'netbranch_nat_drops_total', { actor: 'packet-1' }).map((s) => [s.labels.reason, s.value]);
    assert.deepEqual(drops, [['table_full', 7], ['port_exhaustion', 1], ['forward_clash', 1], ['no_binding', 3]]);
    assert.equal(valueOf(fams, 'netbranch_expired_entries_total', { actor: 'expiry', table: 'nat' }), 5);
  });

  test('frames in, out and dropped per actor and network, the dispatcher included', () => {
    assert.equal(valueOf(fams, 'netbranch_frames_received_total', { actor: 'packet-0', link: 'inside' }), 100);
    assert.equal(valueOf(fams, 'netbranch_frames_transmitted_total', { actor: 'packet-0', link: 'outside' }), 95);
    assert.equal(valueOf(fams, 'netbranch_frames_dropped_total', { actor: 'packet-0', link: 'outside', reason: 'receive' }), 1);
    assert.equal(valueOf(fams, 'netbranch_frames_dropped_total', { actor: 'packet-0', link: 'inside', reason: 'handoff_refused' }), 1);
    assert.equal(valueOf(fams, 'netbranch_handoff_frames_total', { actor: 'packet-1', link: 'inside', direction: 'out' }), 4);
    // The dispatcher read 193 frames off the inside link: 190 passed on, 2 with no actor up, 1 to a full ring.
    assert.equal(valueOf(fams, 'netbranch_frames_received_total', { actor: 'dispatcher', link: 'inside' }), 193);
    assert.equal(valueOf(fams, 'netbranch_frames_dropped_total', { actor: 'dispatcher', link: 'inside', reason: 'ring_full' }), 1);
    assert.equal(valueOf(fams, 'netbranch_frames_transmitted_total', { actor: 'dispatcher', link: 'outside' }), 183);
  });

  test('replica lag is head − base per actor with a replica; the dispatcher has none', () => {
    assert.equal(valueOf(fams, 'netbranch_replica_lag_commits', { actor: 'packet-0' }), 2);
    assert.equal(valueOf(fams, 'netbranch_replica_lag_commits', { actor: 'packet-1' }), 0);
    assert.equal(valueOf(fams, 'netbranch_replica_lag_commits', { actor: 'lookup' }), 3);
    assert.equal(samplesOf(fams, 'netbranch_replica_lag_commits', { actor: 'dispatcher' }).length, 0);
    assert.equal(valueOf(fams, 'netbranch_primary_head'), 120);
  });

  test('the merge-duration histogram in seconds: cumulative buckets, +Inf equal to _count, _sum converted', () => {
    const f = fams.get('netbranch_merge_duration_seconds')!;
    assert.equal(f.type, 'histogram');
    const buckets = samplesOf(fams, 'netbranch_merge_duration_seconds', {}, 'netbranch_merge_duration_seconds_bucket');
    const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
    assert.deepEqual(les.slice(0, 3), [0.00005, 0.0001, 0.00025]);
    assert.equal(les.at(-1), Infinity);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(les[i] > les[i - 1], 'bounds ascend');
      assert.ok(buckets[i].value >= buckets[i - 1].value, 'counts never fall');
    }
    const count = samplesOf(fams, 'netbranch_merge_duration_seconds', {}, 'netbranch_merge_duration_seconds_count')[0].value;
    assert.equal(count, 7);
    assert.equal(buckets.at(-1)!.value, count, '+Inf is the count');
    assert.equal(buckets.at(-2)!.value, 6, 'the 400 ms merge is past the last finite bound');
    const sum = samplesOf(fams, 'netbranch_merge_duration_seconds', {}, 'netbranch_merge_duration_seconds_sum')[0].value;
    assert.ok(Math.abs(sum - 0.4044) < 1e-9, `sum ${sum}`);
  });

  test('conflicts by table, restarts and liveness by actor, a label value with quotes, backslash and newline escaped', () => {
    assert.equal(valueOf(fams, 'netbranch_merge_conflicts_total', { table: 'nat' }), 2);
    assert.equal(valueOf(fams, 'netbranch_actor_restarts_total', { actor: 'packet-1' }), 1);
    const odd = 'dns "odd" \\ name\nhere';
    assert.equal(valueOf(fams, 'netbranch_actor_restarts_total', { actor: odd }), 2);
    assert.equal(valueOf(fams, 'netbranch_actor_up', { actor: odd }), 0, 'named by the supervisor, no report: down');
    assert.equal(valueOf(fams, 'netbranch_actor_up', { actor: 'expiry' }), 1);
    assert.ok(text.includes('actor="dns \\"odd\\" \\\\ name\\nhere"'), 'escaped on the wire');
  });

  test('git: last flush in seconds, backlog, errors; API requests by op and errors by code', () => {
    assert.equal(valueOf(fams, 'netbranch_git_last_flush_duration_seconds'), 0.137);
    assert.equal(valueOf(fams, 'netbranch_git_backlog_changes'), 12);
    assert.equal(valueOf(fams, 'netbranch_git_flush_errors_total'), 1);
    assert.equal(valueOf(fams, 'netbranch_api_requests_total', { op: 'list' }), 14);
    assert.equal(valueOf(fams, 'netbranch_api_errors_total', { code: 'unauthenticated' }), 1);
    assert.equal(valueOf(fams, 'netbranch_api_http_requests_total'), 9);
    assert.equal(valueOf(fams, 'netbranch_uptime_seconds'), 42);
  });

  test('a counter with a family of its own is not also among the other stats; the rest are, by name', () => {
    const stat = (actor: string) => samplesOf(fams, 'netbranch_actor_stat', { actor }).map((s) => s.labels.stat);
    const packetStats = stat('packet-0');
    for (const k of ['nat.tableFull', 'nat.created', 'link.inside.rxFrames', 'forwardedOut', 'handoff.inside.handedIn']) assert.ok(!packetStats.includes(k), k);
    assert.deepEqual(packetStats.sort(), ['dnatNoRule', 'echoAnswered', 'icmp.sent', 'merge.turns', 'reasm.pending', 'rxInside', 'rxOutside']);
    assert.deepEqual(stat('lookup'), ['merge.turns'], 'the lookup actor\'s server counters are the API families');
    assert.deepEqual(stat('dispatcher'), []);
  });

  test('without a stack report: the API server\'s counters, and report_ok 0', () => {
    const { stack: _, ...bare } = routerStats();
    const f = parsePromText(renderMetrics({ ...bare, stackError: 'the main thread did not answer' }));
    assert.equal(valueOf(f, 'netbranch_stack_report_ok'), 0);
    assert.equal(valueOf(f, 'netbranch_api_requests_total', { op: 'stats' }), 5);
    assert.equal(f.has('netbranch_table_entries'), false);
    assert.equal(valueOf(parsePromText(text), 'netbranch_stack_report_ok'), 1);
  });
});

describe('the text-format reader itself', () => {
  const bad = (t: string, why: RegExp) => assert.throws(() => parsePromText(t), (e: Error) => e instanceof PromTextError && why.test(e.message));
  test('refuses what Prometheus would refuse', () => {
    bad('a 1\nb 2\na 3\n', /not together/);
    bad('a{x="1"} 1\na{x="1"} 2\n', /twice/);
    bad('a{x="1} 1\n', /bad label set|not a sample/);
    bad('a one\n', /bad value/);
    bad('# TYPE a counter\n# TYPE a gauge\na 1\n', /second TYPE/);
    bad('a 1\n# TYPE a counter\n', /after a's samples/);
    bad('a 1', /newline/);
    bad('a{x="\\t"} 1\n', /bad escape/);
  });
  test('reads histograms\' suffixes into their family, escapes and special values', () => {
    const f = parsePromText('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\ng{a="q\\"\\n\\\\"} NaN\n');
    assert.deepEqual([...f.keys()], ['h', 'g']);
    assert.equal((f.get('h') as PromFamily).samples.length, 4);
    assert.equal(f.get('g')!.samples[0].labels.a, 'q"\n\\');
    assert.ok(Number.isNaN(f.get('g')!.samples[0].value));
  });
});


const TOKEN = 'metrics-test-token-0123456789';

describe('GET /metrics from a router on worker threads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-metrics-'));
  const closers: (() => Promise<void>)[] = [];
  after(async () => { for (const c of closers.reverse()) await c(); rmSync(dir, { recursive: true, force: true }); });

  test('a token\'s scrape shows the flows the router made; no token or a wrong one is 401', async () => {
    const port = await freePort();
    const r = await rig('memory', { api: { unix: join(dir, 'api.sock'), http: { host: '127.0.0.1', port }, tokens: [{ name: 'prom', token: TOKEN, scopes: ['read:*'] }], role: 'router' } });
    closers.push(() => r.close());
    for (let i = 0; i < 3; i++) r.send(43_000 + i, i);
    await waitFor('three echoes', () => r.replies().length === 3);
    const scrape = async (token?: string) => fetch(`http://127.0.0.1:${port}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    let f = new Map<string, PromFamily>();
    for (let tries = 0; tries < 100; tries++) {
      const res = await scrape(TOKEN);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), METRICS_CONTENT_TYPE);
      f = parsePromText(await res.text());
      if (valueOf(f, 'netbranch_table_entries', { table: 'nat' }) === 3) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(valueOf(f, 'netbranch_table_entries', { table: 'nat' }), 3);
    assert.equal(valueOf(f, 'netbranch_table_entries_limit', { table: 'nat' }), 65_536 * 2);
    assert.equal(valueOf(f, 'netbranch_info', { role: 'router' }), 1);
    const made = samplesOf(f, 'netbranch_nat_inserts_total', { kind: 'masquerade' }).reduce((n, s) => n + s.value, 0);
    assert.equal(made, 3);
    const forwarded = samplesOf(f, 'netbranch_router_packets_forwarded_total', { direction: 'outbound' }).reduce((n, s) => n + s.value, 0);
    assert.equal(forwarded, 3);
    assert.ok(valueOf(f, 'netbranch_frames_received_total', { actor: 'dispatcher', link: 'inside' }) >= 3);
    assert.deepEqual(samplesOf(f, 'netbranch_actor_up').map((s) => s.labels.actor).sort(), ['dispatcher', 'expiry', 'lookup', 'packet-0', 'packet-1']);
    assert.ok(samplesOf(f, 'netbranch_merge_duration_seconds', {}, 'netbranch_merge_duration_seconds_count')[0].value > 0, 'merges were timed');
    assert.ok(valueOf(f, 'netbranch_api_requests_total', { op: 'stats' }) >= 1, 'the scrape is a stats request, counted');

    const none = await scrape();
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthenticated');
    assert.equal((await scrape('not-a-token-of-this-router')).status, 401);
    const after = parsePromText(await (await scrape(TOKEN)).text());
    assert.ok(valueOf(after, 'netbranch_api_errors_total', { code: 'unauthenticated' }) >= 2, 'the refusals are counted by code');
    const head = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.deepEqual([head.status, await head.text()], [200, '']);
  });
});
