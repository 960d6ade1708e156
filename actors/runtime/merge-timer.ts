// When an actor's merge loop turns: every interval while there is work, and not at all while there
// is none. A turn that finds nothing to push or pull is idle; after IDLE_TURNS_TO_SLEEP idle turns in
// a row the interval stops and the actor waits on the primary's head cell (ReplicaHost.headCell)
// instead. A commit on the primary, or an edit of the actor's own (wake()), starts the interval again,
// so a change still reaches the actor within one interval. An idle router's actors then cost no
// timer wake-ups; under traffic every turn has work and nothing here changes.
import { waitAsync } from '../../wire/link/frame-ring.js';

/** Idle turns in a row before the interval stops. */
export const IDLE_TURNS_TO_SLEEP = 10;
/**
 * The wait on the head cell is bounded: a wake-up lost under load (seen on Node 20, see
 * FrameRing.waitForFrames) costs at most this long, and each bounded wait also takes one turn.
 */
export const SLEEP_CHECK_MS = 1_000;

export class MergeTimer {
  /** Turns taken, and those that found nothing to do. */
  turns = 0;
  idleTurns = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private intervalMs = 100;
  private idleRun = 0;
  private sleeping = false;
  /** Bumped whenever a sleep ends, so a wait that settles later knows it is stale. */
  private sleepId = 0;

  constructor(
    /** One turn of the merge loop; returns true when it found nothing to push or pull. */
    private readonly turn: () => boolean,
    /** The primary's head (low 32 bits); null: never sleep, turn every interval. */
    private readonly head: Int32Array | null,
    /** The head this actor last merged with: a head cell that differs from it ends a sleep. */
    private readonly base: () => number,
  ) {}

  get asleep(): boolean {
    return this.sleeping;
  }

  /** Turns every `ms`; null stops the loop. */
  run(ms: number | null): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sleeping = false;
    this.sleepId++;
    if (ms === null) return;
    this.intervalMs = ms;
    this.start();
  }

  /** Work arrived (edits of the actor's own): an asleep loop turns again. Cheap enough for every batch of frames. */
  wake(): void {
    if (!this.sleeping) return;
    this.sleeping = false;
    this.sleepId++;
    this.start();
  }

  private start(): void {
    this.idleRun = 0;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    this.turns++;
    if (!this.turn()) {
      this.idleRun = 0;
      return;
    }
    this.idleTurns++;
    if (++this.idleRun >= IDLE_TURNS_TO_SLEEP && this.head !== null) this.sleep();
  }

  private sleep(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sleeping = true;
    this.waitForHead(++this.sleepId);
  }

  private waitForHead(id: number): void {
    const w = waitAsync(this.head!, 0, this.base() | 0, SLEEP_CHECK_MS);
    if (!w.async) {
      this.wake(); // the head moved before we slept
      return;
    }
    void w.value.then(() => {
      if (id !== this.sleepId) return; // woken meanwhile
      if (Atomics.load(this.head!, 0) !== (this.base() | 0)) this.wake();
      else if (!this.turn()) this.wake(); // the bounded check found work nobody announced
      else this.waitForHead(id);
    });
  }
}
