// A Link over two FrameRings, one each way, so the two ends can live on different threads (or the same one).
import { VirtioNetFlags, VirtioNetGso, VNET_HDR_LEN } from '../virtio-net.js';
import { FrameRing } from './frame-ring.js';
import { newLinkCounters, VNET_MAX_FRAME, type FrameBatchHandler, type Link, type LinkCounters } from './link.js';
import { registerVnetBuffer, vnetBuffer } from './vnet-frames.js';

/** One end of a ring link as plain data: structured-clonable, so it goes to a worker in `workerData` or postMessage. */
export interface RingLinkEnd {
  name: string;
  /** Ring this end drains. */
  rx: SharedArrayBuffer;
  /** Ring this end pushes into. */
  tx: SharedArrayBuffer;
  /** Every record is a 12-byte virtio-net header then the frame (GSO frames up to 64 KiB); both ends agree. */
  vnetHdr?: boolean;
}

export interface RingLinkOptions {
  /** Most frames handed to the handler in one call. */
  maxBatch?: number;
  /** Must match the end's `vnetHdr` (a check that both sides mean the same ring format). */
  vnetHdr?: boolean;
}

/**
 * Two crossed ends: what `a` sends, `b` receives, and back. Capacity is in bytes per direction (a vnet pair needs at
 * least 256 KiB: two 64 KiB GSO records). `vnetHdr`: frames carry their virtio-net header across (see RingLink.send).
 */
export function ringLinkPair(name: string, capacity = 1 << 20, options: { vnetHdr?: boolean } = {}): [RingLinkEnd, RingLinkEnd] {
  const vnetHdr = options.vnetHdr ?? false;
  const maxFrame = vnetHdr ? VNET_MAX_FRAME : undefined;
  const ab = FrameRing.create(capacity, maxFrame).buffer;
  const ba = FrameRing.create(capacity, maxFrame).buffer;
  return [
    { name: `${name}/a`, rx: ba, tx: ab, vnetHdr },
    { name: `${name}/b`, rx: ab, tx: ba, vnetHdr },
  ];
}

// Batches drained back to back before yielding to the event loop, so a flood cannot starve timers and I/O.
const BATCHES_PER_TURN = 16;

/**
 * The timeout of the consumer's bounded wait (FrameRing.waitForFrames): short while frames flow, where
 * a lost wake-up has been seen, and doubled by every wait that times out on an empty ring, up to
 * `maxMs`: an idle link then wakes a few times a second instead of a hundred. A push wakes the
 * consumer at once whatever the timeout; only a lost wake-up waits for it.
 */
export class WaitBackoff {
  ms: number;

  constructor(readonly minMs = 10, readonly maxMs = 250) {
    this.ms = minMs;
  }

  /** A wait ended with frames (woken by a push, or a lost wake-up caught): back to short waits. */
  busy(): void {
    this.ms = this.minMs;
  }

  /** A wait timed out on an empty ring. */
  idle(): void {
    this.ms = Math.min(this.maxMs, this.ms * 2);
  }
}

export class RingLink implements Link {
  readonly name: string;
  readonly counters: LinkCounters = newLinkCounters();
  private readonly rx: FrameRing;
  private readonly tx: FrameRing;
  private readonly maxBatch: number;
  /** Bytes of virtio-net header before each frame in both rings: VNET_HDR_LEN or 0. */
  readonly vnetHdrLen: number;
  /** The whole receive ring, to read the header before a delivered frame. */
  private readonly rxBytes: Uint8Array;
  private handler: FrameBatchHandler | null = null;
  /** Times the bounded wait found frames whose wake-up never came (see FrameRing.waitForFrames). */
  lateWakeups = 0;
  private readonly backoff = new WaitBackoff();
  private pumping = false;
  private isClosed = false;
  private keepAlive: ReturnType<typeof setInterval> | null = null;
  private refed = true;
  private readonly deliver = (frames: readonly Uint8Array[]): void => {
    const c = this.counters;
    c.rxFrames += frames.length;
    for (let i = 0; i < frames.length; i++) c.rxBytes += frames[i].length;
    if (this.vnetHdrLen !== 0) this.countOffload(frames);
    const h = this.handler;
    if (h) h(frames);
    else c.rxDropped += frames.length;
  };

  constructor(end: RingLinkEnd, options: RingLinkOptions = {}) {
    this.name = end.name;
    this.rx = FrameRing.attach(end.rx);
    this.tx = FrameRing.attach(end.tx);
    this.maxBatch = options.maxBatch ?? 256;
    const vnet = end.vnetHdr ?? false;
    if (options.vnetHdr !== undefined && options.vnetHdr !== vnet) {
      throw new TypeError(`ring link ${end.name}: vnetHdr ${options.vnetHdr} asked, but its rings were made with vnetHdr ${vnet}`);
    }
    this.vnetHdrLen = vnet ? VNET_HDR_LEN : 0;
    this.rxBytes = new Uint8Array(end.rx);
    if (vnet) {
      registerVnetBuffer(end.rx);
      this.counters.gsoRx = 0;
      this.counters.csumPartialRx = 0;
    }
  }

  /**
   * Copies the frame into the far end's ring. On a vnet ring a frame viewed in a registered buffer (a vnet TAP's or
   * ring's) takes the header before it along; any other frame gets a zero header.
   */
  send(frame: Uint8Array): boolean {
    const c = this.counters;
    const hdr = this.vnetHdrLen;
    if (frame.length + hdr > this.tx.maxFrame) {
      c.errors++;
      return false;
    }
    if (this.isClosed || !(hdr === 0 ? this.tx.push(frame) : this.tx.pushPrefixed(frame, hdr, vnetBuffer(frame)))) {
      c.txDropped++;
      return false;
    }
    c.txFrames++;
    c.txBytes += frame.length;
    return true;
  }

  onFrames(handler: FrameBatchHandler | null): void {
    this.handler = this.isClosed ? null : handler;
    this.updateKeepAlive();
    if (this.handler && !this.pumping) void this.pump();
  }

  /** Lets the thread exit while this link waits for frames (a pending Atomics.waitAsync holds no event-loop ref). */
  unref(): void {
    this.refed = false;
    this.updateKeepAlive();
  }

  ref(): void {
    this.refed = true;
    this.updateKeepAlive();
  }

  /** Closes both rings: the far end's sends fail from now on and its pending wait is woken. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.handler = null;
    this.updateKeepAlive();
    this.rx.close();
    this.tx.close();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Frames the far end could not push because this end's receive ring was full. */
  get rxRingDropped(): number {
    return this.rx.droppedFrames;
  }

  /** Counts what the virtio-net headers before `frames` (in the receive ring) say the sender's kernel left undone. */
  private countOffload(frames: readonly Uint8Array[]): void {
    const c = this.counters;
    const bytes = this.rxBytes;
    for (let i = 0; i < frames.length; i++) {
      const at = frames[i].byteOffset - VNET_HDR_LEN;
      if ((bytes[at] & VirtioNetFlags.NeedsCsum) !== 0) c.csumPartialRx! += 1;
      if (bytes[at + 1] !== VirtioNetGso.None) c.gsoRx! += 1;
    }
  }

  private updateKeepAlive(): void {
    const want = this.handler !== null && this.refed;
    if (want && this.keepAlive === null) this.keepAlive = setInterval(noop, 1 << 30);
    else if (!want && this.keepAlive !== null) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      let batches = 0;
      while (this.handler !== null) {
        if (this.rx.drain(this.deliver, this.maxBatch, this.vnetHdrLen) > 0) {
          if (++batches >= BATCHES_PER_TURN) {
            batches = 0;
            await yieldToEventLoop();
          }
          continue;
        }
        if (this.rx.closed) {
          while (this.handler !== null && this.rx.drain(this.deliver, this.maxBatch, this.vnetHdrLen) > 0); // pushed before the close
          break;
        }
        batches = 0;
        const wait = this.rx.waitForFrames(this.backoff.ms);
        if (wait === null) continue; // frames came in meanwhile
        if ((await wait) !== 'timed-out') this.backoff.busy();
        else if (this.rx.drain(this.deliver, this.maxBatch, this.vnetHdrLen) > 0) {
          this.lateWakeups++; // frames arrived but their wake-up did not: the bounded wait caught them
          this.backoff.busy();
        } else this.backoff.idle();
      }
    } finally {
      this.pumping = false;
    }
    // The far end closed: everything it sent has been delivered; nothing more can come.
    if (this.rx.closed && !this.isClosed) this.close();
  }
}

function noop(): void {}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
