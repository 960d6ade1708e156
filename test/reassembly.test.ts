import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Store } from '../store/index.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4 } from '../wire/ipv4.js';
import { fragmentIpv4 } from '../wire/ipv4-fragment.js';
import { expireAbandoned, FRAG_GRACE_MS, fragKey, fragTable } from '../actors/iface/frag-table.js';
import { DATAGRAM_OVERHEAD, Reassembler } from '../actors/iface/reassembly.js';
import { prng } from '../actors/sim/prng.js';

const SEED = Number(process.env.FRAG_SEED ?? Date.now() % 1_000_000);
console.log(`reassembly: FRAG_SEED=${SEED}`);

const SRC = parseIpv4('10.0.0.1');
const DST = parseIpv4('10.0.0.2');

function datagram(payloadLen: number, seed: number, ident = 0x1234, protocol: number = IpProtocol.Udp): Uint8Array {
  const repr = new Ipv4Repr({ src: SRC, dst: DST, protocol, payloadLen, ident, ttl: 61 });
  const out = new Uint8Array(repr.bufferLen() + payloadLen);
  repr.emit(Ipv4Packet.newUnchecked(out));
  const rand = prng(seed);
  for (let i = repr.bufferLen(); i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** The fragment of `d` holding payload bytes [from, to), with MF as given (default: set unless it ends the datagram). */
function piece(d: Uint8Array, from: number, to: number, more?: boolean, bytes?: Uint8Array): Uint8Array {
  const whole = Ipv4Packet.newChecked(d);
  const repr = Ipv4Repr.parse(whole);
  repr.fragmentOffset = from;
  repr.moreFragments = more ?? to < whole.payloadLength;
  const out = new Uint8Array(repr.bufferLen() + to - from);
  repr.emit(Ipv4Packet.newUnchecked(out), to - from);
  out.set(bytes ?? whole.payload().subarray(from, to), repr.bufferLen());
  return out;
}

/** Cuts `d`'s payload at the given offsets (multiples of 8, sorted, inside the payload). */
function cutAt(d: Uint8Array, cuts: number[]): Uint8Array[] {
  const len = Ipv4Packet.newChecked(d).payloadLength;
  const edges = [0, ...cuts, len];
  return edges.slice(1).map((to, i) => piece(d, edges[i], to));
}

/** The holes a model of received byte ranges predicts, in the row's text form. */
function modelHoles(received: [number, number][], end: number | null): string {
  const got = new Set<number>();
  let top = 0;
  for (const [a, b] of received) { for (let i = a; i < b; i++) got.add(i); top = Math.max(top, b); }
  const limit = end ?? top;
  const out: string[] = [];
  for (let i = 0; i < limit;) {
    if (got.has(i)) { i++; continue; }
    let j = i;
    while (j < limit && !got.has(j)) j++;
    out.push(`${i}-${j - 1}`);
    i = j;
  }
  if (end === null) out.push(`${top}-*`);
  return out.join(',');
}

function withStore() {
  const store = new Store([fragTable]);
  const table = store.main.table(fragTable);
  return { table, r: new Reassembler(table) };
}

const KEY = fragKey(SRC, DST, IpProtocol.Udp, 0x1234);
const view = (b: Uint8Array) => Ipv4Packet.newChecked(b);
const rangeOf = (b: Uint8Array): [number, number] => { const v = view(b); return [v.fragmentOffset, v.fragmentOffset + v.payloadLength]; };

/** A datagram of 16..6000 payload bytes and sorted distinct cut points at multiples of 8 inside it. */
const cutDatagram = fc.record({ len: fc.integer({ min: 16, max: 6000 }), seed: fc.integer(), cutSeeds: fc.array(fc.nat(), { minLength: 1, maxLength: 12 }) })
  .map(({ len, seed, cutSeeds }) => {
    const cuts = [...new Set(cutSeeds.map((c) => 8 * (1 + (c % Math.floor((len - 1) / 8)))))].filter((c) => c < len).sort((a, b) => a - b);
    return { d: datagram(len, seed), cuts, len, seed };
  })
  .filter((x) => x.cuts.length > 0);

describe('reassembly of random fragmentations', () => {
  test(`any order, with duplicates, gives back exactly the datagram; rows follow the holes (FRAG_SEED=${SEED})`, () => {
    fc.assert(fc.property(cutDatagram, fc.integer(), fc.integer({ min: 0, max: 5 }), ({ d, cuts, len }, orderSeed, dupCount) => {
      const pieces = cutAt(d, cuts);
      const rand = prng(orderSeed);
      const stream = [...pieces, ...Array.from({ length: dupCount }, () => pieces[Math.floor(rand() * pieces.length)])]
        .map((p) => [rand(), p] as const).sort((a, b) => a[0] - b[0]).map(([, p]) => p);
      const { table, r } = withStore();
      const seen: [number, number][] = [];
      let dups = 0;
      let out: Uint8Array | null = null;
      for (const p of stream) {
        const [a, b] = rangeOf(p);
        if (seen.some(([x, y]) => x === a && y === b)) dups++;
        else seen.push([a, b]);
        out = r.accept(view(p), 1000);
        if (out) break;
        const row = table.get(KEY)!;
        assert.equal(row.holes, modelHoles(seen, seen.some(([, y]) => y === len) ? len : null));
        assert.equal(row.received, seen.reduce((n, [x, y]) => n + y - x, 0));
        assert.deepEqual([row.fragments, row.firstSeen, row.deadline, row.total], [seen.length, 1000, 31_000, seen.some(([, y]) => y === len) ? len : 0]);
      }
      assert.deepEqual(out, d);
      assert.equal(table.get(KEY), undefined, 'row deleted on completion');
      assert.deepEqual([r.counters.reassembled, r.counters.duplicates, r.counters.overlaps, r.memoryBytes, r.pending], [1, dups, 0, 0, 0]);
    }), { seed: SEED, numRuns: 400 });
  });

  test(`a fragment touching bytes already held is an overlap unless it repeats them exactly (FRAG_SEED=${SEED})`, () => {
    fc.assert(fc.property(cutDatagram, fc.integer(), fc.nat(), fc.nat(), fc.boolean(), ({ d, cuts, len }, seed, o, l, changed) => {
      const pieces = cutAt(d, cuts);
      const rand = prng(seed);
      const held = pieces.filter(() => rand() < 0.5);
      fc.pre(held.length > 0 && held.length < pieces.length);
      const from = 8 * (o % Math.floor(len / 8));
      const to = Math.min(len, from + 8 * (1 + (l % 64)));
      const heldRanges = held.map(rangeOf);
      const touches = heldRanges.some(([a, b]) => from < b && to > a);
      fc.pre(touches && to % 8 === 0);
      const inside = modelHoles(heldRanges, null) === modelHoles([...heldRanges, [from, to]], null);
      const bytes = view(d).payload().slice(from, to);
      if (changed) bytes[Math.floor(rand() * bytes.length)] ^= 0x5a;
      const { table, r } = withStore();
      for (const p of held) assert.equal(r.accept(view(p), 0), null);
      const memory = r.memoryBytes;
      assert.equal(r.accept(view(piece(d, from, to, true, bytes)), 0), null);
      if (inside && !changed) {
        assert.deepEqual([r.counters.duplicates, r.counters.overlaps, r.pending, r.memoryBytes], [1, 0, 1, memory]);
        assert.ok(table.get(KEY));
      } else {
        assert.deepEqual([r.counters.overlaps, r.pending, r.memoryBytes], [1, 0, 0]);
        assert.equal(table.get(KEY), undefined, 'row deleted with the datagram');
      }
    }), { seed: SEED, numRuns: 400 });
  });
});

describe('reassembly timeout', () => {
  test('past 30 s the datagram is dropped; time exceeded quotes the first fragment only when it came', () => {
    const d = datagram(4000, 7);
    const [first, second, third] = fragmentIpv4(d, 1500);
    for (const withFirst of [false, true]) {
      const { table, r } = withStore();
      const quoted: Uint8Array[] = [];
      r.onTimeExceeded = (q) => quoted.push(q);
      r.accept(view(third), 5000);
      r.accept(view(withFirst ? first : second), 6000);
      assert.equal(r.nextDeadline(), 35_000, 'the deadline runs from the first fragment and is not pushed back');
      r.poll(34_999);
      assert.deepEqual([r.pending, r.counters.timeouts], [1, 0]);
      r.poll(35_000);
      assert.deepEqual([r.pending, r.counters.timeouts, r.memoryBytes, r.nextDeadline()], [0, 1, 0, Infinity]);
      assert.equal(table.get(KEY), undefined);
      assert.deepEqual(quoted, withFirst ? [first.subarray(0, 20 + 8)] : []);
    }
  });

  test('datagrams expire in the order they began, each at its own deadline', () => {
    const r = new Reassembler(null, { timeoutMs: 100 });
    for (let i = 0; i < 5; i++) r.accept(view(fragmentIpv4(datagram(3000, i, i), 1500)[1]), i * 10);
    r.poll(125);
    assert.deepEqual([r.pending, r.counters.timeouts, r.nextDeadline()], [2, 3, 130]);
  });
});

describe('the memory bound', () => {
  test(`holds under random fragments of many datagrams, and every byte is given back (FRAG_SEED=${SEED})`, () => {
    fc.assert(fc.property(fc.integer({ min: 2000, max: 40_000 }), fc.integer(), (highThresh, seed) => {
      const r = new Reassembler(null, { highThresh });
      const rand = prng(seed);
      for (let i = 0; i < 300; i++) {
        const d = datagram(64 + Math.floor(rand() * 4000), seed + i, Math.floor(rand() * 40));
        const pieces = fragmentIpv4(d, 68 + Math.floor(rand() * 1500));
        r.accept(view(pieces[Math.floor(rand() * pieces.length)]), i);
        assert.ok(r.memoryBytes <= highThresh, `${r.memoryBytes} > ${highThresh}`);
      }
      r.poll(Infinity);
      assert.equal(r.memoryBytes, 0);
    }), { seed: SEED, numRuns: 100 });
  });

  test('a fragment that does not fit is dropped and counted; the datagrams held still complete', () => {
    const big = fragmentIpv4(datagram(3000, 1, 1), 1500);
    const other = fragmentIpv4(datagram(3000, 2, 2), 1500);
    const r = new Reassembler(null, { highThresh: DATAGRAM_OVERHEAD + 60 + 3000 + 100 });
    assert.equal(r.accept(view(big[2]), 0), null); // the last fragment: the buffer is sized to the whole datagram
    assert.equal(r.accept(view(other[0]), 0), null);
    assert.deepEqual([r.counters.overMemory, r.pending], [1, 1]);
    r.accept(view(big[0]), 0);
    assert.deepEqual(r.accept(view(big[1]), 0), datagram(3000, 1, 1));
  });

  test('a datagram cannot outgrow the bound while its end is unknown', () => {
    const pieces = fragmentIpv4(datagram(6000, 3), 1000);
    const r = new Reassembler(null, { highThresh: DATAGRAM_OVERHEAD + 60 + 2500 });
    pieces.forEach((p) => r.accept(view(p), 0));
    assert.ok(r.memoryBytes <= DATAGRAM_OVERHEAD + 60 + 2500);
    assert.ok(r.counters.overMemory > 0);
    assert.equal(r.counters.reassembled, 0);
  });
});

describe('abandoned rows (the expiry actor, frag-table.ts expireAbandoned)', () => {
  test('an actor crashes mid-reassembly and restarts: its row goes once past deadline + grace, nothing live is touched', () => {
    const store = new Store([fragTable]);
    const main = store.main;
    // Actor A takes the first fragment of D1 at t=0, merges, and crashes: its reassembler (the bytes) is gone.
    const a = main.fork('packet-0');
    const d1 = fragmentIpv4(datagram(3000, 1, 0x0101), 1500);
    assert.equal(new Reassembler(a.table(fragTable)).accept(view(d1[0]), 0), null);
    a.commit({ author: 'packet-0' });
    main.merge(a);
    const k1 = fragKey(SRC, DST, IpProtocol.Udp, 0x0101);
    assert.ok(main.table(fragTable).has(k1), 'the crashed actor left its row');
    // Its next incarnation, on a fresh fork, knows nothing of D1 and starts D2 at t=20 s.
    const a2 = main.fork('packet-0 again');
    const r2 = new Reassembler(a2.table(fragTable));
    const d2src = datagram(3000, 2, 0x0202);
    const d2 = fragmentIpv4(d2src, 1500);
    assert.equal(r2.accept(view(d2[0]), 20_000), null);
    // The expiry actor, on its own fork: D1's deadline is 30 s; inside the grace nothing goes.
    const e = main.fork('expiry');
    assert.equal(expireAbandoned(e.table(fragTable), 30_000 + FRAG_GRACE_MS - 1), 0);
    assert.equal(expireAbandoned(e.table(fragTable), 30_000 + FRAG_GRACE_MS), 1);
    e.commit({ author: 'expiry' });
    a2.commit({ author: 'packet-0' });
    main.merge(e);
    main.merge(a2);
    assert.deepEqual([...main.table(fragTable).entries()].map(([k]) => k), [fragKey(SRC, DST, IpProtocol.Udp, 0x0202)], 'D1 gone, D2 kept');
    // D2, live on the restarted actor, completes whole: the sweep took no byte anyone still held.
    let whole: Uint8Array | null = null;
    for (const p of d2.slice(1)) whole = r2.accept(view(p), 21_000);
    assert.ok(whole !== null && Buffer.compare(Buffer.from(whole), Buffer.from(d2src)) === 0);
  });

  test('a live reassembler removes its own rows at the deadline, before the grace runs out', () => {
    const { table, r } = withStore();
    r.accept(view(fragmentIpv4(datagram(3000, 3), 1500)[0]), 0);
    r.poll(30_000);
    assert.equal(table.size, 0);
    assert.equal(expireAbandoned(table, 30_000 + FRAG_GRACE_MS), 0);
  });
});
