// Reads classic libpcap capture files (either byte order, microsecond or nanosecond timestamps, Ethernet link type),
// with a WireError naming what is wrong, so a tool can say "record 7 is truncated" instead of crashing.
import { readFileSync } from 'node:fs';
import { WireError } from './error.js';
import {
  LINKTYPE_ETHERNET, PCAPNG_MAGIC, PCAP_GLOBAL_HEADER_LEN, PCAP_MAGIC_MICROS, PCAP_MAGIC_NANOS, PCAP_MAX_SNAPLEN, PCAP_RECORD_HEADER_LEN,
} from './pcap-format.js';

export { PCAP_MAX_SNAPLEN };

export interface PcapHeader {
  littleEndian: boolean;
  /** Timestamp fractions are nanoseconds (magic 0xa1b23c4d), else microseconds. */
  nanosecond: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
}

export interface PcapRecord {
  /** 1-based, as tcpdump and Wireshark number frames. */
  number: number;
  seconds: number;
  /** Microseconds or nanoseconds past `seconds`, as the header says. */
  fraction: number;
  /** The frame as captured (a view into the file's bytes); may be shorter than `originalLength`. */
  data: Uint8Array;
  originalLength: number;
}

export interface PcapFile {
  header: PcapHeader;
  records: PcapRecord[];
}

/** Reads the 24-byte global header. */
export function parsePcapHeader(bytes: Uint8Array): PcapHeader {
  if (bytes.length < PCAP_GLOBAL_HEADER_LEN) {
    throw new WireError('pcap', 'global header', 'truncated', `needs ${PCAP_GLOBAL_HEADER_LEN} bytes, file has ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const le = view.getUint32(0, true);
  const be = view.getUint32(0, false);
  let littleEndian: boolean;
  let magic: number;
  if (le === PCAP_MAGIC_MICROS || le === PCAP_MAGIC_NANOS) { littleEndian = true; magic = le; }
  else if (be === PCAP_MAGIC_MICROS || be === PCAP_MAGIC_NANOS) { littleEndian = false; magic = be; }
  else if (be === PCAPNG_MAGIC) throw new WireError('pcap', 'magic number', 'unsupported', 'pcapng; convert with `editcap -F pcap`');
  else throw new WireError('pcap', 'magic number', 'bad-value', `0x${be.toString(16).padStart(8, '0')} is not a pcap file`);
  const header: PcapHeader = {
    littleEndian,
    nanosecond: magic === PCAP_MAGIC_NANOS,
    versionMajor: view.getUint16(4, littleEndian),
    versionMinor: view.getUint16(6, littleEndian),
    snaplen: view.getUint32(16, littleEndian),
    // The upper bits may carry FCS information; the link type is the low 16.
    linktype: view.getUint32(20, littleEndian) & 0xffff,
  };
  if (header.versionMajor !== 2) throw new WireError('pcap', 'version', 'unsupported', `${header.versionMajor}.${header.versionMinor}`);
  if (header.linktype !== LINKTYPE_ETHERNET) throw new WireError('pcap', 'link type', 'unsupported', `${header.linktype}; only 1 (Ethernet)`);
  return header;
}

/** Yields records one by one, so a reader can show the good ones before the first corrupt one throws. */
export function* pcapRecords(bytes: Uint8Array, header: PcapHeader = parsePcapHeader(bytes)): Generator<PcapRecord> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  // A zero or absurd snaplen in the header means "no limit" to libpcap; the hard cap still applies.
  const limit = header.snaplen > 0 && header.snaplen <= PCAP_MAX_SNAPLEN ? header.snaplen : PCAP_MAX_SNAPLEN;
  let at = PCAP_GLOBAL_HEADER_LEN;
  for (let number = 1; at < bytes.length; number++) {
    if (at + PCAP_RECORD_HEADER_LEN > bytes.length) {
      throw new WireError('pcap', `record ${number} header`, 'truncated', `${bytes.length - at} of ${PCAP_RECORD_HEADER_LEN} bytes`);
    }
    const le = header.littleEndian;
    const seconds = view.getUint32(at, le);
    const fraction = view.getUint32(at + 4, le);
    const captured = view.getUint32(at + 8, le);
    const originalLength = view.getUint32(at + 12, le);
    if (captured > limit) {
      throw new WireError('pcap', `record ${number} captured length`, 'bad-length', `${captured} exceeds the snaplen ${limit}`);
    }
    const start = at + PCAP_RECORD_HEADER_LEN;
    if (start + captured > bytes.length) {
      throw new WireError('pcap', `record ${number} data`, 'truncated', `${bytes.length - start} of ${captured} bytes`);
    }
    yield { number, seconds, fraction, data: bytes.subarray(start, start + captured), originalLength };
    at = start + captured;
  }
}

/** Parses a whole capture held in memory. */
export function readPcap(bytes: Uint8Array): PcapFile {
  const header = parsePcapHeader(bytes);
  return { header, records: [...pcapRecords(bytes, header)] };
}

/** Reads and parses a capture file. */
export function readPcapFile(path: string): PcapFile {
  const buf = readFileSync(path);
  // Records are plain Uint8Array views, like every other byte field of the wire layer.
  return readPcap(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
}

/** A record's time in seconds (a double: sub-microsecond digits of nanosecond captures may round). */
export function recordTime(header: PcapHeader, record: PcapRecord): number {
  return record.seconds + record.fraction / (header.nanosecond ? 1e9 : 1e6);
}
