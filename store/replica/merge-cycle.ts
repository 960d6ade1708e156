// A replica's side of one merge cycle, in slices of bounded time: write what the owner coalesced
// (its flush hook), encode the push, then — when the primary answers — apply the head delta. Each
// slice runs steps until its budget is spent, so the thread's other work (frames) never waits long.
import type { DeltaCodec, HeadDeltaMessage } from './delta.js';
import type { RecordReader } from './records.js';
import type { Replica } from './replica.js';
import type { HeadApply, OutgoingPush } from './replica-steps.js';

/** Coalesced writes a step: each flush hook call is given this limit. */
export const FLUSH_STEP = 64;

export interface MergeCycleHooks {
  /** Writes up to `limit` coalesced edits into the replica; returns how many remain (void: none). */
  flush?: (limit: number) => number | void;
  /** Sends a push's bytes to the primary. */
  send(bytes: Uint8Array): void;
  /** A head delta is fully applied (its entries are in the message only if `collect` was asked). */
  applied?(head: HeadDeltaMessage): void;
  /** The clock, µs (any origin). */
  clock(): number;
}

type State = 'idle' | 'flush' | 'encode' | 'wait' | 'apply';

export class MergeCycle {
  private state: State = 'idle';
  private push: OutgoingPush | null = null;
  private head: HeadApply | null = null;
  /** Coalesced edits still to write this cycle (bounded, so a busy flow table cannot hold the push back). */
  private flushLeft = 0;
  private skipIfIdle: (() => boolean) | null = null;
  /** Whether the last cycle found nothing to push or pull. */
  idle = false;
  /** Slices run, and the longest, µs. */
  slices = 0;
  maxSliceUs = 0;

  constructor(
    private readonly replica: Replica,
    private readonly codec: DeltaCodec,
    private readonly hooks: MergeCycleHooks,
    /** A slice's budget: it stops at the first step that ends past it. */
    readonly sliceUs = 100,
  ) {}

  /** Nothing in progress: a new cycle may begin. */
  get free(): boolean {
    return this.state === 'idle' && !this.replica.busy;
  }

  /** Waiting for the primary's answer (nothing to do until it comes). */
  get waiting(): boolean {
    return this.state === 'wait';
  }

  /**
   * Starts a cycle (false if one is in progress). `skipIfIdle`, asked once the flush is done: true ends
   * the cycle without a push (nothing to push or pull).
   */
  begin(skipIfIdle: (() => boolean) | null = null): boolean {
    if (!this.free) return false;
    this.skipIfIdle = skipIfIdle;
    this.idle = false;
    this.flushLeft = -1;
    this.state = this.hooks.flush ? 'flush' : 'encode';
    return true;
  }

  /** The primary's answer to the push in flight: applied over the next slices. False: stale, ignored. */
  answer(reader: RecordReader, collect = false): boolean {
    const h = this.replica.beginHead(reader, collect);
    if (h === null) return false;
    this.head = h;
    this.state = 'apply';
    return true;
  }

  /** The push was refused (the replica has taken its edits back): the cycle is over. */
  refused(): void {
    this.push = null;
    this.state = 'idle';
  }

  /** Runs steps for up to the budget; returns true while there is more to do at once (schedule another slice). */
  slice(): boolean {
    if (this.state === 'idle' || this.state === 'wait') return false;
    const t0 = this.hooks.clock();
    let more = true;
    do more = this.step(); while (more && this.hooks.clock() - t0 < this.sliceUs);
    const us = this.hooks.clock() - t0;
    this.slices++;
    if (us > this.maxSliceUs) this.maxSliceUs = us;
    return more;
  }

  /** One bounded step of the current state; false when the cycle waits or is over. */
  private step(): boolean {
    switch (this.state) {
      case 'flush': return this.flushStep();
      case 'encode': return this.encodeStep();
      case 'apply': return this.applyStep();
      default: return false;
    }
  }

  private flushStep(): boolean {
    const left = this.hooks.flush!(FLUSH_STEP);
    const remaining = typeof left === 'number' ? left : 0;
    // What was dirty when the cycle began is written this cycle; what packets dirty meanwhile may wait for the next.
    this.flushLeft = this.flushLeft < 0 ? remaining : this.flushLeft - FLUSH_STEP;
    if (remaining > 0 && this.flushLeft > 0) return true;
    if (this.skipIfIdle?.()) {
      this.idle = true;
      this.state = 'idle';
      return false;
    }
    this.state = 'encode';
    return true;
  }

  private encodeStep(): boolean {
    if (this.push === null) {
      if (this.state === 'encode' && this.hooks.flush === undefined && this.skipIfIdle?.()) {
        this.idle = true;
        this.state = 'idle';
        return false;
      }
      this.push = this.replica.beginPush(this.codec);
      if (this.push === null) { this.state = 'idle'; return false; }
    }
    if (!this.push.step()) return true;
    const bytes = this.push.bytes();
    this.push = null;
    this.state = 'wait';
    this.hooks.send(bytes);
    return false;
  }

  private applyStep(): boolean {
    if (!this.head!.step()) return true;
    const h = this.head!;
    this.head = null;
    this.state = 'idle';
    this.hooks.applied?.(h.message());
    return false;
  }
}
