// The whole stack's counters at one moment, gathered on the main thread from the supervisor (each actor's stats, its
// restarts, the merges it ran), the primary (table sizes, head) and the git backend: what `stats`, `/metrics`,
// `netbranch stats` and SIGUSR1 all show, gathered by one function so they never disagree.
import type { Store } from '../../store/index.js';
import type { ActorReport, FailoverReport, PeerSyncReport, StackReport } from '../../api/protocol.js';
import type { Supervisor } from './supervisor.js';

/** Where a stack's report comes from. */
export interface StackSources {
  role: string;
  supervisor: Supervisor;
  store: Store;
  /** Configured entry limits by table (the router's `nat`: max flows × packet actors). */
  limits?: Record<string, number>;
  /** With a git backend: its counters, read when the report is gathered. */
  git?: () => Record<string, number>;
  /** With --peer: the sync with the peers (read when the report is gathered). */
  peers?: (now: number) => Promise<PeerSyncReport>;
  /** With --vrrp: the failover state. */
  failover?: () => FailoverReport;
  /** When the process started (epoch ms). */
  startedAt: number;
}

/** An actor that does not answer its stats call in this long is left out of the report (a report never hangs). */
export const ACTOR_STATS_TIMEOUT_MS = 1_000;

export async function gatherReport(src: StackSources, now: number): Promise<StackReport> {
  const { supervisor, store } = src;
  const main = store.main;
  const restarts: Record<string, number> = {};
  for (const a of supervisor.actors) restarts[a.name] = a.restarts;
  return {
    role: src.role,
    now,
    uptimeS: Math.max(0, Math.round((now - src.startedAt) / 1000)),
    head: main.headSeq,
    tables: store.schema.tables.map((t, i) => ({ name: t.name, entries: main.tables[i].size, ...(src.limits?.[t.name] !== undefined ? { limit: src.limits[t.name] } : {}) })),
    actors: await actorReports(supervisor),
    restarts,
    supervisor: { ...supervisor.counters },
    store: { ...store.stats, retainedCommits: main.commits.length },
    conflictsByTable: { ...supervisor.merges.conflictsByTable },
    mergeMs: supervisor.merges.durations.snapshot(),
    ...(src.git ? { git: src.git() } : {}),
    ...(src.peers ? { peers: await src.peers(now) } : {}),
    ...(src.failover ? { failover: src.failover() } : {}),
  };
}

/** Every serving actor's stats, each bounded by ACTOR_STATS_TIMEOUT_MS. */
async function actorReports(supervisor: Supervisor): Promise<ActorReport[]> {
  const asks = supervisor.actors.filter((a) => a.up && a.control).map((a) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => { timer = setTimeout(() => r(null), ACTOR_STATS_TIMEOUT_MS); });
    return Promise.race([a.control!.stats().catch(() => null), late]).finally(() => clearTimeout(timer));
  });
  return (await Promise.all(asks)).filter((r): r is NonNullable<typeof r> => r !== null);
}
