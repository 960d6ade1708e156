// The dispatcher's flow hash: the one rule that picks a packet actor in dispatcher mode and in the sim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { flowHash } from '../actors/runtime/dispatcher.js';
import { fragmentFrame } from '../wire/index.js';
import { udpFrame } from './support/frames.js';

const MAC_A = 0x02_00_00_00_00_01, MAC_B = 0x02_00_00_00_00_02;

test('both directions of a flow hash alike', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 0xfffffffe }), fc.integer({ min: 1, max: 0xfffffffe }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), (a, b, pa, pb) => {
    const there = udpFrame({ srcMac: MAC_A, dstMac: MAC_B, src: a, dst: b, srcPort: pa, dstPort: pb, payload: new Uint8Array(8) });
    const back = udpFrame({ srcMac: MAC_B, dstMac: MAC_A, src: b, dst: a, srcPort: pb, dstPort: pa, payload: new Uint8Array(8) });
    assert.equal(flowHash(there), flowHash(back));
  }));
});

test('every fragment of one datagram hashes alike (only the first holds the ports), whatever its payload', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1500, maxLength: 6000 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 576, max: 1500 }), (payload, port, mtu) => {
    const whole = udpFrame({ srcMac: MAC_A, dstMac: MAC_B, src: 0x0a000001, dst: 0x0a000002, srcPort: port, dstPort: 7000, payload });
    const pieces = fragmentFrame(whole, mtu);
    assert.ok(pieces.length >= 2);
    const hashes = new Set(pieces.map(flowHash));
    assert.equal(hashes.size, 1, `${pieces.length} fragments hashed to ${hashes.size} values`);
  }), { numRuns: 200 });
});
