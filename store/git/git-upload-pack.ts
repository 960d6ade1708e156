// A fetch's pack over git's smart HTTP (gitprotocol-pack, "Packfile Negotiation", stateless): our wants
// and haves in one POST to git-upload-pack, the server's pack back. By hand because isomorphic-git keeps
// the pack deltified and resolves each delta in JS on every read (a peer's merge took seconds); git's
// unpack-objects (git-pack.ts) stores it as plain objects instead.
import type { HttpClient } from 'isomorphic-git';
import { collectBody, pktLine } from './git-receive-pack.js';

const PACK = Buffer.from('PACK', 'ascii');

/** The pack after the negotiation lines (NAK, or an ACK of a common commit); an ERR line throws. */
export function packAfterAcks(answer: Buffer): Buffer {
  let at = 0;
  while (at + 4 <= answer.length && !answer.subarray(at, at + 4).equals(PACK)) {
    const len = parseInt(answer.toString('ascii', at, at + 4), 16);
    if (!Number.isFinite(len) || len < 4 || at + len > answer.length) throw new Error(`upload-pack answered something that is not a pkt-line at byte ${at}`);
    const line = answer.toString('utf8', at + 4, at + len);
    if (line.startsWith('ERR ')) throw Object.assign(new Error(`upload-pack: ${line.slice(4).trim()}`), { code: 'HttpError' });
    at += len;
  }
  if (at + 4 > answer.length) throw new Error('upload-pack answered no pack');
  return answer.subarray(at);
}

/**
 * POSTs `wants` (which the server has) and `haves` (which we have) to `url`/git-upload-pack; resolves with the pack.
 * `shallow`: our history's cut-off points (git-prune.ts), told as a shallow clone tells them, so the server does
 * not take the history behind them for ours: a peer's commits from there come too, and its merge bases are found.
 */
export async function uploadPack(http: HttpClient, url: string, wants: readonly string[], haves: readonly string[], shallow: readonly string[] = []): Promise<Buffer> {
  const lines = wants.map((w, i) => pktLine(`want ${w}${i === 0 ? ` ofs-delta${shallow.length ? ' shallow' : ''} agent=netbranch` : ''}\n`));
  for (const s of shallow) lines.push(pktLine(`shallow ${s}\n`));
  lines.push(Buffer.from('0000', 'ascii'));
  for (const h of haves) lines.push(pktLine(`have ${h}\n`));
  lines.push(pktLine('done\n'));
  const res = await http.request({
    url: `${url.replace(/\/$/, '')}/git-upload-pack`,
    method: 'POST',
    headers: { 'content-type': 'application/x-git-upload-pack-request', accept: 'application/x-git-upload-pack-result' },
    body: lines as unknown as AsyncIterableIterator<Uint8Array>,
  });
  const answer = await collectBody(res.body);
  if (res.statusCode !== 200) {
    throw Object.assign(new Error(`HTTP ${res.statusCode} ${res.statusMessage}: ${answer.toString('utf8').slice(0, 200).trim()}`), { code: 'HttpError' });
  }
  return packAfterAcks(answer);
}
