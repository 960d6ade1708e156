// Two TCP endpoints back to back through a simulated link on a simulated clock: each segment is delayed, and
// under a seeded PRNG dropped, duplicated or held back (reordered). For tests and simulations of the endpoint.
import { prng } from '../../actors/sim/prng.js';
import { TcpEndpoint, type TcpEndpointOptions } from '../../actors/tcp/tcp-endpoint.js';

export interface ChannelFaults {
  /** Probability a segment is lost. */
  drop?: number;
  /** Probability a segment is delivered twice. */
  duplicate?: number;
  /** Probability a segment is held back by up to `reorderMs` extra. */
  reorder?: number;
  reorderMs?: number;
  /** One-way delay, ms. */
  delayMs?: number;
}

interface InFlight { at: number; order: number; dst: number; src: number; bytes: Uint8Array }

export class LossyChannel {
  now = 0;
  faults: ChannelFaults;
  /** Every segment offered to the link while `tapping` (for tests that inspect the wire). */
  readonly tap: Array<{ at: number; src: number; dst: number; bytes: Uint8Array }> = [];
  tapping = false;
  /** Drops a segment when it returns true (tests aiming at one segment), before the random faults. */
  dropIf: ((src: number, dst: number, segment: Uint8Array) => boolean) | null = null;
  delivered = 0;
  private readonly queue: InFlight[] = [];
  private readonly random: () => number;
  private order = 0;
  private readonly endpoints = new Map<number, TcpEndpoint>();

  constructor(seed: number, faults: ChannelFaults = {}) {
    this.random = prng(seed);
    this.faults = faults;
  }

  /** An endpoint at `ip` on this link. */
  endpoint(ip: number, opts: TcpEndpointOptions = {}): TcpEndpoint {
    const ep = new TcpEndpoint(ip, (dst, segment) => this.offer(ip, dst, segment), opts);
    this.endpoints.set(ip, ep);
    return ep;
  }

  /** Puts a segment on the link as if `src` sent it (copied: the endpoint lends its buffer). */
  offer(src: number, dst: number, segment: Uint8Array): void {
    const f = this.faults;
    if (this.tapping) this.tap.push({ at: this.now, src, dst, bytes: segment.slice() });
    if (this.dropIf?.(src, dst, segment)) return;
    if (this.random() < (f.drop ?? 0)) return;
    const copies = this.random() < (f.duplicate ?? 0) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const extra = this.random() < (f.reorder ?? 0) ? this.random() * (f.reorderMs ?? 10) : 0;
      this.push({ at: this.now + (f.delayMs ?? 5) + extra, order: this.order++, dst, src, bytes: segment.slice() });
    }
  }

  private push(p: InFlight): void {
    const q = this.queue;
    let i = q.length;
    while (i > 0 && (q[i - 1].at > p.at || (q[i - 1].at === p.at && q[i - 1].order > p.order))) i--;
    q.splice(i, 0, p);
  }

  get inFlight(): number { return this.queue.length; }

  /** The next moment something happens: a delivery or an endpoint's timer. */
  nextEvent(): number {
    let t = this.queue.length > 0 ? this.queue[0].at : Infinity;
    for (const ep of this.endpoints.values()) t = Math.min(t, ep.nextDeadline());
    return t;
  }

  /** Runs events up to `until` (or until `done()` holds, or nothing is left); returns the number of steps taken. */
  run(until: number, done: () => boolean = () => false, maxSteps = 2_000_000): number {
    let steps = 0;
    while (steps < maxSteps && !done()) {
      const t = this.nextEvent();
      if (t > until) break;
      this.now = Math.max(this.now, t);
      this.step();
      steps++;
    }
    if (!done() && this.now < until && this.nextEvent() > until) this.now = until;
    return steps;
  }

  /** Delivers what is due and fires due timers at `now`. */
  step(): void {
    while (this.queue.length > 0 && this.queue[0].at <= this.now) {
      const p = this.queue.shift()!;
      this.delivered++;
      this.endpoints.get(p.dst)?.receive(p.src, p.dst, p.bytes, this.now);
    }
    for (const ep of this.endpoints.values()) ep.poll(this.now);
  }
}
