// A received segment's fields as the state machine reads them, read once from the TcpPacket view. One object
// is reused segment after segment; options are parsed only when the header has any.
import { parseTcpOptions, TcpFlags, TCP_MIN_HEADER_LEN, type TcpPacket } from '../../wire/tcp.js';
import { WireError } from '../../wire/error.js';

/** RFC 7323 §2.3: a larger shift is taken as 14. */
const MAX_WSCALE = 14;

export class InSegment {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  /** The window field as sent (unscaled). */
  window = 0;
  payload: Uint8Array = new Uint8Array(0);
  /** The MSS option, 0 when absent. */
  mss = 0;
  /** The window-scale option's shift, -1 when absent. */
  wscale = -1;

  /** Reads `pkt` (length-checked by the caller); false when its options are malformed. */
  read(pkt: TcpPacket): boolean {
    this.srcPort = pkt.srcPort;
    this.dstPort = pkt.dstPort;
    this.seq = pkt.seq;
    this.ack = pkt.ack;
    this.flags = pkt.flags;
    this.window = pkt.window;
    this.payload = pkt.payload();
    this.mss = 0;
    this.wscale = -1;
    return pkt.headerLength === TCP_MIN_HEADER_LEN || this.readOptions(pkt);
  }

  has(flag: number): boolean { return (this.flags & flag) !== 0; }

  /** Sequence space the segment occupies: its data, plus one each for SYN and FIN. */
  get seqLen(): number {
    return this.payload.length + (this.flags & TcpFlags.SYN ? 1 : 0) + (this.flags & TcpFlags.FIN ? 1 : 0);
  }

  /** Keeps MSS and window scale; SACK-permitted and timestamps are accepted and left unanswered (not negotiated). */
  private readOptions(pkt: TcpPacket): boolean {
    let options;
    try {
      options = parseTcpOptions(pkt.optionBytes()).options;
    } catch (err) {
      if (err instanceof WireError) return false;
      throw err;
    }
    for (const o of options) {
      if (o.kind === 'mss') this.mss = o.value;
      else if (o.kind === 'window-scale') this.wscale = Math.min(o.shift, MAX_WSCALE);
    }
    return true;
  }
}
