// main() runs many times in one process (the in-process CLI tests do): each run must leave behind no
// handler it added — neither stdio's error handlers (guardStdio) nor a command's SIGTERM/SIGINT trap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../cli/main.js';
import { guardStdio } from '../cli/stop.js';

const counts = () => ({
  stdoutError: process.stdout.listenerCount('error'),
  stderrError: process.stderr.listenerCount('error'),
  sigterm: process.listenerCount('SIGTERM'),
  sigint: process.listenerCount('SIGINT'),
});

/** main(args) with its stdout (text) kept out of the test's report; the runner's own records (bytes) pass. */
async function quietMain(args: string[]): Promise<{ code: number; stdout: string }> {
  const write = process.stdout.write;
  let stdout = '';
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return write.call(process.stdout, chunk, ...rest);
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await main(args), stdout };
  } finally {
    process.stdout.write = write;
  }
}

test('guardStdio is idempotent: called again and again, it adds its error handlers once', () => {
  guardStdio();
  const once = counts();
  for (let i = 0; i < 5; i++) guardStdio();
  assert.deepEqual(counts(), once);
});

test('sim run in-process leaves no signal handler behind, however often it runs (demo stops through the same runStoppable)', { timeout: 120_000 }, async () => {
  guardStdio();
  const before = counts();
  for (let i = 0; i < 3; i++) {
    const r = await quietMain(['sim', '--nodes', '2', '--seconds', '1', '--speed', 'max', '--json']);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(JSON.parse(r.stdout).nodes.length, 2);
  }
  assert.deepEqual(counts(), before);
});
