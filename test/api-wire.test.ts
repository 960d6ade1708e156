// The API's bytes as another language reads them: every time in a reply (`expires`, `created`,
// `lastSeen`, `time`, hello's `now`) is a msgpack integer, never a float64, on a router's clock (the
// epoch, beyond 32 bits); docs/api.md's Python client runs verbatim; and a client pointed at
// something that is not a netbranch API says so, with what it got, instead of reading "HTTP" as a length.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store, type Branch } from '../store/index.js';
import { routerTables } from '../actors/router/router-schema.js';
import { LocalActor } from '../actors/runtime/local-actor.js';
import { BranchSource } from '../api/server/source.js';
import { LookupServer } from '../api/server/lookup-server.js';
import { prng } from '../actors/sim/prng.js';
import { ApiError, connect } from '../api/client.js';
import { encodeFrame } from '../api/frames.js';
import { Packr } from 'msgpackr';
import { RawClient } from './support/api-raw.js';
import { isIntType, readTyped, scalarTypes, valuesUnder } from './support/msgpack-raw.js';
import { routerApiRules } from '../actors/router/router-api.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = mkdtempSync(join(tmpdir(), `nb-apiwire-${process.pid}-`));
const closers: (() => unknown)[] = [];
after(async () => {
  for (const c of closers.reverse()) {
    try { await c(); } catch { /* closing anyway */ }
  }
  rmSync(DIR, { recursive: true, force: true });
});

// A router's clock: ms since 1970, beyond 32 bits (what msgpackr writes as float64 unless told otherwise).
const NOW = 1_733_450_000_123;
const TIME_KEYS = new Set(['expires', 'created', 'lastSeen', 'time', 'now']);
const ADMIN = 'tok-admin-0123456789abcd';
const NAT_KEY = 'udp:10.201.0.2:40000:10.202.0.2:53';

/** The router's tables with one entry each, times on the epoch, served by a LookupServer on a Unix socket in `dir`. */
async function epochServer(dir: string): Promise<{ path: string; primary: Branch; actor: LocalActor }> {
  const store = new Store(routerTables, { clock: () => NOW });
  const primary = store.main;
  const put = (table: string, key: string, shown: unknown) => {
    const i = store.schema.index(table);
    const t = store.schema.tables[i];
    primary.tables[i].set(t.key.decode(key), t.value.decode(shown, `${table}/${key}`));
  };
  put('arp', '10.201.0.2', { mac: '02:00:00:00:00:01', expires: NOW + 60_000, kind: 'dynamic' });
  put('nat', NAT_KEY, {
    proto: 'udp', insideIp: '10.201.0.2', insidePort: 40000, remoteIp: '10.202.0.2', remotePort: 53, outPort: 40000, state: 'udp-replied',
    created: NOW - 5_000, lastSeen: NOW - 5, pktsOut: 3, pktsIn: 3, bytesOut: 6_000_000_000, bytesIn: 300,
  });
  put('dnat', 'tcp:8080', { proto: 'tcp', port: 8080, insideIp: '10.201.0.5', insidePort: 80, created: NOW });
  primary.commit({ author: 'net', message: 'seed' });
  const actor = new LocalActor('lookup', primary, 100, NOW);
  const server = new LookupServer(new BranchSource(actor.branch, primary), {
    role: 'router', tokens: [{ name: 'root', token: ADMIN, scopes: ['admin'] }], clock: () => NOW, tables: routerApiRules,
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'api.sock');
  await server.listenUnix(path);
  closers.push(() => server.close());
  return { path, primary, actor };
}

describe('times on the wire', () => {
  test('every time in every reply is a msgpack integer (no float64 anywhere), with its value', async () => {
    const { path, primary, actor } = await epochServer(join(DIR, 'raw'));
    const c = await RawClient.open({ path });
    closers.push(() => c.destroy());
    await c.request({ id: 1, op: 'hello' });
    await c.request({ id: 2, op: 'get', table: 'arp', key: '10.201.0.2' });
    await c.request({ id: 3, op: 'list', table: 'nat' });
    await c.request({ id: 4, op: 'list', table: 'dnat' });
    await c.request({ id: 5, op: 'history', table: 'arp', key: '10.201.0.2' });
    await c.request({ id: 6, op: 'watch', table: 'arp' });
    primary.tables[primary.store.schema.index('arp')].set(0x0ac90003, { mac: 0x02_00_00_00_00_03, expires: NOW + 90_000, kind: 'dynamic' });
    primary.commit({ author: 'net' });
    actor.tick(NOW, true);
    await c.until('the change event', () => c.events(6).length === 1);
    await c.request({ id: 7, op: 'stats', token: ADMIN });

    const times: Record<string, unknown[]> = {};
    for (const body of c.bodies) {
      const tree = readTyped(body);
      const id = 'map' in tree ? (tree.map.find(([k]) => k === 'id')?.[1] as { value: unknown } | undefined)?.value : undefined;
      for (const { path: at, node } of valuesUnder(tree, TIME_KEYS)) {
        assert.ok(isIntType(node.type), `frame ${id}${at}: type byte 0x${node.type.toString(16)}, not an integer`);
        (times[`${id}${at}`] ??= []).push(Number((node as { value: bigint | number }).value));
      }
      const floats = scalarTypes(tree).filter((t) => t === 0xca || t === 0xcb);
      assert.deepEqual(floats, [], `frame ${id}: no float in the protocol`);
    }
    assert.deepEqual(times, {
      '1.result.now': [NOW],
      '2.result.value.expires': [NOW + 60_000],
      '3.result.entries[0].value.created': [NOW - 5_000],
      '3.result.entries[0].value.lastSeen': [NOW - 5],
      '4.result.entries[0].value.created': [NOW],
      '5.result.entries[0].time': [NOW],
      '5.result.entries[0].value.expires': [NOW + 60_000],
      '6.value.expires': [NOW + 90_000],
    });
  });

  test('the JS client reads them as numbers, byte counters past 4 GiB too; a uint64 time a client sends is accepted', async () => {
    const { path } = await epochServer(join(DIR, 'js'));
    const api = await connect(`unix:${path}`, { token: ADMIN });
    closers.push(() => api.close());
    assert.equal((await api.hello()).now, NOW);
    assert.equal(((await api.get('arp', '10.201.0.2')).value as { expires: unknown }).expires, NOW + 60_000);
    const flow = (await api.get('nat', NAT_KEY)).value as { bytesOut: unknown; lastSeen: unknown };
    assert.deepEqual([flow.bytesOut, flow.lastSeen], [6_000_000_000, NOW - 5]);
    const set = await api.set('dnat', 'tcp:8081', { proto: 'tcp', port: 8081, insideIp: '10.201.0.6', insidePort: 81, created: NOW });
    assert.equal((set.value as { created: unknown }).created, NOW);
    // A 64-bit integer, as msgpack-python writes a time: the server reads it as a number.
    const raw = await RawClient.open({ path });
    closers.push(() => raw.destroy());
    const body = new Packr({ useRecords: false }).pack({ id: 9, op: 'set', table: 'dnat', key: 'tcp:8082', token: ADMIN,
      value: { proto: 'tcp', port: 8082, insideIp: '10.201.0.7', insidePort: 82, created: BigInt(NOW) } });
    assert.ok(body.includes(0xd3) || body.includes(0xcf), 'the time went out as a 64-bit integer');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    raw.write(Buffer.concat([head, body]));
    const answer = await raw.response(9);
    assert.equal(answer.ok, true, JSON.stringify(answer));
    assert.equal(answer.result.value.created, NOW);
  });
});

describe("docs/api.md's Python client", () => {
  test('runs verbatim against a router-like server and prints integer times', { timeout: 60_000 }, async (t) => {
    const why = pythonSkipReason();
    if (why) { t.skip(why); return; }
    const doc = readFileSync(join(ROOT, 'docs/api.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## A client in another language'));
    const script = /```python\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(script?.includes('/run/netbranch/api.sock'), 'the example talks to the default socket');
    const dir = join(DIR, 'py');
    await epochServer(dir);
    // The example's own path, /run/netbranch/api.sock, is this test's socket in a private mount namespace:
    // the machine's /run is untouched.
    const sh = `mount -t tmpfs tmpfs /run && mkdir /run/netbranch && mount --bind '${dir}' /run/netbranch && exec ${PY} -`;
    const out = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', sh], script!);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 2, out);
    assert.match(lines[0], /'name': 'arp', 'writable': True, 'keyExample': '10\.201\.0\.2'/);
    assert.match(lines[1], new RegExp(`'expires': ${NOW + 60_000}, `), 'an int, as Python prints it (a float would end in .0)');
  });
});

const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Why the Python example cannot run here, or undefined. A test installs nothing: `npm test`'s pretest (scripts/lab-tools.mjs) does. */
function pythonSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (a private mount namespace for /run/netbranch); run npm test as root';
  if (spawnSync('sh', ['-c', 'command -v unshare']).status !== 0) return 'unshare is missing (apt-get install util-linux)';
  if (spawnSync(PY, ['-c', 'import msgpack'], { timeout: 10_000 }).status !== 0) return "python3's msgpack module is missing: npm test installs it as root (scripts/lab-tools.mjs), or apt-get install python3-msgpack";
  return undefined;
}

function run(cmd: string, args: string[], stdin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
    p.stdin!.end(stdin);
  });
}

// ------------------------------------------------------------------ not a netbranch API

/** A TCP server on 127.0.0.1 that treats each connection with `onConn` (and ignores what it is sent). */
async function tcpServer(onConn: (s: Socket) => void): Promise<{ server: Server; where: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.resume();
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }));
  return { server, where: `tcp:127.0.0.1:${(server.address() as { port: number }).port}` };
}

async function refusal(where: string, opts: Parameters<typeof connect>[1] = {}): Promise<ApiError> {
  const api = await connect(where, { timeoutMs: 5_000, ...opts });
  closers.push(() => api.close());
  const err = await api.hello().then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
  return err;
}

/** One quoted string of printable ASCII and \r \n \t \\ \" \xNN escapes, perhaps cut (…). */
const PRINTABLE = String.raw`"(?:[ !#-\[\]-~]|\\[rnt"\\]|\\x[0-9a-f]{2})*"…?`;

/** The bytes a PRINTABLE string shows. */
function unquote(q: string): Buffer {
  const body = q.replace(/…$/, '').slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '\\') { out.push(body.charCodeAt(i)); continue; }
    const e = body[++i];
    if (e === 'x') { out.push(parseInt(body.slice(i + 1, i + 3), 16)); i += 2; } else out.push({ r: 13, n: 10, t: 9 }[e] ?? e.charCodeAt(0));
  }
  return Buffer.from(out);
}

describe('a client pointed at something else', () => {
  test('an HTTP server: "not a netbranch API" with what it answered, not a frame of 1,213,486,160 bytes; the CLI says the same in one line', async () => {
    const web = http.createServer((_q, res) => res.end('hello'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { web.closeAllConnections(); web.close(r); }));
    const where = `tcp:127.0.0.1:${(web.address() as { port: number }).port}`;
    const err = await refusal(where);
    assert.equal(err.code, 'bad-frame');
    assert.match(err.message, new RegExp(`^not a netbranch API at ${where} \\(got "HTTP/1\\.1 400 Bad Request\\\\r\\\\n`));
    assert.match(err.message, new RegExp(`\\(got ${PRINTABLE}\\)$`));
    const cli = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'arp', '--api', where], { cwd: ROOT, timeout: 30_000, encoding: 'utf8' },
        (e, _o, stderr) => resolve({ code: typeof e?.code === 'number' ? e.code : 0, stderr }));
    });
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, new RegExp(`^netbranch: bad-frame: not a netbranch API at ${where} \\(got "HTTP/1\\.1 400 `));
    assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
    assert.doesNotMatch(cli.stderr, /frame-too-large|1213486160/);
  });

  test('a server of random bytes: the same, the bytes shown printable', async () => {
    const rand = prng(11);
    const junk = Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256)));
    const { where } = await tcpServer((s) => s.write(junk));
    const err = await refusal(where);
    assert.equal(err.code, 'bad-frame');
    const m = new RegExp(`^not a netbranch API at ${where} \\(got (${PRINTABLE})\\)$`).exec(err.message);
    assert.ok(m, err.message);
    assert.deepEqual(unquote(m[1]), junk.subarray(0, 40), 'the first 40 bytes, each shown');
  });

  test('a server that sends a few bytes and hangs up: the same, not "connection closed"', async () => {
    const { where } = await tcpServer((s) => s.end('SSH-'));
    const err = await refusal(where);
    assert.equal(err.message, `not a netbranch API at ${where} (got "SSH-")`);
  });

  test('a netbranch server whose first frame is over the client limit is still frame-too-large', async () => {
    const { where } = await tcpServer((s) => s.write(encodeFrame({ id: 1, ok: true, result: 'x'.repeat(5000) })));
    const err = await refusal(where, { maxFrame: 1000 });
    assert.equal(err.code, 'frame-too-large');
  });
});
