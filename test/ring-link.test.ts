import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startThread } from '../store/thread.js';
import { RingLink, ringLinkPair } from '../wire/link/ring-link.js';
import { VirtualSwitch } from '../wire/link/virtual-switch.js';

function eth(dst: number[], src: number[], seq: number): Uint8Array {
  const f = new Uint8Array(64);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental ethertype
  new DataView(f.buffer).setUint32(16, seq);
  return f;
}

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const ME = [0x02, 0, 0, 0, 0, 0x01];
const WORKER = [0x02, 0, 0, 0, 0, 0xee];

test('the two ends of a ring link carry frames both ways and count them', async () => {
  const [ea, eb] = ringLinkPair('t', 16384);
  const a = new RingLink(ea);
  const b = new RingLink(eb);
  const atB: number[] = [];
  const done = new Promise<void>((resolve) =>
    b.onFrames((fs) => {
      for (const f of fs) atB.push(new DataView(f.buffer, f.byteOffset).getUint32(16));
      if (atB.length === 3) resolve();
    }),
  );
  for (let i = 0; i < 3; i++) assert.equal(a.send(eth(BCAST, ME, i)), true);
  await done;
  assert.deepEqual(atB, [0, 1, 2]);
  assert.deepEqual(
    [a.counters.txFrames, a.counters.txBytes, b.counters.rxFrames, b.counters.rxBytes],
    [3, 192, 3, 192],
  );
  a.close();
  assert.equal(b.send(eth(BCAST, ME, 9)), false, 'the far end closed: sends are dropped');
  assert.equal(b.counters.txDropped, 1);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(b.closed, true, 'a close travels to the far end');
});

test('a sender facing a full ring gets false, and both ends count the drop', () => {
  const [ea, eb] = ringLinkPair('full', 8192);
  const a = new RingLink(ea);
  const b = new RingLink(eb); // nobody drains b
  let sent = 0;
  for (let i = 0; i < 200; i++) if (a.send(eth(BCAST, ME, i))) sent++;
  assert.equal(sent, Math.floor(8192 / 68), "records of 4 + 64 bytes");
  assert.equal(a.counters.txDropped, 200 - sent);
  assert.equal(b.rxRingDropped, 200 - sent);
  assert.equal(a.send(new Uint8Array(4096)), false, 'longer than MAX_FRAME');
  assert.equal(a.counters.errors, 1);
  a.close();
  b.close();
});

test('a switch port on a real worker thread exchanges frames with a node on the main thread', async () => {
  const sw = new VirtualSwitch();
  const worker = startThread(new URL('./fixtures/ring-echo-worker.ts', import.meta.url), { workerData: sw.connectRemote(1 << 18) });
  const node = sw.connect(1 << 18);
  try {
    const N = 2000;
    const replies: number[] = [];
    let fromWorker = 0;
    const all = new Promise<void>((resolve) =>
      node.onFrames((fs) => {
        for (const f of fs) {
          if (f[15] === 0xee && f.subarray(6, 12).every((b, i) => b === WORKER[i])) fromWorker++;
          replies.push(new DataView(f.buffer, f.byteOffset).getUint32(16));
        }
        if (replies.length === N) resolve();
      }),
    );
    // The first frame is a broadcast (the worker's MAC is unknown); the worker's reply teaches the switch its port.
    node.send(eth(BCAST, ME, 0));
    while (replies.length === 0) await new Promise((r) => setTimeout(r, 5));
    for (let i = 1; i < N; i++) {
      while (!node.send(eth(WORKER, ME, i))) await new Promise((r) => setImmediate(r)); // back-pressure
      if (i % 256 === 0) await new Promise((r) => setImmediate(r));
    }
    await all;
    assert.deepEqual(replies, Array.from({ length: N }, (_, i) => i), 'every frame answered, in order');
    assert.equal(fromWorker, N);
    assert.equal(sw.counters.flooded, 1);
    assert.equal(sw.counters.forwarded, 2 * N - 1);
    assert.deepEqual(sw.macTable.snapshot().map((e) => e.port).sort(), [0, 1]);
  } finally {
    sw.close(); // closes the switch's ring ends: the worker's link sees it and its thread exits
    node.close();
    let timer: NodeJS.Timeout | undefined;
    const [code] = await Promise.race([once(worker, 'exit'), new Promise<[string]>((r) => (timer = setTimeout(() => r(['timeout']), 5000)))]);
    clearTimeout(timer);
    if (code === 'timeout') await worker.terminate();
    assert.equal(code, 0, 'the worker exits by itself once its link is closed');
  }
});
