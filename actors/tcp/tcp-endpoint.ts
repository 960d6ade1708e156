// The host's TCP endpoint (RFC 9293): demultiplexes segments to connections and listeners, answers the rest
// with RSTs, bounds half-open connections (SYN cookies past the bound), runs the timers on the time it is
// given, and writes each changed connection's row to the store's `tcp` table at flush.
import { TcpPacket, TcpFlags } from '../../wire/tcp.js';
import { WireStatus } from '../../wire/status.js';
import type { TableView } from '../../store/index.js';
import { tcpKey, type TcpEntry } from './tcp-table.js';
import { newTcpCounters, type TcpCounters } from './tcp-counters.js';
import { InSegment } from './in-segment.js';
import { SegmentWriter, type SegmentOut } from './segment-writer.js';
import { SynCookies } from './syn-cookie.js';
import { TcpListener } from './tcp-listener.js';
import { TcpSocket, type SocketContext } from './tcp-socket.js';
import { seqAfter } from './seq-space.js';

export { TcpListener } from './tcp-listener.js';
export { TcpSocket, type CloseReason } from './tcp-socket.js';
export type { TcpCounters } from './tcp-counters.js';

export interface TcpEndpointOptions {
  /** MSS we advertise, default 1460. */
  mss?: number;
  /** Per-socket receive buffer bytes, default 256 KiB (the window scale is chosen from it). */
  rcvBuffer?: number;
  /** Per-socket send buffer bytes, default 256 KiB. */
  sndBuffer?: number;
  /** Default accept backlog for listen(), 128. */
  backlog?: number;
  /** Bound on half-open (SYN-RECEIVED) connections, default 256; past it SYNs get cookies. */
  maxHalfOpen?: number;
  /** 2*MSL, default 60 000 ms (Linux's TIME-WAIT length). */
  timeWaitMs?: number;
  /** The store's tcp table on this actor's branch; rows written by flush(now). */
  table?: TableView<string, TcpEntry>;
  /** Initial sequence numbers (tests pass a seeded source); default crypto-random. */
  isn?: () => number;
  /** Default [32768, 60999], Linux's ip_local_port_range. */
  ephemeralPorts?: [number, number];
}

const KiB = 1024;

function randomU32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** RFC 7323 §2.3: the smallest shift that lets the window field cover the whole buffer. */
function windowScaleFor(buffer: number): number {
  let shift = 0;
  while (shift < 14 && buffer >>> shift > 0xffff) shift++;
  return shift;
}

/** Connections of one local port, keyed by remote address and port (a number: no string per segment). */
const remoteKey = (ip: number, port: number): number => ip * 0x10000 + port;

export class TcpEndpoint implements SocketContext {
  readonly counters: TcpCounters = newTcpCounters();
  readonly writer: SegmentWriter;
  readonly timeWaitMs: number;
  readonly advertisedMss: number;
  private readonly rcvBuffer: number;
  private readonly sndBuffer: number;
  private readonly rcvWscale: number;
  private readonly backlog: number;
  private readonly maxHalfOpen: number;
  private readonly isn: () => number;
  private readonly ports: [number, number];
  private nextPort: number;
  private readonly table: TableView<string, TcpEntry> | undefined;
  private readonly cookies: SynCookies;
  private readonly byPort = new Map<number, Map<number, TcpSocket>>();
  private readonly listeners = new Map<number, TcpListener>();
  private readonly halfOpen = new Set<TcpSocket>();
  private readonly all = new Set<TcpSocket>();
  private readonly dirty = new Set<TcpSocket>();
  /** Keys of rows to delete at the next flush. */
  private readonly gone: string[] = [];
  private readonly written = new WeakSet<TcpSocket>();
  private readonly pkt = TcpPacket.newUnchecked(new Uint8Array(0));
  private readonly seg = new InSegment();
  /** A lower bound on every socket's deadline (recomputed by poll). */
  private earliest = Infinity;

  constructor(readonly localIp: number, out: SegmentOut, opts: TcpEndpointOptions = {}) {
    this.writer = new SegmentWriter(localIp, out, this.counters);
    this.advertisedMss = opts.mss ?? 1460;
    this.rcvBuffer = opts.rcvBuffer ?? 256 * KiB;
    this.sndBuffer = opts.sndBuffer ?? 256 * KiB;
    this.rcvWscale = windowScaleFor(this.rcvBuffer);
    this.backlog = opts.backlog ?? 128;
    this.maxHalfOpen = opts.maxHalfOpen ?? 256;
    this.timeWaitMs = opts.timeWaitMs ?? 60_000;
    this.table = opts.table;
    this.isn = opts.isn ?? randomU32;
    this.ports = opts.ephemeralPorts ?? [32768, 60999];
    this.nextPort = this.ports[0] + (this.isn() % (this.ports[1] - this.ports[0] + 1));
    this.cookies = new SynCookies(this.isn);
  }

  /** Connections held, half-open and TIME-WAIT included. */
  get connections(): number { return this.all.size; }
  /** Half-open (SYN-RECEIVED from a listener) connections. */
  get halfOpenCount(): number { return this.halfOpen.size; }

  // ------------------------------------------------------------------ receive

  /** One whole TCP segment from an IPv4 payload (lent); checksum verified here. Never throws on bad input. */
  receive(src: number, dst: number, segment: Uint8Array, now: number, checksumPending = false): void {
    this.counters.segmentsIn++;
    if (dst !== this.localIp) { this.counters.notForUs++; return; }
    const pkt = this.pkt.reset(segment);
    const status = pkt.checkLen();
    if (status !== WireStatus.Ok) { this.counters.badDataOffset++; return; }
    if (!checksumPending && !pkt.verifyChecksum(src, dst)) { this.counters.badChecksum++; return; }
    const seg = this.seg;
    if (!seg.read(pkt)) { this.counters.badOptions++; return; }
    const sock = this.byPort.get(seg.dstPort)?.get(remoteKey(src, seg.srcPort));
    if (sock !== undefined && !this.reopensTimeWait(sock, seg)) {
      sock.receive(seg, now);
      return;
    }
    const listener = this.listeners.get(seg.dstPort);
    if (listener !== undefined) { this.receiveListening(listener, src, seg, now); return; }
    this.counters.noSocket++;
    this.writer.reset(src, seg);
  }

  /** RFC 9293 §3.6.1 / RFC 6191: a SYN past a TIME-WAIT connection's sequence space starts a new one. */
  private reopensTimeWait(sock: TcpSocket, seg: InSegment): boolean {
    if (sock.state !== 'time-wait' || seg.flags !== TcpFlags.SYN || !this.listeners.has(seg.dstPort)) return false;
    if (!seqAfter(seg.seq, sock.rcvNxt)) return false;
    this.counters.timeWaitReused++;
    sock.terminate('closed');
    return true;
  }

  /** RFC 9293 §3.10.7.2, LISTEN: RSTs ignored, ACKs checked as SYN cookies, SYNs open half-open connections. */
  private receiveListening(listener: TcpListener, src: number, seg: InSegment, now: number): void {
    if (seg.has(TcpFlags.RST)) return;
    if (seg.has(TcpFlags.ACK)) {
      if (!seg.has(TcpFlags.SYN) && this.acceptCookie(listener, src, seg, now)) return;
      this.counters.noSocket++;
      this.writer.reset(src, seg);
      return;
    }
    if (seg.has(TcpFlags.SYN)) this.receiveSyn(listener, src, seg, now);
  }

  private receiveSyn(listener: TcpListener, src: number, seg: InSegment, now: number): void {
    if (listener.full) {
      // Like Linux: no point in a handshake whose connection the queue cannot take; the peer retries.
      this.counters.backlogFull++;
      this.counters.synDropped++;
      return;
    }
    if (this.halfOpen.size >= this.maxHalfOpen) {
      this.counters.halfOpenFull++;
      this.sendCookie(src, seg, now);
      return;
    }
    const sock = this.newSocket(seg.dstPort, src, seg.srcPort, this.isn(), now);
    sock.listener = listener;
    this.halfOpen.add(sock);
    sock.openPassive(seg, now);
  }

  /** A SYN-ACK whose ISN is the cookie; nothing is kept. No window scale: the cookie cannot carry it. */
  private sendCookie(src: number, seg: InSegment, now: number): void {
    const mss = seg.mss > 0 ? seg.mss : 536;
    const isn = this.cookies.make(src, seg.srcPort, seg.dstPort, seg.seq, mss, now);
    this.counters.synCookiesSent++;
    const window = Math.min(this.rcvBuffer, 0xffff);
    this.writer.send(src, seg.dstPort, seg.srcPort, isn, seg.seq + 1, TcpFlags.SYN | TcpFlags.ACK, window, undefined, [{ kind: 'mss', value: Math.min(mss, this.advertisedMss) }]);
  }

  /** The handshake's last ACK carrying a valid cookie: the connection is rebuilt, established at once. */
  private acceptCookie(listener: TcpListener, src: number, seg: InSegment, now: number): boolean {
    if (this.counters.synCookiesSent === 0) return false;
    const mss = this.cookies.check(src, seg.srcPort, seg.dstPort, seg.seq, seg.ack, now);
    if (mss === 0) { this.counters.synCookiesRejected++; return false; }
    if (listener.full) { this.counters.backlogFull++; return true; } // dropped: the peer's data or retransmission retries
    this.counters.synCookiesAccepted++;
    const sock = this.newSocket(seg.dstPort, src, seg.srcPort, (seg.ack - 1) >>> 0, now);
    sock.listener = listener;
    sock.openFromCookie(seg, mss);
    sock.receive(seg, now);
    return true;
  }

  // ------------------------------------------------------------------ opening

  listen(port: number, backlog = this.backlog): TcpListener {
    if (this.listeners.has(port)) throw new Error(`port ${port} is already listening`);
    const listener = new TcpListener(port, backlog, (l) => this.unlisten(l));
    this.listeners.set(port, listener);
    return listener;
  }

  private unlisten(listener: TcpListener): void {
    this.listeners.delete(listener.port);
    for (const s of listener.drain()) s.abort(0);
    for (const s of [...this.halfOpen]) if (s.listener === listener) s.abort(0);
  }

  connect(remoteIp: number, remotePort: number, now: number, localPort?: number): TcpSocket {
    const port = localPort ?? this.freePort(remoteIp, remotePort);
    if (this.byPort.get(port)?.has(remoteKey(remoteIp, remotePort))) {
      throw new Error(`a connection ${tcpKey(this.localIp, port, remoteIp, remotePort)} already exists`);
    }
    const sock = this.newSocket(port, remoteIp, remotePort, this.isn(), now);
    sock.openActive(now);
    return sock;
  }

  /** The next ephemeral port with no connection to this remote (ports are shared across remotes, as Linux does). */
  private freePort(remoteIp: number, remotePort: number): number {
    const [lo, hi] = this.ports;
    const span = hi - lo + 1;
    for (let i = 0; i < span; i++) {
      const port = lo + ((this.nextPort - lo + i) % span);
      if (this.listeners.has(port) || this.byPort.get(port)?.has(remoteKey(remoteIp, remotePort))) continue;
      this.nextPort = port + 1 > hi ? lo : port + 1;
      return port;
    }
    throw new Error(`no free local port in ${lo}-${hi} for ${tcpKey(this.localIp, 0, remoteIp, remotePort)}`);
  }

  private newSocket(localPort: number, remoteIp: number, remotePort: number, iss: number, now: number): TcpSocket {
    const sock = new TcpSocket(this, {
      localIp: this.localIp, localPort, remoteIp, remotePort, iss, now,
      rcvBuffer: this.rcvBuffer, sndBuffer: this.sndBuffer, rcvWscale: this.rcvWscale,
    });
    let conns = this.byPort.get(localPort);
    if (conns === undefined) this.byPort.set(localPort, (conns = new Map()));
    conns.set(remoteKey(remoteIp, remotePort), sock);
    this.all.add(sock);
    return sock;
  }

  // ------------------------------------------------------------------ what sockets tell us (SocketContext)

  established(sock: TcpSocket): boolean {
    const listener = sock.listener as TcpListener;
    if (!listener.enqueue(sock)) { this.counters.backlogFull++; return false; }
    this.halfOpen.delete(sock);
    return true;
  }

  accepted(sock: TcpSocket): void {
    (sock.listener as TcpListener | null)?.offer(sock);
  }

  closed(sock: TcpSocket): void {
    const conns = this.byPort.get(sock.localPort);
    conns?.delete(remoteKey(sock.remoteIp, sock.remotePort));
    if (conns?.size === 0) this.byPort.delete(sock.localPort);
    this.halfOpen.delete(sock);
    this.all.delete(sock);
    this.dirty.delete(sock);
    if (this.written.has(sock)) this.gone.push(tcpKey(this.localIp, sock.localPort, sock.remoteIp, sock.remotePort));
  }

  changed(sock: TcpSocket): void {
    if (sock.state === 'closed') return;
    if (this.table !== undefined) this.dirty.add(sock);
    if (sock.deadline > 0 && sock.deadline < this.earliest) this.earliest = sock.deadline;
  }

  // ------------------------------------------------------------------ timers and the store

  /** Fires due timers: retransmission, persist, TIME-WAIT and FIN-WAIT-2. */
  poll(now: number): void {
    if (now < this.earliest) return;
    let earliest = Infinity;
    this.earliest = Infinity; // changed() lowers it again for timers set by callbacks during the walk
    for (const sock of this.all) {
      sock.poll(now);
      if (sock.state !== 'closed' && sock.deadline > 0 && sock.deadline < earliest) earliest = sock.deadline;
    }
    if (earliest < this.earliest) this.earliest = earliest;
  }

  /** The earliest timer deadline, Infinity when none runs. */
  nextDeadline(): number {
    return this.earliest;
  }

  /** Writes each changed connection's row once, and deletes the rows of connections gone since the last flush. */
  flush(now: number): void {
    const table = this.table;
    if (table === undefined) return;
    for (const key of this.gone) table.delete(key);
    this.gone.length = 0;
    for (const sock of this.dirty) {
      table.set(tcpKey(this.localIp, sock.localPort, sock.remoteIp, sock.remotePort), this.row(sock, now));
      this.written.add(sock);
    }
    this.dirty.clear();
  }

  private row(s: TcpSocket, now: number): TcpEntry {
    return {
      localIp: this.localIp, localPort: s.localPort, remoteIp: s.remoteIp, remotePort: s.remotePort, state: s.state,
      sndUna: s.sndUna, sndNxt: s.sndNxt, sndWnd: s.sndWnd, rcvNxt: s.rcvNxt, rcvWnd: s.rcvWnd,
      sndWscale: s.sndWscale, rcvWscale: s.rcvWscale, mss: s.mss, rtoMs: s.rtx.rto, srttMs: Math.round(s.rtx.srtt),
      timer: s.timer, deadline: Math.ceil(s.deadline), created: Math.floor(s.created), updated: Math.floor(now),
    };
  }
}
