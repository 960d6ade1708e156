// A Linux TAP device as a Link, through the small native addon in native/tap.cc (build/Release/tap.node).
// Reads are non-blocking and driven by libuv's poll loop, a batch per wake-up; writes are synchronous and never block.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { finishPseudoHeader, VirtioNetFlags, VirtioNetGso, VNET_HDR_LEN } from '../virtio-net.js';
import { newLinkCounters, VNET_MAX_FRAME, type FrameBatchHandler, type Link, type LinkCounters } from './link.js';
import { registerVnetBuffer, vnetBuffer } from './vnet-frames.js';

/** Why a TAP could not be opened; each has its own fix, named in the message. */
export type TapErrorReason =
  | 'addon-missing' // build/Release/tap.node was not built or does not load
  | 'unsupported-platform' // not Linux
  | 'no-tun-device' // /dev/net/tun is missing
  | 'permission' // not root and no CAP_NET_ADMIN
  | 'device-busy' // the name is a TAP another process holds (without multi-queue)
  | 'bad-name' // too long, or the name belongs to a device that is not a TAP
  | 'steering-unsupported' // the kernel refused the eBPF queue-steering program (no CAP_BPF, old kernel): steer in software
  | 'os-error'; // anything else the kernel said

export class TapError extends Error {
  override readonly name = 'TapError';
  constructor(
    readonly reason: TapErrorReason,
    message: string,
    /** The errno name from the failing call (EACCES, EPERM, EBUSY...), when there was one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

const BUILD_FIX =
  'Fix: install a C++ toolchain and python3 (Debian: apt-get install build-essential python3), then run ' +
  '`node scripts/build-addon.mjs` in the netbranch directory (npm install runs it too).';

interface NativeError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
}

interface TapPollerNative {
  start(): void;
  stop(): void;
  /** header: 0 the frame as is; VNET_HDR_LEN also the bytes before it; -1 a zero virtio-net header first. */
  write(frame: Uint8Array, header?: number): number;
  close(): void;
  setRef(ref: boolean): void;
}

interface TapAddon {
  open(name: string, multiQueue: boolean, vnetHdr: boolean): { fd: number; name: string };
  setOffload(fd: number, flags: number): void;
  setSteering(fd: number, portField: number, actors: number): void;
  clearSteering(fd: number): void;
  setUp(name: string, up: boolean): void;
  setMtu(name: string, mtu: number): void;
  closeFd(fd: number): void;
  dupFd(fd: number): number;
  setQueue(fd: number, attach: boolean): void;
  TapPoller: new (
    fd: number,
    buffer: ArrayBuffer,
    meta: Uint32Array,
    onBatch: (count: number) => void,
    onError: (errno: number, code: string) => void,
    maxBatch: number,
    maxFrame: number,
    spinUs?: number,
  ) => TapPollerNative;
}

let addon: TapAddon | TapError | undefined;

/** Loads build/Release/tap.node once; a TapError (never a throw) says why it is not there. */
function loadAddon(): TapAddon | TapError {
  if (addon !== undefined) return addon;
  if (process.platform !== 'linux') {
    return (addon = new TapError('unsupported-platform', `TAP devices need Linux; this is ${process.platform}.`));
  }
  const require = createRequire(import.meta.url);
  // wire/link/tap.ts runs from the source tree (tsx) or from dist/wire/link/tap.js.
  const candidates = ['../../build/Release/tap.node', '../../../build/Release/tap.node'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    return (addon = new TapError('addon-missing', `The TAP addon is not built (no ${candidates[0]}). ${BUILD_FIX}`));
  }
  try {
    return (addon = require(found) as TapAddon);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return (addon = new TapError('addon-missing', `The TAP addon at ${found} does not load (${why}). Rebuild it for this Node. ${BUILD_FIX}`));
  }
}

/** CAP_NET_ADMIN is bit 12 of the effective capability set. */
function hasNetAdmin(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch {
    return false;
  }
}

const PERMISSION_FIX =
  'Fix: run as root, or give node CAP_NET_ADMIN (sudo setcap cap_net_admin+ep "$(readlink -f "$(which node)")"), ' +
  'or create the device beforehand for your user (sudo ip tuntap add dev NAME mode tap user "$USER") and attach to it by name.';
const TUN_FIX =
  'Fix: load the tun module (sudo modprobe tun), or create the node (sudo mkdir -p /dev/net && sudo mknod /dev/net/tun c 10 200 && sudo chmod 0666 /dev/net/tun); ' +
  'in a container, run it with --device /dev/net/tun --cap-add NET_ADMIN.';

/**
 * Whether a TAP can be opened here, without opening one: the addon loads, /dev/net/tun exists and is
 * read-writable, and the process is root or has CAP_NET_ADMIN. Tests use the error's message as their skip reason.
 */
export function tapSupport(): { ok: true } | { ok: false; error: TapError } {
  const a = loadAddon();
  if (a instanceof TapError) return { ok: false, error: a };
  if (!existsSync('/dev/net/tun')) return { ok: false, error: new TapError('no-tun-device', `/dev/net/tun does not exist. ${TUN_FIX}`) };
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, error: new TapError('permission', `No read-write access to /dev/net/tun. ${PERMISSION_FIX}`, 'EACCES') };
  }
  if (!hasNetAdmin()) {
    return { ok: false, error: new TapError('permission', `Creating a TAP needs root or CAP_NET_ADMIN; this process has neither. ${PERMISSION_FIX}`, 'EPERM') };
  }
  return { ok: true };
}

function explain(err: NativeError, name: string): TapError {
  const code = err.code;
  const what = err.message;
  if (err.syscall === 'open') {
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') return new TapError('no-tun-device', `${what}. ${TUN_FIX}`, code);
    if (code === 'EACCES' || code === 'EPERM') return new TapError('permission', `${what}. ${PERMISSION_FIX}`, code);
  }
  if (code === 'EPERM' || code === 'EACCES') {
    return new TapError('permission', `Creating or attaching TAP '${name}' was refused (${what}). ${PERMISSION_FIX}`, code);
  }
  if (code === 'EBUSY') {
    return new TapError('device-busy', `TAP '${name}' is held by another file descriptor (${what}). Fix: close the other user, pick another name, ` +
      'or open every queue with { multiQueue: true } (a device made without IFF_MULTI_QUEUE takes one).', code);
  }
  if (code === 'EINVAL') {
    // Never suggest deleting it: a device by that name is someone else's (ours vanish with their fd).
    const kind = existingDevice(name);
    return new TapError('bad-name', kind
      ? `'${name}' is ${kind}, not a TAP this process can open (${what}). Fix: pick another name for the TAP.`
      : `'${name}' cannot be opened as a TAP (${what}). Fix: pick another name for the TAP.`, code);
  }
  return new TapError('os-error', `Opening TAP '${name}' failed: ${what}.`, code);
}

/** What an existing network device called `name` is, in words ('the loopback device', 'a bridge device'), or null. */
function existingDevice(name: string): string | null {
  const sys = `/sys/class/net/${name}`;
  const read = (f: string) => { try { return readFileSync(`${sys}/${f}`, 'utf8').trim(); } catch { return null; } };
  if (read('type') === null) return null;
  const tunFlags = read('tun_flags');
  if (tunFlags !== null) {
    const flags = Number(tunFlags);
    if ((flags & 0x0001) !== 0) return 'a TUN device';
    return `a TAP device made with other flags (${(flags & 0x0100) !== 0 ? 'multi-queue' : 'single-queue'})`;
  }
  if (read('type') === '772') return 'the loopback device';
  const devtype = /^DEVTYPE=(.+)$/m.exec(read('uevent') ?? '')?.[1];
  return devtype ? `an existing ${devtype} device` : 'an existing network device';
}

export interface TapOptions {
  /** Open one queue of a multi-queue TAP (IFF_MULTI_QUEUE): every queue of a device must be opened this way. */
  multiQueue?: boolean;
  /** Set the device up (in this network namespace) right away. Default true. */
  up?: boolean;
  /** Set the device MTU. */
  mtu?: number;
  /** Most frames per batch handed to the handler. Default 256. */
  maxBatch?: number;
  /** Receive buffer size in bytes; a batch also ends when less than `maxFrame` is left in it. Default 1 MiB. */
  bufferBytes?: number;
  /** Largest frame read; longer frames are cut by the kernel. Default 65550 (64 KiB MTU + header + VLAN tag). */
  maxFrame?: number;
  /**
   * Busy-poll: after frames arrived, keep reading (non-blocking) for this many µs before going back to the event
   * loop, so the next frame of a request/response exchange skips a sleep and a wake-up. Costs CPU only while frames
   * flow (at most 2 ms per wake-up, then timers run). Default 0 (off).
   */
  spinUs?: number;
  /**
   * IFF_VNET_HDR: each frame comes with a 12-byte virtio-net header (GSO super-frames, partial checksums; see
   * `setOffload`). Handlers still get frames that start at the Ethernet header; the header lies just before each one.
   * Default maxFrame grows to VNET_MAX_FRAME. Every queue of a device must agree.
   */
  vnetHdr?: boolean;
}

/** TUNSETOFFLOAD bits: what this reader takes from the kernel (the kernel then hands over GSO frames and partial checksums). */
export const TunOffload = { Csum: 0x01, Tso4: 0x02, Tso6: 0x04, TsoEcn: 0x08, Ufo: 0x10, Uso4: 0x20, Uso6: 0x40 } as const;

/** write()'s `header` argument: prepend a zero virtio-net header (by writev in the addon, no copy). */
const ZERO_HEADER = -1;

/** errno values of a full device queue. */
const EAGAIN = 11;
const ENOBUFS = 105;

export class TapLink implements Link {
  readonly counters: LinkCounters = newLinkCounters();
  /** Set when the device went away under us (ip link del, namespace deleted): the errno name. */
  failure: string | null = null;
  private readonly poller: TapPollerNative;
  private readonly buffer: ArrayBuffer;
  private readonly rxBytes: Uint8Array;
  private readonly meta: Uint32Array;
  /** Bytes of virtio-net header before each frame: VNET_HDR_LEN or 0. */
  readonly vnetHdrLen: number;
  private readonly batch: Uint8Array[] = [];
  private handler: FrameBatchHandler | null = null;
  private isClosed = false;

  /**
   * Creates TAP `name` (IFF_TAP | IFF_NO_PI), or attaches to an existing one of that name; `name` may hold '%d'
   * for the kernel to number it ('nb%d'). Throws a TapError that names the cause and the fix.
   */
  static open(name: string, options: TapOptions = {}): TapLink {
    // No capability pre-check: a device made with `ip tuntap add ... user U` can be attached by U without one.
    const a = loadAddon();
    if (a instanceof TapError) throw a;
    if (Buffer.byteLength(name) > 15) throw new TapError('bad-name', `Interface names are at most 15 bytes; '${name}' is longer.`);
    let opened: { fd: number; name: string };
    try {
      opened = a.open(name, options.multiQueue ?? false, options.vnetHdr ?? false);
    } catch (err) {
      throw explain(err as NativeError, name);
    }
    let link: TapLink;
    try {
      link = new TapLink(a, opened.fd, opened.name, options);
    } catch (err) {
      a.closeFd(opened.fd); // the poller did not take it
      throw new TapError('os-error', `Polling TAP '${opened.name}' failed: ${(err as Error).message}`);
    }
    try {
      if (options.mtu !== undefined) a.setMtu(opened.name, options.mtu);
      if (options.up ?? true) a.setUp(opened.name, true);
    } catch (err) {
      link.close();
      throw explain(err as NativeError, opened.name);
    }
    return link;
  }

  /**
   * A TAP queue from an fd this process already holds (a `TapQueueSet.lend`, possibly on another thread): the link
   * takes the fd and closes it on close() or when its thread exits. Does not touch the device's flags.
   */
  static fromFd(fd: number, name: string, options: Omit<TapOptions, 'up' | 'mtu' | 'multiQueue'> = {}): TapLink {
    const a = loadAddon();
    if (a instanceof TapError) throw a;
    try {
      return new TapLink(a, fd, name, options);
    } catch (err) {
      a.closeFd(fd);
      throw new TapError('os-error', `Polling TAP '${name}' (fd ${fd}) failed: ${(err as Error).message}`);
    }
  }

  private constructor(
    private readonly addon: TapAddon,
    readonly fd: number,
    readonly name: string,
    options: TapOptions,
  ) {
    const maxBatch = options.maxBatch ?? 256;
    this.vnetHdrLen = options.vnetHdr ? VNET_HDR_LEN : 0;
    const maxFrame = options.maxFrame ?? (options.vnetHdr ? VNET_MAX_FRAME : 65550);
    this.buffer = new ArrayBuffer(Math.max(options.bufferBytes ?? 1 << 20, maxFrame));
    this.rxBytes = new Uint8Array(this.buffer);
    if (options.vnetHdr) {
      registerVnetBuffer(this.buffer);
      this.counters.gsoRx = 0;
      this.counters.csumPartialRx = 0;
    }
    this.meta = new Uint32Array(2 * maxBatch);
    this.poller = new addon.TapPoller(fd, this.buffer, this.meta, (n) => this.onBatch(n), (errno, code) => this.onError(errno, code), maxBatch, maxFrame,
      options.spinUs ?? 0);
  }

  send(frame: Uint8Array): boolean {
    const c = this.counters;
    if (this.isClosed) {
      c.txDropped++;
      return false;
    }
    const n = this.vnetHdrLen === 0 ? this.poller.write(frame) : this.writeVnet(frame);
    if (n >= 0) {
      c.txFrames++;
      c.txBytes += frame.length;
      return true;
    }
    if (n === -EAGAIN || n === -ENOBUFS) c.txDropped++;
    else c.errors++;
    return false;
  }

  /**
   * A frame with its header before it in a registered buffer goes out with that header (a partial checksum redone
   * for the frame's current addresses first), in place; any other frame gets a zero header (no offload).
   */
  private writeVnet(frame: Uint8Array): number {
    const whole = vnetBuffer(frame);
    if (whole === undefined) return this.poller.write(frame, ZERO_HEADER);
    if ((whole[frame.byteOffset - VNET_HDR_LEN] & VirtioNetFlags.NeedsCsum) !== 0) finishPseudoHeader(frame);
    return this.poller.write(frame, VNET_HDR_LEN);
  }

  /** TUNSETOFFLOAD (TunOffload bits) on this device: needs `vnetHdr`, or the kernel cannot tell us what it left undone. */
  setOffload(flags: number): void {
    try {
      this.addon.setOffload(this.fd, flags);
    } catch (err) {
      throw explain(err as NativeError, this.name);
    }
  }

  /** A handler starts reading; null stops it (the kernel then queues and drops, and counts them on the device). */
  onFrames(handler: FrameBatchHandler | null): void {
    if (this.isClosed) return;
    this.handler = handler;
    if (handler !== null && this.failure === null) this.poller.start();
    else this.poller.stop();
  }

  /** Sets the device up or down in this network namespace (ioctl). */
  setUp(up: boolean): void {
    try {
      this.addon.setUp(this.name, up);
    } catch (err) {
      throw explain(err as NativeError, this.name);
    }
  }

  /** Sets the device MTU in this network namespace (ioctl). */
  setMtu(mtu: number): void {
    try {
      this.addon.setMtu(this.name, mtu);
    } catch (err) {
      throw explain(err as NativeError, this.name);
    }
  }

  /** Lets the process exit while this TAP is open (ref(): keep it alive again, the default while reading). */
  unref(): void {
    this.poller.setRef(false);
  }

  ref(): void {
    this.poller.setRef(true);
  }

  /** Closes the fd; a TAP this process created (not persistent) disappears with it. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.handler = null;
    this.poller.close();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private onBatch(count: number): void {
    const c = this.counters;
    const batch = this.batch;
    const meta = this.meta;
    const hdr = this.vnetHdrLen;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const off = meta[2 * i];
      const len = meta[2 * i + 1] - hdr;
      if (len < 0) {
        c.errors++; // shorter than its own header: nothing to hand over
        continue;
      }
      if (hdr !== 0) this.countOffload(off);
      batch.push(new Uint8Array(this.buffer, off + hdr, len));
      bytes += len;
    }
    c.rxFrames += batch.length;
    c.rxBytes += bytes;
    const h = this.handler;
    try {
      if (h !== null) h(batch);
      else c.rxDropped += batch.length;
    } finally {
      batch.length = 0;
    }
  }

  /** Counts what the virtio-net header at `off` says the kernel left undone. */
  private countOffload(off: number): void {
    const c = this.counters;
    if ((this.rxBytes[off] & VirtioNetFlags.NeedsCsum) !== 0) c.csumPartialRx! += 1;
    if (this.rxBytes[off + 1] !== VirtioNetGso.None) c.gsoRx! += 1;
  }

  private onError(_errno: number, code: string): void {
    this.counters.errors++;
    this.failure = code;
  }
}

/** One queue of a TapQueueSet, handed to the thread that reads it: an fd (a dup) and the device name. */
export interface TapQueueEnd {
  fd: number;
  name: string;
  /** The device carries virtio-net headers: pass `{ vnetHdr: true }` to `TapLink.fromFd`. */
  vnetHdr: boolean;
}

/**
 * Every queue of a multi-queue TAP (IFF_MULTI_QUEUE), held by this thread so the device outlives the threads that
 * read them. `lend(i)` attaches queue i and returns a dup of its fd for a worker (`TapLink.fromFd` there; fds are
 * process-wide); `reclaim(i)` detaches it once that worker is gone, so the kernel stops steering flows to a queue
 * nobody reads; a later `lend(i)` re-attaches it for the next incarnation. Detached queues still hold the device, so
 * it survives with every reader down (and keeps working after `ip link set NAME netns NS`: no name lookups).
 */
export class TapQueueSet {
  private readonly fds: number[];
  private readonly attached: boolean[];
  private isClosed = false;

  static open(name: string, queues: number, options: { up?: boolean; mtu?: number; vnetHdr?: boolean } = {}): TapQueueSet {
    const a = loadAddon();
    if (a instanceof TapError) throw a;
    if (!(Number.isInteger(queues) && queues >= 1 && queues <= 256)) throw new RangeError(`queues must be 1..256, got ${queues}`);
    if (Buffer.byteLength(name) > 15) throw new TapError('bad-name', `Interface names are at most 15 bytes; '${name}' is longer.`);
    const fds: number[] = [];
    let actual = name;
    try {
      for (let i = 0; i < queues; i++) {
        const opened = a.open(actual, true, options.vnetHdr ?? false);
        fds.push(opened.fd);
        actual = opened.name;
      }
      for (const fd of fds) a.setQueue(fd, false); // nobody reads them yet
      if (options.mtu !== undefined) a.setMtu(actual, options.mtu);
      if (options.up ?? true) a.setUp(actual, true);
    } catch (err) {
      for (const fd of fds) a.closeFd(fd);
      throw explain(err as NativeError, actual);
    }
    return new TapQueueSet(a, actual, fds, options.vnetHdr ?? false);
  }

  private constructor(private readonly addon: TapAddon, readonly name: string, fds: number[], readonly vnetHdr: boolean) {
    this.fds = fds;
    this.attached = fds.map(() => false);
  }

  get size(): number {
    return this.fds.length;
  }

  /** Attaches queue `i` and returns a fresh dup of its fd for the thread that will read it. */
  lend(i: number): TapQueueEnd {
    if (this.isClosed) throw new TapError('os-error', `TAP '${this.name}' queues are closed`);
    const fd = this.fds[i];
    if (fd === undefined) throw new RangeError(`no queue ${i} on ${this.name} (${this.fds.length} queues)`);
    try {
      if (!this.attached[i]) this.addon.setQueue(fd, true);
      this.attached[i] = true;
      return { fd: this.addon.dupFd(fd), name: this.name, vnetHdr: this.vnetHdr };
    } catch (err) {
      throw explain(err as NativeError, this.name);
    }
  }

  /** Detaches queue `i` (its reader is gone); frames the kernel would have steered to it go to the attached ones. */
  reclaim(i: number): void {
    if (this.isClosed || !this.attached[i]) return;
    this.attached[i] = false;
    try {
      this.addon.setQueue(this.fds[i], false);
    } catch {
      // the device is gone (deleted, namespace deleted): nothing to detach from
    }
  }

  /**
   * Makes the kernel pick each frame's queue the way actors/router/steering.ts picks its actor: an eBPF program
   * (TUNSETSTEERINGEBPF) returns portOwner(port, actors) of the TCP/UDP source ('src', frames from the inside) or
   * destination ('dst', from the outside) port, or the ICMP echo identifier; anything else goes to queue 0. The kernel
   * takes the answer modulo the attached queues, and renumbers queues on detach, so keep every queue attached
   * (lend) while steering. Throws TapError 'steering-unsupported' when the kernel refuses: steer in software then.
   */
  steerByPort(field: 'src' | 'dst', actors: number = this.size): void {
    const fd = this.steeringFd();
    if (!(Number.isInteger(actors) && actors >= 1 && actors <= 256)) throw new RangeError(`actors must be 1..256, got ${actors}`);
    try {
      this.addon.setSteering(fd, field === 'src' ? 0 : 1, actors);
    } catch (err) {
      throw steeringError(err as NativeError, this.name);
    }
  }

  /** Back to the kernel's own flow hash (removes the steering program). */
  clearSteering(): void {
    try {
      this.addon.clearSteering(this.steeringFd());
    } catch (err) {
      throw steeringError(err as NativeError, this.name);
    }
  }

  /** TUNSETOFFLOAD (TunOffload bits) for the device; needs `vnetHdr`. */
  setOffload(flags: number): void {
    try {
      this.addon.setOffload(this.steeringFd(), flags);
    } catch (err) {
      throw explain(err as NativeError, this.name);
    }
  }

  /** Any queue's fd speaks for the device (steering and offloads are per device). */
  private steeringFd(): number {
    if (this.isClosed) throw new TapError('os-error', `TAP '${this.name}' queues are closed. Fix: open a new TapQueueSet.`, 'EBADF');
    return this.fds[0];
  }

  /** Closes every queue; a device this process created disappears once the readers' dups are closed too. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const fd of this.fds) this.addon.closeFd(fd);
  }

  setUp(up: boolean): void {
    try {
      this.addon.setUp(this.name, up);
    } catch (err) {
      throw explain(err as NativeError, this.name);
    }
  }
}

/** Why the kernel refused a steering program, with the fix; reason 'steering-unsupported' tells the caller to steer in software. */
function steeringError(err: NativeError, name: string): TapError {
  const code = err.code;
  const why =
    code === 'EPERM' || code === 'EACCES'
      ? 'loading an eBPF program needs CAP_BPF or CAP_SYS_ADMIN (or root). Fix: run as root or grant CAP_BPF, or steer frames in software'
      : code === 'EINVAL' || code === 'ENOTTY' || code === 'ENOSYS'
        ? 'this kernel has no TUNSETSTEERINGEBPF (needs Linux 4.16+) or refused the program. Fix: steer frames in software'
        : 'Fix: steer frames in software';
  return new TapError('steering-unsupported', `Queue steering on TAP '${name}' was refused (${err.message}): ${why}.`, code);
}
