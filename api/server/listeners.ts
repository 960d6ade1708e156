// The API's listeners named as their flags name them (`--api unix:PATH`, `--api-tcp HOST:PORT`,
// `--http HOST:PORT`), and why one cannot listen, in the same few words for the router, the sim and
// the lookup actor: checked before anything starts, so a busy address is one line and exit 2.
import * as net from 'node:net';
import { lstatSync } from 'node:fs';
import type { TokenSpec } from './tokens.js';
import type { InterfaceInfo } from '../protocol.js';
import type { LookupServer } from './lookup-server.js';
import type { HttpView } from './http-view.js';

/** What the external-lookup actor serves (lookup-server.ts). */
export interface LookupInit {
  /** Unix socket path (mode 0600, in a 0700 directory). */
  unix?: string;
  /** Loopback TCP (tokens required). */
  tcp?: { host: string; port: number };
  /** Read-only JSON over HTTP on loopback (tokens required). */
  http?: { host: string; port: number };
  tokens: TokenSpec[];
  /** `router` or `sim`, as `hello` reports it. */
  role: string;
  maxFrame?: number;
  maxConnections?: number;
  /** The stack's interfaces, for hello (filled in by the stack, not by flags). */
  interfaces?: InterfaceInfo[];
}

export type Listener = { kind: 'unix'; path: string } | { kind: 'tcp' | 'http'; host: string; port: number };

/** The flag and address, e.g. `--api unix:/run/nb/api.sock` or `--http 127.0.0.1:7072`. */
export function listenerName(l: Listener): string {
  if (l.kind === 'unix') return `--api unix:${l.path}`;
  const host = l.host.includes(':') ? `[${l.host}]` : l.host;
  return `${l.kind === 'tcp' ? '--api-tcp' : '--http'} ${host}:${l.port}`;
}

/** Every listener a lookup actor's settings ask for, in the order it opens them. */
export function listenersOf(init: LookupInit): Listener[] {
  const out: Listener[] = [];
  if (init.unix) out.push({ kind: 'unix', path: init.unix });
  if (init.tcp) out.push({ kind: 'tcp', ...init.tcp });
  if (init.http) out.push({ kind: 'http', ...init.http });
  return out;
}

const LISTEN_PROBLEMS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'no such local address',
};

/** A listen error in a few words: 'address in use' for EADDRINUSE, else the system's message. */
export function listenProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && LISTEN_PROBLEMS[code]) ?? (err as Error).message;
}

/** What is at a Unix socket path: nothing, a socket nobody serves (safe to replace), a live server, or something else. */
export async function unixSocketState(path: string): Promise<'absent' | 'stale' | 'live' | 'not-a-socket'> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return 'absent';
  }
  if (!st.isSocket()) return 'not-a-socket';
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => { c.destroy(); resolve('live'); });
    c.once('error', () => resolve('stale'));
  });
}

/** Why a TCP address cannot be listened on now, or undefined (port 0 always can). */
async function tcpProblem(host: string, port: number): Promise<string | undefined> {
  if (port === 0) return undefined;
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', (err) => resolve(listenProblem(err)));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * Why a Unix socket path in this state cannot be listened on, or undefined (absent, or stale: replaced). The one
 * wording for the check before any actor starts and for LookupServer.listenUnix, should the path be taken in between.
 */
export function unixSocketProblem(state: Awaited<ReturnType<typeof unixSocketState>>): string | undefined {
  if (state === 'live') return 'in use by a live server';
  if (state === 'not-a-socket') return 'exists and is not a socket; not replacing it';
  return undefined;
}

/** Why this listener cannot start now, or undefined: 'in use by a live server', 'address in use', ... */
export async function listenerProblem(l: Listener): Promise<string | undefined> {
  if (l.kind !== 'unix') return tcpProblem(l.host, l.port);
  return unixSocketProblem(await unixSocketState(l.path));
}

/** The first listener of `init` that cannot start, as one line naming its flag (`--http 127.0.0.1:7072: address in use`). */
export async function firstListenerProblem(init: LookupInit): Promise<string | undefined> {
  for (const l of listenersOf(init)) {
    const why = await listenerProblem(l);
    if (why !== undefined) return `${listenerName(l)}: ${why}`;
  }
  return undefined;
}

/** Opens each listener of `init` on `server` (and `http`), in order; the first that fails throws one line naming its flag. */
export async function openListeners(init: LookupInit, server: LookupServer, http: HttpView): Promise<void> {
  for (const l of listenersOf(init)) {
    try {
      if (l.kind === 'unix') await server.listenUnix(l.path);
      else if (l.kind === 'tcp') await server.listenTcp(l.host, l.port);
      else await http.listen(l.host, l.port);
    } catch (err) {
      throw new Error(`${listenerName(l)}: ${listenProblem(err)}`);
    }
  }
}
