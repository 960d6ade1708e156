// One ref update pushed over git's smart HTTP (git's Documentation/gitprotocol-pack.txt, "Pushing Data To
// a Server"): the update line and a pack POSTed to git-receive-pack, and its report-status read back. By
// hand because isomorphic-git's push chooses its own objects (git-pack.ts says why git packs ours).
import type { HttpClient } from 'isomorphic-git';

export interface RefUpdate {
  /** The server's current value of the ref (40 zeros: it has none). */
  old: string;
  new: string;
  ref: string;
}

export const ZERO_OID = '0'.repeat(40);

/** One pkt-line: four hex digits of length (itself included), then the payload. */
export function pktLine(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0'), 'ascii'), body]);
}

/** The pkt-lines of a report-status answer, up to its flush (`0000`). */
export function readPktLines(buf: Buffer): string[] {
  const lines: string[] = [];
  for (let at = 0; at + 4 <= buf.length;) {
    const len = parseInt(buf.toString('ascii', at, at + 4), 16);
    if (!Number.isFinite(len)) throw new Error(`receive-pack answered something that is not a pkt-line at byte ${at}`);
    if (len === 0) break;
    if (len < 4 || at + len > buf.length) throw new Error(`receive-pack answered a pkt-line cut short at byte ${at}`);
    lines.push(buf.toString('utf8', at + 4, at + len).replace(/\n$/, ''));
    at += len;
  }
  return lines;
}

/** A response body, whole. */
export async function collectBody(body: AsyncIterableIterator<Uint8Array> | undefined): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  if (body) for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * POSTs `update` with `pack` to `url`/git-receive-pack; resolves when the server says it unpacked the pack
 * and took the update, else throws (code 'HttpError' for an HTTP status, 'PushRejectedError' for a refusal).
 */
export async function receivePack(http: HttpClient, url: string, update: RefUpdate, pack: Uint8Array): Promise<void> {
  const head = pktLine(`${update.old} ${update.new} ${update.ref}\0report-status agent=netbranch\n`);
  const res = await http.request({
    url: `${url.replace(/\/$/, '')}/git-receive-pack`,
    method: 'POST',
    headers: { 'content-type': 'application/x-git-receive-pack-request', accept: 'application/x-git-receive-pack-result' },
    // An array: sent as one buffer with a Content-Length (isomorphic-git's node client), as git's CGI prefers.
    body: [head, Buffer.from('0000', 'ascii'), pack] as unknown as AsyncIterableIterator<Uint8Array>,
  });
  const answer = await collectBody(res.body);
  if (res.statusCode !== 200) {
    throw Object.assign(new Error(`HTTP ${res.statusCode} ${res.statusMessage}: ${answer.toString('utf8').slice(0, 200).trim()}`), { code: 'HttpError' });
  }
  const lines = readPktLines(answer);
  const unpack = lines.find((l) => l.startsWith('unpack '));
  const status = lines.find((l) => l.startsWith(`ok ${update.ref}`) || l.startsWith(`ng ${update.ref}`));
  if (unpack !== 'unpack ok' || status === undefined || status.startsWith('ng ')) {
    throw Object.assign(new Error(`push refused: ${[unpack, status].filter(Boolean).join('; ') || 'no report-status'}`), { code: 'PushRejectedError' });
  }
}
