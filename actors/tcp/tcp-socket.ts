// One TCP connection: the RFC 9293 state machine from SYN-SENT/SYN-RECEIVED to TIME-WAIT, its send and
// receive buffers, and its one timer (retransmission, persist or TIME-WAIT). Time is always an argument.
import { TcpFlags, type TcpOption } from '../../wire/tcp.js';
import type { TcpState, TcpTimer } from './tcp-table.js';
import type { TcpCounters } from './tcp-counters.js';
import type { InSegment } from './in-segment.js';
import type { SegmentWriter } from './segment-writer.js';
import { SendBuffer } from './send-buffer.js';
import { ReceiveBuffer } from './receive-buffer.js';
import { RetransmitTimer } from './retransmit-timer.js';
import { NewReno } from './congestion.js';
import { seqAdd, seqAfter, seqAtOrAfter, seqAtOrBefore, seqBefore, seqDiff, seqInRange } from './seq-space.js';

export type CloseReason = 'closed' | 'reset' | 'timeout' | 'refused';

/** RFC 9293 §3.7.1: the MSS assumed when the peer sends none. */
export const DEFAULT_SEND_MSS = 536;
/** Linux's tcp_syn_retries, tcp_synack_retries and tcp_retries2. */
const SYN_RETRIES = 6;
const SYNACK_RETRIES = 5;
const DATA_RETRIES = 15;
/** The persist timer's backoff stops here (RFC 9293 leaves it open; Linux caps at TCP_RTO_MAX). */
const PERSIST_MAX_MS = 60_000;
/** Linux's tcp_invalid_ratelimit. */
const INVALID_ACK_INTERVAL_MS = 500;

/** Events raised while a segment is processed, delivered once it is done (so callbacks never see a half-updated socket). */
const enum Ev { Accepted = 1, Established = 2, Data = 4, Writable = 8, End = 16 }

/** What a socket needs of its endpoint. */
export interface SocketContext {
  readonly writer: SegmentWriter;
  readonly counters: TcpCounters;
  readonly timeWaitMs: number;
  readonly advertisedMss: number;
  /** A passive open completed; false when the listener's accept queue is full (the ACK is then dropped). */
  established(sock: TcpSocket): boolean;
  /** Hands an accepted socket to its listener's onAccept. */
  accepted(sock: TcpSocket): void;
  /** The connection is gone: forget its 4-tuple. */
  closed(sock: TcpSocket): void;
  /** Something in the control block changed (its row is rewritten at the next flush), and maybe its deadline. */
  changed(sock: TcpSocket): void;
}

export interface SocketInit {
  localIp: number;
  localPort: number;
  remoteIp: number;
  remotePort: number;
  iss: number;
  rcvBuffer: number;
  sndBuffer: number;
  /** The window-scale shift we offer (RFC 7323), chosen from the receive buffer. */
  rcvWscale: number;
  now: number;
}

export class TcpSocket {
  readonly localIp: number;
  readonly localPort: number;
  readonly remoteIp: number;
  readonly remotePort: number;
  readonly created: number;
  /** The listener a passive open came through (it owns the socket until accepted). */
  listener: object | null = null;

  onEstablished: (() => void) | null = null;
  onData: (() => void) | null = null;
  onWritable: (() => void) | null = null;
  onEnd: (() => void) | null = null;
  onClose: ((reason: CloseReason) => void) | null = null;

  // The control block, named as in RFC 9293 §3.3.1; sndMax is the highest sequence number ever sent.
  private _state: TcpState = 'closed';
  iss: number;
  irs = 0;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  /** The peer's window in bytes (scaled). */
  sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  rcvNxt = 0;
  sndWscale = 0;
  rcvWscale: number;
  /** The largest segment we send (the peer's MSS option, at most ours). */
  mss = DEFAULT_SEND_MSS;
  timer: TcpTimer = 'none';
  /** When `timer` fires; 0 when none runs. */
  deadline = 0;

  readonly rtx = new RetransmitTimer();
  readonly cc = new NewReno(DEFAULT_SEND_MSS);
  private readonly sendBuf: SendBuffer;
  private readonly recvBuf: ReceiveBuffer;
  /** Sequence number of sendBuf's first byte. */
  private bufSeq: number;
  /** close() was called: a FIN follows the buffered data, at finSeq. */
  private finQueued = false;
  private finSeq = 0;
  /** The peer's FIN, seen past a hole: processed when RCV.NXT reaches it. -1 when none. */
  private peerFinAt = -1;
  private retries = 0;
  private persistMs = 0;
  /** The window we last advertised, in bytes, for the receiver's silly-window rule. */
  private advertised = 0;
  private wantWritable = false;
  private events = 0;
  private inSegment = false;
  private lastInvalidAck = -Infinity;
  private synOptions: TcpOption[] = [];

  constructor(private readonly ctx: SocketContext, init: SocketInit) {
    this.localIp = init.localIp;
    this.localPort = init.localPort;
    this.remoteIp = init.remoteIp;
    this.remotePort = init.remotePort;
    this.created = init.now;
    this.iss = init.iss >>> 0;
    this.sndUna = this.sndNxt = this.sndMax = this.iss;
    this.bufSeq = seqAdd(this.iss, 1);
    this.rcvWscale = init.rcvWscale;
    this.sendBuf = new SendBuffer(init.sndBuffer);
    this.recvBuf = new ReceiveBuffer(init.rcvBuffer);
  }

  get state(): TcpState { return this._state; }
  get readable(): number { return this.recvBuf.readable; }
  get sendSpace(): number { return this.finQueued || !this.canSend() ? 0 : this.sendBuf.space; }
  /** Our receive window in bytes. */
  get rcvWnd(): number { return this.recvBuf.window; }
  /** Bytes sent and not yet acknowledged (SYN and FIN count one each). */
  get inFlight(): number { return seqDiff(this.sndMax, this.sndUna); }

  // ------------------------------------------------------------------ opening

  /** Active open (RFC 9293 §3.10.1): SYN with our MSS and window scale. */
  openActive(now: number): void {
    this._state = 'syn-sent';
    this.synOptions = [{ kind: 'mss', value: this.ctx.advertisedMss }, { kind: 'nop' }, { kind: 'window-scale', shift: this.rcvWscale }];
    this.sendSyn(now);
    this.ctx.changed(this);
  }

  /** Passive open from a listener's SYN: SYN-RECEIVED, SYN-ACK sent. */
  openPassive(seg: InSegment, now: number): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.takeSynOptions(seg);
    this.synOptions = [{ kind: 'mss', value: this.ctx.advertisedMss }];
    if (seg.wscale >= 0) this.synOptions.push({ kind: 'nop' }, { kind: 'window-scale', shift: this.rcvWscale });
    this.updateWindow(seg);
    this._state = 'syn-received';
    this.sendSyn(now);
    this.ctx.changed(this);
  }

  /**
   * A connection rebuilt from a SYN cookie's ACK (RFC 4987): our ISN was ack − 1, the peer's seq − 1; no
   * window scaling (the cookie's SYN-ACK offered none). The ACK itself is then processed as usual.
   */
  openFromCookie(seg: InSegment, mss: number): void {
    this.irs = seqAdd(seg.seq, -1);
    this.rcvNxt = seg.seq;
    this.rcvWscale = 0;
    this.sndWscale = 0;
    this.setMss(mss);
    this.sndNxt = this.sndMax = seqAdd(this.iss, 1);
    this.sndWl1 = this.irs;
    this._state = 'syn-received';
    this.ctx.changed(this);
  }

  private takeSynOptions(seg: InSegment): void {
    this.setMss(seg.mss > 0 ? seg.mss : DEFAULT_SEND_MSS);
    if (seg.wscale >= 0) this.sndWscale = seg.wscale;
    else this.rcvWscale = 0; // RFC 7323 §2.2: scaling only when both sides offered it
  }

  private setMss(peerMss: number): void {
    this.mss = Math.max(Math.min(peerMss, this.ctx.advertisedMss), 64);
    this.cc.setMss(this.mss);
  }

  private sendSyn(now: number): void {
    const flags = this._state === 'syn-sent' ? TcpFlags.SYN : TcpFlags.SYN | TcpFlags.ACK;
    const window = Math.min(this.recvBuf.window, 0xffff); // RFC 7323 §2.2: a SYN's window is never scaled
    this.ctx.writer.send(this.remoteIp, this.localPort, this.remotePort, this.iss, this.rcvNxt, flags, window, undefined, this.synOptions);
    this.advertised = window;
    this.sndNxt = this.sndMax = seqAdd(this.iss, 1);
    this.rtx.time(this.sndNxt, now);
    this.armRto(now);
  }

  // ------------------------------------------------------------------ application calls

  /** Queues bytes; returns how many fit (wait for onWritable for the rest). */
  send(data: Uint8Array, now: number): number {
    if (this.finQueued || !this.canSend()) return 0;
    const n = this.sendBuf.write(data);
    if (n < data.length) this.wantWritable = true;
    if (n > 0) {
      this.output(now);
      this.ctx.changed(this);
    }
    return n;
  }

  /** Drains the in-order bytes received; null when none. Opens the window to the peer when it grew enough. */
  read(): Uint8Array | null {
    const data = this.recvBuf.read();
    if (data !== null && !this.inSegment && this.synchronized() && this.windowWorthAdvertising()) this.sendAck();
    return data;
  }

  /** Sends FIN once the buffered data is out (RFC 9293 §3.10.4). */
  close(now: number): void {
    switch (this._state) {
      case 'syn-sent':
        this.terminate('closed');
        return;
      case 'syn-received':
        this.queueFin(); // the FIN waits for ESTABLISHED (RFC 9293 §3.10.4)
        break;
      case 'established':
        this.queueFin();
        this._state = 'fin-wait-1';
        break;
      case 'close-wait':
        this.queueFin();
        this._state = 'last-ack';
        break;
      default:
        return;
    }
    this.output(now);
    this.ctx.changed(this);
  }

  /** RST to the peer, connection gone (RFC 9293 §3.10.5). */
  abort(_now: number): void {
    if (this._state === 'closed') return;
    if (this._state !== 'syn-sent' && this._state !== 'time-wait') {
      this.ctx.writer.send(this.remoteIp, this.localPort, this.remotePort, this.sndMax, this.rcvNxt, TcpFlags.RST | TcpFlags.ACK, 0);
    }
    this.terminate('reset');
  }

  private queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.finSeq = seqAdd(this.bufSeq, this.sendBuf.length);
  }

  private canSend(): boolean {
    const s = this._state;
    return s === 'established' || s === 'close-wait' || s === 'syn-sent' || s === 'syn-received';
  }

  private synchronized(): boolean {
    const s = this._state;
    return s !== 'syn-sent' && s !== 'syn-received' && s !== 'closed';
  }

  // ------------------------------------------------------------------ segment arrives (RFC 9293 §3.10.7)

  receive(seg: InSegment, now: number): void {
    this.inSegment = true;
    if (this._state === 'syn-sent') this.receiveInSynSent(seg, now);
    else this.receiveSynchronized(seg, now);
    this.inSegment = false;
    this.ctx.changed(this);
    this.deliverEvents();
  }

  private receiveInSynSent(seg: InSegment, now: number): void {
    const ackOk = seg.has(TcpFlags.ACK) && seqAfter(seg.ack, this.iss) && seqAtOrBefore(seg.ack, this.sndMax);
    if (seg.has(TcpFlags.ACK) && !ackOk) {
      this.ctx.writer.reset(this.remoteIp, seg);
      return;
    }
    if (seg.has(TcpFlags.RST)) {
      if (ackOk) { this.ctx.counters.resetsReceived++; this.terminate('refused'); }
      return;
    }
    if (!seg.has(TcpFlags.SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.takeSynOptions(seg);
    if (!ackOk) {
      // Simultaneous open (RFC 9293 §3.5): answer with SYN-ACK, now from SYN-RECEIVED.
      this._state = 'syn-received';
      if (seg.wscale < 0) this.synOptions = [{ kind: 'mss', value: this.ctx.advertisedMss }];
      this.sendSyn(now);
      return;
    }
    this.ackSyn(seg, now);
    this.sendAck();
    this.output(now);
  }

  /** Our SYN was acknowledged: ESTABLISHED. */
  private ackSyn(seg: InSegment, now: number): void {
    this.rtx.acked(seg.ack, now);
    this.sndUna = seg.ack;
    this.sndWl1 = seqAdd(seg.seq, -1); // so the window of this very segment is taken
    this.updateWindow(seg);
    this.retries = 0;
    this.stopTimer();
    this._state = this.finQueued ? 'fin-wait-1' : 'established';
    this.events |= Ev.Established;
    this.ctx.counters.connectionsOpened++;
  }

  private receiveSynchronized(seg: InSegment, now: number): void {
    if (this._state === 'syn-received' && seg.has(TcpFlags.SYN) && !seg.has(TcpFlags.ACK) && seg.seq === this.irs) {
      this.retransmitSyn(now); // our SYN-ACK was lost: the peer sent its SYN again
      return;
    }
    if (!this.acceptable(seg)) {
      this.unacceptable(seg, now);
      return;
    }
    if (seg.has(TcpFlags.RST)) { this.receiveReset(seg, now); return; }
    if (seg.has(TcpFlags.SYN)) { this.challengeAck(seg, now); return; } // RFC 5961 §4.2
    if (!seg.has(TcpFlags.ACK)) return;
    if (!this.receiveAck(seg, now)) return;
    const needAck = this.receiveText(seg, now);
    if (this._state === 'closed') return;
    if (needAck) this.sendAck();
    this.output(now);
  }

  /** RFC 9293 §3.10.7.4's four cases: some of the segment lies in the receive window. */
  private acceptable(seg: InSegment): boolean {
    const len = seg.seqLen, wnd = this.recvBuf.window, nxt = this.rcvNxt;
    if (len === 0) return wnd === 0 ? seg.seq === nxt : seqInRange(seg.seq, nxt, seqAdd(nxt, wnd));
    if (wnd === 0) return false;
    return seqInRange(seg.seq, nxt, seqAdd(nxt, wnd)) || seqInRange(seqAdd(seg.seq, len - 1), nxt, seqAdd(nxt, wnd));
  }

  private unacceptable(seg: InSegment, now: number): void {
    if (seg.has(TcpFlags.RST)) { this.ctx.counters.resetsIgnored++; return; }
    if (this._state === 'time-wait' && seg.has(TcpFlags.FIN)) this.startTimeWait(now); // a retransmitted FIN: our ACK was lost
    this.ctx.counters.outOfWindow++;
    if (this.ackRateLimited(seg, now)) return;
    this.sendAck();
  }

  /**
   * Linux's tcp_invalid_ratelimit: an out-of-window segment without data (or with SYN) is answered at most once
   * per 500 ms, so two confused ends cannot ping-pong ACKs forever (RFC 5961 §7 asks for such a limit).
   */
  private ackRateLimited(seg: InSegment, now: number): boolean {
    if (seg.payload.length > 0 && !seg.has(TcpFlags.SYN)) return false;
    if (now - this.lastInvalidAck < INVALID_ACK_INTERVAL_MS) { this.ctx.counters.acksRateLimited++; return true; }
    this.lastInvalidAck = now;
    return false;
  }

  /** RFC 5961 §3.2: only a RST exactly at RCV.NXT resets; one elsewhere in the window gets a challenge ACK. */
  private receiveReset(seg: InSegment, now: number): void {
    if (seg.seq !== this.rcvNxt) {
      this.ctx.counters.resetsIgnored++;
      this.challengeAck(seg, now);
      return;
    }
    this.ctx.counters.resetsReceived++;
    const passive = this._state === 'syn-received' && this.listener !== null;
    this.terminate(this._state === 'syn-received' && !passive ? 'refused' : 'reset');
  }

  private challengeAck(seg: InSegment, now: number): void {
    this.ctx.counters.challengeAcks++;
    if (!this.ackRateLimited(seg, now)) this.sendAck();
  }

  /** RFC 9293 §3.10.7.4 fifth check; false when the segment is to be dropped here. */
  private receiveAck(seg: InSegment, now: number): boolean {
    if (this._state === 'syn-received') {
      if (!seqAfter(seg.ack, this.sndUna) || seqAfter(seg.ack, this.sndMax)) {
        this.ctx.writer.reset(this.remoteIp, seg);
        return false;
      }
      if (this.listener !== null && !this.ctx.established(this)) return false;
      if (this.listener !== null) this.events |= Ev.Accepted;
      this.ackSyn(seg, now);
      return true;
    }
    if (seqAfter(seg.ack, this.sndMax)) {
      this.ctx.counters.ackUnsent++;
      this.sendAck();
      return false;
    }
    if (seqAfter(seg.ack, this.sndUna)) this.newAck(seg, now);
    else if (this.isDupAck(seg)) this.dupAck(now);
    this.updateWindow(seg);
    return this.finAcked(now);
  }

  /** RFC 5681 §2's duplicate ACK: nothing new acknowledged, no data, same window, data outstanding. */
  private isDupAck(seg: InSegment): boolean {
    return seg.ack === this.sndUna && seg.payload.length === 0 && !seg.has(TcpFlags.FIN | TcpFlags.SYN)
      && this.sndMax !== this.sndUna && this.scaledWindow(seg) === this.sndWnd;
  }

  private newAck(seg: InSegment, now: number): void {
    const acked = seqDiff(seg.ack, this.sndUna);
    this.rtx.acked(seg.ack, now);
    const dataEnd = seqAdd(this.bufSeq, this.sendBuf.length);
    const dataAcked = seqDiff(seqBefore(seg.ack, dataEnd) ? seg.ack : dataEnd, this.bufSeq);
    if (dataAcked > 0) {
      this.sendBuf.consume(dataAcked);
      this.bufSeq = seqAdd(this.bufSeq, dataAcked);
    }
    this.sndUna = seg.ack;
    if (seqBefore(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
    this.retries = 0;
    if (this.cc.onAck(acked, seg.ack, this.inFlight)) this.retransmitFirst(now);
    if (this.sndUna === this.sndMax) { if (this.timer === 'rto') this.stopTimer(); } else this.armRto(now);
    if (this.wantWritable && dataAcked > 0 && this.sendSpace > 0) {
      this.wantWritable = false;
      this.events |= Ev.Writable;
    }
  }

  private dupAck(now: number): void {
    this.ctx.counters.dupAcks++;
    if (!this.cc.onDupAck(this.inFlight, this.sndMax)) return;
    this.ctx.counters.fastRetransmits++;
    this.retransmitFirst(now);
  }

  /** RFC 9293 SND.WL1/WL2: take the window only from a segment not older than the last one that set it. */
  private updateWindow(seg: InSegment): void {
    if (!(seqBefore(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqAtOrBefore(this.sndWl2, seg.ack)))) return;
    this.sndWnd = this.scaledWindow(seg);
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    if (this.sndWnd > 0 && this.timer === 'persist') this.stopTimer();
  }

  private scaledWindow(seg: InSegment): number {
    return seg.has(TcpFlags.SYN) ? seg.window : seg.window << this.sndWscale;
  }

  /** The state moves our FIN's acknowledgement causes; false when the connection is gone. */
  private finAcked(now: number): boolean {
    if (!this.finQueued || seqBefore(this.sndUna, seqAdd(this.finSeq, 1))) return true;
    if (this._state === 'fin-wait-1') {
      this._state = 'fin-wait-2';
      this.startTimeWait(now); // Linux's tcp_fin_timeout: a peer that never closes does not hold us forever
    } else if (this._state === 'closing') {
      this._state = 'time-wait';
      this.startTimeWait(now);
    } else if (this._state === 'last-ack') {
      this.terminate('closed');
      return false;
    }
    return true;
  }

  /** Data and FIN (RFC 9293 §3.10.7.4, seventh and eighth checks); true when an ACK is due. */
  private receiveText(seg: InSegment, now: number): boolean {
    const s = this._state;
    const takesData = s === 'established' || s === 'fin-wait-1' || s === 'fin-wait-2';
    let needAck = false;
    if (seg.payload.length > 0) {
      needAck = true;
      if (takesData) this.receiveData(seg);
    }
    if (seg.has(TcpFlags.FIN) && (takesData || s === 'close-wait' || s === 'closing' || s === 'last-ack' || s === 'time-wait')) {
      needAck = true;
      const finAt = seqAdd(seg.seq, seg.payload.length);
      if (seqAtOrAfter(finAt, this.rcvNxt) && seqBefore(finAt, seqAdd(this.rcvNxt, this.recvBuf.window + 1))) this.peerFinAt = finAt;
      if (s === 'time-wait') this.startTimeWait(now);
    }
    if (this.peerFinAt >= 0 && this.rcvNxt === this.peerFinAt) this.receiveFin(now);
    return needAck;
  }

  private receiveData(seg: InSegment): void {
    let seq = seg.seq, data = seg.payload;
    const skip = seqDiff(this.rcvNxt, seq);
    if (skip > 0) { data = data.subarray(skip); seq = this.rcvNxt; }
    const room = this.recvBuf.window - seqDiff(seq, this.rcvNxt);
    if (data.length > room) data = data.subarray(0, Math.max(room, 0));
    if (data.length === 0) return;
    if (seq !== this.rcvNxt && !this.recvBuf.acceptsOutOfOrder) return; // dropped; the peer sends it again
    const before = this.rcvNxt;
    this.rcvNxt = this.recvBuf.write(before, seq, data);
    if (this.rcvNxt === before) this.ctx.counters.outOfOrder++;
    else this.events |= Ev.Data;
  }

  private receiveFin(now: number): void {
    this.peerFinAt = -1;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.events |= Ev.End;
    if (this._state === 'established') this._state = 'close-wait';
    else if (this._state === 'fin-wait-1') this._state = 'closing'; // simultaneous close: our FIN is not yet acked
    else if (this._state === 'fin-wait-2') {
      this._state = 'time-wait';
      this.startTimeWait(now);
    }
  }

  // ------------------------------------------------------------------ sending

  /** Sends what the windows allow (RFC 5681: min(cwnd, peer window) past SND.UNA), FIN after the last byte. */
  private output(now: number): void {
    if (!this.synchronized() || this._state === 'time-wait' || this._state === 'fin-wait-2') return;
    for (;;) {
      const pending = seqDiff(seqAdd(this.bufSeq, this.sendBuf.length), this.sndNxt);
      const usable = seqDiff(seqAdd(this.sndUna, Math.min(this.sndWnd, this.cc.cwnd)), this.sndNxt);
      const len = Math.max(Math.min(this.mss, pending, usable), 0);
      const fin = this.finQueued && len === pending && seqAdd(this.sndNxt, len) === this.finSeq;
      if (len === 0 && !fin) break;
      const isNew = !seqBefore(this.sndNxt, this.sndMax);
      this.sendSegment(this.sndNxt, len, fin);
      this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
      if (seqAfter(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      if (isNew) this.rtx.time(this.sndNxt, now); // Karn: only a segment sent for the first time is timed
      if (this.timer !== 'rto') this.armRto(now);
    }
    const waiting = seqDiff(seqAdd(this.bufSeq, this.sendBuf.length), this.sndNxt) > 0 || (this.finQueued && seqAtOrBefore(this.sndNxt, this.finSeq));
    if (this.sndWnd === 0 && waiting && this.sndUna === this.sndMax && this.timer === 'none') this.armPersist(now);
  }

  /** One data segment at `seq` from the send buffer; counted as a retransmission when below SND.MAX. */
  private sendSegment(seq: number, len: number, fin: boolean): void {
    if (seqBefore(seq, this.sndMax)) this.ctx.counters.retransmits++;
    const payload = this.sendBuf.peek(seqDiff(seq, this.bufSeq), len);
    let flags = TcpFlags.ACK;
    if (fin) flags |= TcpFlags.FIN;
    if (len > 0 && seqDiff(seqAdd(this.bufSeq, this.sendBuf.length), seq) === len) flags |= TcpFlags.PSH;
    this.ctx.writer.send(this.remoteIp, this.localPort, this.remotePort, seq, this.rcvNxt, flags, this.windowField(), payload);
  }

  /** Fast retransmit / partial ACK: the first unacknowledged segment again. */
  private retransmitFirst(now: number): void {
    const pending = seqDiff(seqAdd(this.bufSeq, this.sendBuf.length), this.sndUna);
    const len = Math.max(Math.min(this.mss, pending), 0);
    const fin = this.finQueued && seqAdd(this.sndUna, len) === this.finSeq;
    if (len === 0 && !fin) return;
    this.rtx.cancel();
    this.sendSegment(this.sndUna, len, fin);
    this.armRto(now);
  }

  /** A pure ACK. Its sequence number is SND.MAX, not SND.NXT: after a go-back-N the peer may hold more than SND.NXT, and must still find it in its window. */
  private sendAck(): void {
    this.ctx.writer.send(this.remoteIp, this.localPort, this.remotePort, this.sndMax, this.rcvNxt, TcpFlags.ACK, this.windowField());
  }

  /** Our window as the header carries it (scaled down, so the edge never moves left of what we hold). */
  private windowField(): number {
    const field = Math.min(this.recvBuf.window >>> this.rcvWscale, 0xffff);
    this.advertised = field << this.rcvWscale;
    return field;
  }

  /** RFC 9293 §3.8.6.2.2 receiver SWS avoidance: advertise an opening of at least min(buffer / 2, MSS). */
  private windowWorthAdvertising(): boolean {
    return this.recvBuf.window - this.advertised >= Math.min(this.recvBuf.capacity / 2, this.ctx.advertisedMss);
  }

  // ------------------------------------------------------------------ timers

  poll(now: number): void {
    if (this.timer === 'none' || now < this.deadline) return;
    const timer = this.timer;
    this.stopTimer();
    if (timer === 'rto') this.onRto(now);
    else if (timer === 'persist') this.onPersist(now);
    else if (timer === 'time-wait') this.terminate('closed');
    this.ctx.changed(this);
    this.deliverEvents();
  }

  /** RFC 6298 §5.4-5.7: retransmit from SND.UNA, back the timer off; RFC 5681 §3.1: one segment of slow start. */
  private onRto(now: number): void {
    this.ctx.counters.rtoExpired++;
    const limit = this._state === 'syn-sent' ? SYN_RETRIES : this._state === 'syn-received' ? SYNACK_RETRIES : DATA_RETRIES;
    if (++this.retries > limit) {
      this.ctx.counters.timeouts++;
      this.terminate('timeout');
      return;
    }
    this.rtx.backoff();
    if (!this.synchronized()) { this.retransmitSyn(now); return; }
    this.cc.onTimeout(this.inFlight);
    this.sndNxt = this.sndUna; // go back N: everything unacknowledged goes again as the window allows
    if (this.sndWnd === 0) { this.armPersist(now); return; }
    this.output(now);
    if (this.timer === 'none') this.armRto(now);
  }

  private retransmitSyn(now: number): void {
    this.ctx.counters.retransmits++;
    this.rtx.cancel();
    this.sendSyn(now);
    this.rtx.cancel(); // Karn: a SYN sent again gives no sample
  }

  /** RFC 9293 §3.8.6.1 zero-window probe: an ACK one below SND.UNA makes the peer report its window. */
  private onPersist(now: number): void {
    this.ctx.counters.persistProbes++;
    this.ctx.writer.send(this.remoteIp, this.localPort, this.remotePort, seqAdd(this.sndUna, -1), this.rcvNxt, TcpFlags.ACK, this.windowField());
    this.persistMs = Math.min(this.persistMs * 2, PERSIST_MAX_MS);
    this.setTimer('persist', now + this.persistMs);
  }

  private armRto(now: number): void { this.setTimer('rto', now + this.rtx.rto); }

  private armPersist(now: number): void {
    this.persistMs = this.rtx.rto;
    this.setTimer('persist', now + this.persistMs);
  }

  private startTimeWait(now: number): void { this.setTimer('time-wait', now + this.ctx.timeWaitMs); }

  private setTimer(timer: TcpTimer, deadline: number): void {
    this.timer = timer;
    this.deadline = deadline;
  }

  private stopTimer(): void {
    this.timer = 'none';
    this.deadline = 0;
  }

  // ------------------------------------------------------------------ the end

  /** The connection is gone: the endpoint forgets it, the application hears why. */
  terminate(reason: CloseReason): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    this.stopTimer();
    this.ctx.counters.connectionsClosed++;
    this.ctx.closed(this);
    if (!this.inSegment) this.deliverEvents();
    this.onClose?.(reason);
  }

  private deliverEvents(): void {
    const ev = this.events;
    if (ev === 0) return;
    this.events = 0;
    if (ev & Ev.Accepted) this.ctx.accepted(this);
    if (ev & Ev.Established) this.onEstablished?.();
    if (ev & Ev.Data) this.onData?.();
    if (ev & Ev.End) this.onEnd?.();
    if (ev & Ev.Writable) this.onWritable?.();
  }
}
