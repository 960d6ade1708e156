// The NAT engine's memory of its flows as struct-of-arrays in one ArrayBuffer, a flow being a slot
// number: its tuple and outside port, conntrack state (a CONN_STATES index), last-seen, what packets
// counted since its last store write, and the queue of flows with unwritten changes. No JS object
// per flow and nothing allocated per packet; slots are reused, and the buffer doubles when full.

/** The slot holds a flow. */
export const USED = 1;
/** Read off the table by an index rebuild and never touched since: the table may know better. */
export const COLD = 2;
/** Packets changed it since its last store write. */
export const DIRTY = 4;
/** In the write queue (at most once: a flow made dirty again while queued is not queued twice). */
const QUEUED = 8;
/** Made by a port-forward rule: opened from outside, so conntrack's original direction is inbound. */
export const FORWARDED = 16;

/** Bytes per slot: six Float64 columns, two Uint32, the queue's and the free list's Int32, three Uint16, three Uint8. */
const SLOT_BYTES = 6 * 8 + 2 * 4 + 2 * 4 + 3 * 2 + 3;

export class FlowColumns {
  capacity = 0;
  /** Slots in use. */
  size = 0;
  /** Slots with DIRTY set. */
  dirtyCount = 0;
  lastSeen!: Float64Array;
  created!: Float64Array;
  pktsOut!: Float64Array;
  pktsIn!: Float64Array;
  bytesOut!: Float64Array;
  bytesIn!: Float64Array;
  insideIp!: Uint32Array;
  remoteIp!: Uint32Array;
  insidePort!: Uint16Array;
  remotePort!: Uint16Array;
  outPort!: Uint16Array;
  /** IP protocol number (wire's IpProtocol). */
  proto!: Uint8Array;
  state!: Uint8Array;
  flags!: Uint8Array;
  /** Queued slots, a ring from `head`. */
  private queue!: Int32Array;
  private head = 0;
  private queued = 0;
  /** Freed slots, a stack; slots past `fresh` were never used. */
  private free!: Int32Array;
  private freeTop = 0;
  private fresh = 0;

  constructor(capacity: number) {
    this.place(Math.max(16, capacity));
  }

  /** A slot for a new flow (its columns zeroed), growing the buffer if every slot is used. */
  alloc(): number {
    if (this.size === this.capacity) this.place(2 * this.capacity);
    const s = this.freeTop > 0 ? this.free[--this.freeTop] : this.fresh++;
    this.size++;
    this.flags[s] = (this.flags[s] & QUEUED) | USED; // a queued slot stays in the queue: its turn finds it clean or new
    this.zeroCounts(s);
    return s;
  }

  release(s: number): void {
    this.clean(s);
    this.flags[s] &= QUEUED;
    this.free[this.freeTop++] = s;
    this.size--;
  }

  has(s: number, flag: number): boolean {
    return (this.flags[s] & flag) !== 0;
  }

  /** Marks the slot changed since its last write, queuing it once. */
  markDirty(s: number): void {
    const f = this.flags[s];
    if ((f & DIRTY) !== 0) return;
    this.dirtyCount++;
    this.flags[s] = f | DIRTY | QUEUED;
    if ((f & QUEUED) === 0) this.queue[(this.head + this.queued++) % this.capacity] = s;
  }

  /** Written (or forgotten): no longer dirty, its packet counts start again from zero. */
  clean(s: number): void {
    if ((this.flags[s] & DIRTY) === 0) return;
    this.flags[s] &= ~DIRTY;
    this.dirtyCount--;
    this.zeroCounts(s);
  }

  /** The next queued slot (taken off the queue; it may be clean by now), or -1 when the queue is empty. */
  nextQueued(): number {
    if (this.queued === 0) return -1;
    const s = this.queue[this.head];
    this.head = (this.head + 1) % this.capacity;
    this.queued--;
    this.flags[s] &= ~QUEUED;
    return s;
  }

  private zeroCounts(s: number): void {
    this.pktsOut[s] = this.pktsIn[s] = this.bytesOut[s] = this.bytesIn[s] = 0;
  }

  /** The columns on a new buffer of `capacity` slots, what the old one held copied over (the queue in order). */
  private place(capacity: number): void {
    const old = this.capacity === 0 ? undefined : { ...this };
    const buf = new ArrayBuffer(capacity * SLOT_BYTES);
    let at = 0;
    const view = <T>(make: new (b: ArrayBuffer, o: number, n: number) => T, bytes: number): T => {
      const v = new make(buf, at, capacity);
      at += capacity * bytes;
      return v;
    };
    this.lastSeen = view(Float64Array, 8); this.created = view(Float64Array, 8);
    this.pktsOut = view(Float64Array, 8); this.pktsIn = view(Float64Array, 8); this.bytesOut = view(Float64Array, 8); this.bytesIn = view(Float64Array, 8);
    this.insideIp = view(Uint32Array, 4); this.remoteIp = view(Uint32Array, 4);
    this.queue = view(Int32Array, 4); this.free = view(Int32Array, 4);
    this.insidePort = view(Uint16Array, 2); this.remotePort = view(Uint16Array, 2); this.outPort = view(Uint16Array, 2);
    this.proto = view(Uint8Array, 1); this.state = view(Uint8Array, 1); this.flags = view(Uint8Array, 1);
    this.capacity = capacity;
    if (old !== undefined) this.copy(old);
  }

  private copy(old: FlowColumns): void {
    for (const c of ['lastSeen', 'created', 'pktsOut', 'pktsIn', 'bytesOut', 'bytesIn', 'insideIp', 'remoteIp', 'free', 'insidePort', 'remotePort', 'outPort', 'proto', 'state', 'flags'] as const) {
      (this[c] as Uint8Array).set(old[c] as Uint8Array);
    }
    for (let i = 0; i < old.queued; i++) this.queue[i] = old.queue[(old.head + i) % old.capacity];
    this.head = 0;
  }
}
