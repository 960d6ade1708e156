// The retransmission timeout of RFC 6298: SRTT/RTTVAR from samples of one timed segment at a time (Karn's
// algorithm: never a retransmitted one), doubled on each expiry, clamped to [minMs, maxMs].
import { seqAtOrAfter } from './seq-space.js';

export interface RtoOptions {
  /** Linux's TCP_RTO_MIN (200 ms), not RFC 6298's 1 s: the kernels we talk to recover that fast, so must we. */
  minMs?: number;
  /** Linux's TCP_RTO_MAX. */
  maxMs?: number;
  /** RFC 6298 §2.1: 1 s before the first sample. */
  initialMs?: number;
}

export class RetransmitTimer {
  srtt = 0;
  rttvar = 0;
  /** The current timeout, backoff included. */
  rto: number;
  /** Expiries since the last fresh sample. */
  backoffs = 0;
  private readonly minMs: number;
  private readonly maxMs: number;
  /** The segment being timed: its end sequence number and when it left; -1 when none. */
  private timedSeq = 0;
  private timedAt = -1;

  constructor(opts: RtoOptions = {}) {
    this.minMs = opts.minMs ?? 200;
    this.maxMs = opts.maxMs ?? 120_000;
    this.rto = opts.initialMs ?? 1000;
  }

  get timing(): boolean { return this.timedAt >= 0; }

  /** Starts timing a segment ending at `endSeq` unless one is already timed. */
  time(endSeq: number, now: number): void {
    if (this.timedAt >= 0) return;
    this.timedSeq = endSeq;
    this.timedAt = now;
  }

  /** Karn: a retransmission makes the timed segment's sample ambiguous. */
  cancel(): void { this.timedAt = -1; }

  /** An ACK up to `ack` arrived: takes the sample when it covers the timed segment. */
  acked(ack: number, now: number): void {
    if (this.timedAt < 0 || !seqAtOrAfter(ack, this.timedSeq)) return;
    this.sample(Math.max(now - this.timedAt, 0));
    this.timedAt = -1;
  }

  /** RFC 6298 §2.2-2.3, with K = 4 and the clock granularity taken as 1 ms. */
  sample(r: number): void {
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.backoffs = 0;
    this.rto = this.clamp(this.srtt + Math.max(1, 4 * this.rttvar));
  }

  /** RFC 6298 §5.5: the timer expired. */
  backoff(): void {
    this.backoffs++;
    this.rto = this.clamp(this.rto * 2);
    this.timedAt = -1;
  }

  private clamp(ms: number): number {
    return Math.min(Math.max(Math.ceil(ms), this.minMs), this.maxMs);
  }
}
