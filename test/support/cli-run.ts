// Running the `netbranch` CLI from a test: in this process (output captured), or as a user runs it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { apiOutput } from '../../cli/api-commands.js';
import { main } from '../../cli/main.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run { code: number; stdout: string; stderr: string }

/** main(args) in this process, with the API commands' output (and stderr, where main reports usage errors) captured. */
export async function inProcess(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const saved = { ...apiOutput };
  const stderrWrite = process.stderr.write;
  const stdoutErrorListeners = process.stdout.listeners('error');
  apiOutput.out = (t) => { stdout += t; };
  apiOutput.err = (t) => { stderr += t; };
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    Object.assign(apiOutput, saved);
    process.stderr.write = stderrWrite;
    process.exitCode = undefined;
    // main() adds an EPIPE handler per run.
    for (const l of process.stdout.listeners('error')) if (!stdoutErrorListeners.includes(l)) process.stdout.off('error', l as (...a: unknown[]) => void);
  }
}

/** `node --import tsx cli/main.ts ...args`, as a user runs it. */
export function spawned(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
