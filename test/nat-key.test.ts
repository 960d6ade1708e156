// The NAT table's packed flow keys: every 5-tuple gets its own key, the key survives msgpack (the
// deltas between threads) unchanged, and the readable form round-trips. Found by the API benchmark:
// keys holding UTF-16 surrogates (ports 55296-57343, addresses 216-223.x.x.x) came back as U+FFFD.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { natFlowKey, natKey, type NatProto } from '../actors/router/nat-table.js';

const tuple = fc.tuple(fc.constantFrom<NatProto>('tcp', 'udp', 'icmp'), fc.nat(0xffff_ffff), fc.nat(0xffff), fc.nat(0xffff_ffff), fc.nat(0xffff));
const dotted = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

describe('NAT flow keys', () => {
  it('survive msgpack unchanged and have no surrogate code units (1,000 cases + the surrogate ranges)', () => {
    const check = ([p, a, ap, b, bp]: [NatProto, number, number, number, number]) => {
      const k = natKey(p, a, ap, b, bp);
      assert.equal(k.length, 7);
      assert.ok(![...Array(7).keys()].some((i) => k.charCodeAt(i) >= 0xd800 && k.charCodeAt(i) <= 0xdfff), `surrogate in the key of ${p} ${a}:${ap} ${b}:${bp}`);
      assert.equal(unpack(pack(k)), k);
    };
    fc.assert(fc.property(tuple, check), { numRuns: 1_000 });
    for (const port of [0xd800, 0xdbff, 0xdc00, 0xdfff, 55304, 56000, 65535]) check(['udp', 0x0ac90002, port, (216 << 24 | 58 << 16 | 0xd9 << 8 | 4) >>> 0, port]);
  });

  it('the readable form round-trips, and distinct tuples have distinct keys (1,000 cases)', () => {
    fc.assert(fc.property(tuple, tuple, ([p, a, ap, b, bp], t2) => {
      const k = natKey(p, a, ap, b, bp);
      const shown = natFlowKey.encode(k);
      assert.equal(shown, `${p}:${dotted(a)}:${ap}:${dotted(b)}:${bp}`);
      assert.equal(natFlowKey.decode(shown), k);
      assert.equal(natFlowKey.decode(k), k);
      const k2 = natKey(...t2);
      assert.equal(k === k2, p === t2[0] && a === t2[1] && ap === t2[2] && b === t2[3] && bp === t2[4]);
    }), { numRuns: 1_000 });
  });

  it('a packed key with a surrogate or a stray top bit is refused', () => {
    assert.throws(() => natFlowKey.decode(String.fromCharCode(0x4000 | 17, 0xd800, 1, 2, 3, 4, 5)));
    assert.throws(() => natFlowKey.decode(String.fromCharCode(0x4000 | 17 | 0x800, 1, 1, 2, 3, 4, 5)));
    assert.throws(() => natFlowKey.decode(String.fromCharCode(17, 1, 1, 2, 3, 4, 5)));
  });
});
