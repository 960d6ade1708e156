// Next-hop resolution: frames waiting for a MAC are queued per address (bounded), requests are
// retried every second (bounded), and a failed resolution hands the frames back to the caller
// (the router turns them into ICMP host unreachable). Time is always an argument.
import { keepFrame } from '../../wire/link/vnet-frames.js';

export interface ArpResolverOptions {
  /** Addresses being resolved at once; past it new resolutions are refused (counted). */
  maxPending?: number;
  /** Frames queued per address; past it the oldest is dropped (counted). */
  queuePerAddress?: number;
  retryMs?: number;
  /** Requests sent before giving up (the first included). */
  maxTries?: number;
}

export interface ArpResolverHooks {
  /** Send an ARP request for `ip` (broadcast). */
  request(ip: number): void;
  /** `ip` resolved to `mac`: send these frames (their destination MAC is still unset). */
  deliver(ip: number, mac: number, frames: Uint8Array[]): void;
  /** `ip` did not answer: these frames cannot be sent. */
  unreachable(ip: number, frames: Uint8Array[]): void;
  /** What the cache knows of `ip` now: another actor's answer may have arrived through a merge. */
  lookup(ip: number): number | undefined;
}

interface Pending {
  tries: number;
  nextTry: number;
  frames: Uint8Array[];
}

export interface ArpResolverCounters {
  requests: number;
  resolved: number;
  failed: number;
  queueDropped: number;
  pendingRefused: number;
}

export class ArpResolver {
  private readonly pending = new Map<number, Pending>();
  readonly maxPending: number;
  readonly queuePerAddress: number;
  readonly retryMs: number;
  readonly maxTries: number;
  readonly counters: ArpResolverCounters = { requests: 0, resolved: 0, failed: 0, queueDropped: 0, pendingRefused: 0 };

  constructor(private readonly hooks: ArpResolverHooks, opts: ArpResolverOptions = {}) {
    this.maxPending = opts.maxPending ?? 256;
    this.queuePerAddress = opts.queuePerAddress ?? 8;
    this.retryMs = opts.retryMs ?? 1_000;
    this.maxTries = opts.maxTries ?? 3;
  }

  /** Queues a copy of `frame` until `ip` resolves; false when it was refused (too many pending). */
  enqueue(ip: number, frame: Uint8Array, now: number): boolean {
    let p = this.pending.get(ip);
    if (p === undefined) {
      if (this.pending.size >= this.maxPending) {
        this.counters.pendingRefused++;
        return false;
      }
      p = { tries: 1, nextTry: now + this.retryMs, frames: [] };
      this.pending.set(ip, p);
      this.counters.requests++;
      this.hooks.request(ip);
    }
    if (p.frames.length >= this.queuePerAddress) {
      p.frames.shift();
      this.counters.queueDropped++;
    }
    p.frames.push(keepFrame(frame)); // with its virtio-net header, if it has one
    return true;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** A MAC for `ip` arrived: its queued frames go out. */
  resolved(ip: number, mac: number): void {
    const p = this.pending.get(ip);
    if (p === undefined) return;
    this.pending.delete(ip);
    this.counters.resolved++;
    if (p.frames.length) this.hooks.deliver(ip, mac, p.frames);
  }

  /** Retries and failures due at `now`. */
  poll(now: number): void {
    for (const [ip, p] of this.pending) {
      if (p.nextTry > now) continue;
      const mac = this.hooks.lookup(ip);
      if (mac !== undefined) {
        this.resolved(ip, mac);
        continue;
      }
      if (p.tries >= this.maxTries) {
        this.pending.delete(ip);
        this.counters.failed++;
        this.hooks.unreachable(ip, p.frames);
        continue;
      }
      p.tries++;
      p.nextTry = now + this.retryMs;
      this.counters.requests++;
      this.hooks.request(ip);
    }
  }
}
