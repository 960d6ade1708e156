// `netbranch demo`: a short run on the embedded defaults (in-memory store, no root).
import type { Command } from 'commander';
import { runStoreDemo } from './store-demo.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('a short demo on the embedded defaults: in-memory store, no root needed')
    .option('--seed <n>', 'random seed', '1')
    .action(async (opts: { seed: string }) => {
      const seed = Number(opts.seed);
      if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got '${opts.seed}'`);
      await runStoreDemo({ seed, out: (line) => process.stdout.write(line + '\n') });
    });
}
