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
import { packForPush, PackError, unpackObjects } from './git-pack.js';
import { uploadPack } from './git-upload-pack.js';
import { receivePack, ZERO_OID } from './git-receive-pack.js';

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
}

export interface GitRemoteStats {
  pushes: number;
  fetches: number;
  failures: Record<RemoteFailure, number>;
  lastError: string | null;
  /** `now` of the last push and fetch that succeeded (0: none yet). */
  lastPushAt: number;
  lastFetchAt: number;
  /** Pushes packed whole because git could not pack over the server's heads (see GitRemote.pack). */
  fullPacks: number;
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
  // simple-get (isomorphic-git's node client) throws a plain Error when node's agent times the socket out.
  if (code === 'ETIMEDOUT' || e?.name === 'TimeoutError' || (err as Error)?.message === 'Request timed out') return 'timeout';
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
    lastError: null, lastPushAt: 0, lastFetchAt: 0, fullPacks: 0, bytesSent: 0, bytesReceived: 0,
  };
  readonly gitdir: string;
  readonly url: string;
  readonly name: string;
  readonly timeoutMs: number;
  private readonly branch: string;
  /** isomorphic-git's node client, with both bodies counted. */
  private readonly http: HttpClient = {
    request: async (req: GitHttpRequest): Promise<GitHttpResponse> => {
      const sent = (n: number) => { this.stats.bytesSent += n; };
      // An array body stays one (sent with a Content-Length); a stream is counted as it goes.
      const body = Array.isArray(req.body) ? (sent(req.body.reduce((s: number, c: Uint8Array) => s + c.byteLength, 0)), req.body) : req.body ? counted(req.body, sent) : undefined;
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
  }

  /**
   * Our branch, forced onto `routers/<name>` (each router owns its own). Resolves with the pushed head. Only what
   * the server lacks is packed (git-push-objects.ts); a head the server already has costs one ref listing.
   */
  async push(now: number): Promise<RemoteResult<string>> {
    return this.attempt('push', now, async () => {
      const ref = `${ROUTER_BRANCHES}${this.name}`;
      const head = await git.resolveRef({ fs, gitdir: this.gitdir, ref: this.branch });
      const server = await git.listServerRefs({ http: this.http, url: this.url, forPush: true, protocolVersion: 1 });
      const old = server.find((r) => r.ref === ref)?.oid ?? ZERO_OID;
      if (old === head) return head;
      const haves: string[] = [];
      for (const oid of new Set(server.map((r) => r.oid))) if (await this.holds(oid)) haves.push(oid);
      await receivePack(this.http, this.url, { old, new: head, ref }, await this.pack(head, haves));
      // As git's push moves the remote-tracking ref: the next fetch need not fetch our own branch back.
      await git.writeRef({ fs, gitdir: this.gitdir, ref: `${PEER_REFS}${this.name}`, value: head, force: true });
      return head;
    });
  }

  /**
   * The thin pack of `head` over `haves`. A have whose trees a history cut removed here makes git fail: then the
   * whole history of `head` goes (correct, only larger), and the log says so.
   */
  private async pack(head: string, haves: readonly string[]): Promise<Buffer> {
    try {
      return await packForPush(this.gitdir, head, haves);
    } catch (err) {
      if (!(err instanceof PackError) || haves.length === 0) throw err;
      this.stats.fullPacks++;
      return packForPush(this.gitdir, head, []);
    }
  }

  /** The commits our history is cut off at (git's `shallow` file, which git-prune.ts keeps). */
  private shallow(): string[] {
    try {
      return fs.readFileSync(`${this.gitdir}/shallow`, 'utf8').split('\n').filter((l) => /^[0-9a-f]{40}$/.test(l));
    } catch {
      return [];
    }
  }

  /** Whether the commit is in our repository (the server's heads we hold are what it need not be sent). */
  private holds(oid: string): Promise<boolean> {
    return git.readCommit({ fs, gitdir: this.gitdir, oid }).then(() => true, () => false);
  }

  /**
   * Every router's branch, into `refs/peers/<router>`; resolves with the peers' heads (ours left out). Only the
   * branches that moved are fetched, their objects stored before their refs move (a crash never leaves a peer
   * ref to objects we do not have).
   */
  async fetch(now: number): Promise<RemoteResult<Map<string, string>>> {
    return this.attempt('fetch', now, async () => {
      const refs = await git.listServerRefs({ http: this.http, url: this.url, protocolVersion: 1 });
      const known = await this.peerRefs();
      const moved = refs.filter((r) => r.ref.startsWith(ROUTER_BRANCHES) && known.get(r.ref.slice(ROUTER_BRANCHES.length)) !== r.oid);
      const wants: string[] = [];
      for (const oid of new Set(moved.map((r) => r.oid))) if (!(await this.holds(oid))) wants.push(oid);
      if (wants.length) {
        const haves = [...new Set([...known.values(), await git.resolveRef({ fs, gitdir: this.gitdir, ref: this.branch }).catch(() => null)])];
        await unpackObjects(this.gitdir, await uploadPack(this.http, this.url, wants, haves.filter((h): h is string => h !== null), this.shallow()));
      }
      for (const r of moved) await git.writeRef({ fs, gitdir: this.gitdir, ref: `${PEER_REFS}${r.ref.slice(ROUTER_BRANCHES.length)}`, value: r.oid, force: true });
      return this.peerHeads();
    });
  }

  /** The peers' heads as last fetched, by router name (ours left out). */
  async peerHeads(): Promise<Map<string, string>> {
    const heads = await this.peerRefs();
    heads.delete(this.name);
    return heads;
  }

  /** Every `refs/peers/*` ref (ours included), by router name. */
  private async peerRefs(): Promise<Map<string, string>> {
    const heads = new Map<string, string>();
    const names = await git.listRefs({ fs, gitdir: this.gitdir, filepath: PEER_REFS }).catch(() => [] as string[]);
    for (const peer of names) heads.set(peer, await git.resolveRef({ fs, gitdir: this.gitdir, ref: `${PEER_REFS}${peer}` }));
    return heads;
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
