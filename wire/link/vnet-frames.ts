// Which buffers hold frames with their virtio-net header just before them (a vnet TAP's receive buffer, a vnet ring's
// shared buffer): a frame viewed in one can be sent on with its header, without a copy or a lookup per link.
import { ETHERNET_HEADER_LEN } from '../ethernet.js';
import type { Ipv4Packet } from '../ipv4.js';
import { VirtioNetHeader, VNET_HDR_LEN } from '../virtio-net.js';

/** Registered buffer → a Uint8Array over all of it, to reach the header bytes before a frame without a new view. */
const registry = new WeakMap<ArrayBufferLike, Uint8Array>();

/**
 * Registers a buffer in which every frame handed out is preceded by its 12-byte header. A view into it passed to a
 * vnet link's `send` must therefore start at a frame's Ethernet header (as handed out; rewriting in place is fine).
 */
export function registerVnetBuffer(buffer: ArrayBufferLike): void {
  if (!registry.has(buffer)) registry.set(buffer, new Uint8Array(buffer));
}

/**
 * The whole registered buffer when `frame` has its header just before it (the header is
 * bytes[frame.byteOffset - VNET_HDR_LEN, frame.byteOffset)), else undefined: the frame then goes out with a zero header.
 */
export function vnetBuffer(frame: Uint8Array): Uint8Array | undefined {
  if (frame.byteOffset < VNET_HDR_LEN) return undefined;
  return registry.get(frame.buffer);
}

/**
 * A copy of a frame to keep (a frame waiting for ARP): with its header too when it has one, in a buffer of its own
 * that is registered, so a partial checksum or a GSO segment still goes out as the kernel handed it over.
 */
export function keepFrame(frame: Uint8Array): Uint8Array {
  const whole = vnetBuffer(frame);
  if (whole === undefined) return frame.slice();
  const copy = whole.slice(frame.byteOffset - VNET_HDR_LEN, frame.byteOffset + frame.length);
  registerVnetBuffer(copy.buffer);
  return copy.subarray(VNET_HDR_LEN);
}

/**
 * Whether the kernel handed over this IPv4 packet (viewed in its Ethernet frame) with its transport checksum left
 * partial (virtio-net NEEDS_CSUM): made on the same machine, for the device to finish, so its bytes are as sent
 * (Linux's CHECKSUM_PARTIAL) and its checksum field is not to be verified by a local receiver.
 */
export function checksumPending(ip: Ipv4Packet): boolean {
  const whole = registry.get(ip.bytes.buffer);
  const at = ip.offset - ETHERNET_HEADER_LEN - VNET_HDR_LEN;
  return whole !== undefined && at >= 0 && VirtioNetHeader.newUnchecked(whole, at, VNET_HDR_LEN).needsCsum;
}
