// Running the netbranch CLI from source in tests: to completion, or as a long-running process whose
// stdout and stderr share one pipe (as `2>&1 | head -1` makes) and whose reader may go away early.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** Why tests that open TAP devices cannot run here, or false. */
export const noTap =
  process.getuid?.() !== 0 ? 'needs root: it creates TAP devices (run npm test as root; CI does)' : !existsSync('/dev/net/tun') ? '/dev/net/tun is missing (modprobe tun)' : false;

/** `netbranch ARGS` to completion. */
export function runCli(args: string[], timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export interface CliProcess {
  child: ChildProcess;
  /** Everything read from the shared pipe (up to where the reader closed it). */
  output(): string;
  /** Resolves with the first line on the pipe. */
  firstLine: Promise<string>;
  exit: Promise<Exit>;
  /** The exit, or null when the process is still running after `ms` (it is then killed with SIGKILL). */
  exitWithin(ms: number): Promise<Exit | null>;
}

/**
 * `netbranch ARGS 2>&1 | reader`: one pipe for stdout and stderr. With `closeAfterLines`, the reader destroys its
 * end after that many lines, so every later write meets a closed pipe (EPIPE); otherwise it reads to the end.
 */
export function startCli(args: string[], closeAfterLines?: number): CliProcess {
  const child = spawn('bash', ['-c', 'exec "$0" "$@" 2>&1', process.execPath, '--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  let lines = 0;
  let gotLine!: (l: string) => void;
  const firstLine = new Promise<string>((r) => (gotLine = r));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    const n = out.split('\n').length - 1;
    if (lines === 0 && n > 0) gotLine(out.slice(0, out.indexOf('\n')));
    lines = n;
    if (closeAfterLines !== undefined && lines >= closeAfterLines) child.stdout!.destroy();
  });
  const exit = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => out,
    firstLine,
    exit,
    async exitWithin(ms) {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([exit, new Promise<null>((res) => { timer = setTimeout(() => res(null), ms); })]);
      clearTimeout(timer);
      if (r === null) {
        child.kill('SIGKILL'); // only the process this test started
        await exit;
      }
      return r;
    },
  };
}

/** Polls `cond` every 20 ms for up to `ms`; false when it never held. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
