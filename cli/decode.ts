// `netbranch decode FILE.pcap [--roundtrip]`: one line per frame, and optionally proof that every frame re-emits
// byte for byte from its decoded form. Exit 1 when a frame fails to decode or to round-trip, or the file is corrupt.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { WireError } from '../wire/error.js';
import { decodeFrame, emitFrame, summarizeFrame } from '../wire/frame.js';
import { parsePcapHeader, pcapRecords, type PcapHeader, type PcapRecord } from '../wire/pcap-file.js';

/** Differences listed per frame before the rest are only counted. */
const MAX_DIFFS_SHOWN = 8;

export interface DecodeCounts {
  frames: number;
  decoded: number;
  unsupported: number;
  cut: number;
  failed: number;
  mismatched: number;
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('print one line per frame of a classic pcap file (Ethernet); --roundtrip re-emits each frame and compares')
    .argument('<file>', 'a classic libpcap file (.pcap), linktype Ethernet')
    .option('--roundtrip', 're-emit every decoded frame and report each byte that differs')
    .action((file: string, opts: { roundtrip?: boolean }) => {
      // A closed pipe (`| head`) ends the output quietly instead of with a stack trace.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); });
      const ok = decodeFile(file, { roundtrip: opts.roundtrip ?? false, out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
      if (!ok) process.exitCode = 1;
    });
}

export interface DecodeFileOptions {
  roundtrip: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Decodes every frame of `file`, writing lines to `out`; returns false when anything failed. */
export function decodeFile(file: string, opts: DecodeFileOptions): boolean {
  const counts: DecodeCounts = { frames: 0, decoded: 0, unsupported: 0, cut: 0, failed: 0, mismatched: 0 };
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    opts.err(`netbranch decode: ${file}: ${(err as Error).message}\n`);
    return false;
  }
  let lines: string[] = [];
  const flush = (): void => { if (lines.length) { opts.out(lines.join('')); lines = []; } };
  let corrupt: WireError | undefined;
  try {
    const header = parsePcapHeader(bytes);
    let first: PcapRecord | undefined;
    for (const record of pcapRecords(bytes, header)) {
      first ??= record;
      counts.frames++;
      lines.push(...decodeRecord(header, record, first, opts.roundtrip, counts));
      if (lines.length >= 256) flush();
    }
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    corrupt = err;
  }
  flush();
  const rt = opts.roundtrip ? `, ${counts.mismatched} round-trip mismatches` : '';
  const cut = counts.cut ? `, ${counts.cut} cut short by the snaplen` : '';
  opts.out(`${counts.frames} frames: ${counts.decoded} decoded, ${counts.unsupported} unsupported, ${counts.failed} failed to decode${cut}${rt}\n`);
  if (corrupt) opts.err(`netbranch decode: ${file}: ${corrupt.message}\n`);
  return !corrupt && counts.failed === 0 && counts.mismatched === 0;
}

function decodeRecord(header: PcapHeader, record: PcapRecord, first: PcapRecord, roundtrip: boolean, counts: DecodeCounts): string[] {
  const prefix = `${record.number} ${relativeTime(header, first, record)} `;
  const cutShort = record.data.length < record.originalLength;
  let frame;
  try {
    frame = decodeFrame(record.data);
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    if (cutShort) {
      counts.cut++;
      return [`${prefix}[captured ${record.data.length} of ${record.originalLength} bytes; not decoded: ${err.message}]\n`];
    }
    counts.failed++;
    return [`${prefix}error: ${err.message}\n`];
  }
  counts.decoded++;
  if (frame.network.kind === 'unsupported') counts.unsupported++;
  const lines = [`${prefix}${summarizeFrame(frame)}\n`];
  if (roundtrip) {
    const diffs = compareBytes(record.data, emitFrame(frame));
    if (diffs.length) {
      counts.mismatched++;
      lines.push(...diffs.map((d) => `${record.number}   round-trip: ${d}\n`));
    }
  }
  return lines;
}

/** Differences as 'offset 34: expected 0x45, got 0x46' lines (the first few, then a count). */
export function compareBytes(expected: Uint8Array, got: Uint8Array): string[] {
  const out: string[] = [];
  if (expected.length !== got.length) out.push(`length: expected ${expected.length}, got ${got.length}`);
  let differing = 0;
  const n = Math.min(expected.length, got.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] === got[i]) continue;
    if (differing++ < MAX_DIFFS_SHOWN) out.push(`offset ${i}: expected 0x${hex2(expected[i])}, got 0x${hex2(got[i])}`);
  }
  if (differing > MAX_DIFFS_SHOWN) out.push(`... ${differing - MAX_DIFFS_SHOWN} more differing bytes`);
  return out;
}

/** Seconds since the first frame, with the file's precision, computed in integers so no digit is lost. */
function relativeTime(header: PcapHeader, first: PcapRecord, record: PcapRecord): string {
  const digits = header.nanosecond ? 9 : 6;
  const scale = header.nanosecond ? 1_000_000_000n : 1_000_000n;
  const t = (BigInt(record.seconds) - BigInt(first.seconds)) * scale + BigInt(record.fraction) - BigInt(first.fraction);
  const sign = t < 0n ? '-' : '';
  const abs = t < 0n ? -t : t;
  return `${sign}${abs / scale}.${(abs % scale).toString().padStart(digits, '0')}`;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
