// Classic libpcap capture files (linktype 1, Ethernet; microsecond timestamps), readable by tcpdump, tshark and
// Wireshark, and `tee`, which records both directions of any Link into one.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FrameBatchHandler, Link, LinkCounters } from './link/link.js';
import {
  LINKTYPE_ETHERNET, PCAP_GLOBAL_HEADER_LEN, PCAP_MAGIC_MICROS, PCAP_RECORD_HEADER_LEN, PCAP_VERSION_MAJOR, PCAP_VERSION_MINOR,
} from './pcap-format.js';

export { LINKTYPE_ETHERNET, PCAP_MAGIC_MICROS };

/** Wall-clock time in microseconds since the epoch, the unit pcap timestamps are in. */
export function wallClockMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export interface PcapWriterOptions {
  /** Frames longer than this are cut (the record keeps the original length). Default 65535. */
  snaplen?: number;
  /** Records are gathered in a buffer of this size and written out when it fills, on `flush` and on `close`. */
  bufferBytes?: number;
  /**
   * A record waits at most this long in the buffer when `tick` is called every `maxDelayMs / 4` (as the timer of a
   * file opened with `open` does), so a reader sees the capture up to a second ago, and a crash loses no more. Default 1000.
   */
  maxDelayMs?: number;
}

/** Why a capture file cannot be written, in a few words (the caller names its flag and the path). */
export class PcapOpenError extends Error {
  override readonly name = 'PcapOpenError';
  constructor(readonly path: string, readonly reason: string, readonly code?: string) {
    super(`${path}: ${reason}`);
  }
}

const FILE_PROBLEMS: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'is a directory', ENOTDIR: 'a parent is not a directory',
  EROFS: 'read-only file system', ENOSPC: 'no space left on the device', EEXIST: 'a parent is not a directory',
};

/** Receives finished bytes of the file; it must use or copy them before returning (the buffer is reused). */
export type PcapSink = (chunk: Uint8Array) => void;

export class PcapWriter {
  /** Frames recorded so far. */
  frames = 0;
  private readonly snaplen: number;
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private used = 0;
  private isClosed = false;
  private readonly maxDelayMs: number;
  private lastWriteOutMs = -Infinity;

  /**
   * Creates (or truncates) a capture file at `path`, its missing parent directories too, and writes it out at least
   * every `maxDelayMs` while it is open. A path that cannot be written throws a PcapOpenError.
   */
  static open(path: string, options: PcapWriterOptions = {}): PcapWriter {
    let fd: number;
    try {
      mkdirSync(dirname(path), { recursive: true });
      fd = openSync(path, 'w');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new PcapOpenError(path, (code && FILE_PROBLEMS[code]) ?? (err as Error).message, code);
    }
    let timer: ReturnType<typeof setInterval> | null = null;
    const writer = new PcapWriter(
      (chunk) => {
        let done = 0;
        while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
      },
      options,
      () => { if (timer) clearInterval(timer); closeSync(fd); },
    );
    timer = setInterval(() => writer.tick(performance.now()), writer.tickMs);
    timer.unref(); // a capture never keeps the process alive
    writer.tick(performance.now()); // the header at once: the file is a valid (empty) capture from the start
    return writer;
  }

  constructor(
    private readonly sink: PcapSink,
    options: PcapWriterOptions = {},
    private readonly onClose: () => void = () => {},
  ) {
    this.snaplen = options.snaplen ?? 65535;
    this.maxDelayMs = options.maxDelayMs ?? 1000;
    const size = Math.max(options.bufferBytes ?? 1 << 16, PCAP_GLOBAL_HEADER_LEN + PCAP_RECORD_HEADER_LEN + this.snaplen);
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    const v = this.view; // host order (little-endian): readers tell it by the magic
    v.setUint32(0, PCAP_MAGIC_MICROS, true);
    v.setUint16(4, PCAP_VERSION_MAJOR, true);
    v.setUint16(6, PCAP_VERSION_MINOR, true);
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, this.snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.used = PCAP_GLOBAL_HEADER_LEN;
  }

  /** Records one frame, stamped `timeMicros` (microseconds since the epoch). */
  write(frame: Uint8Array, timeMicros: number = wallClockMicros()): void {
    if (this.isClosed) throw new Error('PcapWriter is closed');
    const incl = Math.min(frame.length, this.snaplen);
    if (this.used + PCAP_RECORD_HEADER_LEN + incl > this.buf.length) this.flush();
    const sec = Math.floor(timeMicros / 1e6);
    const v = this.view;
    const at = this.used;
    v.setUint32(at, sec, true);
    v.setUint32(at + 4, timeMicros - sec * 1e6, true);
    v.setUint32(at + 8, incl, true);
    v.setUint32(at + 12, frame.length, true);
    this.buf.set(incl === frame.length ? frame : frame.subarray(0, incl), at + PCAP_RECORD_HEADER_LEN);
    this.used = at + PCAP_RECORD_HEADER_LEN + incl;
    this.frames++;
  }

  /** How often `tick` should be called for records to wait at most `maxDelayMs`. */
  get tickMs(): number {
    return this.maxDelayMs / 4;
  }

  /**
   * Writes out what is buffered when the last write-out by tick was at least `maxDelayMs - tickMs` ago; `nowMs` is
   * read from any steady clock. Called every `tickMs`, a record waits at most `maxDelayMs`. True when it wrote.
   */
  tick(nowMs: number): boolean {
    if (this.used === 0 || this.isClosed || nowMs - this.lastWriteOutMs < this.maxDelayMs - this.tickMs) return false;
    this.lastWriteOutMs = nowMs;
    this.flush();
    return true;
  }

  /** Hands everything recorded so far to the sink (for a file: it is on disk for a reader to see). */
  flush(): void {
    if (this.used === 0) return;
    this.sink(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  close(): void {
    if (this.isClosed) return;
    this.flush();
    this.isClosed = true;
    this.onClose();
  }
}

/**
 * Wraps `link` so every frame it sends or receives is also recorded in `writer`, in order, stamped by `clock`
 * (microseconds since the epoch). Frames `send` refused are not recorded: the capture shows what went out.
 * Closing the wrapper closes the link, not the writer.
 */
export function tee(link: Link, writer: PcapWriter, clock: () => number = wallClockMicros): Link {
  return {
    get name(): string {
      return link.name;
    },
    get counters(): LinkCounters {
      return link.counters;
    },
    send(frame: Uint8Array): boolean {
      const ok = link.send(frame);
      if (ok) writer.write(frame, clock());
      return ok;
    },
    onFrames(handler: FrameBatchHandler | null): void {
      if (handler === null) return link.onFrames(null);
      link.onFrames((frames) => {
        const t = clock();
        for (let i = 0; i < frames.length; i++) writer.write(frames[i], t);
        handler(frames);
      });
    },
    close(): void {
      link.close();
    },
  };
}
