// A stand-in for systemd's notify socket: a python3 AF_UNIX SOCK_DGRAM listener (Node cannot bind one) on a
// path or an abstract `@name`, reporting each datagram with its sender's pid and uid as the kernel gives them
// (SO_PASSCRED), which is how systemd tells the main process's notifications (NotifyAccess=main) from others.
// It exits by itself after SECONDS idle; close() stops it sooner.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const LISTENER = `
import json, os, socket, struct, sys
addr, idle = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
if not addr.startswith('@'): os.chmod(addr, 0o666)  # a service's user may send, as to systemd's socket
s.settimeout(idle)
print(json.dumps({'bound': addr}), flush=True)
while True:
    try: data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    except socket.timeout: break
    pid, uid, gid = next((struct.unpack('3i', d) for l, t, d in anc if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS), (0, 0, 0))
    fields = dict(line.split('=', 1) for line in data.decode().split('\\n') if '=' in line)
    print(json.dumps({'fields': fields, 'raw': data.decode(), 'pid': pid, 'uid': uid}), flush=True)
`;

export interface Notification {
  /** KEY=value lines of the datagram. */
  fields: Record<string, string>;
  raw: string;
  /** The sender, as the kernel says. */
  pid: number;
  uid: number;
}

export class NotifySocket {
  readonly received: Notification[] = [];
  private out = '';

  private constructor(readonly address: string, private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      const lines = this.out.split('\n');
      this.out = lines.pop()!;
      for (const l of lines) if (l.startsWith('{"fields"')) this.received.push(JSON.parse(l) as Notification);
    });
  }

  /**
   * Listens on `address` (a path, or `@name`: abstract names belong to a network namespace, so in `ns` when the
   * sender runs there); resolves once bound. Gone after `idleS` without a datagram.
   */
  static open(address: string, opts: { ns?: string; idleS?: number } = {}): Promise<NotifySocket> {
    const argv = [PY, '-c', LISTENER, address, String(opts.idleS ?? 120)];
    const [cmd, ...args] = opts.ns ? ['ip', 'netns', 'exec', opts.ns, ...argv] : argv; // ip netns exec execs: the pid is python's
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the notify listener on ${address} exited (${code}): ${err}`)));
      child.stdout!.once('data', () => resolve(new NotifySocket(address, child)));
    });
  }

  /** The first notification (from index `from` on) that has `key`, within `ms`; undefined if none came. */
  async next(key: string, ms: number, from = 0): Promise<Notification | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      const n = this.received.slice(from).find((x) => key in x.fields);
      if (n || Date.now() > end) return n;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM'); // the listener this test started
  }
}
