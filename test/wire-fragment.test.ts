import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WireError } from '../wire/error.js';
import { EtherType, ETHERNET_HEADER_LEN, EthernetPacket, EthernetRepr } from '../wire/ethernet.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4 } from '../wire/ipv4.js';
import { copiedOptions, fragmentFrame, fragmentIpv4 } from '../wire/ipv4-fragment.js';
import { Reassembler } from '../actors/iface/reassembly.js';
import { prng } from '../actors/sim/prng.js';

const SEED = Number(process.env.FRAG_SEED ?? Date.now() % 1_000_000);
console.log(`wire-fragment: FRAG_SEED=${SEED}`);

// Record route (not copied, type 7) and loose source route (copied, type 0x83), then a NOP and end-of-list padding.
const RECORD_ROUTE = [0x07, 7, 4, 0, 0, 0, 0];
const LOOSE_ROUTE = [0x83, 7, 4, 10, 0, 0, 9];
const OPTIONS = Uint8Array.from([...RECORD_ROUTE, ...LOOSE_ROUTE, 0x01, 0x00]);

function datagram(payloadLen: number, o: { options?: Uint8Array; df?: boolean; seed?: number } = {}): Uint8Array {
  const repr = new Ipv4Repr({
    src: parseIpv4('10.0.0.1'), dst: parseIpv4('10.0.0.2'), protocol: IpProtocol.Udp, payloadLen, ident: 0x1234,
    options: o.options, dontFragment: o.df ?? false, ttl: 61,
  });
  const out = new Uint8Array(repr.bufferLen() + payloadLen);
  repr.emit(Ipv4Packet.newUnchecked(out));
  const rand = prng(o.seed ?? 1);
  for (let i = repr.bufferLen(); i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** Checks every rule a set of fragments of `original` must keep at `mtu`; returns their views. */
function assertWellCut(original: Uint8Array, pieces: Uint8Array[], mtu: number): Ipv4Packet[] {
  const orig = Ipv4Packet.newChecked(original);
  const views = pieces.map((p) => Ipv4Packet.newChecked(p));
  let at = 0;
  const joined: number[] = [];
  views.forEach((v, i) => {
    const last = i === views.length - 1;
    assert.ok(v.totalLength <= mtu, `piece ${i}: ${v.totalLength} > ${mtu}`);
    assert.equal(v.length, v.totalLength, 'no bytes after the datagram');
    assert.ok(v.verifyChecksum(), `piece ${i}: header checksum`);
    assert.equal(v.fragmentOffset, at);
    assert.equal(v.moreFragments, !last);
    if (!last) assert.equal(v.payloadLength % 8, 0, `piece ${i}: payload ${v.payloadLength} not a multiple of 8`);
    assert.deepEqual([v.src, v.dst, v.protocol, v.ident, v.ttl], [orig.src, orig.dst, orig.protocol, orig.ident, orig.ttl]);
    joined.push(...v.payload());
    at += v.payloadLength;
  });
  assert.deepEqual(Uint8Array.from(joined), orig.payload());
  return views;
}

/** Feeds fragments to a fresh Reassembler in the given order; the datagram it hands back. */
function reassemble(pieces: Uint8Array[]): Uint8Array | null {
  const r = new Reassembler(null);
  let out: Uint8Array | null = null;
  for (const p of pieces) out = r.accept(Ipv4Packet.newChecked(p), 0) ?? out;
  assert.equal(r.memoryBytes, 0, 'nothing held after completion');
  return out;
}

describe('fragmentIpv4', () => {
  test('a 4000-byte payload at MTU 1500 becomes 1480 + 1480 + 1040 at offsets 0, 1480, 2960', () => {
    const views = assertWellCut(datagram(4000), fragmentIpv4(datagram(4000), 1500), 1500);
    assert.deepEqual(views.map((v) => [v.fragmentOffset, v.payloadLength, v.moreFragments]), [[0, 1480, true], [1480, 1480, true], [2960, 1040, false]]);
  });

  test('a datagram that fits comes back as one copy, unchanged', () => {
    const d = datagram(1000);
    const [only, ...rest] = fragmentIpv4(d, 1500);
    assert.equal(rest.length, 0);
    assert.deepEqual(only, d);
    assert.notEqual(only.buffer, d.buffer);
  });

  test('DF set and too big: a WireError; DF set and fits: one copy', () => {
    assert.throws(() => fragmentIpv4(datagram(2000, { df: true }), 1500), (e) => e instanceof WireError && e.field === 'flags');
    assert.equal(fragmentIpv4(datagram(1000, { df: true }), 1500).length, 1);
  });

  test('an MTU below 68 is a WireError; 68 itself cuts 8 bytes at a time even with 40 bytes of options', () => {
    assert.throws(() => fragmentIpv4(datagram(100), 67), (e) => e instanceof WireError && e.field === 'mtu');
    const opts = Uint8Array.from([...LOOSE_ROUTE, ...new Array(33).fill(1)]); // 40 bytes: LSRR + NOPs
    const pieces = fragmentIpv4(datagram(100, { options: opts }), 68);
    assertWellCut(datagram(100, { options: opts }), pieces, 68);
    assert.equal(Ipv4Packet.newChecked(pieces[0]).payloadLength, 8);
  });

  test('the first fragment carries every option, the others only the copied ones (RFC 791)', () => {
    const d = datagram(3000, { options: OPTIONS });
    const views = assertWellCut(d, fragmentIpv4(d, 1000), 1000);
    assert.deepEqual(views[0].options(), OPTIONS);
    for (const v of views.slice(1)) assert.deepEqual(v.options(), Uint8Array.from([...LOOSE_ROUTE, 0]));
  });

  test('copiedOptions refuses an option whose length runs past the header', () => {
    assert.throws(() => copiedOptions(Uint8Array.from([0x83, 9, 4, 0])), (e) => e instanceof WireError && e.field === 'options');
    assert.throws(() => copiedOptions(Uint8Array.from([0x83, 1, 0, 0])), WireError);
    assert.deepEqual(copiedOptions(Uint8Array.from([1, 1, 0, 0x83, 3, 4])), new Uint8Array(0), 'nothing after end of list');
  });

  test('a fragment cut again keeps its offset and its MF flag', () => {
    const [first, second] = fragmentIpv4(datagram(4000), 1500);
    const again = fragmentIpv4(first, 600);
    const views = again.map((p) => Ipv4Packet.newChecked(p));
    assert.deepEqual(views.map((v) => [v.fragmentOffset, v.moreFragments]), [[0, true], [576, true], [1152, true]]);
    const tail = fragmentIpv4(second, 600).map((p) => Ipv4Packet.newChecked(p));
    assert.equal(tail[0].fragmentOffset, 1480);
    assert.ok(tail.every((v) => v.moreFragments), 'the middle fragment of the datagram: MF stays set on all');
  });

  test(`any payload at any MTU cuts well and reassembles to the same bytes, in any order (FRAG_SEED=${SEED})`, () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 68, max: 2000 }), fc.boolean(), fc.integer(),
      (len, mtu, withOptions, seed) => {
        const d = datagram(len, { options: withOptions ? OPTIONS : undefined, seed });
        const pieces = fragmentIpv4(d, mtu);
        assertWellCut(d, pieces, mtu);
        const rand = prng(seed);
        const shuffled = pieces.map((p) => [rand(), p] as const).sort((a, b) => a[0] - b[0]).map(([, p]) => p);
        if (pieces.length > 1) assert.deepEqual(reassemble(shuffled), d);
      },
    ), { seed: SEED, numRuns: 300 });
  });
});

describe('fragmentFrame', () => {
  test('each fragment is an Ethernet frame with a copy of the original Ethernet header', () => {
    const d = datagram(3000);
    const eth = new EthernetRepr({ dst: 0x02_00_00_00_00_02, src: 0x02_00_00_00_00_01, ethertype: EtherType.Ipv4 });
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + d.length + 4); // trailing padding is not part of the datagram
    eth.emit(EthernetPacket.newUnchecked(frame));
    frame.set(d, ETHERNET_HEADER_LEN);
    const frames = fragmentFrame(frame, 1500);
    const bare = fragmentIpv4(d, 1500);
    assert.equal(frames.length, bare.length);
    frames.forEach((f, i) => {
      assert.deepEqual(f.subarray(0, ETHERNET_HEADER_LEN), frame.subarray(0, ETHERNET_HEADER_LEN));
      assert.deepEqual(f.subarray(ETHERNET_HEADER_LEN), bare[i]);
    });
  });

  test('a frame that is not IPv4 is a WireError', () => {
    const frame = new Uint8Array(100);
    new EthernetRepr({ dst: 1, src: 2, ethertype: EtherType.Arp }).emit(EthernetPacket.newUnchecked(frame));
    assert.throws(() => fragmentFrame(frame, 68), (e) => e instanceof WireError && e.field === 'ethertype');
  });
});
