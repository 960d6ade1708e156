// Runs one session of doc examples in its sandbox (test/support/doc-sandbox.sh): as root, inside a network
// namespace this process made (nbdoc<pid>), with a private mount and pid namespace per session; not root,
// inside a new user + network namespace instead (root-only examples are skipped then). Bounded in time: at
// the bound the sandbox's first process is killed, and with it (unshare --kill-child, a pid namespace)
// everything the examples started.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sessionScript, type Session } from './doc-session.js';

const SANDBOX = fileURLToPath(new URL('./doc-sandbox.sh', import.meta.url));
const UNSHARE = ['unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--mount-proc'];

export interface Sandbox {
  root: boolean;
  /** The command prefix that enters a fresh session sandbox. */
  enter: string[];
  shared: string;
  close(): void;
}

export interface SessionResult {
  ok: boolean;
  /** One line per failure: where in the doc, and what. */
  failures: string[];
  log: string;
}

/** The sandbox for this process, or why there can be none here (one line). */
export function openSandbox(): Sandbox | string {
  const shared = mkdtempSync(join(tmpdir(), 'nb-docs-'));
  mkdirSync(join(shared, 'npm-cache'));
  const cleanup = () => rmSync(shared, { recursive: true, force: true });
  if (process.getuid?.() === 0) {
    const ns = `nbdoc${process.pid}`;
    if (existsSync(`/run/netns/${ns}`)) { cleanup(); return `network namespace ${ns} exists already; not touching it`; }
    const r = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) { cleanup(); return `ip netns add ${ns} failed: ${(r.stderr || r.error?.message || '').trim()}`; }
    // Removed at close, or at exit if a crash skips the close.
    const close = () => { process.removeListener('exit', close); spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 }); cleanup(); };
    process.on('exit', close);
    return { root: true, enter: ['ip', 'netns', 'exec', ns, ...UNSHARE], shared, close };
  }
  const enter = [UNSHARE[0], '--user', '--map-root-user', '--net', ...UNSHARE.slice(1)];
  const probe = spawnSync(enter[0], [...enter.slice(1), 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) { cleanup(); return `no user namespaces here (${(probe.stderr || probe.error?.message || '').trim()})`; }
  return { root: false, enter, shared, close: cleanup };
}

/** Runs a session's script in a fresh sandbox; never throws for what the examples do. `slackS`: time for the sandbox's own start and the servers' stop. */
export async function runSession(box: Sandbox, session: Session, repo: string, slackS = 20): Promise<SessionResult> {
  const script = sessionScript(session, repo);
  writeFileSync(join(box.shared, 'session.sh'), script.text);
  writeFileSync(join(box.shared, 'log'), '');
  const bound = (session.timeoutS + slackS) * 1000;
  const { code, timedOut, stderr } = await run(box.enter, ['bash', SANDBOX, box.shared, repo], bound);
  const log = readFileSync(join(box.shared, 'log'), 'utf8');
  const marks = log.split('\n').filter((l) => l.startsWith('doc-test: '));
  const place = (l: string) => l.replace(/failed at script line (\d+)/, (m, n) => `${script.origin(Number(n)) ?? `script line ${n}`} failed`);
  const failures = marks.filter((l) => !l.startsWith('doc-test: block ')).map((l) => place(l.slice('doc-test: '.length)));
  if (timedOut) failures.push(`timed out after ${bound / 1000} s in the block at ${marks.filter((l) => l.startsWith('doc-test: block ')).pop()?.slice(16) ?? '(start)'}`);
  if (code !== 0 && !timedOut && failures.length === 0) failures.push(`the sandbox exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return { ok: code === 0 && !timedOut, failures, log };
}

function run(enter: string[], args: string[], boundMs: number): Promise<{ code: number | null; timedOut: boolean; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(enter[0], [...enter.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, boundMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, timedOut, stderr }); });
  });
}
