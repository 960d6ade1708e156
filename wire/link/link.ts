// The one interface every way of moving Ethernet frames implements: TAP device, ring to another thread, switch port.

/** What a link counted since it was made; plain numbers, read them at any time. */
export interface LinkCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames that arrived but could not be delivered (no handler, truncated, ring full on the far side). */
  rxDropped: number;
  /** Frames `send` refused: queue or ring full, device busy, link closed. */
  txDropped: number;
  /** Failures that are not back-pressure: device errors, runts, malformed records. */
  errors: number;
  /** Links with a virtio-net header (`vnetHdr: true`) only: frames received as GSO super-frames (gso type not NONE). */
  gsoRx?: number;
  /** Links with a virtio-net header only: frames received with a partial checksum (NEEDS_CSUM). */
  csumPartialRx?: number;
}

/**
 * Receives every frame that arrived since the last wake-up, in one call.
 * The array and the frames in it are lent for the duration of the call: the array is reused for the next batch
 * and the bytes beneath a frame may be overwritten once the call returns, so copy (`frame.slice()`) what you keep.
 * That is what lets a link hand over views into its receive buffer (or shared ring) without copying.
 */
export type FrameBatchHandler = (frames: readonly Uint8Array[]) => void;

export interface Link {
  /** A name for logs and pcap files: the TAP device name, `switch/3`, ... */
  readonly name: string;
  readonly counters: LinkCounters;
  /**
   * Sends one frame without blocking. The bytes are copied or written out before it returns, so the caller may
   * reuse its buffer. False means the frame was dropped (and counted in `txDropped` or `errors`).
   */
  send(frame: Uint8Array): boolean;
  /** Sets the handler of received batches (one per wake-up); null stops delivery and lets the link's thread idle. */
  onFrames(handler: FrameBatchHandler | null): void;
  /** Stops delivery and releases the device or ring end. Idempotent. */
  close(): void;
}

export function newLinkCounters(): LinkCounters {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDropped: 0, txDropped: 0, errors: 0 };
}

/** Largest frame a link has to carry: 1500-byte MTU plus Ethernet header and one VLAN tag, rounded up. */
export const MAX_FRAME = 2048;

/** Largest record a vnet link carries: the 12-byte virtio-net header, a 64 KiB GSO IPv4 packet, Ethernet header and VLAN tag. */
export const VNET_MAX_FRAME = 12 + 14 + 4 + 65535;
