// IPv4 fragmentation (RFC 791 section 3.2): cuts a datagram into pieces that fit a smaller MTU, each a whole IPv4
// packet with its own header. Reassembly is the receiver's (actors/iface/reassembly.ts); this file only cuts.
import { EtherType, ETHERNET_HEADER_LEN, EthernetPacket } from './ethernet.js';
import { WireError } from './error.js';
import { Ipv4Packet, Ipv4Repr } from './ipv4.js';
import { WireStatus } from './status.js';

/** The smallest MTU every IPv4 host must accept without fragmenting further (RFC 791: 60-byte header + 8 bytes). */
export const IPV4_MIN_MTU = 68;

/** Option types with this bit set are copied into every fragment (RFC 791 "copied flag"). */
const OPTION_COPIED = 0x80;
const OPTION_END = 0;
const OPTION_NOP = 1;

/** Why a datagram was not cut, as a number: the data path tests it with no try/catch. */
export const FragmentRefusal = {
  /** Not an IPv4 frame whose lengths agree (or not version 4). */
  Malformed: 1,
  /** DF is set and the datagram is larger than the MTU. */
  DontFragment: 2,
  /** An option's length is below 2 or runs past the header: the options cannot be copied. */
  BadOption: 3,
} as const;
export type FragmentRefusal = (typeof FragmentRefusal)[keyof typeof FragmentRefusal];

/**
 * Splits an IPv4 datagram (header + payload) into fragments each carrying at most `mtu` IP bytes (payload per fragment
 * a multiple of 8 except the last); copies options per RFC 791 (only copied-flag options after the first); throws
 * WireError if DF is set or mtu < 68. A datagram that already fits comes back as one copy; a datagram that is itself
 * a fragment is cut again, its offsets and its MF flag carried into the pieces.
 */
export function fragmentIpv4(datagram: Uint8Array, mtu: number): Uint8Array[] {
  const ip = Ipv4Packet.newChecked(datagram);
  return orThrow(fragmentPacket(ip, mtu, 0), ip, mtu);
}

/** The same for an Ethernet frame carrying IPv4: each fragment gets a copy of the Ethernet header. */
export function fragmentFrame(frame: Uint8Array, mtu: number): Uint8Array[] {
  const eth = EthernetPacket.newChecked(frame);
  if (eth.ethertype !== EtherType.Ipv4) {
    throw new WireError('ethernet', 'ethertype', 'unsupported', `0x${eth.ethertype.toString(16)} is not IPv4`);
  }
  const ip = Ipv4Packet.newChecked(frame, ETHERNET_HEADER_LEN);
  return orThrow(withEthernetHeader(eth, fragmentPacket(ip, mtu, ETHERNET_HEADER_LEN)), ip, mtu);
}

/** fragmentFrame for the packet path: the pieces, or why there are none; never throws on the frame's bytes. */
export function tryFragmentFrame(frame: Uint8Array, mtu: number): Uint8Array[] | FragmentRefusal {
  const eth = EthernetPacket.newUnchecked(frame);
  if (eth.checkLen() !== WireStatus.Ok || eth.ethertype !== EtherType.Ipv4) return FragmentRefusal.Malformed;
  const ip = Ipv4Packet.newUnchecked(frame, ETHERNET_HEADER_LEN);
  if (ip.checkLen() !== WireStatus.Ok || ip.version !== 4) return FragmentRefusal.Malformed;
  return withEthernetHeader(eth, fragmentPacket(ip, mtu, ETHERNET_HEADER_LEN));
}

/** The options a non-first fragment carries: those with the copied flag, in order (padding is emit's). */
export function copiedOptions(options: Uint8Array): Uint8Array {
  const kept = optionsToCopy(options);
  if (kept === null) throw new WireError('ipv4', 'options', 'bad-length', `an option's length is below 2 or runs past the ${options.length} option bytes`);
  return kept;
}

/** copiedOptions' rule; null when an option's length is below 2 or runs past the list. */
function optionsToCopy(options: Uint8Array): Uint8Array | null {
  const kept: number[] = [];
  let i = 0;
  while (i < options.length && options[i] !== OPTION_END) {
    if (options[i] === OPTION_NOP) { i++; continue; }
    const len = i + 1 < options.length ? options[i + 1] : 0;
    if (len < 2 || i + len > options.length) return null;
    if (options[i] & OPTION_COPIED) for (let k = i; k < i + len; k++) kept.push(options[k]);
    i += len;
  }
  return Uint8Array.from(kept);
}

/** A refusal as the WireError the throwing forms raise. */
function orThrow(cut: Uint8Array[] | FragmentRefusal, ip: Ipv4Packet, mtu: number): Uint8Array[] {
  if (typeof cut !== 'number') return cut;
  if (cut === FragmentRefusal.DontFragment) throw new WireError('ipv4', 'flags', 'bad-value', `DF is set and ${ip.totalLength} bytes exceed the MTU ${mtu}`);
  copiedOptions(ip.options()); // throws the option's own error
  throw new WireError('ipv4', 'header', 'bad-value', `refused (${cut})`);
}

/** Copies the frame's Ethernet header into the headroom of each piece. */
function withEthernetHeader(eth: EthernetPacket, cut: Uint8Array[] | FragmentRefusal): Uint8Array[] | FragmentRefusal {
  if (typeof cut === 'number') return cut;
  const header = eth.slice(0, ETHERNET_HEADER_LEN);
  for (const p of cut) p.set(header, 0);
  return cut;
}

/** Payload bytes a fragment with `headerLen` header bytes may carry within `mtu`: the largest multiple of 8. */
function pieceLen(mtu: number, headerLen: number): number {
  return (mtu - headerLen) & ~7;
}

/** The fragments of a length-checked IPv4 view, each in a new buffer with `headroom` free bytes in front of its header. */
function fragmentPacket(ip: Ipv4Packet, mtu: number, headroom: number): Uint8Array[] | FragmentRefusal {
  if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU) throw new WireError('ipv4', 'mtu', 'bad-value', `${mtu} is below ${IPV4_MIN_MTU}`);
  const repr = Ipv4Repr.parse(ip, { checksum: 'keep' });
  repr.wireChecksum = undefined; // every piece gets a checksum of its own header
  const payload = ip.payload();
  if (ip.totalLength <= mtu) return [emitPiece(repr, payload, headroom)];
  if (repr.dontFragment) return FragmentRefusal.DontFragment;
  const allOptions = repr.options;
  const laterOptions = optionsToCopy(allOptions);
  if (laterOptions === null) return FragmentRefusal.BadOption;
  const base = repr.fragmentOffset;
  const lastMore = repr.moreFragments;
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < payload.length;) {
    repr.options = at === 0 ? allOptions : laterOptions;
    const room = pieceLen(mtu, repr.bufferLen());
    const n = Math.min(room, payload.length - at);
    repr.fragmentOffset = base + at;
    repr.moreFragments = at + n < payload.length || lastMore;
    pieces.push(emitPiece(repr, payload.subarray(at, at + n), headroom));
    at += n;
  }
  return pieces;
}

function emitPiece(repr: Ipv4Repr, payload: Uint8Array, headroom: number): Uint8Array {
  const hl = repr.bufferLen();
  const out = new Uint8Array(headroom + hl + payload.length);
  repr.emit(Ipv4Packet.newUnchecked(out, headroom, hl + payload.length), payload.length);
  out.set(payload, headroom + hl);
  return out;
}
