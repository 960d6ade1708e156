// A starter for test/git-lock.test.ts's takeover race. It says `ready`, reads the instant to start
// at from stdin, then for each round at START + round × STEP ms takes the lock of DIR/r<round>
// (each left by a dead process) and prints whether it won. It holds what it won until stdin ends.
// Usage: node --import tsx test/support/git-lock-child.ts DIR ROUNDS STEP_MS
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { StoreLockedError, takeLock } from '../../store/git/git-lock.js';

const [dir, rounds, step] = process.argv.slice(2);
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const lines = createInterface({ input: process.stdin });
say({ ready: process.pid });
const start = Number(await new Promise<string>((resolve) => lines.once('line', resolve)));
if (!(start - Date.now() < 60_000)) throw new Error(`start ${start} is not within a minute`);
for (let round = 0; round < Number(rounds); round++) {
  const at = start + round * Number(step);
  while (Date.now() < at) {
    // spin, not sleep: both starters leave the same millisecond tick within microseconds
  }
  try {
    takeLock(join(dir, `r${round}`));
    say({ round, won: true });
  } catch (err) {
    say(err instanceof StoreLockedError ? { round, won: false, holder: err.pid } : { round, error: (err as Error).message });
  }
}
lines.on('close', () => process.exit(0)); // the exit hook releases the locks won
