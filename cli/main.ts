// netbranch's command line: one file per command under cli/, each adding itself to the program.
import { Command, CommanderError } from 'commander';
import { registerSim } from './sim.js';
import { registerDecode } from './decode.js';
import { registerStoreDemo } from './store-demo.js';
import { registerHost } from './host.js';
import { registerRouter } from './router.js';
import { registerStress } from './stress.js';
import { registerApiCommands } from './api-commands.js';
import { registerTcp } from './tcp.js';
import { registerLeases } from './leases.js';
import { registerEdits } from './edits.js';
import { registerEvents } from './events.js';
import { registerStats } from './stats.js';
import { registerSync } from './sync.js';
import { registerGitServe } from './git-serve.js';
import { UsageError } from './usage.js';
import { guardStdio } from './stop.js';

/** Exit status for bad flags or arguments, as the router issue asks (a one-line error, exit 2). */
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('netbranch')
    .description('A userspace IPv4 stack and NAT router whose tables live in a versioned, mergeable store')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerSim(program);
  registerDecode(program);
  registerStoreDemo(program);
  registerHost(program);
  registerRouter(program);
  registerStress(program);
  registerApiCommands(program);
  registerTcp(program);
  registerLeases(program);
  registerEdits(program);
  registerEvents(program);
  registerStats(program);
  registerSync(program);
  registerGitServe(program);
  return program;
}

/** Runs the CLI and resolves to the process exit status; never throws. */
export async function main(argv: string[]): Promise<number> {
  // `netbranch sim | head`: a reader that went away is not an error, and never a reason to skip a
  // command's shutdown (process.exit here once dropped the router's final flush): see cli/stop.ts.
  guardStdio();
  const program = buildProgram();
  program.commands.forEach((c) => c.exitOverride());
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version also come through here, with exit code 0.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    process.stderr.write(`netbranch: ${err instanceof Error ? err.message : String(err)}\n`);
    return err instanceof UsageError || err instanceof RangeError ? EXIT_USAGE : 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'));
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
