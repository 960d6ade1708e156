// Real frames captured by test/fixtures/capture.sh, as hex literals, for the wire tests and the fuzzer to start from.

/** Bytes from hex, ignoring whitespace. */
export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

export const SAMPLES = {
  /** ARP request who-has 10.203.0.1 tell 10.203.0.2 (no Ethernet padding: captured on the sender). */
  arpRequest: hex(`ffffffffffff 02000acb0002 0806
    0001 0800 06 04 0001 02000acb0002 0acb0002 000000000000 0acb0001`),
  /** ARP reply 10.203.0.1 is-at 02:00:0a:cb:00:01, padded to the 60-byte Ethernet minimum as a wire would. */
  arpReplyPadded: hex(`02000acb0002 02000acb0001 0806
    0001 0800 06 04 0002 02000acb0001 0acb0001 02000acb0002 0acb0002
    000000000000000000000000000000000000`),
  /** ICMP echo request id 12121 seq 1, 56 bytes of data. */
  icmpEcho: hex(`02000acb0001 02000acb0002 0800
    4500 0054 98be 4000 4001 8c52 0acb0002 0acb0001
    0800 eb55 2f59 0001 e022096b0000000034ef000000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637`),
  /** ICMP time exceeded quoting an echo request to 10.203.1.9 (the whole original datagram, as Linux sends). */
  icmpTimeExceeded: hex(`02000acb0002 02000acb0001 0800
    45c0 0070 cef2 0000 4001 9542 0acb0001 0acb0002
    0b00 f4ff 00000000
    4500 0054 e417 4000 0101 7ef1 0acb0002 0acb0109 0800f7992fb00001e222096b0000000019540d0000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637`),
  /** DNS query A? www.netbranch.test. with an EDNS OPT record carrying a cookie. */
  dnsQuery: hex(`02000acb0001 02000acb0002 0800
    4500 0057 ae56 0000 4011 b6a7 0acb0002 0acb0001
    a6e9 0035 0043 7e11
    472d 0120 0001 0000 0000 0001 03777777096e65746272616e6368047465737400 0001 0001
    00 0029 04d0 00000000 000c 000a0008cf6036c29004b14e`),
  /** DNS response with a compression pointer (c00c): CNAME then A. */
  dnsResponse: hex(`02000acb0002 02000acb0001 0800
    4500 007d d291 4000 4011 5246 0acb0001 0acb0002
    0035 a983 0069 2fad
    d00a 8580 0001 0002 0000 0001 05616c696173096e65746272616e6368047465737400 0001 0001
    c00c 0005 0001 00000000 0014 03777777096e65746272616e6368047465737400
    c032 0001 0001 00000000 0004 0acb000a
    00 0029 04d0 00000000 0000`),
  /** DHCP Discover from 02:00:0a:cb:00:02: fixed part, cookie, options, End, then padding. */
  dhcpDiscover: hex(`ffffffffffff 02000acb0002 0800
    4500 0148 0000 0000 4011 79a6 00000000 ffffffff
    0044 0043 0134 13cc
    01 01 06 00 ee873d07 0000 0000 00000000 00000000 00000000 00000000
    02000acb0002 00000000000000000000` + '00'.repeat(64 + 128) + `
    63825363 350101 3902 0240 3707 0103060c0f1c2a 0c0e 6e65746272616e63682d74657374
    3c0c 756468637020312e33352e30 3d07 0102000acb0002 ff 00000000`),
  /** TCP SYN with options mss 1460, sackOK, TS, nop, wscale 10. */
  tcpSyn: hex(`02000acb0001 02000acb0002 0800
    4500 003c d1de 4000 4006 5345 0acb0002 0acb0001
    b40e 0050 dcad7057 00000000 a002 faf0 2ce6 0000
    020405b4 0402 080a7fd4895500000000 01 03030a`),
  /** An IPv6 frame (unsupported ethertype 0x86dd): a router solicitation's first bytes. */
  ipv6: hex(`333300000002 02000acb0002 86dd 6000000000103aff fe800000000000000000000000000001 ff020000000000000000000000000002
    8500 0000 00000000`),
} as const;

export type SampleName = keyof typeof SAMPLES;

export interface PcapBuildOptions {
  bigEndian?: boolean;
  nanosecond?: boolean;
  snaplen?: number;
  linktype?: number;
  /** Per-frame original length when the capture cut it (defaults to the frame's length). */
  originalLengths?: number[];
}

/** A classic libpcap file holding `frames`, one per 1.5 s starting at t = 1000 s, written independently of wire/. */
export function buildPcap(frames: Uint8Array[], opts: PcapBuildOptions = {}): Uint8Array {
  const le = !opts.bigEndian;
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, opts.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, opts.snaplen ?? 65535, le);
  v.setUint32(20, opts.linktype ?? 1, le);
  let at = 24;
  frames.forEach((f, i) => {
    v.setUint32(at, 1000 + Math.floor(i * 1.5), le);
    v.setUint32(at + 4, i % 2 ? (opts.nanosecond ? 500_000_000 : 500_000) : 0, le);
    v.setUint32(at + 8, f.length, le);
    v.setUint32(at + 12, opts.originalLengths?.[i] ?? f.length, le);
    out.set(f, at + 16);
    at += 16 + f.length;
  });
  return out;
}
