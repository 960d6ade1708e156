// `netbranch stress`: branches on worker threads make random concurrent edits to shared keys and merge
// into one primary; the result is checked against an oracle. Exit 0 when it agrees, 1 on any divergence
// (or a timeout, or a failed branch), 2 on bad flags.
import type { Command } from 'commander';
import { runStress, type StressOptions } from '../actors/stress/stress.js';
import { formatCount as n, formatStress, stressJson } from '../actors/stress/stress-summary.js';
import { numberFlag, UsageError } from './usage.js';

const EXIT_USAGE = 2;

interface StressFlags {
  branches: string;
  ops: string;
  seed: string;
  mergeProbability: string;
  keys: string;
  timeout: string;
  json?: boolean;
  maxLag?: string;
  retention?: string;
}

const int = (flag: string, raw: string, min: number, max: number): number => numberFlag(flag, raw, min, max, true);

function real(flag: string, raw: string, min: number, max: number, minExclusive = false): number {
  const n = numberFlag(flag, raw, min, max);
  if (minExclusive && n === min) throw new UsageError(`${flag} must be a number above ${min} and at most ${max}, got '${raw}'`);
  return n;
}

export function registerStress(program: Command): void {
  program
    .command('stress')
    .description('stress test of concurrent merges: branches on worker threads edit shared keys and merge into one primary, checked against an oracle')
    .option('--branches <n>', 'branches, one worker thread each', '8')
    .option('--ops <n>', 'edits in total, split evenly over the branches', '100000')
    .option('--seed <n>', 'random seed (each branch draws its own stream from it)', '1')
    .option('--merge-probability <p>', 'chance per edit that a branch pushes its edits right then', '0.01')
    .option('--keys <k>', 'shared ARP addresses (counters: k/4)', '64')
    .option('--timeout <s>', 'stop after this many seconds (exit 1)', '300')
    .option('--json', 'print one JSON line instead of the summary')
    .option('--max-lag <n>', "primary's maxLag: a branch this many commits behind loses its pin (exercises resyncs)")
    .option('--retention <n>', "primary's history retention in commits (small values exercise resyncs)")
    .action(async (flags: StressFlags) => {
      let opts;
      try {
        opts = stressOptions(flags);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        process.stderr.write(`netbranch stress: ${err.message}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const result = await runStress({
        ...opts,
        onProgress: (p) => process.stderr.write(p.started
          ? `stress: ${n(p.ops)}/${n(p.totalOps)} edits, ${n(p.merges)} merges, ${(p.elapsedMs / 1000).toFixed(1)} s\n`
          : `stress: starting ${opts.branches} threads, ${(p.elapsedMs / 1000).toFixed(1)} s\n`),
      });
      process.stdout.write((flags.json ? stressJson(result) : formatStress(result)) + '\n');
      process.exitCode = result.ok ? 0 : 1;
    });
}

/** The run's options from the flags, each checked; a bad one is a UsageError. */
function stressOptions(flags: StressFlags): StressOptions & { branches: number } {
  return {
    branches: int('--branches', flags.branches, 1, 64),
    ops: int('--ops', flags.ops, 1, 100_000_000),
    seed: int('--seed', flags.seed, -(2 ** 31), 2 ** 32 - 1),
    mergeProbability: real('--merge-probability', flags.mergeProbability, 0, 1),
    keys: int('--keys', flags.keys, 1, 4096), // the oracle copies the whole state per commit: keep it small
    timeoutMs: real('--timeout', flags.timeout, 0, 86_400, true) * 1000,
    maxLag: flags.maxLag === undefined ? undefined : int('--max-lag', flags.maxLag, 1, 1_000_000_000),
    retention: flags.retention === undefined ? undefined : int('--retention', flags.retention, 1, 1_000_000_000),
  };
}
