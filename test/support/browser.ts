// The web page (api/server/web/) in a real headless Chromium, against a router whose NAT flows a lab makes: Debian's
// chromium, started here with a fresh profile and driven over CDP by playwright-core (which never downloads a
// browser), and a `netbranch router --http` from source with its TAPs moved into namespaces (ServicesLab).
// Shared by test/web-page.test.ts and bench/web.ts. Everything started is remembered and stopped by its own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PY, ServicesLab, waitOutput } from './services-lab.js';

export const CHROMIUM = process.env.NB_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or false; the reason is printed by the test that skips. */
export const noBrowser: string | false = existsSync(CHROMIUM) ? false
  : `${CHROMIUM} is missing (Debian package chromium; \`node scripts/lab-tools.mjs test\` installs it as root)`;

/** Headless, and nothing that reaches out: no QUIC, no first-run, background or component-update traffic, no sync. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A Chromium this process started (a fresh temp profile), and playwright-core's handle on it. */
export class Chromium {
  private constructor(readonly child: ChildProcess, private readonly exited: Promise<void>, readonly browser: Browser, private readonly profile: string) {}

  static async start(timeoutMs = 30_000): Promise<Chromium> {
    const profile = mkdtempSync(join(tmpdir(), 'nb-chromium-'));
    // Its own process group: its helpers (zygote, renderers, network service) go with it at the end.
    const child = spawn(CHROMIUM, [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const ws = await devtoolsUrl(child, timeoutMs);
      return new Chromium(child, exited, await chromium.connectOverCDP(ws, { timeout: timeoutMs }), profile);
    } catch (err) {
      await stopGroup(child, exited, 0);
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      throw err;
    }
  }

  async page(width = 1400, height = 900): Promise<Page> {
    const ctx = this.browser.contexts()[0] ?? await this.browser.newContext();
    const page = await ctx.newPage();
    await page.setViewportSize({ width, height });
    page.setDefaultTimeout(15_000); // every action and wait of a test is bounded
    return page;
  }

  /** Asks the browser to quit (CDP Browser.close), then ends its process group if anything of it is left, then the profile. */
  async close(): Promise<void> {
    const quit = async () => { const cdp = await this.browser.newBrowserCDPSession(); await cdp.send('Browser.close'); };
    await Promise.race([quit().catch(() => undefined), bound(5_000)]);
    await stopGroup(this.child, this.exited, 5_000);
    rmSync(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

/** Waits up to `graceMs` for the browser to exit, then SIGKILLs its process group (ours: it was started detached). */
async function stopGroup(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await Promise.race([exited, bound(graceMs)]);
  try {
    process.kill(-child.pid!, 'SIGKILL'); // helpers that outlived the browser, or the browser itself when it hung
  } catch { /* ESRCH: the whole group is gone */ }
  await Promise.race([exited, bound(5_000)]);
}

/** The end of a bounded wait (unref'd: it keeps nothing alive). */
const bound = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** The `DevTools listening on ws://…` line Chromium prints on stderr once it is up. */
function devtoolsUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`chromium: no DevTools line within ${timeoutMs} ms: ${err.slice(-1000)}`)), timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`chromium exited (${code ?? signal}) before it listened: ${err.slice(-1000)}`)); });
  });
}

/** The page, signed in; the errors it logs (a CSP violation among them) are kept for the test to check. */
export class WebPage {
  readonly errors: string[] = [];

  constructor(readonly page: Page) {
    page.on('pageerror', (e) => this.errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') this.errors.push(`console: ${m.text()}`); });
  }

  /** Opens `url`, gives the token the page asks for, and waits for the first table to be listed. */
  async signIn(url: string, token: string, timeoutMs = 15_000): Promise<void> {
    await this.page.goto(url, { timeout: timeoutMs });
    await this.page.waitForSelector('#login:not([hidden])', { timeout: timeoutMs });
    await this.page.fill('#token', token);
    await this.page.click('#login button[type=submit]');
    await this.page.waitForSelector('#live.on', { timeout: timeoutMs });
  }

  /** When the page first drew the row of `key` (its clock, epoch ms), waiting for it up to `timeoutMs`. */
  async rowSeen(key: string, timeoutMs = 10_000): Promise<number> {
    const row = await this.page.waitForSelector(`#rows tbody tr[data-key="${key}"]`, { timeout: timeoutMs });
    return Number(await row.getAttribute('data-seen'));
  }

  async keys(): Promise<string[]> {
    return this.page.$$eval('#rows tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-key') ?? ''));
  }
}

/** A UDP flow's first datagram from the client namespace; prints when it was sent (epoch ms) just before sending. */
const SEND = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.201.0.2', int(sys.argv[1])))
t = time.time(); s.sendto(b'web', ('10.202.0.2', 9)); print('%.1f' % (t * 1000), flush=True)
`;

/** The server's side: every datagram to 10.202.0.2:9 comes back, so the flows are answered as real ones are. */
const ECHO = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.202.0.2', 9)); print('ready', flush=True)
while True:
    d, a = s.recvfrom(2048); s.sendto(d, a)
`;
import { freePort } from './free-port.js';

/** The router and its two peers: client 10.201.0.2 → router (10.201.0.1 / 10.202.0.1, `--http`) → server 10.202.0.2. */
export class WebLab {
  readonly lab: ServicesLab;
  url = '';
  private client = '';

  constructor(tag: string) {
    this.lab = new ServicesLab(tag);
  }

  get token(): string {
    return this.lab.token;
  }

  async start(): Promise<void> {
    const port = await freePort();
    await this.lab.startRouter(['--inside', `${this.lab.tapIn}:10.201.0.1/24`, '--outside', `${this.lab.tapOut}:10.202.0.1/24`,
      '--workers', '2', '--http', `127.0.0.1:${port}`]);
    this.url = `http://127.0.0.1:${port}/`;
    this.client = this.lab.addNamespace('c');
    const server = this.lab.addNamespace('s');
    this.lab.moveInto(this.lab.tapIn, this.client, ['10.201.0.2/24'], '10.201.0.1');
    this.lab.moveInto(this.lab.tapOut, server, ['10.202.0.2/24']);
    await waitOutput(this.lab.spawn(PY, ['-c', ECHO], { ns: server }), /ready/, 10_000, 'the UDP echo in the server namespace');
  }

  /** A new UDP flow from the client's port `sport`: its NAT key, and when its first datagram was sent (epoch ms). */
  async flow(sport: number): Promise<{ key: string; sentAt: number }> {
    const r = await this.lab.run(this.client, PY, ['-c', SEND, String(sport)], 10_000);
    const sentAt = Number(r.stdout.trim());
    if (r.code !== 0 || !Number.isFinite(sentAt)) throw new Error(`the flow from port ${sport} was not sent: ${r.stdout} ${r.stderr}`);
    return { key: `udp:10.201.0.2:${sport}:10.202.0.2:9`, sentAt };
  }

  teardown(): Promise<void> {
    return this.lab.teardown();
  }
}

