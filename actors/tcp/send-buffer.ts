// The bytes a connection has accepted from the application but the peer has not yet acknowledged: a linear
// buffer whose first byte is SND.UNA's (after the SYN), compacted to the front when the tail runs out.

export class SendBuffer {
  private readonly buf: Uint8Array;
  private head = 0;
  private tail = 0;

  constructor(readonly capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  /** Bytes held (sent or not). */
  get length(): number { return this.tail - this.head; }
  get space(): number { return this.capacity - this.length; }

  /** Appends what fits; returns how many bytes were taken. */
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.space);
    if (n === 0) return 0;
    if (this.tail + n > this.capacity) {
      this.buf.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    this.buf.set(n === data.length ? data : data.subarray(0, n), this.tail);
    this.tail += n;
    return n;
  }

  /** `len` bytes from `offset` past the first held byte, without copying (lent until the next write). */
  peek(offset: number, len: number): Uint8Array {
    return this.buf.subarray(this.head + offset, this.head + offset + len);
  }

  /** Forgets the first `n` bytes (acknowledged). */
  consume(n: number): void {
    this.head += Math.min(n, this.length);
    if (this.head === this.tail) this.head = this.tail = 0;
  }
}
