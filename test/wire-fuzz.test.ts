import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ArpPacket, ArpRepr } from '../wire/arp.js';
import { DhcpPacket, DhcpRepr } from '../wire/dhcpv4.js';
import { DnsRepr } from '../wire/dns.js';
import { WireError } from '../wire/error.js';
import { decodeFrame, emitFrame, summarizeFrame } from '../wire/frame.js';
import { Icmpv4Packet, Icmpv4Repr } from '../wire/icmpv4.js';
import { Ipv4Packet, Ipv4Repr } from '../wire/ipv4.js';
import { TcpPacket, TcpRepr, parseTcpOptions } from '../wire/tcp.js';
import { UdpPacket, UdpRepr } from '../wire/udp.js';
import { SAMPLES, hex } from './wire-samples.js';

/** Cases run across this file; the last test checks the total. */
let cases = 0;
const MIN_CASES = 100_000;

const samples = Object.values(SAMPLES);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

/** Runs `fn`; any throw other than WireError fails the case. Returns whether it accepted the input. */
function onlyWireErrors(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof WireError) return false;
    throw e;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** decodeFrame either throws WireError, or gives a frame that summarizes and re-emits to exactly the input. */
function checkFrame(bytes: Uint8Array): void {
  cases++;
  let frame: ReturnType<typeof decodeFrame> | undefined;
  onlyWireErrors(() => { frame = decodeFrame(bytes); });
  if (frame) {
    assert.equal(typeof summarizeFrame(frame), 'string');
    const out = emitFrame(frame);
    if (!sameBytes(out, bytes)) assert.fail(`re-emit differs for ${Buffer.from(bytes).toString('hex')}`);
  }
  onlyWireErrors(() => decodeFrame(bytes, { checksum: 'verify' }));
}

function run<T>(arb: fc.Arbitrary<T>, numRuns: number, check: (value: T) => void): void {
  fc.assert(fc.property(arb, (v) => { check(v); }), { numRuns, seed: SEED, endOnFailure: true });
}

const ethHeader = (ethertype: number): Uint8Array => {
  const h = hex('02000acb0001 02000acb0002 0000');
  h[12] = ethertype >>> 8; h[13] = ethertype & 0xff;
  return h;
};
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};

describe(`wire fuzz (seed ${SEED})`, () => {
  test('arbitrary bytes behind an IPv4, ARP or random ethertype decode or throw only WireError', () => {
    const arb = fc.tuple(fc.constantFrom(0x0800, 0x0800, 0x0806, 0x86dd, 0x1234), fc.uint8Array({ maxLength: 160 }));
    run(arb, 25_000, ([type, body]) => checkFrame(concat(ethHeader(type), body)));
    run(fc.uint8Array({ maxLength: 80 }), 3_000, checkFrame);
  });

  test('IPv4 headers with arbitrary fields over arbitrary transports decode or throw only WireError', () => {
    // A plausible header (version 4, IHL 5..15) so the fuzzer spends its time in the transports and options.
    const arb = fc.tuple(
      fc.integer({ min: 0, max: 15 }), fc.constantFrom(1, 6, 17, 17, 47), fc.uint8Array({ minLength: 60, maxLength: 60 }),
      fc.uint8Array({ maxLength: 120 }), fc.boolean(),
    );
    run(arb, 25_000, ([ihl, proto, head, body, fitLength]) => {
      const h = head.slice();
      h[0] = 0x40 | ihl;
      h[6] &= 0x40; h[7] = 0; // not a fragment, so the transport gets decoded
      h[9] = proto;
      const headerLen = Math.max(ihl, 5) * 4;
      const packet = concat(h.subarray(0, headerLen), body);
      if (fitLength) { packet[2] = packet.length >>> 8; packet[3] = packet.length & 0xff; }
      checkFrame(concat(ethHeader(0x0800), packet));
    });
  });

  test('each sample frame with one byte changed decodes to the same bytes or throws only WireError', () => {
    const arb = fc.tuple(fc.nat({ max: samples.length - 1 }), fc.nat(), fc.nat({ max: 255 }));
    run(arb, 50_000, ([which, pos, value]) => {
      const bytes = samples[which].slice();
      bytes[pos % bytes.length] = value;
      checkFrame(bytes);
    });
  });

  test('each sample frame with several bytes changed decodes to the same bytes or throws only WireError', () => {
    const arb = fc.tuple(fc.nat({ max: samples.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 2, maxLength: 8 }));
    run(arb, 20_000, ([which, edits]) => {
      const bytes = samples[which].slice();
      for (const [pos, value] of edits) bytes[pos % bytes.length] = value;
      checkFrame(bytes);
    });
  });

  test('each sample frame cut at any length, with or without a changed byte, throws only WireError', () => {
    for (const s of samples) for (let n = 0; n <= s.length; n++) checkFrame(s.subarray(0, n));
    const arb = fc.tuple(fc.nat({ max: samples.length - 1 }), fc.nat(), fc.nat(), fc.nat({ max: 255 }));
    run(arb, 10_000, ([which, cut, pos, value]) => {
      const s = samples[which];
      const bytes = s.slice(0, cut % (s.length + 1));
      if (bytes.length) bytes[pos % bytes.length] = value;
      checkFrame(bytes);
    });
  });

  test('every byte of every sample set to 0x00, 0xff and its bit flips decodes to the same bytes or throws only WireError', () => {
    for (const s of samples) {
      for (let pos = 0; pos < s.length; pos++) {
        for (const f of [() => 0, () => 0xff, (x: number) => x ^ 0x01, (x: number) => x ^ 0x80, (x: number) => (x + 1) & 0xff]) {
          const bytes = s.slice();
          bytes[pos] = f(bytes[pos]);
          checkFrame(bytes);
        }
      }
    }
  });

  test('codecs given arbitrary bytes directly throw only WireError', () => {
    const direct = (bytes: Uint8Array): void => {
      cases++;
      const a = 0x0a000001, b = 0x0a000002;
      onlyWireErrors(() => Ipv4Repr.parse(Ipv4Packet.newChecked(bytes), { checksum: 'keep' }));
      onlyWireErrors(() => Ipv4Repr.parse(Ipv4Packet.newUnchecked(bytes).checkHeader(), { checksum: 'verify' }));
      onlyWireErrors(() => ArpRepr.parse(ArpPacket.newChecked(bytes)));
      onlyWireErrors(() => { const r = Icmpv4Repr.parse(Icmpv4Packet.newChecked(bytes), { checksum: 'keep' }); r.original(); });
      onlyWireErrors(() => UdpRepr.parse(UdpPacket.newChecked(bytes), a, b));
      onlyWireErrors(() => TcpRepr.parse(TcpPacket.newChecked(bytes), a, b, { checksum: 'keep' }));
      onlyWireErrors(() => parseTcpOptions(bytes.subarray(0, 40)));
      onlyWireErrors(() => DnsRepr.parse(bytes));
    };
    run(fc.uint8Array({ maxLength: 120 }), 10_000, direct);
    // DNS messages behind a valid header, so the fuzzer reaches names, pointers and records.
    const dnsArb = fc.tuple(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 100 }));
    run(dnsArb, 10_000, ([head, body]) => {
      cases++;
      const h = head.slice();
      h[4] = 0; h[5] = 1 + (h[5] & 3); h[6] = 0; h[7] = h[7] & 3; h[8] = 0; h[9] = h[9] & 1; h[10] = 0; h[11] = h[11] & 1;
      const bytes = concat(h, body);
      onlyWireErrors(() => {
        const repr = DnsRepr.parse(bytes);
        assert.ok(sameBytes(repr.toBytes(), bytes));
      });
    });
    // DHCP with the fixed part and cookie in place, arbitrary options after them.
    const dhcpFixed = SAMPLES.dhcpDiscover.subarray(42, 42 + 240);
    run(fc.uint8Array({ maxLength: 80 }), 10_000, (opts) => {
      cases++;
      const bytes = concat(dhcpFixed, opts);
      onlyWireErrors(() => {
        const repr = DhcpRepr.parse(DhcpPacket.newChecked(bytes));
        const out = new Uint8Array(repr.bufferLen());
        repr.emit(DhcpPacket.newUnchecked(out));
        assert.ok(sameBytes(out, bytes));
      });
    });
  });

  test(`at least ${MIN_CASES} cases ran`, (t) => {
    t.diagnostic(`${cases} cases, seed ${SEED} (rerun with FUZZ_SEED=${SEED})`);
    assert.ok(cases >= MIN_CASES, `${cases} cases`);
  });
});
