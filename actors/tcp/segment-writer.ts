// Builds outgoing segments with TcpRepr into one scratch buffer and hands them to the endpoint's `out`
// (lent: the callee copies what it keeps), so sending allocates no segment buffer.
import { TcpPacket, TcpRepr, TcpFlags, type TcpOption } from '../../wire/tcp.js';
import type { TcpCounters } from './tcp-counters.js';

const NO_OPTIONS: TcpOption[] = [];
const EMPTY = new Uint8Array(0);
/** Room for the largest header and a segment of the largest MSS an IPv4 packet can carry. */
const SCRATCH = 60 + 65_535;

export type SegmentOut = (dst: number, segment: Uint8Array) => void;

export class SegmentWriter {
  private readonly pkt = TcpPacket.newUnchecked(new Uint8Array(SCRATCH));
  private readonly repr = new TcpRepr({ srcPort: 0, dstPort: 0 });

  constructor(private readonly localIp: number, private readonly out: SegmentOut, private readonly counters: TcpCounters) {}

  send(
    dst: number, srcPort: number, dstPort: number, seq: number, ack: number, flags: number, window: number,
    payload: Uint8Array = EMPTY, options: TcpOption[] = NO_OPTIONS,
  ): void {
    const r = this.repr;
    r.srcPort = srcPort;
    r.dstPort = dstPort;
    r.seq = seq >>> 0;
    r.ack = flags & TcpFlags.ACK ? ack >>> 0 : 0;
    r.flags = flags;
    r.window = window;
    r.options = options;
    const pkt = this.pkt;
    pkt.length = SCRATCH;
    r.emit(pkt, payload, this.localIp, dst);
    this.counters.segmentsOut++;
    if (flags & TcpFlags.RST) this.counters.resetsSent++;
    this.out(dst, pkt.asBytes());
  }

  /** RFC 9293 §3.10.7.1: the RST answering `seg` when no connection takes it (never to a RST). */
  reset(dst: number, seg: { srcPort: number; dstPort: number; seq: number; ack: number; flags: number; seqLen: number }): void {
    if (seg.flags & TcpFlags.RST) return;
    if (seg.flags & TcpFlags.ACK) this.send(dst, seg.dstPort, seg.srcPort, seg.ack, 0, TcpFlags.RST, 0);
    else this.send(dst, seg.dstPort, seg.srcPort, 0, seg.seq + seg.seqLen, TcpFlags.RST | TcpFlags.ACK, 0);
  }
}
