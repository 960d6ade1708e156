// A failover pair (or more) of routers sharing their tables through one git server: each router
// pushes its `main` to `routers/<name>` there (its own branch: force is fine, nobody else writes it)
// and fetches the others' `routers/*` into `refs/peers/<peer>` of its own repository, where
// git-peer.ts reads what they changed. The network is not trusted to answer: every call has a
// deadline, and a failure is counted by reason and returned, never thrown into the caller's loop.
import * as fs from 'node:fs';
import git from 'isomorphic-git';
import nodeHttp from 'isomorphic-git/http/node';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { gitDirOf } from './git-reach.js';

export type RemoteFailure = 'connect' | 'http' | 'timeout' | 'rejected' | 'other';

export type RemoteResult<T> = { ok: true; value: T } | { ok: false; reason: RemoteFailure; message: string };

export interface GitRemoteOptions {
  /** The shared server's repository, e.g. http://host/tables.git. */
  url: string;
  /** This router's name: it pushes `routers/<name>` and no other branch. */
  name: string;
  /** Longest a push or fetch may take (ms); past it the call counts as a timeout. */
  timeoutMs?: number;
  /** The branch pushed (GitStore's). */
  branch?: string;
  /** The remote's name in the repository's config (its fetch refspec lives there). */
  remote?: string;
}

export interface GitRemoteStats {
  pushes: number;
  fetches: number;
  failures: Record<RemoteFailure, number>;
  lastError: string | null;
  /** `now` of the last push and fetch that succeeded (0: none yet). */
  lastPushAt: number;
  lastFetchAt: number;
  /** HTTP bodies, both ways. */
  bytesSent: number;
  bytesReceived: number;
}

export const PEER_REFS = 'refs/peers/';
const ROUTER_BRANCHES = 'refs/heads/routers/';

/** Which of git's and node's errors a failure was. */
export function failureReason(err: unknown): RemoteFailure {
  const e = err as { code?: string; cause?: { code?: string }; name?: string };
  const code = e?.code ?? e?.cause?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EPIPE' || code === 'ENOTFOUND') return 'connect';
  if (code === 'HttpError' || code === 'SmartHttpError') return 'http';
  if (code === 'PushRejectedError' || code === 'GitPushError') return 'rejected';
  if (code === 'ETIMEDOUT' || e?.name === 'TimeoutError') return 'timeout';
  return 'other';
}

class DeadlineError extends Error {
  override name = 'TimeoutError';
}

/** The promise, or a TimeoutError after `ms`. (The abandoned request ends when its socket does.) */
function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

async function* counted(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, add: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    add(chunk.byteLength);
    yield chunk;
  }
}

export class GitRemote {
  readonly stats: GitRemoteStats = {
    pushes: 0, fetches: 0, failures: { connect: 0, http: 0, timeout: 0, rejected: 0, other: 0 },
    lastError: null, lastPushAt: 0, lastFetchAt: 0, bytesSent: 0, bytesReceived: 0,
  };
  readonly gitdir: string;
  readonly url: string;
  readonly name: string;
  readonly timeoutMs: number;
  private readonly branch: string;
  private readonly remote: string;
  private configured = false;
  /** isomorphic-git's node client, with both bodies counted. */
  private readonly http: HttpClient = {
    request: async (req: GitHttpRequest): Promise<GitHttpResponse> => {
      const body = req.body ? counted(req.body, (n) => { this.stats.bytesSent += n; }) : undefined;
      const res = await nodeHttp.request({ ...req, body });
      return { ...res, body: res.body ? counted(res.body, (n) => { this.stats.bytesReceived += n; }) : undefined };
    },
  };

  constructor(dir: string, opts: GitRemoteOptions) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(opts.name)) throw new Error(`router name '${opts.name}': letters, digits, '.', '_' and '-' only (it names a branch)`);
    this.gitdir = gitDirOf(dir);
    this.url = opts.url;
    this.name = opts.name;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.branch = opts.branch ?? 'main';
    this.remote = opts.remote ?? 'netbranch-peers';
  }

  /** Our branch, forced onto `routers/<name>` (each router owns its own). Resolves with the pushed head. */
  async push(now: number): Promise<RemoteResult<string>> {
    return this.attempt('push', now, async () => {
      const r = await git.push({ fs, http: this.http, gitdir: this.gitdir, url: this.url, ref: this.branch, remoteRef: `${ROUTER_BRANCHES}${this.name}`, force: true });
      const mine = r.refs[`${ROUTER_BRANCHES}${this.name}`];
      if (!r.ok || (mine && !mine.ok)) throw Object.assign(new Error(`push rejected: ${mine?.error ?? r.error ?? 'unknown'}`), { code: 'PushRejectedError' });
      return git.resolveRef({ fs, gitdir: this.gitdir, ref: this.branch });
    });
  }

  /** Every router's branch, into `refs/peers/<router>`; resolves with the peers' heads (ours left out). */
  async fetch(now: number): Promise<RemoteResult<Map<string, string>>> {
    return this.attempt('fetch', now, async () => {
      await this.configure();
      // fetch wants one ref it can resolve on the server (HEAD by default, which a server of router
      // branches need not have): any router's branch will do, and the refspec brings them all.
      const refs = await git.listServerRefs({ http: this.http, url: this.url, symrefs: true });
      const branches = refs.filter((r) => r.ref.startsWith(ROUTER_BRANCHES));
      if (branches.length === 0) return new Map<string, string>();
      // isomorphic-git 1.44 writes the fetched refs, then names the server's default branch from its
      // HEAD, and throws before writing the pack when HEAD names no branch: refs to missing objects.
      if (!refs.some((r) => r.ref === 'HEAD')) throw Object.assign(new Error(`the server's HEAD names no branch: point it at one (git symbolic-ref HEAD ${branches[0].ref})`), { code: 'NoHeadError' });
      await git.fetch({ fs, http: this.http, gitdir: this.gitdir, remote: this.remote, remoteRef: branches[0].ref, tags: false });
      return this.peerHeads();
    });
  }

  /** The peers' heads as last fetched, by router name (ours left out). */
  async peerHeads(): Promise<Map<string, string>> {
    const heads = new Map<string, string>();
    const names = await git.listRefs({ fs, gitdir: this.gitdir, filepath: PEER_REFS }).catch(() => [] as string[]);
    for (const peer of names) {
      if (peer === this.name) continue;
      heads.set(peer, await git.resolveRef({ fs, gitdir: this.gitdir, ref: `${PEER_REFS}${peer}` }));
    }
    return heads;
  }

  /** The remote, as `git remote add` would write it, with the refspec that maps router branches to peer refs. */
  private async configure(): Promise<void> {
    if (this.configured) return;
    await git.setConfig({ fs, gitdir: this.gitdir, path: `remote.${this.remote}.url`, value: this.url });
    await git.setConfig({ fs, gitdir: this.gitdir, path: `remote.${this.remote}.fetch`, value: `+${ROUTER_BRANCHES}*:${PEER_REFS}*` });
    this.configured = true;
  }

  private async attempt<T>(what: 'push' | 'fetch', now: number, run: () => Promise<T>): Promise<RemoteResult<T>> {
    try {
      const value = await withDeadline(run(), this.timeoutMs, `${what} ${this.url}`);
      if (what === 'push') { this.stats.pushes++; this.stats.lastPushAt = now; } else { this.stats.fetches++; this.stats.lastFetchAt = now; }
      return { ok: true, value };
    } catch (err) {
      const reason = failureReason(err);
      const message = `${what} ${this.url}: ${(err as Error).message ?? String(err)}`.replace(/\s*\n\s*/g, ' ');
      this.stats.failures[reason]++;
      this.stats.lastError = message;
      return { ok: false, reason, message };
    }
  }
}
