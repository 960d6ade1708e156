// The API client (api/client.ts) and the CLI commands on it (cli/api-commands.ts), against a small fake
// server written here with node:net and api/frames.ts: on a Unix socket in a temp dir and on
// 127.0.0.1:0. The real server (api/server/lookup-server.ts) has its own tests.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBody, encodeFrame, FrameReader } from '../api/frames.js';
import { PROTOCOL_VERSION, type HelloResult } from '../api/protocol.js';
import { ApiError, connect, ConnectError, defaultApiSocket, formatWhere, parseWhere, type Client } from '../api/client.js';
import { parseValue } from '../cli/api-commands.js';
import { formatArpEntry, formatHistoryEntry, formatNatValue } from '../cli/api-format.js';
import { buildProgram } from '../cli/main.js';
import { inProcess, spawned as cli } from './support/cli-run.js';

const DIR = mkdtempSync(join(tmpdir(), 'netbranch-api-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

type Req = Record<string, any> & { id: number; op: string };

interface FakeConn {
  readonly socket: Socket;
  readonly requests: Req[];
  send(msg: unknown): void;
  ok(req: Req, result: unknown): void;
  fail(req: Req | null, code: string, message: string): void;
  /** Scopes from `auth` (or none). */
  token?: string;
}

interface Fake {
  /** `unix:/path` or `tcp:127.0.0.1:PORT`. */
  readonly where: string;
  readonly conns: FakeConn[];
  /** Every request on every connection, in arrival order. */
  readonly requests: Req[];
  /** Resolves when `n` requests have arrived in all. */
  waitFor(n: number): Promise<void>;
  close(): Promise<void>;
}

let socketCount = 0;

/** A server that decodes frames and hands each request to `handler`. */
async function fakeServer(kind: 'unix' | 'tcp', handler: (req: Req, conn: FakeConn) => void): Promise<Fake> {
  const conns: FakeConn[] = [];
  const requests: Req[] = [];
  const waiters: { n: number; resolve(): void }[] = [];
  const server: Server = createServer((socket) => {
    const reader = new FrameReader();
    const conn: FakeConn = {
      socket,
      requests: [],
      send: (msg) => { if (!socket.destroyed) socket.write(encodeFrame(msg)); },
      ok: (req, result) => conn.send({ id: req.id, ok: true, result }),
      fail: (req, code, message) => conn.send({ id: req ? req.id : null, ok: false, error: { code, message } }),
    };
    conns.push(conn);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      for (const body of reader.push(chunk)) {
        const req = decodeBody(body) as Req;
        conn.requests.push(req);
        requests.push(req);
        for (const w of waiters.filter((x) => requests.length >= x.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
        handler(req, conn);
      }
    });
  });
  const path = join(DIR, `fake-${++socketCount}.sock`);
  await new Promise<void>((resolve) => (kind === 'unix' ? server.listen(path, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const addr = server.address();
  const where = kind === 'unix' ? `unix:${path}` : `tcp:127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    where,
    conns,
    requests,
    waitFor: (n) => (requests.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => new Promise<void>((resolve) => {
      for (const c of conns) c.socket.destroy();
      server.close(() => resolve());
    }),
  };
}

const HELLO: HelloResult = {
  server: 'netbranch', protocol: PROTOCOL_VERSION, role: 'router', scopes: ['read:*'], maxFrame: 1 << 20, now: 1_700_000_000_000,
  tables: [
    { name: 'arp', writable: true, keyExample: '10.201.0.2' },
    { name: 'nat', writable: false, keyExample: 'udp:10.201.0.2:40000:10.202.0.2:53' },
    { name: 'dnat', writable: true, keyExample: 'tcp:8080' },
  ],
};

/** Runs a test body against a fresh fake server and client, then closes both. */
async function withFake(kind: 'unix' | 'tcp', handler: (req: Req, conn: FakeConn) => void, body: (fake: Fake, client: Client) => Promise<void>, opts: Parameters<typeof connect>[1] = {}): Promise<void> {
  const fake = await fakeServer(kind, handler);
  const client = await connect(fake.where, opts);
  try {
    await body(fake, client);
  } finally {
    await client.close();
    await fake.close();
  }
}

describe('api client', () => {
  test('addresses: unix:PATH, tcp:HOST:PORT, a bare path; the default socket by uid and XDG_RUNTIME_DIR', () => {
    assert.deepEqual(parseWhere('unix:/run/x.sock'), { unix: '/run/x.sock' });
    assert.deepEqual(parseWhere('/tmp/a.sock'), { unix: '/tmp/a.sock' });
    assert.deepEqual(parseWhere('tcp:127.0.0.1:7070'), { tcp: { host: '127.0.0.1', port: 7070 } });
    assert.deepEqual(parseWhere('tcp:[::1]:7070'), { tcp: { host: '::1', port: 7070 } });
    assert.deepEqual(parseWhere({ tcp: { host: 'localhost', port: 1 } }), { tcp: { host: 'localhost', port: 1 } });
    assert.equal(formatWhere({ unix: '/a' }), 'unix:/a');
    assert.equal(formatWhere('tcp:[::1]:7'), 'tcp:[::1]:7');
    for (const bad of ['tcp:127.0.0.1', 'tcp:127.0.0.1:0', 'tcp:h:70000', 'unix:', 'http:x', '']) assert.throws(() => parseWhere(bad), TypeError, bad);
    assert.equal(defaultApiSocket({}, 0), '/run/netbranch/api.sock');
    assert.equal(defaultApiSocket({ XDG_RUNTIME_DIR: '/run/user/1000' }, 0), '/run/netbranch/api.sock');
    assert.equal(defaultApiSocket({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/netbranch/api.sock');
    assert.equal(defaultApiSocket({}, 1000), '/tmp/netbranch-1000/api.sock');
  });

  test('responses are matched to requests by id, in whatever order they come; ids increase', async () => {
    const held: [Req, FakeConn][] = [];
    await withFake('unix', (req, conn) => {
      held.push([req, conn]);
      // Answer the three gets in reverse order once all are in.
      if (held.length === 3) for (const [r, c] of held.reverse()) c.ok(r, { table: r.table, key: r.key, value: { n: r.key } });
    }, async (fake, client) => {
      const got = await Promise.all(['a', 'b', 'c'].map((k) => client.get('arp', k)));
      assert.deepEqual(got.map((g) => (g.value as { n: string }).n), ['a', 'b', 'c']);
      assert.deepEqual(fake.requests.map((r) => [r.id, r.op, r.key]), [[1, 'get', 'a'], [2, 'get', 'b'], [3, 'get', 'c']]);
      assert.equal(client.inFlight, 0);
    });
  });

  test('over TCP on 127.0.0.1, hello is remembered; every method sends its op and fields', async () => {
    await withFake('tcp', (req, conn) => {
      if (req.op === 'hello') conn.ok(req, HELLO);
      else conn.ok(req, { echo: req });
    }, async (fake, client) => {
      assert.match(fake.where, /^tcp:127\.0\.0\.1:\d+$/);
      assert.deepEqual(await client.hello(), HELLO);
      assert.equal(client.server?.role, 'router');
      await client.list('nat', { prefix: 'udp:', limit: 5, after: 'udp:1' });
      await client.history('arp', '10.201.0.2', 3);
      await client.history('arp', '10.201.0.2');
      await client.set('arp', '10.201.0.9', { mac: '02:00:00:00:00:09', expires: 0, kind: 'static' });
      await client.delete('arp', '10.201.0.9');
      await client.stats();
      const strip = ({ id: _id, ...rest }: Req) => rest;
      assert.deepEqual(fake.requests.slice(1).map(strip), [
        { op: 'list', table: 'nat', prefix: 'udp:', limit: 5, after: 'udp:1' },
        { op: 'history', table: 'arp', key: '10.201.0.2', limit: 3 },
        { op: 'history', table: 'arp', key: '10.201.0.2' },
        { op: 'set', table: 'arp', key: '10.201.0.9', value: { mac: '02:00:00:00:00:09', expires: 0, kind: 'static' } },
        { op: 'delete', table: 'arp', key: '10.201.0.9' },
        { op: 'stats' },
      ]);
    });
  });

  test('an error response rejects with an ApiError carrying the code and message; the connection stays up', async () => {
    await withFake('unix', (req, conn) => {
      if (req.op === 'get') conn.fail(req, 'not-found', `no arp entry ${req.key}`);
      else conn.ok(req, HELLO);
    }, async (_fake, client) => {
      const err = await client.get('arp', '10.9.9.9').catch((e: unknown) => e);
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 'not-found');
      assert.equal(err.message, 'no arp entry 10.9.9.9');
      assert.equal((await client.hello()).server, 'netbranch');
    });
  });

  test('listAll pages with `after` until `more` is false', async () => {
    const keys = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'];
    await withFake('unix', (req, conn) => {
      const start = req.after === undefined ? 0 : keys.indexOf(req.after) + 1;
      const page = keys.slice(start, start + 2);
      const more = start + 2 < keys.length;
      conn.ok(req, { table: req.table, entries: page.map((key) => ({ key, value: { key } })), more, ...(more ? { next: page.at(-1) } : {}) });
    }, async (fake, client) => {
      const got: string[] = [];
      for await (const e of client.listAll('arp', { prefix: '10.0.0.' })) got.push(e.key);
      assert.deepEqual(got, keys);
      assert.deepEqual(fake.requests.map((r) => [r.prefix, r.after]), [['10.0.0.', undefined], ['10.0.0.', '10.0.0.2'], ['10.0.0.', '10.0.0.4']]);
    });
  });

  test('a watch yields its change events until the consumer breaks, which sends unwatch; stray frames are ignored', async () => {
    await withFake('unix', (req, conn) => {
      if (req.op === 'watch') {
        conn.ok(req, { watch: req.id });
        conn.send({ id: req.id, event: 'change', table: 'arp', key: '10.201.0.2', value: { mac: '02:00:00:00:00:02', expires: 5, kind: 'dynamic' } });
        conn.send({ id: 999, event: 'change', table: 'arp', key: 'x', value: null }); // not our watch
        conn.send({ id: req.id, event: 'hiccup' }); // an event kind this client does not know
        conn.send({ id: 4242, ok: true, result: {} }); // an answer to nothing
        conn.send(['not', 'a', 'map']);
        conn.send({ id: req.id, event: 'change', table: 'arp', key: '10.201.0.3', value: null });
        conn.send({ id: req.id, event: 'change', table: 'arp', key: '10.201.0.4', value: null });
      } else if (req.op === 'unwatch') {
        conn.ok(req, {});
        conn.send({ id: req.watch, event: 'end', reason: 'unwatch' });
      }
    }, async (fake, client) => {
      const w = await client.watch('arp', { prefix: '10.201.' });
      const seen: [string, unknown][] = [];
      for await (const ev of w) {
        seen.push([ev.key, ev.value]);
        if (seen.length === 2) break;
      }
      assert.deepEqual(seen, [['10.201.0.2', { mac: '02:00:00:00:00:02', expires: 5, kind: 'dynamic' }], ['10.201.0.3', null]]);
      const unwatch = fake.requests.find((r) => r.op === 'unwatch');
      assert.deepEqual(unwatch && { watch: unwatch.watch }, { watch: fake.requests[0].id });
      assert.equal(fake.requests[0].prefix, '10.201.');
      assert.equal(w.endReason, undefined);
      assert.deepEqual(await w.next(), { value: undefined, done: true });
      assert.equal(client.isOpen, true);
    });
  });

  test('a watch the server ends finishes the iteration with its reason; one the connection loses throws', async () => {
    let conn0: FakeConn | undefined;
    await withFake('unix', (req, conn) => {
      if (req.op !== 'watch') return;
      conn0 = conn;
      conn.ok(req, { watch: req.id });
      if (req.table === 'arp') {
        conn.send({ id: req.id, event: 'change', table: 'arp', key: 'k', value: 1 });
        conn.send({ id: req.id, event: 'end', reason: 'shutting down' });
      }
    }, async (_fake, client) => {
      const w = await client.watch('arp');
      const keys: string[] = [];
      for await (const ev of w) keys.push(ev.key);
      assert.deepEqual(keys, ['k']);
      assert.equal(w.endReason, 'shutting down');
      await w.close(); // nothing to unwatch: no error

      const lost = await client.watch('nat');
      setTimeout(() => conn0!.socket.destroy(), 20);
      const err = await (async () => { for await (const _ of lost) { /* none */ } })().catch((e: unknown) => e);
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.code, 'internal');
      assert.match(err.message, /connection closed/);
    });
  });

  test('an event that comes before the watch answer is kept; a slow reader pauses the socket, then gets everything', async () => {
    await withFake('unix', (req, conn) => {
      if (req.op !== 'watch') return conn.ok(req, {});
      conn.send({ id: req.id, event: 'change', table: 'arp', key: 'k0', value: 0 });
      conn.ok(req, { watch: req.id });
      for (let i = 1; i < 200; i++) conn.send({ id: req.id, event: 'change', table: 'arp', key: `k${i}`, value: i });
    }, async (_fake, client) => {
      const w = await client.watch('arp');
      await new Promise((r) => setTimeout(r, 50)); // let the events pile up over the buffer of 10
      const got: unknown[] = [];
      for await (const ev of w) {
        got.push(ev.value);
        if (got.length === 200) break;
      }
      assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i));
      assert.deepEqual(await client.request('stats', {}), {}); // reading resumed: answers come again
    }, { watchBuffer: 10 });
  });

  test('a request without an answer rejects with code timeout; a late answer is ignored and the connection still works', async () => {
    const late: [Req, FakeConn][] = [];
    await withFake('unix', (req, conn) => {
      if (req.key === 'slow') late.push([req, conn]);
      else conn.ok(req, { table: req.table, key: req.key, value: 1 });
    }, async (_fake, client) => {
      const t0 = Date.now();
      const err = await client.get('arp', 'slow').catch((e: unknown) => e);
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 'timeout');
      assert.ok(Date.now() - t0 >= 90, 'waited for the timeout');
      for (const [r, c] of late) c.ok(r, { table: 'arp', key: 'slow', value: 'late' });
      assert.equal((await client.get('arp', 'fast')).value, 1);
      assert.equal(client.inFlight, 0);
    }, { timeoutMs: 100 });
  });

  test('losing the connection rejects every pending request; later calls reject at once', async () => {
    await withFake('unix', (_req, conn) => {
      if (conn.requests.length === 2) conn.socket.destroy();
    }, async (_fake, client) => {
      const calls = [client.get('arp', 'a'), client.list('nat')].map((p) => p.catch((e: unknown) => e));
      for (const err of await Promise.all(calls)) {
        assert.ok(err instanceof ApiError);
        assert.equal(err.code, 'internal');
        assert.match(err.message, /^connection closed/);
      }
      const reason = await client.closed;
      assert.equal(reason?.code, 'internal');
      assert.equal(client.isOpen, false);
      await assert.rejects(client.hello(), (e: unknown) => e instanceof ApiError && /connection closed/.test(e.message));
    });
  });

  test('an error the server sends with id null before closing is what pending calls reject with', async () => {
    await withFake('unix', (_req, conn) => {
      conn.fail(null, 'shutting-down', 'the router is stopping');
      conn.socket.end();
    }, async (_fake, client) => {
      const err = await client.get('arp', 'a').catch((e: unknown) => e);
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 'shutting-down');
      assert.equal(err.message, 'the router is stopping');
    });
  });

  test('a frame from the server over maxFrame closes the connection with frame-too-large', async () => {
    await withFake('unix', (req, conn) => {
      conn.ok(req, { table: 'arp', key: req.key, value: 'x'.repeat(req.key === 'big' ? 5000 : 10) });
    }, async (_fake, client) => {
      assert.equal(((await client.get('arp', 'small')).value as string).length, 10);
      const err = await client.get('arp', 'big').catch((e: unknown) => e);
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 'frame-too-large');
      assert.match(err.message, /over the client's limit of 1000/);
      assert.equal((await client.closed)?.code, 'frame-too-large');
    }, { maxFrame: 1000 });
  });

  test('with a token, connect sends auth first; a refused token makes connect reject with the ApiError', async () => {
    const handler = (req: Req, conn: FakeConn) => {
      if (req.op === 'auth') {
        if (req.token === 'good') conn.ok(req, { name: 'ops', scopes: ['admin'] });
        else conn.fail(req, 'unauthenticated', 'unknown token');
      } else conn.ok(req, { ...HELLO, scopes: ['admin'] });
    };
    await withFake('tcp', handler, async (fake, client) => {
      assert.deepEqual((await client.hello()).scopes, ['admin']);
      assert.deepEqual(fake.requests.map((r) => [r.id, r.op, r.token]), [[1, 'auth', 'good'], [2, 'hello', undefined]]);
    }, { token: 'good' });

    const fake = await fakeServer('tcp', handler);
    try {
      const err = await connect(fake.where, { token: 'bad' }).catch((e: unknown) => e);
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 'unauthenticated');
    } finally {
      await fake.close();
    }
  });

  test('no socket, or nothing listening: ConnectError naming the address and the errno', async () => {
    const err = await connect(`unix:${join(DIR, 'nothing.sock')}`).catch((e: unknown) => e);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.errno, 'ENOENT');
    assert.match(err.message, /nothing\.sock/);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const refused = await connect({ tcp: { host: '127.0.0.1', port } }).catch((e: unknown) => e);
    assert.ok(refused instanceof ConnectError);
    assert.equal(refused.errno, 'ECONNREFUSED');
  });

  test('close() rejects what is still pending and resolves `closed` with undefined', async () => {
    await withFake('unix', () => {}, async (_fake, client) => {
      const pending = client.get('arp', 'a').catch((e: unknown) => e);
      await client.close();
      const err = await pending;
      assert.ok(err instanceof ApiError);
      assert.match(err.message, /closed by the client/);
      assert.equal(await client.closed, undefined);
    });
  });
});

describe('api formatting', () => {
  test('arp lines like ip neigh; nat lines like conntrack; set values', () => {
    const now = 1_000_000;
    assert.equal(formatArpEntry('10.201.0.2', { mac: '02:00:00:00:00:01', expires: now + 40_200, kind: 'dynamic' }, now), '10.201.0.2 lladdr 02:00:00:00:00:01 dynamic expires in 41s');
    assert.equal(formatArpEntry('10.201.0.3', { mac: '02:00:00:00:00:03', expires: 0, kind: 'static' }, now), '10.201.0.3 lladdr 02:00:00:00:00:03 static');
    assert.equal(formatArpEntry('10.201.0.4', { mac: '02:00:00:00:00:04', expires: now - 3000, kind: 'dynamic' }, now), '10.201.0.4 lladdr 02:00:00:00:00:04 dynamic expired 3s ago');
    const flow = { proto: 'tcp', insideIp: '10.201.0.2', insidePort: 40000, remoteIp: '10.202.0.2', remotePort: 80, outPort: 61000, state: 'established', created: 0, lastSeen: now, pktsOut: 3, pktsIn: 2, bytesOut: 180, bytesIn: 120 };
    assert.equal(formatNatValue(flow, now), 'tcp      6 432000 ESTABLISHED src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=80 packets=3 bytes=180 src=10.202.0.2 sport=80 dport=61000 packets=2 bytes=120 [ASSURED] mark=0 use=1');
    assert.match(formatNatValue({ ...flow, proto: 'icmp', state: 'icmp' }, now + 10_000, { outsideIp: '10.202.0.1' }), /^icmp {5}1 20 src=10\.201\.0\.2 dst=10\.202\.0\.2 type=8 code=0 id=40000 .* src=10\.202\.0\.2 dst=10\.202\.0\.1 type=0 code=0 id=61000 /);
    assert.deepEqual(formatHistoryEntry({ seq: 3, time: 1600, author: 'packet-0', message: 'merge packet-0', value: null }, 3600), ['#3 2s ago packet-0: merge packet-0', '    (removed)']);
    assert.deepEqual(parseValue('arp', '02:00:00:00:00:0A'), { mac: '02:00:00:00:00:0a', expires: 0, kind: 'static' });
    assert.deepEqual(parseValue('dnat', '{"port":8080}'), { port: 8080 });
    assert.throws(() => parseValue('dnat', '02:00:00:00:00:0a'), /VALUE must be JSON/);
  });
});

// ---- the CLI against a fake server with tables: a few commands spawned as a user runs them (exit
// statuses, stderr, signals' worth of process behaviour), the rest in-process through main() to stay fast ----

delete process.env.NETBRANCH_API;
delete process.env.NETBRANCH_TOKEN;

const noStackTrace = (text: string): boolean => !/^\s+at /m.test(text);

/** A fake router: arp, nat (read-only) and dnat in Maps; list pages of 2; `reader` tokens cannot write. */
function tableServer(): (req: Req, conn: FakeConn) => void {
  // Times relative to the request, so a slow run sees the same seconds left.
  type Live = unknown | (() => unknown);
  const tables = new Map<string, Map<string, Live>>([
    ['arp', new Map<string, Live>([
      ['10.201.0.2', () => ({ mac: '02:00:00:00:00:02', expires: Date.now() + 41_500, kind: 'dynamic' })],
      ['10.201.0.3', { mac: '02:00:00:00:00:03', expires: 0, kind: 'static' }],
      ['10.201.0.4', { mac: '02:00:00:00:00:04', expires: 0, kind: 'static' }],
    ])],
    ['nat', new Map<string, Live>([
      ['tcp:10.201.0.2:40000:10.202.0.2:80', () => ({ proto: 'tcp', insideIp: '10.201.0.2', insidePort: 40000, remoteIp: '10.202.0.2', remotePort: 80, outPort: 61001, state: 'established', created: Date.now() - 5000, lastSeen: Date.now(), pktsOut: 3, pktsIn: 2, bytesOut: 180, bytesIn: 120 })],
      // Made by the port-forward rule dnat/tcp:8080.
      ['tcp:10.201.0.5:80:10.202.0.9:51000', () => ({ proto: 'tcp', insideIp: '10.201.0.5', insidePort: 80, remoteIp: '10.202.0.9', remotePort: 51000, outPort: 8080, state: 'established', created: Date.now() - 1000, lastSeen: Date.now(), pktsOut: 4, pktsIn: 5, bytesOut: 400, bytesIn: 500 })],
      ['udp:10.201.0.2:40000:10.202.0.2:53', () => ({ proto: 'udp', insideIp: '10.201.0.2', insidePort: 40000, remoteIp: '10.202.0.2', remotePort: 53, outPort: 61000, state: 'udp-replied', created: Date.now() - 20_000, lastSeen: Date.now() - 20_000, pktsOut: 1, pktsIn: 1, bytesOut: 60, bytesIn: 80 })],
    ])],
    ['dnat', new Map<string, Live>([['tcp:8080', { proto: 'tcp', port: 8080, insideIp: '10.201.0.5', insidePort: 80, created: 1 }]])],
  ]);
  const val = (v: Live): unknown => (typeof v === 'function' ? (v as () => unknown)() : v);
  return (req, conn) => {
    const table = typeof req.table === 'string' ? tables.get(req.table) : undefined;
    if (req.op === 'auth') {
      conn.token = req.token;
      return req.token === 'reader' || req.token === 'admin' ? conn.ok(req, { name: req.token, scopes: [] }) : conn.fail(req, 'unauthenticated', 'unknown token');
    }
    if (req.op === 'hello') return conn.ok(req, { ...HELLO, now: Date.now() });
    if (req.op === 'unwatch') return conn.ok(req, { watch: req.watch, ended: true });
    if (!table) return conn.fail(req, 'unknown-table', `no table '${req.table}' (tables: arp, nat, dnat)`);
    switch (req.op) {
      case 'list': {
        const keys = [...table.keys()].sort().filter((k) => k.startsWith(req.prefix ?? '') && (req.after === undefined || k > req.after));
        const page = keys.slice(0, Math.min(req.limit ?? 1000, 2));
        const more = keys.length > page.length;
        return conn.ok(req, { table: req.table, entries: page.map((key) => ({ key, value: val(table.get(key)) })), more, ...(more ? { next: page.at(-1) } : {}) });
      }
      case 'get':
        return table.has(req.key) ? conn.ok(req, { table: req.table, key: req.key, value: val(table.get(req.key)) }) : conn.fail(req, 'not-found', `no ${req.table} entry '${req.key}'`);
      case 'set':
        if (req.table === 'nat') return conn.fail(req, 'read-only-table', 'nat takes no writes through the API');
        if (conn.token === 'reader') return conn.fail(req, 'forbidden', `needs scope write:${req.table}`);
        if (req.table === 'arp' && req.value?.kind !== 'static') return conn.fail(req, 'bad-value', 'API writes to arp must be static');
        table.set(req.key, req.value);
        return conn.ok(req, { table: req.table, key: req.key, value: req.value });
      case 'delete': {
        const existed = table.delete(req.key);
        return conn.ok(req, { table: req.table, key: req.key, existed });
      }
      case 'history':
        return conn.ok(req, {
          table: req.table, key: req.key, complete: req.limit === undefined,
          entries: [
            { seq: 12, time: Date.now() - 5_000, author: 'packet-1', message: 'merge', value: { mac: '02:00:00:00:00:02', expires: Date.now() + 41_500, kind: 'dynamic' } },
            { seq: 7, time: Date.now() - 3_600_000, author: 'arp-expiry', message: 'expire', value: null },
          ].slice(0, req.limit ?? 2),
        });
      case 'watch':
        conn.ok(req, { watch: req.id });
        conn.send({ id: req.id, event: 'change', table: req.table, key: '10.201.0.7', value: { mac: '02:00:00:00:00:07', expires: 0, kind: 'static' } });
        conn.send({ id: req.id, event: 'change', table: req.table, key: '10.201.0.3', value: null });
        conn.send({ id: req.id, event: 'change', table: req.table, key: '10.201.0.8', value: { mac: '02:00:00:00:00:08', expires: 0, kind: 'static' } });
        if (req.prefix === 'end') conn.send({ id: req.id, event: 'end', reason: 'shutting down' });
        return;
      default:
        return conn.fail(req, 'unknown-op', `unknown op '${req.op}'`);
    }
  };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('netbranch API commands, spawned', { concurrency: 3 }, () => {
  let fake: Fake;
  let api: string[];
  before(async () => {
    fake = await fakeServer('unix', tableServer());
    api = ['--api', fake.where];
  });
  after(() => fake.close());

  test('arp prints ip-neigh lines across list pages', async () => {
    const run = await cli('arp', ...api, '--prefix', '10.201.0.'); // the set test below adds 10.201.9.50 meanwhile
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^10\.201\.0\.2 lladdr 02:00:00:00:00:02 dynamic expires in 4[12]s$/);
    assert.equal(lines[1], '10.201.0.3 lladdr 02:00:00:00:00:03 static');
    assert.equal(lines[2], '10.201.0.4 lladdr 02:00:00:00:00:04 static');
    assert.equal(lines[3], '3 entries');
    assert.equal(run.stderr, '');
  });

  test('a server error is `netbranch: CODE: message` and exit 1', async () => {
    const run = await cli('get', 'arp', '10.9.9.9', ...api);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, "netbranch: not-found: no arp entry '10.9.9.9'\n");
  });

  test('set with the arp MAC shorthand sends a static entry and confirms in one line', async () => {
    const run = await cli('set', 'arp', '10.201.9.50', '02:00:00:00:00:50', ...api, '--token', 'admin');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'set arp 10.201.9.50 = {"mac":"02:00:00:00:00:50","expires":0,"kind":"static"}\n');
    const sent = fake.requests.find((r) => r.op === 'set' && r.key === '10.201.9.50');
    assert.deepEqual(sent?.value, { mac: '02:00:00:00:00:50', expires: 0, kind: 'static' });
    assert.ok(fake.requests.some((r) => r.op === 'auth' && r.token === 'admin'), 'authenticated with --token');
  });

  test('watch --count 2 prints two changes, sends unwatch, exits 0', async () => {
    const before = fake.requests.filter((r) => r.op === 'unwatch').length;
    const run = await cli('watch', 'arp', '--count', '2', ...api);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'arp 10.201.0.7 = mac: 02:00:00:00:00:07, expires: 0, kind: static\narp 10.201.0.3 removed\n');
    assert.ok(fake.requests.filter((r) => r.op === 'unwatch').length > before, 'sent unwatch');
  });

  test('no server: one line naming the socket and suggesting --api, exit 1', async () => {
    const missing = join(DIR, 'no-router.sock');
    const run = await cli('arp', '--api', `unix:${missing}`);
    assert.equal(run.code, 1);
    assert.equal(run.stderr.split('\n').length, 2, run.stderr);
    assert.match(run.stderr, new RegExp(`^netbranch: cannot connect to the API at unix:${escape(missing)} \\(no such socket\\); is the router running with --api .*--api unix:PATH or tcp:HOST:PORT`));
    assert.ok(noStackTrace(run.stderr));
  });
});

describe('netbranch API commands, in-process', () => {
  let fake: Fake;
  let api: string[];
  before(async () => {
    fake = await fakeServer('unix', tableServer());
    api = ['--api', fake.where];
  });
  after(() => fake.close());

  test('arp --json is one document with every page', async () => {
    const run = await inProcess('arp', ...api, '--json');
    assert.equal(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout);
    assert.equal(doc.table, 'arp');
    assert.deepEqual(doc.entries.map((e: { key: string }) => e.key), ['10.201.0.2', '10.201.0.3', '10.201.0.4']);
    assert.equal(fake.requests.filter((r) => r.op === 'list').length, 2);
  });

  test('nat prints conntrack-style lines, a port-forwarded flow from the remote end; --prefix narrows', async () => {
    const all = await inProcess('nat', ...api);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], 'tcp      6 432000 ESTABLISHED src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=80 packets=3 bytes=180 src=10.202.0.2 sport=80 dport=61001 packets=2 bytes=120 [ASSURED] mark=0 use=1');
    assert.equal(lines[1], 'tcp      6 432000 ESTABLISHED src=10.202.0.9 sport=51000 dport=8080 packets=5 bytes=500 src=10.201.0.5 dst=10.202.0.9 sport=80 dport=51000 packets=4 bytes=400 [ASSURED] mark=0 use=1');
    assert.equal(lines[3], '3 flows');
    const udp = await inProcess('nat', ...api, '--prefix', 'udp:');
    assert.equal(udp.stdout, 'udp      17 100 src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 packets=1 bytes=60 src=10.202.0.2 sport=53 dport=61000 packets=1 bytes=80 mark=0 use=1\n1 flow\n');
    const none = await inProcess('nat', ...api, '--prefix', 'icmp:');
    assert.equal(none.stdout, '0 flows\n');
  });

  test('get prints the value as indented JSON, --json the whole answer; an unknown table exits 1', async () => {
    const run = await inProcess('get', 'arp', '10.201.0.3', ...api);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'mac: 02:00:00:00:00:03\nexpires: 0\nkind: static\n');
    const dynamic = await inProcess('get', 'arp', '10.201.0.2', ...api);
    assert.match(dynamic.stdout, /^mac: 02:00:00:00:00:02\nexpires: in 4[12]s\nkind: dynamic\n$/);
    const json = await inProcess('get', 'nat', 'udp:10.201.0.2:40000:10.202.0.2:53', ...api, '--json');
    assert.equal(JSON.parse(json.stdout).value.outPort, 61000);
    const bad = await inProcess('get', 'nope', 'x', ...api);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "netbranch: unknown-table: no table 'nope' (tables: arp, nat, dnat)\n");
  });

  test('set JSON then rm; rm of a missing key says so (exit 0); --json forms', async () => {
    const value = { proto: 'tcp', port: 8080, insideIp: '10.201.0.2', insidePort: 80, created: 0 };
    const set = await inProcess('set', 'dnat', 'tcp:8081', JSON.stringify({ ...value, port: 8081 }), ...api, '--json');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { table: 'dnat', key: 'tcp:8081', value: { ...value, port: 8081 } });
    const rm = await inProcess('rm', 'dnat', 'tcp:8081', ...api);
    assert.equal(rm.stdout, 'removed dnat tcp:8081\n');
    const again = await inProcess('rm', 'dnat', 'tcp:8081', ...api);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, 'dnat tcp:8081: no such entry, nothing removed\n');
    const json = await inProcess('rm', 'dnat', 'tcp:8081', ...api, '--json');
    assert.deepEqual(JSON.parse(json.stdout), { table: 'dnat', key: 'tcp:8081', existed: false });
  });

  test('forbidden, read-only, a refused token and a refused write are exit 1 with the code', async () => {
    const forbidden = await inProcess('set', 'dnat', 'tcp:8080', '{}', ...api, '--token', 'reader');
    assert.equal(forbidden.code, 1);
    assert.equal(forbidden.stderr, 'netbranch: forbidden: needs scope write:dnat\n');
    const readOnly = await inProcess('set', 'nat', 'udp:10.201.0.2:1:10.202.0.2:53', '{}', ...api);
    assert.equal(readOnly.stderr, 'netbranch: read-only-table: nat takes no writes through the API\n');
    const token = await inProcess('arp', ...api, '--token', 'wrong');
    assert.equal(token.code, 1);
    assert.equal(token.stderr, 'netbranch: unauthenticated: unknown token\n');
    const dynamic = await inProcess('set', 'arp', '10.201.0.60', '{"mac":"02:00:00:00:00:60","expires":5,"kind":"dynamic"}', ...api);
    assert.equal(dynamic.stderr, 'netbranch: bad-value: API writes to arp must be static\n');
  });

  test('log prints #seq time author: message, then the value; --limit; --json', async () => {
    const run = await inProcess('log', 'arp', '10.201.0.2', ...api);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp([
      '^#12 [56]s ago packet-1: merge',
      '    mac: 02:00:00:00:00:02, expires: in 4[12]s, kind: dynamic',
      '#7 1h ago arp-expiry: expire',
      '    \\(removed\\)',
      '$',
    ].join('\n')));
    const limited = await inProcess('log', 'arp', '10.201.0.2', ...api, '--limit', '1');
    assert.match(limited.stdout, /^#12 .*\n {4}mac: .*\n\(older changes were released from the log\)\n$/);
    const json = await inProcess('log', 'arp', '10.201.0.2', ...api, '--limit', '1', '--json');
    assert.equal(JSON.parse(json.stdout).entries.length, 1);
    assert.ok(fake.requests.some((r) => r.op === 'history' && r.limit === 1));
  });

  test('watch --json gives JSON lines; --seconds ends a watch that is quiet', async () => {
    const json = await inProcess('watch', 'arp', '--count', '3', '--json', ...api);
    assert.equal(json.code, 0, json.stderr);
    const events = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events, [
      { table: 'arp', key: '10.201.0.7', value: { mac: '02:00:00:00:00:07', expires: 0, kind: 'static' } },
      { table: 'arp', key: '10.201.0.3', value: null },
      { table: 'arp', key: '10.201.0.8', value: { mac: '02:00:00:00:00:08', expires: 0, kind: 'static' } },
    ]);
    const t0 = Date.now();
    const timed = await inProcess('watch', 'dnat', '--seconds', '0.3', ...api);
    assert.equal(timed.code, 0, timed.stderr);
    assert.equal(timed.stdout.trimEnd().split('\n').length, 3); // the fake's three changes, then quiet until the timer
    assert.ok(Date.now() - t0 >= 250);
  });

  test('tables lists hello: name, writable, key form, scopes', async () => {
    const run = await inProcess('tables', ...api);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, [
      'arp    read-write  key like 10.201.0.2',
      'nat    read, rm    key like udp:10.201.0.2:40000:10.202.0.2:53',
      'dnat   read-write  key like tcp:8080',
      "(netbranch router, protocol 1; this connection's scopes: read:*)",
      '',
    ].join('\n'));
    const json = await inProcess('tables', ...api, '--json');
    const { now, ...rest } = JSON.parse(json.stdout);
    assert.deepEqual({ ...rest, now: HELLO.now }, HELLO);
    assert.ok(Math.abs(now - Date.now()) < 5000);
  });

  test('a watch the server ends prints what came, then the reason, exit 1', async () => {
    const run = await inProcess('watch', 'arp', '--prefix', 'end', ...api);
    assert.equal(run.code, 1);
    assert.equal(run.stdout.trimEnd().split('\n').length, 3);
    assert.equal(run.stderr, 'netbranch: the server ended the watch: shutting down\n');
  });

  test('set with a VALUE that is not JSON: a usage error, exit 2, nothing sent', async () => {
    const run = await inProcess('set', 'dnat', 'tcp:8082', '{nope', ...api);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, "netbranch: VALUE must be JSON, got '{nope'\n");
    assert.ok(!fake.requests.some((r) => r.key === 'tcp:8082'));
  });

  test('--help of each command shows the API flags and an example', () => {
    const program = buildProgram();
    for (const name of ['arp', 'nat', 'tables', 'get', 'set', 'rm', 'log', 'watch']) {
      const cmd = program.commands.find((c) => c.name() === name);
      assert.ok(cmd, name);
      let help = '';
      cmd.configureOutput({ writeOut: (t) => { help += t; } });
      cmd.outputHelp();
      for (const flag of ['--api <where>', '--token <token>', '--json']) assert.ok(help.includes(flag), `${name}: ${flag}`);
      assert.match(help, new RegExp(`Examples?:\\n {2}\\$ netbranch ${name}\\b`), name);
    }
  });

  test('bad flags are usage errors (exit 2); NETBRANCH_API is the default address', async () => {
    const badApi = await inProcess('arp', '--api', 'tcp:localhost');
    assert.equal(badApi.code, 2);
    assert.match(badApi.stderr, /^netbranch: --api: tcp: needs a host and a port/);
    const badCount = await inProcess('watch', 'arp', '--count', '0', ...api);
    assert.equal(badCount.code, 2);
    assert.match(badCount.stderr, /--count must be an integer from 1/);
    const badLimit = await inProcess('log', 'arp', 'x', '--limit', 'many', ...api);
    assert.equal(badLimit.code, 2);
    process.env.NETBRANCH_API = fake.where;
    try {
      const viaEnv = await inProcess('get', 'arp', '10.201.0.4');
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.match(viaEnv.stdout, /02:00:00:00:00:04/);
    } finally {
      delete process.env.NETBRANCH_API;
    }
  });
});
