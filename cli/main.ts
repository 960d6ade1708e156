// netbranch's command line: one file per command under cli/, each adding itself to the program.
import { Command, CommanderError } from 'commander';
import { registerDemo } from './demo.js';
import { registerDecode } from './decode.js';

/** Exit status for bad flags or arguments, as the router issue asks (a one-line error, exit 2). */
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('netbranch')
    .description('A userspace IPv4 stack and NAT router whose tables live in a versioned, mergeable store')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDemo(program);
  registerDecode(program);
  return program;
}

/** Runs the CLI and resolves to the process exit status; never throws. */
export async function main(argv: string[]): Promise<number> {
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
    return 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'));
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
