// systemd's readiness protocol (sd_notify(3)) for `Type=notify` units: `READY=1` when the service serves,
// `STATUS=` lines for `systemctl status`, `STOPPING=1` on the way out. Datagrams to $NOTIFY_SOCKET (a path, or
// `@name` for an abstract socket), sent by our own addon (native/sd-notify.cc): Node cannot send AF_UNIX
// datagrams. Without $NOTIFY_SOCKET nothing is sent; without the addon, one warning and nothing else.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface SdNotifyAddon {
  notify(socket: string, message: string): void;
}

/** build/Release/sd_notify.node from cli/ (tsx) or dist/cli/; an Error saying why when it is not there. */
function loadAddon(): SdNotifyAddon | Error {
  const candidates = ['../build/Release/sd_notify.node', '../../build/Release/sd_notify.node'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) return new Error(`the sd_notify addon is not built (no ${candidates[0]}; run node scripts/build-addon.mjs)`);
  try {
    return createRequire(import.meta.url)(found) as SdNotifyAddon;
  } catch (err) {
    return new Error(`the sd_notify addon at ${found} does not load (${(err as Error).message}; run node scripts/build-addon.mjs)`);
  }
}

/** What systemd accepts as NOTIFY_SOCKET here: an absolute path or an abstract name. */
const SOCKET = /^[/@]./;

export class ServiceNotifier {
  private loaded: SdNotifyAddon | Error | undefined;
  private warned = false;

  /**
   * @param socket $NOTIFY_SOCKET; undefined: not run by a service manager, every call does nothing.
   * @param warn told once, the first time a notification cannot be sent (no addon, a refused send).
   */
  constructor(readonly socket: string | undefined, private readonly warn: (msg: string) => void, private readonly load: () => SdNotifyAddon | Error = loadAddon) {}

  static fromEnv(warn: (msg: string) => void, env: NodeJS.ProcessEnv = process.env): ServiceNotifier {
    return new ServiceNotifier(env.NOTIFY_SOCKET || undefined, warn);
  }

  /** Serving: `READY=1`, `MAINPID` (this process, whoever started it) and a status line. */
  ready(status: string): void {
    this.send({ READY: '1', STATUS: status, MAINPID: String(process.pid) });
  }

  status(status: string): void {
    this.send({ STATUS: status });
  }

  /** Stopping: systemd then waits for the exit (TimeoutStopSec) instead of taking it for a crash. */
  stopping(status: string): void {
    this.send({ STOPPING: '1', STATUS: status });
  }

  /** One datagram of `KEY=value` lines; a value's newlines would start new keys, so they become spaces. */
  send(fields: Record<string, string>): void {
    if (this.socket === undefined) return;
    const message = Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`).join('\n');
    this.loaded ??= SOCKET.test(this.socket) ? this.load() : new Error(`NOTIFY_SOCKET='${this.socket}' is neither an absolute path nor an @abstract name`);
    try {
      if (this.loaded instanceof Error) throw this.loaded;
      this.loaded.notify(this.socket, message);
    } catch (err) {
      if (this.warned) return;
      this.warned = true;
      this.warn(`cannot notify the service manager (${(err as Error).message}): under systemd, Type=notify will not see the service ready`);
    }
  }
}
