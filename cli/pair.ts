// A failover pair's flags on `netbranch router` (docs/ha.md): the git server the routers share their tables
// through (--peer, --router-name, --sync-interval) and VRRP failover on the links (--vrrp, --priority,
// --advert-interval). Checked with the others, before anything is opened.
import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { PeerSyncOptions, SyncOutcome } from '../store/git/index.js';
import type { GitStore } from '../store/git/index.js';
import type { PeerSyncReport, SyncResult } from '../api/protocol.js';
import { numberFlag, UsageError } from './usage.js';
import type { ConfigSchema } from './config.js';

export interface FailoverFlags {
  vrid: number;
  priority: number;
  advertIntervalMs: number;
}

export interface PairConfig {
  peer?: PeerSyncOptions;
  failover?: FailoverFlags;
}

/** The pair's keys in a router's --config file: a [peer] and a [vrrp] table. */
export const PAIR_CONFIG: ConfigSchema = {
  'peer.url': { flag: '--peer', type: 'string' },
  'peer.name': { flag: '--router-name', type: 'string' },
  'peer.sync-interval': { flag: '--sync-interval', type: 'number' },
  'vrrp.vrid': { flag: '--vrrp', type: 'integer' },
  'vrrp.priority': { flag: '--priority', type: 'integer' },
  'vrrp.advert-interval': { flag: '--advert-interval', type: 'number' },
};

export function addPairOptions(cmd: Command): Command {
  return cmd
    .option('--peer <url>', "with --store git:DIR: share the tables with peer routers through this git server's repository, e.g. git+http://10.0.0.9:8418/tables.git (docs/ha.md)")
    .option('--router-name <name>', "with --peer: this router's branch on the server is routers/NAME (default: the host name)")
    .option('--sync-interval <ms>', 'with --peer: how often to push our branch and merge the peers\' (1000 ms default)')
    .option('--vrrp <vrid>', 'failover: share the inside and outside addresses with a standby by VRRP (RFC 5798) virtual router VRID 1..255; both links use its MAC 00:00:5e:00:01:VRID')
    .option('--priority <n>', 'with --vrrp: 1..254, the highest is master; give the two routers different ones (default 100)')
    .option('--advert-interval <ms>', 'with --vrrp: how often the master advertises (default 500: a backup takes over within about 1.8 s; RFC 5798 says 1000)');
}

/** `git+http://…` (what the issue and the docs write), `http://…`, `https://…`: the URL isomorphic-git fetches. */
export function peerUrl(spec: string): string {
  const url = spec.startsWith('git+') ? spec.slice(4) : spec;
  let parsed: URL;
  try { parsed = new URL(url); } catch { throw new UsageError(`--peer must be a URL like git+http://HOST:PORT/REPO, got '${spec}'`); }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--peer ${spec}: only git's smart HTTP is spoken (http:// or https://, git+ optional); serve the repository with \`netbranch git-serve\` (docs/ha.md)`);
  }
  return url;
}

/** A name that is one component of a git ref (`routers/<name>`): letters, digits, `.`, `_`, `-`. */
export function routerName(name: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$/.test(name) || name.includes('..') || name.endsWith('.lock') || name.endsWith('.')) {
    throw new UsageError(`--router-name must be 1-63 letters, digits, '.', '_' or '-' (one git ref component), got '${name}'`);
  }
  return name;
}

/** The host name as a router name: what a ref may not hold becomes `-`. */
function defaultName(): string {
  return hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[.-]+/, '').replace(/\.+$/, '').slice(0, 63) || 'router';
}

/** git's own pack-objects and unpack-objects make and store the packs (store/git/git-pack.ts): the command must be here. */
function requireGitBinary(): void {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new UsageError('--peer needs the git command (Debian package git): it packs what is pushed and unpacks what is fetched');
  }
}

/** --peer and --vrrp and their tuning flags; each tuning flag without its main one is an error, never ignored. */
export function pairConfig(opts: Record<string, string | undefined>, given: Pick<Command, 'getOptionValueSource'>, git: string | undefined): PairConfig {
  const had = (key: string) => given.getOptionValueSource(key) === 'cli';
  for (const [key, flag, needs] of [['routerName', '--router-name', 'peer'], ['syncInterval', '--sync-interval', 'peer'], ['priority', '--priority', 'vrrp'], ['advertInterval', '--advert-interval', 'vrrp']] as const) {
    if (had(key) && opts[needs] === undefined) throw new UsageError(`${flag} needs --${needs}`);
  }
  const out: PairConfig = {};
  if (opts.peer !== undefined) {
    if (git === undefined) throw new UsageError('--peer needs --store git:DIR: the tables travel between the routers as git commits');
    requireGitBinary();
    const syncMs = numberFlag('--sync-interval', opts.syncInterval ?? '1000', 100, 3_600_000);
    // A sync that has not answered by the next one's time (and at least 5 s) counts as a timeout.
    out.peer = { url: peerUrl(opts.peer), name: routerName(opts.routerName ?? defaultName()), syncMs, timeoutMs: Math.max(5_000, 2 * syncMs) };
  }
  if (opts.vrrp !== undefined) {
    out.failover = {
      vrid: numberFlag('--vrrp', opts.vrrp, 1, 255, true),
      priority: numberFlag('--priority', opts.priority ?? '100', 1, 254, true),
      // The wire carries centiseconds in 12 bits: 10 ms to 40.95 s.
      advertIntervalMs: Math.round(numberFlag('--advert-interval', opts.advertInterval ?? '500', 10, 40_950) / 10) * 10,
    };
  }
  return out;
}

/** The peers' sync as the stack report carries it: the git store's status, and the remote's counters. */
export async function peerReport(git: GitStore, peer: PeerSyncOptions, now: number): Promise<PeerSyncReport> {
  const s = await git.syncStatus(now);
  const r = s.remote;
  return {
    url: peer.url, branch: `routers/${peer.name}`, failingFor: s.failingFor,
    lastPushAt: r?.lastPushAt ?? 0, lastFetchAt: r?.lastFetchAt ?? 0, lastError: r?.lastError ?? null,
    failures: { ...(r?.failures ?? {}) }, bytesSent: r?.bytesSent ?? 0, bytesReceived: r?.bytesReceived ?? 0,
    peers: s.peers.map((p) => ({ name: p.name, head: p.head, seenAt: p.seenAt, lagMs: p.syncedAt === 0 ? -1 : p.lagMs })),
  };
}

/** The git store's sync as the API's `sync` op answers it (a sync the closing store skipped: nothing merged). */
export function syncResult(o: SyncOutcome | null): SyncResult {
  if (o === null) return { failed: { step: 'sync', reason: 'other', message: 'the router is stopping' }, merged: [] };
  return { failed: o.failed, merged: o.merged.map((m) => ({ peer: m.peer, head: m.head, applied: m.applied, rejected: m.rejected.length, conflicts: m.conflicts })) };
}
