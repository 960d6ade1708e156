// IPv4 reassembly (RFC 791, holes per RFC 815): a datagram's fragments, keyed by (src, dst, protocol, identification),
// are copied into one buffer until no hole is left. Any overlap discards the datagram (RFC 5722's rule, Linux's for
// IPv4 since 4.19), memory is bounded as Linux's ipfrag_high_thresh bounds it, and every drop is counted, never thrown.
import type { TableView } from '../../store/index.js';
import { ETHERNET_HEADER_LEN } from '../../wire/ethernet.js';
import { IpProtocol, IPV4_MAX_HEADER_LEN, IPV4_MIN_HEADER_LEN, Ipv4Packet } from '../../wire/ipv4.js';
import { Coverage, HoleList } from './frag-holes.js';
import { fragKey, type FragEntry } from './frag-table.js';

export interface ReassemblyOptions {
  /** How long a datagram may take from its first fragment, ms (Linux net.ipv4.ipfrag_time: 30 s). */
  timeoutMs?: number;
  /** Bytes held across all datagrams (buffers plus a fixed charge each), never exceeded (Linux ipfrag_high_thresh: 4 MiB). */
  highThresh?: number;
  /** Datagrams in reassembly at once. */
  maxDatagrams?: number;
}

/** Why fragments were taken or dropped; each drop has exactly one reason. */
export interface ReassemblyCounters {
  /** Every fragment offered to `accept`. */
  fragments: number;
  /** Datagrams completed and handed back. */
  reassembled: number;
  /** Datagrams discarded because a fragment overlapped bytes already held (or rewrote them). */
  overlaps: number;
  /** Fragments dropped because they repeat bytes already held, unchanged (the datagram is kept). */
  duplicates: number;
  /** Datagrams given up at their deadline. */
  timeouts: number;
  /** Fragments dropped because holding them would pass `highThresh`. */
  overMemory: number;
  /** Fragments of a new datagram dropped because `maxDatagrams` are in reassembly. */
  tooManyDatagrams: number;
  /** RFC 1858 tiny fragments: an offset-0 TCP fragment without the whole fixed TCP header, or a TCP fragment at offset 8. */
  tiny: number;
  /** Fragments (or completed datagrams) that would end past 65535 bytes. */
  offsetOverflow: number;
  /** Fragments with MF set whose payload is not a multiple of 8. */
  badLength: number;
  /** Fragments with no payload. */
  empty: number;
  /** Datagrams discarded for two different ends: a second last fragment, or data past the known end. */
  conflictingEnd: number;
}

const DEFAULTS: Required<ReassemblyOptions> = { timeoutMs: 30_000, highThresh: 4 * 1024 * 1024, maxDatagrams: 4096 };
/** Charged per datagram on top of its buffer (map entry, holes, row), as Linux charges skb truesize: bounds floods of tiny datagrams too. */
export const DATAGRAM_OVERHEAD = 256;
/** Room in front of the payload for the first fragment's header, so the finished datagram is handed out without a copy. */
const HEADROOM = IPV4_MAX_HEADER_LEN;
const MAX_DATAGRAM = 0xffff;
/** The most payload a datagram can have (behind the minimum header). */
const MAX_PAYLOAD = MAX_DATAGRAM - IPV4_MIN_HEADER_LEN;
/** RFC 1858: the first TCP fragment must hold the fixed header (ports and flags); none may start at offset 8. */
const TCP_MIN_FIRST = 20;
const TCP_TINY_OFFSET = 8;
/** What ICMP time exceeded quotes past the header (RFC 792: 64 bits of the original data). */
const QUOTED_PAYLOAD = 8;

type DropReason = keyof ReassemblyCounters;

/** One datagram in reassembly: its bytes after HEADROOM, the first fragment's header just before them. */
class PendingDatagram {
  readonly holes = new HoleList();
  /** Header bytes of the offset-0 fragment; 0 until it arrived. */
  headerLength = 0;
  received = 0;
  fragments = 0;
  /** The largest fragment taken, IP bytes (Linux's frag_max_size: what a forwarder cuts the datagram to again). */
  largest = 0;
  rowWritten = false;

  constructor(
    readonly key: string, readonly src: number, readonly dst: number, readonly proto: number, readonly ident: number,
    readonly firstSeen: number, readonly deadline: number, public buffer: Uint8Array,
  ) {}

  get capacity(): number { return this.buffer.length - HEADROOM; }
  /** What this datagram counts against the memory bound. */
  get charge(): number { return DATAGRAM_OVERHEAD + this.buffer.length; }
}

/** Why a fragment is unusable on its own, before any datagram is looked at; null when it is fine. */
function malformation(proto: number, offset: number, len: number, more: boolean, headerLength: number): DropReason | null {
  if (len === 0) return 'empty';
  if (more && (len & 7) !== 0) return 'badLength';
  if (offset + len + headerLength > MAX_DATAGRAM) return 'offsetOverflow';
  if (proto === IpProtocol.Tcp && (offset === TCP_TINY_OFFSET || (offset === 0 && more && len < TCP_MIN_FIRST))) return 'tiny';
  return null;
}

/** A fragment ending at `end` contradicts the end the datagram already has (or the data beyond it). */
function endConflicts(holes: HoleList, end: number, more: boolean): boolean {
  const known = holes.end;
  if (more) return known >= 0 && end > known;
  return known >= 0 ? end !== known : end <= holes.receivedEnd;
}

function sameBytes(buffer: Uint8Array, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (buffer[at + i] !== bytes[i]) return false;
  return true;
}

function newCounters(): ReassemblyCounters {
  return {
    fragments: 0, reassembled: 0, overlaps: 0, duplicates: 0, timeouts: 0, overMemory: 0, tooManyDatagrams: 0,
    tiny: 0, offsetOverflow: 0, badLength: 0, empty: 0, conflictingEnd: 0,
  };
}

export class Reassembler {
  readonly counters: ReassemblyCounters = newCounters();
  /** Called for each datagram timed out after its offset-0 fragment came: that fragment's header + 8 payload bytes. */
  onTimeExceeded: ((quoted: Uint8Array, now: number) => void) | null = null;
  private readonly opts: Required<ReassemblyOptions>;
  /** In creation order, which is deadline order (one timeout for all, `now` never goes back). */
  private readonly datagrams = new Map<string, PendingDatagram>();
  private memory = 0;
  private maxFragmentOfLast = 0;

  constructor(private readonly table: TableView<string, FragEntry> | null, opts: ReassemblyOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** Bytes held now; never above `highThresh`. */
  get memoryBytes(): number { return this.memory; }
  /** Datagrams in reassembly. */
  get pending(): number { return this.datagrams.size; }
  /** The largest fragment (IP bytes) of the datagram `accept` last handed out; 0 before any. */
  get lastMaxFragment(): number { return this.maxFragmentOfLast; }

  /**
   * ip: a checked view (wire/ipv4.ts Ipv4Packet) of a fragment (isFragment true), header checksum already verified.
   * Returns the whole datagram (IPv4 header of the first fragment with MF/offset cleared, total length and header
   * checksum fixed, then the payload) once complete; else null. The returned bytes are the caller's.
   */
  accept(ip: Ipv4Packet, now: number): Uint8Array | null {
    this.counters.fragments++;
    const offset = ip.fragmentOffset;
    const len = ip.payloadLength;
    const more = ip.moreFragments;
    const bad = malformation(ip.protocol, offset, len, more, ip.headerLength);
    if (bad !== null) { this.counters[bad]++; return null; }
    const key = fragKey(ip.src, ip.dst, ip.protocol, ip.ident);
    const d = this.datagrams.get(key) ?? this.open(key, ip, offset + len, more, now);
    if (d === null || !this.place(d, ip, offset, len, more)) return null;
    if (d.holes.complete) return this.complete(d);
    this.writeRow(d);
    return null;
  }

  /**
   * `accept` for a fragment that came in the Ethernet frame `frame` (`ip` its checked IPv4 view): the whole
   * datagram behind a copy of that frame's Ethernet header, so it goes through the receive path as if it came whole.
   */
  acceptFrame(frame: Uint8Array, ip: Ipv4Packet, now: number): Uint8Array | null {
    const datagram = this.accept(ip, now);
    if (datagram === null) return null;
    // The header's room in front (HEADROOM less the IP header) usually holds the Ethernet header too: no copy.
    const whole = datagram.byteOffset >= ETHERNET_HEADER_LEN
      ? new Uint8Array(datagram.buffer, datagram.byteOffset - ETHERNET_HEADER_LEN, ETHERNET_HEADER_LEN + datagram.length)
      : new Uint8Array(ETHERNET_HEADER_LEN + datagram.length);
    if (whole.buffer !== datagram.buffer) whole.set(datagram, ETHERNET_HEADER_LEN);
    whole.set(frame.subarray(0, ETHERNET_HEADER_LEN));
    return whole;
  }

  /**
   * Expires datagrams past their deadline; for each expired one whose offset-0 fragment arrived, calls
   * onTimeExceeded with that fragment's IPv4 header + first 8 payload bytes (what ICMP time exceeded code 1 quotes).
   */
  poll(now: number): void {
    for (const d of this.datagrams.values()) {
      if (d.deadline > now) break;
      this.counters.timeouts++;
      this.drop(d);
      if (d.headerLength > 0 && this.onTimeExceeded !== null) this.onTimeExceeded(this.quote(d), now);
    }
  }

  /** The earliest deadline; Infinity when nothing is pending. */
  nextDeadline(): number {
    for (const d of this.datagrams.values()) return d.deadline;
    return Infinity;
  }

  /**
   * A new datagram for this fragment; null (counted) when over a limit. Its buffer holds the datagram's end once known,
   * else room for one more fragment like this one (if the bound allows): most datagrams then never grow.
   */
  private open(key: string, ip: Ipv4Packet, end: number, more: boolean, now: number): PendingDatagram | null {
    if (this.datagrams.size >= this.opts.maxDatagrams) { this.counters.tooManyDatagrams++; return null; }
    const room = this.opts.highThresh - this.memory - DATAGRAM_OVERHEAD - HEADROOM;
    if (end > room) { this.counters.overMemory++; return null; }
    const capacity = more ? Math.min(end + ip.payloadLength, MAX_PAYLOAD, room) : end;
    const d = new PendingDatagram(key, ip.src, ip.dst, ip.protocol, ip.ident, now, now + this.opts.timeoutMs, new Uint8Array(HEADROOM + capacity));
    this.memory += d.charge;
    this.datagrams.set(key, d);
    return d;
  }

  /** Checks the fragment against what the datagram holds and copies it in; false when it was dropped (counted). */
  private place(d: PendingDatagram, ip: Ipv4Packet, offset: number, len: number, more: boolean): boolean {
    const end = offset + len;
    if (endConflicts(d.holes, end, more)) return this.discard(d, 'conflictingEnd');
    const coverage = d.holes.coverage(offset, end - 1);
    if (coverage === Coverage.Partial) return this.discard(d, 'overlaps');
    const payload = ip.payload();
    if (coverage === Coverage.Received) {
      if (!sameBytes(d.buffer, HEADROOM + offset, payload)) return this.discard(d, 'overlaps');
      this.counters.duplicates++;
      return false;
    }
    if (!this.reserve(d, end, !more)) { this.counters.overMemory++; return false; }
    if (!more) d.holes.setEnd(end);
    d.holes.fill(offset, end - 1);
    d.buffer.set(payload, HEADROOM + offset);
    if (offset === 0) {
      d.headerLength = ip.headerLength;
      d.buffer.set(ip.slice(0, ip.headerLength), HEADROOM - ip.headerLength);
    }
    d.received += len;
    d.fragments++;
    if (ip.totalLength > d.largest) d.largest = ip.totalLength;
    return true;
  }

  /**
   * Grows the buffer to hold bytes up to `end`: exactly to the datagram's end once known (`last`, or an earlier last
   * fragment), else doubling so in-order fragments copy O(n) bytes; false when the bound forbids even `end`.
   */
  private reserve(d: PendingDatagram, end: number, last: boolean): boolean {
    if (end <= d.capacity) return true;
    const known = last ? end : d.holes.end;
    const wanted = known >= 0 ? known : Math.max(end, Math.min(2 * d.capacity, MAX_PAYLOAD));
    for (const size of wanted === end ? [end] : [wanted, end]) {
      const extra = size - d.capacity;
      if (this.memory + extra > this.opts.highThresh) continue;
      const grown = new Uint8Array(HEADROOM + size);
      grown.set(d.buffer);
      d.buffer = grown;
      this.memory += extra;
      return true;
    }
    return false;
  }

  /** Hands out the finished datagram (a view of the buffer, which the reassembler lets go of). */
  private complete(d: PendingDatagram): Uint8Array | null {
    this.drop(d);
    const total = d.holes.end;
    if (d.headerLength + total > MAX_DATAGRAM) { this.counters.offsetOverflow++; return null; }
    const out = d.buffer.subarray(HEADROOM - d.headerLength, HEADROOM + total);
    const ip = Ipv4Packet.newUnchecked(out);
    ip.moreFragments = false;
    ip.fragmentOffset = 0;
    ip.totalLength = out.length;
    ip.fillChecksum();
    this.counters.reassembled++;
    this.maxFragmentOfLast = d.largest;
    return out;
  }

  private discard(d: PendingDatagram, reason: DropReason): false {
    this.counters[reason]++;
    this.drop(d);
    return false;
  }

  /** Forgets the datagram: its memory, its row. */
  private drop(d: PendingDatagram): void {
    this.datagrams.delete(d.key);
    this.memory -= d.charge;
    if (d.rowWritten) this.table?.delete(d.key);
  }

  private quote(d: PendingDatagram): Uint8Array {
    return d.buffer.slice(HEADROOM - d.headerLength, HEADROOM + Math.min(QUOTED_PAYLOAD, d.capacity));
  }

  private writeRow(d: PendingDatagram): void {
    if (this.table === null) return;
    d.rowWritten = true;
    this.table.set(d.key, {
      src: d.src, dst: d.dst, proto: d.proto, ident: d.ident, total: Math.max(0, d.holes.end), received: d.received,
      holes: d.holes.toString(), fragments: d.fragments, firstSeen: Math.floor(d.firstSeen), deadline: Math.floor(d.deadline),
    });
  }
}
