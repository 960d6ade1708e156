// SYN cookies (RFC 4987 §3.6): when the half-open table is full, the SYN-ACK's sequence number carries the
// connection's state (a time slot, the peer's MSS as an index into a table, a keyed hash of the 4-tuple),
// so the final ACK rebuilds the connection with nothing kept in between.
import { seqAdd } from './seq-space.js';

/** The MSS values a cookie can carry (Linux's table for IPv4): a peer's MSS rounds down to one of them. */
export const COOKIE_MSS = [536, 1300, 1440, 1460] as const;
/** One time slot: a cookie is valid in its slot and the next (64 to 128 s), like Linux's. */
const SLOT_MS = 64_000;

/** A keyed 32-bit mix (murmur3's finalizer over the words): cheap per SYN, unpredictable without the key. */
function mix(key: Uint32Array, a: number, b: number, c: number, slot: number): number {
  // Word by word, not over an array of them: a SYN flood calls this once a segment.
  let h = round(key[0], a, key[1]);
  h = round(h, b, key[1]);
  h = round(h, c, key[1]);
  h = round(h, slot, key[1]);
  h = round(h, key[1], key[1]);
  h = round(h, key[2], key[1]);
  h = round(h, key[3], key[1]);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function round(h: number, w: number, k: number): number {
  h = Math.imul(h ^ w, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  return Math.imul(h, 0x1b873593) ^ k;
}

export class SynCookies {
  private readonly key = new Uint32Array(4);

  /** `random` gives 32-bit numbers for the secret (the endpoint's ISN source, so tests replay). */
  constructor(random: () => number) {
    for (let i = 0; i < 4; i++) this.key[i] = random() >>> 0;
  }

  /** Our ISN for a SYN from remote:remotePort to localPort: 5 bits of slot, 3 of MSS index, 24 of hash. */
  make(remoteIp: number, remotePort: number, localPort: number, peerSeq: number, peerMss: number, now: number): number {
    const slot = Math.floor(now / SLOT_MS) & 0x1f;
    let m = COOKIE_MSS.length - 1;
    while (m > 0 && COOKIE_MSS[m] > peerMss) m--;
    const h = mix(this.key, remoteIp, ((remotePort << 16) | localPort) >>> 0, peerSeq, slot) & 0xff_ffff;
    return ((slot << 27) | (m << 24) | h) >>> 0;
  }

  /**
   * The MSS the cookie in `ack` (our ISN + 1) carries, or 0 when it does not verify: wrong hash, or a slot
   * neither the current one nor the one before. `peerSeq` is the ACK's sequence number (the peer's ISN + 1).
   */
  check(remoteIp: number, remotePort: number, localPort: number, peerSeq: number, ack: number, now: number): number {
    const cookie = seqAdd(ack, -1);
    const slot = cookie >>> 27;
    const current = Math.floor(now / SLOT_MS) & 0x1f;
    if (slot !== current && slot !== ((current - 1) & 0x1f)) return 0;
    const m = (cookie >>> 24) & 0x7;
    if (m >= COOKIE_MSS.length) return 0;
    const h = mix(this.key, remoteIp, ((remotePort << 16) | localPort) >>> 0, seqAdd(peerSeq, -1), slot) & 0xff_ffff;
    return h === (cookie & 0xff_ffff) ? COOKIE_MSS[m] : 0;
  }
}
