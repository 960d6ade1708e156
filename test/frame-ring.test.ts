import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameRing } from '../wire/link/frame-ring.js';
import { MAX_FRAME } from '../wire/link/link.js';

/** A frame of `len` bytes whose contents tell its sequence number. */
function frame(seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (seq * 31 + i) & 0xff;
  return f;
}

function drainAll(ring: FrameRing, max = 1 << 30): Uint8Array[] {
  const out: Uint8Array[] = [];
  ring.drain((frames) => {
    for (const f of frames) out.push(f.slice());
  }, max);
  return out;
}

test('frames come out in order with their exact bytes, as views into the shared buffer', () => {
  const ring = FrameRing.create(8192);
  const consumer = FrameRing.attach(ring.buffer);
  for (let i = 0; i < 5; i++) assert.equal(ring.push(frame(i, 60 + i)), true);
  let seen = 0;
  consumer.drain((frames) => {
    assert.equal(frames.length, 5);
    for (const [i, f] of frames.entries()) {
      assert.ok(f.buffer instanceof SharedArrayBuffer, 'no copy: a view into the ring');
      assert.deepEqual(f, frame(i, 60 + i));
    }
    seen = frames.length;
  });
  assert.equal(seen, 5);
  assert.equal(consumer.usedBytes, 0);
  assert.equal(ring.pushedFrames, 5);
});

test('variable-length frames wrap around the end of the ring many times without corruption', () => {
  const ring = FrameRing.create(8192);
  const consumer = FrameRing.attach(ring.buffer);
  let next = 0;
  let expect = 0;
  let pads = 0;
  for (let round = 0; round < 400; round++) {
    // lengths chosen so records straddle the end at varying offsets, including 0-padding and maximal frames
    const lens = [61, 1514, 2, 777, MAX_FRAME, 64 + (round % 13)];
    for (const len of lens) {
      const before = ring.usedBytes;
      if (!ring.push(frame(next, len))) break;
      if (ring.usedBytes - before > 4 + ((len + 3) & ~3)) pads++;
      next++;
    }
    for (const f of drainAll(consumer, 1 + (round % 4))) {
      assert.deepEqual(f, frame(expect, f.length));
      expect++;
    }
  }
  for (const f of drainAll(consumer)) assert.deepEqual(f, frame(expect++, f.length));
  assert.equal(expect, next);
  assert.ok(next > 1000, `pushed ${next}`);
  assert.ok(pads > 10, `records padded at the end: ${pads}`);
  assert.equal(ring.pushedFrames, next);
});

test('a full ring refuses frames and counts each drop; draining makes room again', () => {
  const ring = FrameRing.create(8192);
  const consumer = FrameRing.attach(ring.buffer);
  let accepted = 0;
  for (let i = 0; i < 20; i++) if (ring.push(frame(i, 1000))) accepted++;
  assert.equal(accepted, 8, '8 records of 1004 bytes fit 8192'); // 8 * 1004 = 8032
  assert.equal(ring.droppedFrames, 12);
  assert.equal(consumer.droppedFrames, 12, 'the count is shared: the consumer sees it too');
  assert.equal(ring.push(frame(99, 100)), true, 'a small frame still fits the last 160 bytes');
  assert.equal(ring.push(frame(99, 200)), false);
  assert.equal(ring.droppedFrames, 13);
  const got = drainAll(consumer);
  assert.equal(got.length, 9);
  assert.equal(ring.push(frame(100, 1000)), true);
});

test('a frame longer than MAX_FRAME is refused and a drain is bounded by maxFrames', () => {
  const ring = FrameRing.create(65536);
  assert.equal(ring.push(new Uint8Array(MAX_FRAME + 1)), false);
  for (let i = 0; i < 10; i++) ring.push(frame(i, 64));
  const consumer = FrameRing.attach(ring.buffer);
  assert.equal(consumer.drain(() => {}, 3), 3);
  assert.equal(consumer.drain(() => {}, 100), 7);
  assert.equal(consumer.drain(() => {}, 100), 0);
});

test('a capacity that is not a power of two, or a foreign buffer, is rejected', () => {
  assert.throws(() => FrameRing.create(10000), RangeError);
  assert.throws(() => FrameRing.create(4096), RangeError);
  assert.throws(() => FrameRing.attach(new SharedArrayBuffer(8448)), TypeError);
});

test('a waiting consumer is woken by a push, and not before', async () => {
  const ring = FrameRing.create(8192);
  const consumer = FrameRing.attach(ring.buffer);
  const wait = consumer.waitForFrames(60_000);
  assert.notEqual(wait, null, 'empty ring: the consumer has to wait');
  let woke = false;
  void wait!.then(() => (woke = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(woke, false);
  ring.push(frame(1, 60));
  await wait;
  assert.equal(woke, true);
  assert.equal(consumer.waitForFrames(), null, 'a frame is waiting: no wait');
  assert.equal(consumer.drain(() => {}), 1);
});

test('a wait is bounded: it settles as timed-out when no push comes', async () => {
  const consumer = FrameRing.attach(FrameRing.create(8192).buffer);
  const keepAlive = setTimeout(() => {}, 10_000); // a pending waitAsync holds no event-loop reference
  try {
    assert.equal(await consumer.waitForFrames(5), 'timed-out');
  } finally {
    clearTimeout(keepAlive);
  }
});

test('a closed ring refuses pushes and wakes its consumer', async () => {
  const ring = FrameRing.create(8192);
  const consumer = FrameRing.attach(ring.buffer);
  const wait = consumer.waitForFrames();
  consumer.close();
  await wait;
  assert.equal(ring.closed, true);
  assert.equal(ring.push(frame(1, 60)), false);
  assert.equal(ring.droppedFrames, 1);
});

test('free-running cursors keep working when they pass 2^32', () => {
  const fresh = FrameRing.create(8192);
  const ctl = new Int32Array(fresh.buffer, 0, 64);
  ctl[0] = 0xffff_f000 | 0; // write cursor, 4 KiB before the u32 wrap (an offset of 4096 in the ring)
  ctl[16] = 0xffff_f000 | 0; // read cursor
  const ring = FrameRing.attach(fresh.buffer);
  const consumer = FrameRing.attach(fresh.buffer);
  let expect = 0;
  for (let i = 0; i < 200; i++) {
    assert.equal(ring.push(frame(i, 100 + (i % 300))), true);
    if (i % 3 === 2) for (const f of drainAll(consumer)) assert.deepEqual(f, frame(expect++, f.length));
  }
  for (const f of drainAll(consumer)) assert.deepEqual(f, frame(expect++, f.length));
  assert.equal(expect, 200);
  assert.ok((Atomics.load(ctl, 0) >>> 0) < 0x1_0000, 'the write cursor wrapped');
  assert.equal(consumer.usedBytes, 0);
});
