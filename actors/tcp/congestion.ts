// NewReno congestion control (RFC 5681 slow start and congestion avoidance, RFC 6582 fast recovery), in bytes.
import { seqAtOrAfter } from './seq-space.js';

/** RFC 6928's initial window (what Linux uses). */
const INITIAL_SEGMENTS = 10;

export class NewReno {
  cwnd: number;
  ssthresh = 0x7fff_ffff;
  dupAcks = 0;
  inRecovery = false;
  /** SND.MAX when recovery began (RFC 6582 `recover`). */
  private recover = 0;

  constructor(private mss: number) {
    this.cwnd = INITIAL_SEGMENTS * mss;
  }

  setMss(mss: number): void {
    this.mss = mss;
    this.cwnd = INITIAL_SEGMENTS * mss;
  }

  /**
   * New data acknowledged. Returns true on a partial ACK during recovery (RFC 6582 §3.2 step 3): the caller
   * retransmits the next unacknowledged segment.
   */
  onAck(acked: number, ack: number, flight: number): boolean {
    this.dupAcks = 0;
    if (this.inRecovery) {
      if (seqAtOrAfter(ack, this.recover)) {
        this.inRecovery = false;
        this.cwnd = Math.min(this.ssthresh, Math.max(flight, this.mss) + this.mss);
        return false;
      }
      this.cwnd = Math.max(this.cwnd - acked + this.mss, this.mss);
      return true;
    }
    if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, this.mss);
    else this.cwnd += Math.max(1, Math.floor((this.mss * this.mss) / this.cwnd));
    return false;
  }

  /** A duplicate ACK. Returns true on the third (enter fast retransmit); later ones inflate the window. */
  onDupAck(flight: number, sndMax: number): boolean {
    this.dupAcks++;
    if (this.inRecovery) {
      this.cwnd += this.mss;
      return false;
    }
    if (this.dupAcks !== 3) return false;
    this.ssthresh = Math.max(flight / 2, 2 * this.mss);
    this.cwnd = this.ssthresh + 3 * this.mss;
    this.inRecovery = true;
    this.recover = sndMax;
    return true;
  }

  /** RFC 5681 §3.1 eq. 4 and loss window: back to one segment of slow start. */
  onTimeout(flight: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * this.mss);
    this.cwnd = this.mss;
    this.dupAcks = 0;
    this.inRecovery = false;
  }
}
