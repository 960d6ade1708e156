import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store } from '../store/index.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4 } from '../wire/ipv4.js';
import { fragKey, fragTable } from '../actors/iface/frag-table.js';
import { Reassembler, type ReassemblyCounters } from '../actors/iface/reassembly.js';
import { prng } from '../actors/sim/prng.js';

const SEED = Number(process.env.FRAG_SEED ?? Date.now() % 1_000_000);
console.log(`frag-hostile: FRAG_SEED=${SEED}`);

const SRC = parseIpv4('192.0.2.66');
const DST = parseIpv4('10.0.0.2');
const NOPS_40 = new Uint8Array(40).fill(1);

interface Frag { offset: number; len: number; more: boolean; proto?: number; ident?: number; src?: number; options?: Uint8Array; fill?: number }

/** A checked view of a fragment with exactly these fields (nothing else is valid about it). */
function frag(f: Frag): Ipv4Packet {
  const repr = new Ipv4Repr({
    src: f.src ?? SRC, dst: DST, protocol: f.proto ?? IpProtocol.Udp, payloadLen: f.len, ident: f.ident ?? 1,
    moreFragments: f.more, fragmentOffset: f.offset, options: f.options,
  });
  const out = new Uint8Array(repr.bufferLen() + f.len).fill(f.fill ?? 0xab);
  repr.emit(Ipv4Packet.newUnchecked(out));
  return Ipv4Packet.newChecked(out);
}

function withStore(opts: ConstructorParameters<typeof Reassembler>[1] = {}) {
  const table = new Store([fragTable]).main.table(fragTable);
  return { table, r: new Reassembler(table, opts) };
}

/** The counters that moved, and by how much. */
function moved(r: Reassembler): Partial<ReassemblyCounters> {
  return Object.fromEntries(Object.entries(r.counters).filter(([, v]) => v !== 0));
}

describe('fragments malformed on their own are dropped and counted, with no datagram opened', () => {
  const cases: [string, Frag, keyof ReassemblyCounters][] = [
    ['TCP at offset 0 without the whole fixed TCP header (RFC 1858)', { offset: 0, len: 16, more: true, proto: IpProtocol.Tcp }, 'tiny'],
    ['TCP at offset 8, rewriting the flags (RFC 1858)', { offset: 8, len: 64, more: true, proto: IpProtocol.Tcp }, 'tiny'],
    ['an offset past 65535', { offset: 65528, len: 16, more: false }, 'offsetOverflow'],
    ['offset + length + header one past 65535', { offset: 65_000, len: 516, more: false }, 'offsetOverflow'],
    ['MF set and zero bytes', { offset: 0, len: 0, more: true }, 'empty'],
    ['MF clear and zero bytes', { offset: 800, len: 0, more: false }, 'empty'],
    ['MF set and 13 bytes', { offset: 0, len: 13, more: true }, 'badLength'],
  ];
  for (const [name, f, counter] of cases) {
    test(name, () => {
      const { table, r } = withStore();
      assert.equal(r.accept(frag(f), 0), null);
      assert.deepEqual(moved(r), { fragments: 1, [counter]: 1 });
      assert.deepEqual([r.pending, r.memoryBytes, table.size], [0, 0, 0]);
    });
  }

  test('a first UDP fragment of 8 bytes and a TCP one of 24 are not tiny', () => {
    const r = new Reassembler(null);
    r.accept(frag({ offset: 0, len: 8, more: true }), 0);
    r.accept(frag({ offset: 0, len: 24, more: true, proto: IpProtocol.Tcp }), 0);
    assert.deepEqual(moved(r), { fragments: 2 });
    assert.equal(r.pending, 2);
  });

  test('a datagram that would pass 65535 bytes only once its 60-byte first header is counted is dropped at completion', () => {
    const { table, r } = withStore();
    assert.equal(r.accept(frag({ offset: 0, len: 32_760, more: true, options: NOPS_40 }), 0), null);
    assert.equal(r.accept(frag({ offset: 32_760, len: 32_720, more: false }), 0), null);
    assert.deepEqual(moved(r), { fragments: 2, offsetOverflow: 1 });
    assert.deepEqual([r.pending, r.memoryBytes, table.size], [0, 0, 0]);
  });
});

describe('fragments that contradict the datagram discard it', () => {
  const key = fragKey(SRC, DST, IpProtocol.Udp, 1);
  const cases: [string, Frag[]][] = [
    ['two last fragments with different ends', [{ offset: 0, len: 400, more: true }, { offset: 800, len: 200, more: false }, { offset: 1000, len: 200, more: false }]],
    ['data past the known end', [{ offset: 0, len: 400, more: true }, { offset: 800, len: 200, more: false }, { offset: 1000, len: 8, more: true }]],
    ['a last fragment ending before data already held', [{ offset: 1000, len: 480, more: true }, { offset: 0, len: 800, more: false }]],
    ['a last fragment ending exactly where held data (MF set) ends', [{ offset: 0, len: 800, more: true }, { offset: 400, len: 400, more: false }]],
  ];
  for (const [name, frags] of cases) {
    test(name, () => {
      const { table, r } = withStore();
      frags.slice(0, -1).forEach((f) => r.accept(frag(f), 0));
      assert.ok(table.get(key), 'a row while the datagram is pending');
      assert.equal(r.accept(frag(frags[frags.length - 1]), 0), null);
      assert.deepEqual(moved(r), { fragments: frags.length, conflictingEnd: 1 });
      assert.deepEqual([r.pending, r.memoryBytes, table.get(key)], [0, 0, undefined]);
    });
  }

  test('the same range with other bytes is an overlap, with the same bytes a duplicate', () => {
    const { r } = withStore();
    r.accept(frag({ offset: 0, len: 800, more: true }), 0);
    r.accept(frag({ offset: 0, len: 800, more: true }), 0);
    assert.deepEqual(moved(r), { fragments: 2, duplicates: 1 });
    r.accept(frag({ offset: 0, len: 800, more: true, fill: 0xcd }), 0);
    assert.deepEqual(moved(r), { fragments: 3, duplicates: 1, overlaps: 1 });
    assert.equal(r.pending, 0);
  });
});

describe('floods', () => {
  test('never-completing fragments: memory stays under the bound, rows under the datagram cap, all freed at the deadline', () => {
    const { table, r } = withStore({ maxDatagrams: 2000 });
    const rand = prng(SEED);
    for (let i = 0; i < 20_000; i++) {
      const offset = 8 * Math.floor(rand() * 7000);
      r.accept(frag({ offset, len: 8 * (1 + Math.floor(rand() * 185)), more: true, ident: i & 0xffff, src: SRC + (i >>> 16) }), i);
      assert.ok(r.memoryBytes <= 4 * 1024 * 1024);
    }
    assert.ok(r.counters.overMemory > 0, 'the memory bound was reached');
    assert.ok(r.pending <= 2000 && table.size === r.pending);
    r.poll(20_000 + 30_000);
    assert.deepEqual([r.pending, r.memoryBytes, table.size, r.counters.reassembled], [0, 0, 0, 0]);
  });

  test('past maxDatagrams, fragments of new datagrams are dropped and counted; held ones still take theirs', () => {
    const r = new Reassembler(null, { maxDatagrams: 3 });
    for (let i = 0; i < 5; i++) r.accept(frag({ offset: 0, len: 8, more: true, ident: i }), 0);
    assert.deepEqual([r.pending, r.counters.tooManyDatagrams], [3, 2]);
    assert.ok(r.accept(frag({ offset: 8, len: 8, more: false, ident: 2 }), 0));
  });

  test(`random hostile fragments: no throw, the bounds hold, rows match the datagrams held (FRAG_SEED=${SEED})`, () => {
    const fragArb = fc.record({
      offset: fc.integer({ min: 0, max: 8191 }).map((x) => x * 8), len: fc.integer({ min: 0, max: 3000 }), more: fc.boolean(),
      proto: fc.constantFrom(1, 6, 17, 99), ident: fc.integer({ min: 0, max: 3 }), fill: fc.integer({ min: 0, max: 1 }),
    }).filter((f) => f.offset + f.len + 20 <= 0xffff);
    fc.assert(fc.property(fc.array(fragArb, { maxLength: 80 }), fc.integer({ min: 1000, max: 200_000 }), (frags, highThresh) => {
      const { table, r } = withStore({ highThresh, maxDatagrams: 6 });
      frags.forEach((f, i) => {
        r.accept(frag(f), i);
        assert.ok(r.memoryBytes <= highThresh);
        assert.ok(r.pending <= 6);
      });
      assert.equal(table.size, r.pending, 'one row per datagram held');
      r.poll(Infinity);
      assert.deepEqual([r.pending, r.memoryBytes, table.size], [0, 0, 0]);
    }), { seed: SEED, numRuns: 300 });
  });
});
