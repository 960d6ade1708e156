// The lookup server's log limiter (api/server/log-limiter.ts) on a simulated clock: at most 50 lines a
// second, the rest dropped and summed up in one line when the next second begins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLimiter } from '../api/server/log-limiter.js';

function recorder() {
  const lines: { level: string; msg: string; fields?: object }[] = [];
  return { lines, sink: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => { lines.push({ level, msg, fields }); } };
}

test('50 lines a second pass; the 51st is dropped, and the next second begins with how many were', () => {
  const { lines, sink } = recorder();
  const limiter = new LogLimiter(sink);
  const t0 = 5_000;
  for (let i = 0; i < 50; i++) assert.equal(limiter.log(t0 + i * 10, 'warn', `refused ${i}`, { i }), true);
  assert.equal(limiter.log(t0 + 600, 'warn', 'refused 50'), false);
  assert.equal(limiter.log(t0 + 999, 'warn', 'refused 51'), false);
  assert.equal(lines.length, 50);
  assert.deepEqual(lines[49], { level: 'warn', msg: 'refused 49', fields: { i: 49 } });
  assert.equal(limiter.log(t0 + 1_000, 'info', 'after'), true);
  assert.deepEqual(lines.slice(50), [
    { level: 'warn', msg: 'lookup: 2 log lines dropped in the last second', fields: undefined },
    { level: 'info', msg: 'after', fields: {} },
  ]);
});

test('a quiet second says nothing of drops, and the window starts at the line that opens it', () => {
  const { lines, sink } = recorder();
  const limiter = new LogLimiter(sink, 2);
  assert.equal(limiter.log(10_000, 'info', 'a'), true);
  assert.equal(limiter.log(10_500, 'info', 'b'), true);
  assert.equal(limiter.log(11_200, 'info', 'c'), true); // a new window from 11,200
  assert.equal(limiter.log(11_300, 'info', 'd'), true);
  assert.equal(limiter.log(12_199, 'info', 'e'), false); // still the window of 11,200
  assert.equal(limiter.log(12_200, 'info', 'f'), true);
  assert.deepEqual(lines.map((l) => l.msg), ['a', 'b', 'c', 'd', 'lookup: 1 log lines dropped in the last second', 'f']);
});
