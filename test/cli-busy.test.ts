// A busy socket or port is one line naming the flag and the holder, and exit 2: never a router that
// prints no ready line while its lookup actor restarts forever. Checked before the TAPs are made,
// so these run without root too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), `nb-busy${process.pid}-`));
const held: Server[] = [];
after(async () => {
  for (const s of held) await new Promise((r) => s.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function hold(where: string | { host: string; port: number }): Promise<number> {
  const s = createServer();
  held.push(s);
  await new Promise<void>((r) => (typeof where === 'string' ? s.listen(where, r) : s.listen(where.port, where.host, r)));
  return typeof where === 'string' ? 0 : (s.address() as { port: number }).port;
}

const tokens = join(dir, 'tokens.json');
writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'ops', token: 'busy-test-token-0123456789', scopes: ['read:*'] }] }), { mode: 0o600 });
const id = process.pid % 100_000;
const ROUTER = ['router', '--inside', `nbbi${id}:10.161.1.1/24`, '--outside', `nbbo${id}:10.161.2.1/24`];

/** Exit 2, nothing on stdout, exactly one line on stderr matching `line`. */
function assertOneLine(r: ReturnType<typeof runCli>, line: RegExp): void {
  assert.equal(r.stdout, '', 'no ready line');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line, got: ${r.stderr}`);
  assert.match(r.stderr.trimEnd(), line);
  assert.equal(r.status, 2, r.stderr);
}

test('router --api unix:PATH held by a live server: one line naming the flag, exit 2', async () => {
  const sock = join(dir, 'held.sock');
  await hold(sock);
  const r = runCli([...ROUTER, '--api', `unix:${sock}`], 30_000);
  assertOneLine(r, new RegExp(`^netbranch: --api unix:${sock}: in use by a live server$`));
  assert.ok(existsSync(sock), "the live server's socket is left alone");
});

test('router --http on a taken port: one line naming the flag, exit 2', async () => {
  const port = await hold({ host: '127.0.0.1', port: 0 });
  const r = runCli([...ROUTER, '--api', `unix:${join(dir, 'free.sock')}`, '--http', `127.0.0.1:${port}`, '--tokens', tokens], 30_000);
  assertOneLine(r, new RegExp(`^netbranch: --http 127\\.0\\.0\\.1:${port}: address in use$`));
});

test('router --api-tcp on a taken port: one line naming the flag, exit 2', async () => {
  const port = await hold({ host: '127.0.0.1', port: 0 });
  const r = runCli([...ROUTER, '--api-tcp', `127.0.0.1:${port}`, '--tokens', tokens], 30_000);
  assertOneLine(r, new RegExp(`^netbranch: --api-tcp 127\\.0\\.0\\.1:${port}: address in use$`));
});

test('sim says it the same way: --api unix:PATH held, and --http on a taken port', async () => {
  const sock = join(dir, 'held-sim.sock');
  await hold(sock);
  assertOneLine(runCli(['sim', '--seconds', '1', '--api', `unix:${sock}`]), new RegExp(`^netbranch: --api unix:${sock}: in use by a live server$`));
  const port = await hold({ host: '127.0.0.1', port: 0 });
  assertOneLine(runCli(['sim', '--seconds', '1', '--http', `127.0.0.1:${port}`, '--tokens', tokens]), new RegExp(`^netbranch: --http 127\\.0\\.0\\.1:${port}: address in use$`));
});
