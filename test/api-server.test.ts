// The external-lookup API's server (api/server/lookup-server.ts), its HTTP view (api/server/http-view.ts) and
// the worker actor that serves them in a router (actors/lookup/lookup-worker.ts), against real clients
// (api/client.ts), raw sockets that misbehave on purpose (test/support/api-raw.ts), the CLI and a
// running `netbranch sim`. The in-process fixture: a Store with the router's tables (the primary), a
// LocalActor 'lookup' fork of it served through BranchSource, and LookupServers on Unix sockets in a
// temp dir and on 127.0.0.1:0. Every change the tests make to the primary, and every authorized API
// write, is recorded in `model`: the primary is checked against it after each section, so nothing
// else (no refused request, no garbage) may have changed a table.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Store, showValue, type Branch } from '../store/index.js';
import { routerTables } from '../actors/router/router-schema.js';
import { routerApiRules } from '../actors/router/router-api.js';
import { LocalActor } from '../actors/runtime/local-actor.js';
import { BranchSource } from '../api/server/source.js';
import { LookupServer, type LookupServerOptions } from '../api/server/lookup-server.js';
import { HttpView } from '../api/server/http-view.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { natTable } from '../actors/router/nat-table.js';
import { dnatTable } from '../actors/router/dnat-table.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import type { TokenSpec } from '../api/server/tokens.js';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { parseIpv4 } from '../wire/index.js';
import { ApiError, connect, ConnectError, type Client, type Watch } from '../api/client.js';
import { encodeFrame } from '../api/frames.js';
import type { ChangeEvent, Op } from '../api/protocol.js';
import { RawClient, waitFor } from './support/api-raw.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = mkdtempSync(join(tmpdir(), 'nb-apisrv-'));
const closers: (() => unknown)[] = [];
after(async () => {
  for (const c of closers.reverse()) {
    try { await c(); } catch { /* closing anyway */ }
  }
  rmSync(DIR, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ tokens

const TOKENS: TokenSpec[] = [
  { name: 'arp-reader', token: 'tok-read-arp-0123456789', scopes: ['read:arp'] },
  { name: 'arp-writer', token: 'tok-write-arp-0123456789', scopes: ['read:*', 'write:arp'] },
  { name: 'dnat-writer', token: 'tok-write-dnat-012345678', scopes: ['write:dnat'] },
  { name: 'root', token: 'tok-admin-0123456789abcd', scopes: ['admin'] },
];
const T = { readArp: TOKENS[0].token, writeArp: TOKENS[1].token, writeDnat: TOKENS[2].token, admin: TOKENS[3].token };

// ------------------------------------------------------------------ the primary, the model, the fork

let now = 1_000_000;
const store = new Store(routerTables, { clock: () => now });
const primary = store.main;
const TABLES = store.schema.tables;

type Dump = Record<string, Record<string, unknown>>;

/** A branch's tables in the API's readable form. */
function dump(b: Branch): Dump {
  const out: Dump = {};
  TABLES.forEach((t, i) => {
    const rows: Record<string, unknown> = {};
    for (const [k, v] of b.tables[i].entries()) rows[t.key.encode(k as never)] = showValue(t.value, v);
    out[t.name] = rows;
  });
  return out;
}

/** What the primary must hold: the seed, the tests' own edits, and authorized API writes. */
const model: Dump = Object.fromEntries(TABLES.map((t) => [t.name, {}]));

/** The readable form a value is stored and shown in (so a model entry compares equal). */
function canonical(table: string, key: string, shown: unknown): unknown {
  const t = TABLES[store.schema.index(table)];
  return showValue(t.value, t.value.decode(shown, `${table}/${key}`));
}

function put(b: Branch, table: string, key: string, shown: unknown): void {
  const i = store.schema.index(table);
  const t = TABLES[i];
  const k = t.key.decode(key);
  if (shown === undefined) b.tables[i].delete(k);
  else b.tables[i].set(k, t.value.decode(shown, `${table}/${key}`));
}

/** The network changes the primary (as the packet actors would): committed, and recorded in the model. */
function edit(changes: [table: string, key: string, shown: unknown][], message = 'test edit'): void {
  for (const [table, key, shown] of changes) {
    put(primary, table, key, shown);
    expectWrite(table, key, shown);
  }
  primary.commit({ author: 'net', message });
}

/** An authorized API write: the primary will have it after the next merge. */
function expectWrite(table: string, key: string, shown: unknown): void {
  if (shown === undefined) delete model[table][key];
  else model[table][key] = canonical(table, key, shown);
}

const actor = new LocalActor('lookup', primary, 100, now);
const source = new BranchSource(actor.branch, primary);

/** The lookup actor's merge: its writes go to the primary, the primary's changes come to it. */
function tick(): void {
  now += 100;
  actor.tick(now, true);
}

function assertPrimaryIsModel(why: string): void {
  tick();
  assert.deepEqual(dump(primary), model, `the primary: ${why}`);
  assert.deepEqual(dump(actor.branch), model, `the lookup actor's branch: ${why}`);
}

const mac = (hi: number, lo: number) => `02:00:00:00:${hi.toString(16).padStart(2, '0')}:${lo.toString(16).padStart(2, '0')}`;
const dyn = (i: number, expires: number) => ({ mac: mac(1, i), expires, kind: 'dynamic' });
const STATIC = (lo: number) => ({ mac: mac(0x0b, lo), expires: 0, kind: 'static' });
const RULE = { proto: 'tcp', port: 8080, insideIp: '10.201.0.5', insidePort: 80, created: 1234 };

const NAT1 = 'udp:10.201.0.2:40000:10.202.0.2:53';
const NAT2 = 'tcp:10.201.0.3:51000:10.202.0.2:443';
const NAT3 = 'udp:10.201.0.4:40001:10.202.0.3:123';
const flow = (key: string, outPort: number, state: string) => {
  const [proto, insideIp, insidePort, remoteIp, remotePort] = key.split(':');
  return {
    proto, insideIp, insidePort: Number(insidePort), remoteIp, remotePort: Number(remotePort), outPort, state,
    created: 990_000, lastSeen: 999_000, pktsOut: 3, pktsIn: 3, bytesOut: 120, bytesIn: 300,
  };
};

// The seed: 24 dynamic ARP entries, one static, three NAT flows.
edit([
  ...Array.from({ length: 24 }, (_, j): [string, string, unknown] => ['arp', `10.201.0.${j + 2}`, dyn(j + 2, 1_060_000 + (j + 2) * 1000)]),
  ['arp', '10.202.0.1', { mac: mac(2, 1), expires: 0, kind: 'static' }],
  ['nat', NAT1, flow(NAT1, 40000, 'udp-replied')],
  ['nat', NAT2, flow(NAT2, 51000, 'established')],
  ['nat', NAT3, flow(NAT3, 40001, 'udp-new')],
], 'seed');
tick();

// ------------------------------------------------------------------ servers and clients

interface LogLine { level: string; msg: string; fields: Record<string, unknown> }

interface Served {
  server: LookupServer;
  logs: LogLine[];
  path: string;
  port: number;
  /** `unix:/path` and `tcp:127.0.0.1:PORT`, as connect() takes them. */
  unix: string;
  tcp: string;
  close(): Promise<void>;
}

/** A LookupServer on the lookup actor's branch, on a Unix socket in its own directory and on loopback TCP. */
async function serve(name: string, opts: Partial<LookupServerOptions> = {}): Promise<Served> {
  const logs: LogLine[] = [];
  const server = new LookupServer(source, {
    role: 'test', tokens: TOKENS, clock: () => now, tables: routerApiRules,
    log: (level, msg, fields) => logs.push({ level, msg, fields: (fields ?? {}) as Record<string, unknown> }),
    ...opts,
  });
  const path = join(DIR, name, 'api.sock');
  await server.listenUnix(path);
  const port = await server.listenTcp('127.0.0.1', 0);
  let closed = false;
  const close = async () => { if (!closed) { closed = true; await server.close(); } };
  closers.push(close);
  return { server, logs, path, port, unix: `unix:${path}`, tcp: `tcp:127.0.0.1:${port}`, close };
}

async function client(s: Served, kind: 'unix' | 'tcp' = 'unix', token?: string): Promise<Client> {
  const c = await connect(kind === 'unix' ? s.unix : s.tcp, { token, timeoutMs: 5_000 });
  closers.push(() => c.close());
  return c;
}

/** The call must fail with this ApiError code (and a message matching `re`). */
async function refused(p: Promise<unknown>, code: string, re?: RegExp): Promise<ApiError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ApiError, `expected the error '${code}', got ${err === undefined ? 'a success' : String(err)}`);
  assert.equal(err.code, code, err.message);
  if (re) assert.match(err.message, re);
  return err;
}

/** Runs `fn`; every refusal in it must be counted once and logged once (with its reason). Returns the log lines. */
async function refusals(s: Served, fn: () => Promise<void>): Promise<LogLine[]> {
  const counted = s.server.counters.refused;
  const logged = s.logs.length;
  await fn();
  const lines = s.logs.slice(logged).filter((l) => l.msg.startsWith('lookup: refused ('));
  assert.equal(s.server.counters.droppedLogs, 0, 'no log line was rate-limited away');
  assert.equal(s.server.counters.refused - counted, lines.length, 'each refusal is counted and logged');
  for (const l of lines) {
    assert.equal(l.level, 'warn');
    assert.ok(typeof l.fields.reason === 'string' && l.fields.reason.length > 0, `a reason: ${JSON.stringify(l)}`);
  }
  return lines;
}

/** Collects a watch's events in the background until it ends. */
function pump(w: Watch): { events: ChangeEvent[]; done: Promise<void> } {
  const events: ChangeEvent[] = [];
  const done = (async () => {
    try {
      for await (const e of w) events.push(e);
    } catch { /* the connection went away */ }
  })();
  return { events, done };
}

/** A frame with this body and its true length. */
function frameOf(body: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

// ================================================================== 1. the protocol

describe('the protocol', () => {
  let P: Served;

  test('hello: the tables, this connection\'s scopes, the tables\' clock', async () => {
    P = await serve('proto');
    const c = await client(P);
    const h = await c.hello();
    assert.equal(h.server, 'netbranch');
    assert.equal(h.protocol, 1);
    assert.equal(h.role, 'test');
    assert.deepEqual(h.tables.map((t) => [t.name, t.writable, t.keyExample]), [
      ['arp', true, '10.201.0.2'],
      ['nat', false, 'udp:10.201.0.2:40000:10.202.0.2:53'],
      ['dnat', true, 'tcp:8080'],
      ['frag', false, '10.0.0.1>10.0.0.2:17:4660'],
      ['leases', true, '10.201.0.150'],
      ['dhcp-client', true, 'tap-out'],
      ['dns', true, 'www.example.com~A~IN'],
    ]);
    assert.deepEqual(h.scopes, ['read:*'], 'the Unix socket reads without a token');
    assert.equal(h.now, now);
    assert.equal(h.maxFrame, 1 << 20);
    const t = await client(P, 'tcp', T.writeArp);
    assert.deepEqual((await t.hello()).scopes, ['read:*', 'write:arp'], 'over TCP: the token\'s scopes');
  });

  test('get: an entry in its readable form, a NAT flow by its readable key, not-found', async () => {
    const c = await client(P);
    assert.deepEqual(await c.get('arp', '10.201.0.7'), { table: 'arp', key: '10.201.0.7', value: { mac: '02:00:00:00:01:07', expires: 1_067_000, kind: 'dynamic' } });
    const n = await c.get('nat', NAT2);
    assert.equal(n.key, NAT2);
    assert.deepEqual(n.value, model.nat[NAT2]);
    assert.equal((n.value as { insideIp: string }).insideIp, '10.201.0.3');
    await refused(c.get('arp', '10.201.0.99'), 'not-found', /arp\/10\.201\.0\.99/);
    await refused(c.get('dnat', 'tcp:8080'), 'not-found');
  });

  test('list: sorted by key, prefix, limit and after paging', async () => {
    const c = await client(P);
    const keys = Object.keys(model.arp).sort();
    const all = await c.list('arp');
    assert.deepEqual(all.entries.map((e) => e.key), keys);
    assert.deepEqual(all.entries.map((e) => e.value), keys.map((k) => model.arp[k]));
    assert.equal(all.more, false);
    assert.equal(all.next, undefined);

    const p = await c.list('arp', { prefix: '10.201.0.1' });
    assert.deepEqual(p.entries.map((e) => e.key), keys.filter((k) => k.startsWith('10.201.0.1')));
    assert.equal(p.entries.length, 10);

    // Pages of 7: every key once, in order; `next` is the last key of a page that has more.
    const seen: string[] = [];
    let afterKey: string | undefined;
    let pages = 0;
    for (;;) {
      const pg = await c.list('arp', { limit: 7, after: afterKey });
      pages++;
      assert.ok(pg.entries.length <= 7 && pg.entries.length > 0);
      seen.push(...pg.entries.map((e) => e.key));
      if (!pg.more) { assert.equal(pg.next, undefined); break; }
      assert.equal(pg.next, pg.entries.at(-1)!.key);
      afterKey = pg.next;
      assert.ok(pages < 10, 'paging ends');
    }
    assert.deepEqual(seen, keys);
    assert.equal(pages, Math.ceil(keys.length / 7));

    const q = await c.list('arp', { prefix: '10.201.0.1', limit: 3, after: '10.201.0.12' });
    assert.deepEqual(q.entries.map((e) => e.key), ['10.201.0.13', '10.201.0.14', '10.201.0.15']);
    assert.equal(q.more, true);
    assert.equal(q.next, '10.201.0.15');

    const viaAll: string[] = [];
    for await (const e of c.listAll('arp', { pageSize: 4 })) viaAll.push(e.key);
    assert.deepEqual(viaAll, keys);

    await refused(c.list('arp', { limit: 0 }), 'bad-request', /limit/);
    await refused(c.list('arp', { limit: 100_001 }), 'bad-request', /limit/);
    await refused(c.list('arp', { limit: 1.5 }), 'bad-request', /limit/);
    await refused(c.request('list', { table: 'arp', prefix: 7 }), 'bad-request', /prefix/);
  });

  test('history: newest first, the value after each commit, a removal as null', async () => {
    const c = await client(P);
    const key = '10.201.0.5';
    edit([['arp', key, dyn(5, 2_000_000)]], 'refresh 1');
    edit([['arp', key, dyn(5, 3_000_000)]], 'refresh 2');
    edit([['arp', key, undefined]], 'expired');
    edit([['arp', key, { mac: mac(0x0a, 5), expires: 4_000_000, kind: 'dynamic' }]], 'relearned');
    tick();
    const h = await c.history('arp', key);
    assert.equal(h.table, 'arp');
    assert.equal(h.key, key);
    assert.equal(h.complete, true);
    assert.deepEqual(h.entries.map((e) => [e.message, e.value]), [
      ['relearned', { mac: '02:00:00:00:0a:05', expires: 4_000_000, kind: 'dynamic' }],
      ['expired', null],
      ['refresh 2', dyn(5, 3_000_000)],
      ['refresh 1', dyn(5, 2_000_000)],
      ['seed', dyn(5, 1_065_000)],
    ]);
    for (let i = 1; i < h.entries.length; i++) assert.ok(h.entries[i - 1].seq > h.entries[i].seq, 'newest first');
    assert.ok(h.entries.every((e) => e.author === 'net'));
    assert.deepEqual((await c.history('arp', key, 2)).entries.map((e) => e.message), ['relearned', 'expired']);
    assert.deepEqual((await c.history('arp', '10.201.0.250')).entries, [], 'a key never written has no history');
    await refused(c.history('arp', key, 0), 'bad-request', /limit/);
  });

  test('set and delete with a write token: on the branch at once, on the primary after the merge', async () => {
    const w = await client(P, 'unix', T.writeArp);
    const writes = P.server.counters.writes;
    const v = STATIC(1);
    assert.deepEqual(await w.set('arp', '10.201.0.200', { ...v, mac: v.mac.toUpperCase() }), { table: 'arp', key: '10.201.0.200', value: v }, 'the value as stored');
    assert.deepEqual((await w.get('arp', '10.201.0.200')).value, v);
    const arp = primary.table(arpTable);
    assert.equal(arp.get(parseIpv4('10.201.0.200')), undefined, 'not on the primary before the merge');
    tick();
    assert.deepEqual(arp.get(parseIpv4('10.201.0.200')), { mac: 0x02_00_00_00_0b_01, expires: 0, kind: 'static' });
    expectWrite('arp', '10.201.0.200', v);

    assert.deepEqual(await w.delete('arp', '10.201.0.200'), { table: 'arp', key: '10.201.0.200', existed: true });
    await refused(w.get('arp', '10.201.0.200'), 'not-found');
    tick();
    assert.equal(arp.get(parseIpv4('10.201.0.200')), undefined, 'removed from the primary');
    expectWrite('arp', '10.201.0.200', undefined);
    assert.deepEqual(await w.delete('arp', '10.201.0.200'), { table: 'arp', key: '10.201.0.200', existed: false });

    // A static entry over a dynamic one: the merge keeps the static one.
    await w.set('arp', '10.201.0.9', STATIC(9));
    expectWrite('arp', '10.201.0.9', STATIC(9));
    assert.equal(P.server.counters.writes - writes, 3, 'two sets and one delete that removed something');
    assertPrimaryIsModel('after the API\'s writes');
  });

  test('watch: changes merged from the primary, own writes at once, a prefix filter', async () => {
    const a = await client(P);
    const b = await client(P);
    const ea = pump(await a.watch('arp'));
    const eb = pump(await b.watch('arp', { prefix: '10.201.0.1' }));
    edit([['arp', '10.201.0.3', dyn(3, 5_000_000)], ['arp', '10.201.0.17', dyn(17, 5_000_000)], ['nat', NAT3, undefined]]);
    await sleep(30);
    assert.equal(ea.events.length, 0, 'nothing before the lookup actor merges');
    tick();
    await waitFor('the merged changes', () => ea.events.length >= 2 && eb.events.length >= 1, 3_000);
    await sleep(20);
    assert.deepEqual(ea.events.map((e) => [e.table, e.key, e.value]).sort(), [
      ['arp', '10.201.0.17', dyn(17, 5_000_000)],
      ['arp', '10.201.0.3', dyn(3, 5_000_000)],
    ], 'both ARP changes, and nothing of the nat table');
    assert.deepEqual(eb.events.map((e) => e.key), ['10.201.0.17'], 'only keys with the prefix');

    edit([['arp', '10.201.0.18', undefined]], 'expired');
    tick();
    await waitFor('the removal', () => eb.events.length === 2, 3_000);
    assert.deepEqual(eb.events[1], { id: eb.events[1].id, event: 'change', table: 'arp', key: '10.201.0.18', value: null });

    // Own writes: reported to every watcher at once, without a merge, and not again after it.
    const w = await client(P, 'unix', T.writeArp);
    await w.set('arp', '10.201.0.19', STATIC(19));
    expectWrite('arp', '10.201.0.19', STATIC(19));
    await waitFor('the write\'s events', () => ea.events.some((e) => e.key === '10.201.0.19') && eb.events.some((e) => e.key === '10.201.0.19'), 3_000);
    tick();
    await sleep(50);
    assert.equal(ea.events.filter((e) => e.key === '10.201.0.19').length, 1, 'reported once');
    assert.deepEqual(ea.events.find((e) => e.key === '10.201.0.19')!.value, STATIC(19));
    await a.close();
    await b.close();
    await Promise.all([ea.done, eb.done]);
    assertPrimaryIsModel('after the watch test');
  });

  test('unwatch: an end event, then nothing more; too many watches on a connection', async () => {
    const r = await RawClient.open({ path: P.path });
    closers.push(() => r.destroy());
    const res = await r.request({ id: 1, op: 'watch', table: 'arp', prefix: '10.201.0.2' });
    assert.deepEqual(res, { id: 1, ok: true, result: { watch: 1 } });
    edit([['arp', '10.201.0.21', dyn(21, 6_000_000)]]);
    tick();
    await r.until('a change event', () => r.events(1).length === 1);
    assert.deepEqual(r.events(1)[0], { id: 1, event: 'change', table: 'arp', key: '10.201.0.21', value: dyn(21, 6_000_000) });

    r.send({ id: 2, op: 'unwatch', watch: 1 });
    const u = await r.response(2);
    assert.deepEqual(u.result, { watch: 1, ended: true });
    const end = r.frames.findIndex((f) => f.id === 1 && f.event === 'end');
    assert.ok(end >= 0, 'an end event');
    assert.equal(r.frames[end].reason, 'unwatched');
    assert.ok(end < r.frames.indexOf(u), 'the end event comes before the unwatch response');

    edit([['arp', '10.201.0.22', dyn(22, 6_000_000)]]);
    tick();
    await sleep(50);
    assert.equal(r.events(1).filter((f) => f.event === 'change').length, 1, 'no events after unwatch');
    assert.deepEqual((await r.request({ id: 3, op: 'unwatch', watch: 1 })).result, { watch: 1, ended: false });

    for (let i = 0; i < 32; i++) r.send({ id: 100 + i, op: 'watch', table: 'nat' });
    await r.response(131);
    assert.ok(r.frames.filter((f) => f.id >= 100 && f.id < 132).every((f) => f.ok === true));
    const over = await r.request({ id: 200, op: 'watch', table: 'nat' });
    assert.equal(over.error.code, 'too-many-watches');
    assert.equal(r.closed, false, 'the connection stays open');
    r.destroy();
  });
});

// ================================================================== 2. access control

describe('access control', () => {
  let AC: Served;

  test('the Unix socket: reads without a token, writes only with a write:TABLE token', async () => {
    AC = await serve('acl');
    const u = await client(AC);
    const lines = await refusals(AC, async () => {
      assert.deepEqual((await u.get('arp', '10.201.0.2')).value, model.arp['10.201.0.2']);
      assert.equal((await u.list('nat')).entries.length, Object.keys(model.nat).length);
      assert.ok((await u.history('arp', '10.201.0.2')).entries.length >= 1);
      assert.equal(typeof (await u.stats()).requests, 'number');
      await refused(u.set('arp', '10.201.0.150', STATIC(0x50)), 'forbidden', /needs scope write:arp.*even on the Unix socket/);
      await refused(u.delete('arp', '10.201.0.2'), 'forbidden', /write:arp/);
      await refused(u.set('dnat', 'tcp:8080', RULE), 'forbidden', /write:dnat/);
      await refused(u.delete('nat', NAT1), 'forbidden', /write:nat/);
    });
    assert.equal(lines.length, 4);
    assert.deepEqual(lines.map((l) => [l.msg, l.fields.client, l.fields.kind, l.fields.op, l.fields.table]), [
      ['lookup: refused (forbidden)', 'unix-socket', 'unix', 'set', 'arp'],
      ['lookup: refused (forbidden)', 'unix-socket', 'unix', 'delete', 'arp'],
      ['lookup: refused (forbidden)', 'unix-socket', 'unix', 'set', 'dnat'],
      ['lookup: refused (forbidden)', 'unix-socket', 'unix', 'delete', 'nat'],
    ]);
    assert.match(String(lines[0].fields.reason), /needs scope write:arp/);
    await refused(u.get('arp', '10.201.0.150'), 'not-found', undefined);
    assertPrimaryIsModel('refused writes changed nothing');
    assert.equal(primary.table(arpTable).get(parseIpv4('10.201.0.150')), undefined);
  });

  test('tokens: read:arp cannot write; write:arp cannot write dnat; admin can do everything; unknown tokens', async () => {
    const u = await client(AC);
    const lines = await refusals(AC, async () => {
      // A per-request token with read:arp only.
      await refused(u.request('set', { table: 'arp', key: '10.201.0.151', value: STATIC(0x51), token: T.readArp }), 'forbidden', /write:arp/);
      assert.equal(((await u.request('get', { table: 'nat', key: NAT1, token: T.readArp })) as { key: string }).key, NAT1, 'the socket\'s read:* still applies');

      // A connection authenticated with write:arp.
      const w = await client(AC);
      const a = await w.auth(T.writeArp);
      assert.equal(a.name, 'arp-writer');
      assert.ok(a.scopes.includes('write:arp') && a.scopes.includes('read:*'));
      await w.set('arp', '10.201.0.152', STATIC(0x52));
      expectWrite('arp', '10.201.0.152', STATIC(0x52));
      await refused(w.set('dnat', 'tcp:8080', RULE), 'forbidden', /needs scope write:dnat/);
      await refused(w.delete('nat', NAT1), 'forbidden', /needs scope write:nat/);

      // admin: every table.
      const root = await client(AC, 'unix', T.admin);
      assert.deepEqual((await root.set('dnat', 'tcp:8080', RULE)).value, RULE);
      expectWrite('dnat', 'tcp:8080', RULE);
      await root.set('arp', '10.201.0.153', STATIC(0x53));
      expectWrite('arp', '10.201.0.153', STATIC(0x53));
      assert.equal((await root.delete('nat', NAT2)).existed, true);
      expectWrite('nat', NAT2, undefined);

      // Unknown tokens: for auth, and on a request (even a read the socket would allow).
      await refused(connect(AC.unix, { token: 'not-a-token-not-a-token', timeoutMs: 5_000 }), 'unauthenticated', /unknown token/);
      await refused(u.request('get', { table: 'arp', key: '10.201.0.2', token: 'not-a-token-not-a-token' }), 'unauthenticated', /unknown token/);
      await refused(u.request('get', { table: 'arp', key: '10.201.0.2', token: 42 }), 'bad-request', /token/);
    });
    assert.deepEqual(lines.map((l) => [l.msg, l.fields.client, l.fields.op, l.fields.table]), [
      ['lookup: refused (forbidden)', 'unix-socket', 'set', 'arp'],
      ['lookup: refused (forbidden)', 'arp-writer', 'set', 'dnat'],
      ['lookup: refused (forbidden)', 'arp-writer', 'delete', 'nat'],
      ['lookup: refused (unauthenticated)', 'unix-socket', 'auth', undefined],
      ['lookup: refused (unauthenticated)', 'unix-socket', 'get', 'arp'],
    ]);
    assert.match(String(lines[3].fields.reason), /unknown token/);
    assertPrimaryIsModel('only the authorized writes');
  });

  test('TCP: every request but hello needs a token; auth, or a token on one request', async () => {
    const t = await client(AC, 'tcp');
    const lines = await refusals(AC, async () => {
      assert.deepEqual((await t.hello()).scopes, [], 'hello answers, with no scopes');
      const why = /authenticate/;
      await refused(t.get('arp', '10.201.0.2'), 'unauthenticated', why);
      await refused(t.list('arp'), 'unauthenticated', why);
      await refused(t.history('arp', '10.201.0.2'), 'unauthenticated', why);
      await refused(t.watch('arp'), 'unauthenticated', why);
      await refused(t.stats(), 'unauthenticated', why);
      await refused(t.set('arp', '10.201.0.154', STATIC(0x54)), 'unauthenticated', why);
      await refused(t.delete('arp', '10.201.0.2'), 'unauthenticated', why);

      // A token on one request: that request only.
      assert.equal((await t.request<{ key: string }>('get', { table: 'arp', key: '10.201.0.2', token: T.readArp })).key, '10.201.0.2');
      await refused(t.get('arp', '10.201.0.2'), 'unauthenticated', why);

      // auth: the connection has the token's scopes from then on.
      assert.deepEqual(await t.auth(T.readArp), { name: 'arp-reader', scopes: ['read:arp'] });
      assert.deepEqual((await t.get('arp', '10.201.0.2')).value, model.arp['10.201.0.2']);
      assert.deepEqual((await t.hello()).scopes, ['read:arp']);
      await refused(t.get('nat', NAT1), 'forbidden', /needs scope read:nat/);
      await refused(t.set('arp', '10.201.0.154', STATIC(0x54)), 'forbidden', /needs scope write:arp/);
      await refused(t.auth('not-a-token-not-a-token'), 'unauthenticated');
      assert.deepEqual((await t.hello()).scopes, ['read:arp'], 'a failed auth leaves the scopes as they were');

      const root = await client(AC, 'tcp', T.admin);
      assert.deepEqual((await root.list('dnat')).entries.map((e) => e.key), ['tcp:8080']);
    });
    assert.equal(lines.length, 11);
    assert.ok(lines.slice(0, 7).every((l) => l.msg === 'lookup: refused (unauthenticated)' && l.fields.kind === 'tcp' && l.fields.client === 'anonymous'));
    assert.deepEqual(lines.slice(0, 7).map((l) => l.fields.op), ['get', 'list', 'history', 'watch', 'stats', 'set', 'delete']);
    assert.deepEqual(lines.slice(8, 10).map((l) => [l.msg, l.fields.client, l.fields.op, l.fields.table]), [
      ['lookup: refused (forbidden)', 'arp-reader', 'get', 'nat'],
      ['lookup: refused (forbidden)', 'arp-reader', 'set', 'arp'],
    ]);
    assertPrimaryIsModel('TCP refusals changed nothing');
  });

  test('a flood of refusals: every one counted, at most 50 log lines a second, the rest counted as dropped', async () => {
    const flood = await serve('flood');
    const t = await RawClient.open({ port: flood.port });
    closers.push(() => t.destroy());
    for (let i = 1; i <= 80; i++) t.send({ id: i, op: 'get', table: 'arp', key: '10.201.0.2' });
    await t.response(80);
    assert.ok(t.frames.every((f) => f.error?.code === 'unauthenticated'));
    assert.equal(flood.server.counters.refused, 80);
    const lines = flood.logs.filter((l) => l.msg === 'lookup: refused (unauthenticated)').length;
    assert.ok(lines >= 50 && lines <= 100, `${lines} lines logged`);
    assert.equal(lines + flood.server.counters.droppedLogs, 80, 'each refusal logged or counted as dropped');
    assert.ok(flood.server.counters.droppedLogs > 0);
    await flood.close();
  });

  test('the caller names what each table takes: a server given no table rules refuses every write and shows no key examples', async () => {
    const bare = await serve('no-rules', { tables: {} });
    const root = await client(bare, 'unix', T.admin);
    await refused(root.set('arp', '10.201.0.161', STATIC(0x61)), 'read-only-table', /arp takes no writes/);
    await refused(root.set('dnat', 'tcp:8082', { ...RULE, port: 8082 }), 'read-only-table', /dnat takes no writes/);
    assert.deepEqual((await root.hello()).tables.map((t) => [t.name, t.writable, t.keyExample]), [['arp', false, ''], ['nat', false, ''], ['dnat', false, ''], ['frag', false, ''], ['leases', false, ''], ['dhcp-client', false, ''], ['dns', false, '']]);
    await root.close();
    await bare.close();
  });

  test('sync: needs admin, and a stack with no peers says so', async () => {
    const u = await client(AC);
    const root = await client(AC, 'unix', T.admin);
    await refused(u.sync(), 'forbidden', /sync needs the admin scope/);
    await refused(root.sync(), 'not-found', /no peers to sync with/);
    await u.close();
    await root.close();
  });

  test('what the tables refuse: a read-only table, bad values and keys, unknown tables and ops', async () => {
    const root = await client(AC, 'unix', T.admin);
    const lines = await refusals(AC, async () => {
      await refused(root.set('nat', NAT1, model.nat[NAT1]), 'read-only-table', /nat takes no writes/);
      await refused(root.set('arp', '10.201.0.160', { mac: mac(0x0b, 0x60), expires: 9, kind: 'dynamic' }), 'bad-value', /static/);
      await refused(root.set('arp', '10.201.0.160', { mac: 'zz:00', expires: 0, kind: 'static' }), 'bad-value', /mac/);
      await refused(root.set('arp', '10.201.0.160', { ...STATIC(0x60), colour: 'red' }), 'bad-value', /unknown field 'colour'/);
      await refused(root.set('arp', '10.201.0.160', { mac: mac(0x0b, 0x60), kind: 'static' }), 'bad-value', /missing field 'expires'/);
      await refused(root.set('arp', '10.201.0.160', 'static'), 'bad-value');
      await refused(root.set('dnat', 'tcp:8081', { ...RULE, port: 8081, insidePort: 0 }), 'bad-value', /insidePort/);
      await refused(root.set('arp', 'not-an-ip', STATIC(0x60)), 'bad-key');
      await refused(root.get('arp', '10.0.0.256'), 'bad-key');
      await refused(root.get('nat', 'udp:10.201.0.2:40000'), 'bad-key', /NAT flow key/);
      await refused(root.set('dnat', 'tcp:080', RULE), 'bad-key', /port-forward key/);
      await refused(root.delete('dnat', 'sctp:80'), 'bad-key');
      await refused(root.get('routes', 'x'), 'unknown-table', /arp, nat, dnat/);
      await refused(root.request('frobnicate' as Op, {}), 'unknown-op', /frobnicate/);
      await refused(root.request('get', { table: 'arp', key: 167_837_954 }), 'bad-request', /key must be a string/);
      await refused(root.request('get', { table: ['arp'], key: '10.201.0.2' }), 'bad-request', /table must be a string/);
    });
    assert.equal(lines.length, 0, 'none of these is a refusal of access');
    assertPrimaryIsModel('refused values changed nothing');
  });
});

// ================================================================== 3. hostile clients

describe('hostile clients', () => {
  let HS: Served;

  test('a body that is not msgpack: bad-frame, and the connection is closed', async () => {
    HS = await serve('hostile', { frameTimeoutMs: 200, maxBuffered: 16 << 10, maxConnections: 2_100 });
    const r = await RawClient.open({ path: HS.path });
    const bad = HS.server.counters.badFrames;
    r.write(frameOf(Buffer.from([0xdc, 0xff, 0xff]))); // an array of 65,535 items, with none of them
    const f = await r.response(null);
    assert.equal(f.error.code, 'bad-frame');
    assert.match(f.error.message, /not msgpack/);
    await r.waitClosed();
    assert.equal(HS.server.counters.badFrames, bad + 1);
  });

  test('msgpack that is not a request: bad-frame, and the connection stays open', async () => {
    const r = await RawClient.open({ path: HS.path });
    closers.push(() => r.destroy());
    const bad = HS.server.counters.badFrames;
    const cases: [unknown, number | null][] = [[[1, 2, 3], null], ['hello', null], [null, null], [{ op: 'hello' }, null], [{ id: 'x', op: 'hello' }, null], [{ id: 7, op: 5 }, 7], [{ id: 8 }, 8]];
    for (const [msg, id] of cases) {
      const n = r.frames.length;
      r.send(msg);
      await r.until('an answer', () => r.frames.length > n);
      const f = r.frames[n];
      assert.equal(f.ok, false, JSON.stringify(msg));
      assert.equal(f.id, id);
      assert.equal(f.error.code, 'bad-frame');
      assert.match(f.error.message, /numeric id and a string op/);
    }
    assert.equal((await r.request({ id: 9, op: 'hello' })).ok, true, 'the connection still serves');
    assert.equal(r.closed, false);
    assert.equal(HS.server.counters.badFrames, bad + cases.length);
  });

  test('a length over maxFrame: frame-too-large at once, the connection closed, nothing buffered', async () => {
    const r = await RawClient.open({ path: HS.path });
    const oversized = HS.server.counters.oversized;
    r.write(u32(0xffff_fff0)); // 4 GiB promised; only the prefix is ever sent
    const f = await r.response(null);
    assert.equal(f.error.code, 'frame-too-large');
    assert.match(f.error.message, /4294967280 bytes is over the limit of 1048576/);
    await r.waitClosed();
    assert.equal(HS.server.counters.oversized, oversized + 1);

    // One byte over the limit, with the bytes following: refused as soon as the prefix is read.
    const r2 = await RawClient.open({ port: HS.port });
    r2.write(Buffer.concat([u32((1 << 20) + 1), Buffer.alloc(64 << 10, 0x90)]));
    assert.equal((await r2.response(null)).error.code, 'frame-too-large');
    await r2.waitClosed();
  });

  test('half a frame: timeout after frameTimeoutMs, and closed; a frame finished in time is answered', async () => {
    const r = await RawClient.open({ path: HS.path });
    const timeouts = HS.server.counters.timeouts;
    const t0 = Date.now();
    r.write(Buffer.concat([u32(100), Buffer.alloc(10, 0x90)]));
    const f = await r.response(null, 3_000);
    const took = Date.now() - t0;
    assert.equal(f.error.code, 'timeout');
    assert.match(f.error.message, /within 200 ms/);
    assert.ok(took >= 180 && took < 2_000, `timed out after ${took} ms`);
    await r.waitClosed();
    assert.equal(HS.server.counters.timeouts, timeouts + 1);

    const slow = await RawClient.open({ path: HS.path });
    closers.push(() => slow.destroy());
    const hello = encodeFrame({ id: 1, op: 'hello' });
    slow.write(hello.subarray(0, 5));
    await sleep(100);
    slow.write(hello.subarray(5));
    assert.equal((await slow.response(1)).ok, true);
    slow.destroy();
  });

  test('a steady stream of frames split across reads: each frame is answered, none times out', async () => {
    // Frames written in 29-byte pieces every 15 ms: every frame is finished within ~30 ms of its
    // start, but almost every read ends inside the next frame. The 200 ms limit is per frame.
    const r = await RawClient.open({ path: HS.path });
    closers.push(() => r.destroy());
    const timeouts = HS.server.counters.timeouts;
    const bytes = Buffer.concat(Array.from({ length: 40 }, (_, i) => encodeFrame({ id: i + 1, op: 'get', table: 'arp', key: '10.201.0.2' })));
    for (let off = 0; off < bytes.length && !r.closed; off += 29) {
      r.write(bytes.subarray(off, off + 29));
      await sleep(15);
    }
    await r.until('40 answers (or a close)', () => r.frames.length >= 40 || r.closed, 3_000);
    assert.deepEqual(r.frames.filter((f) => f.ok === false).map((f) => f.error.code), [], 'no errors');
    assert.equal(r.frames.filter((f) => f.ok === true).length, 40);
    assert.equal(HS.server.counters.timeouts, timeouts);
    r.destroy();
  });

  test('one merge bigger than the backlog limit reaches a reader that keeps up, whole', async () => {
    const reader = await client(HS);
    const w = pump(await reader.watch('arp', { prefix: '10.251.' }));
    const slow = HS.server.counters.slowConsumers;
    const n = 1_200; // ~100 kB of events in one burst, against a 16 KiB limit
    edit(Array.from({ length: n }, (_, i): [string, string, unknown] => ['arp', `10.251.${i >> 8}.${i & 255}`, { mac: mac(0x0d, i & 255), expires: 9_500_000, kind: 'dynamic' }]), 'one big merge');
    tick();
    await waitFor('every event of the big merge', () => w.events.length >= n, 10_000);
    assert.equal(w.events.length, n);
    assert.equal(HS.server.counters.slowConsumers, slow, 'a reader that keeps up is not a slow consumer');
    assert.ok(reader.isOpen);
  });

  test('a reader that stops reading is dropped as a slow consumer; the others keep being served', async () => {
    const stuck = await RawClient.open({ path: HS.path });
    closers.push(() => stuck.destroy());
    assert.equal((await stuck.request({ id: 1, op: 'watch', table: 'arp', prefix: '10.250.' })).ok, true);
    stuck.socket.pause(); // reads nothing more
    const healthy = await client(HS);
    const hw = pump(await healthy.watch('arp', { prefix: '10.250.' }));
    const slow = HS.server.counters.slowConsumers;
    const warned = HS.logs.length;
    const open = HS.server.counters.open;

    const batches = 60;
    const perBatch = 100;
    for (let b = 0; b < batches; b++) {
      edit(Array.from({ length: perBatch }, (_, i): [string, string, unknown] => ['arp', `10.250.${b}.${i}`, { mac: mac(0x0c, i), expires: 9_000_000 + b, kind: 'dynamic' }]), `burst ${b}`);
      tick();
      await sleep(2); // the healthy client reads between merges
    }
    await waitFor('every event at the healthy watcher', () => hw.events.length >= batches * perBatch, 10_000);
    assert.equal(hw.events.length, batches * perBatch);
    assert.equal(HS.server.counters.slowConsumers, slow + 1, 'the stuck reader was dropped, and only it');
    await waitFor('the stuck connection forgotten', () => HS.server.counters.open === open - 1, 3_000);
    assert.ok(HS.logs.slice(warned).some((l) => l.msg === 'lookup: slow consumer dropped' && typeof l.fields.buffered === 'number'), 'logged');
    assert.ok(healthy.isOpen, 'the reading client was not dropped');
    const other = await client(HS);
    assert.deepEqual((await other.get('arp', '10.201.0.2')).value, model.arp['10.201.0.2'], 'a new client is served');
    // Reading again, the stuck client finds what the kernel held for it, then the end of the connection.
    stuck.socket.resume();
    await stuck.waitClosed(3_000);
    const got = stuck.events(1).length;
    assert.ok(got > 0 && got < batches * perBatch, `the stuck client got ${got} of ${batches * perBatch} events before it was dropped`);

    // The burst goes away again.
    for (let b = 0; b < batches; b++) edit(Array.from({ length: perBatch }, (_, i): [string, string, unknown] => ['arp', `10.250.${b}.${i}`, undefined]), `unburst ${b}`);
    await healthy.close();
    await hw.done;
    assertPrimaryIsModel('after the burst');
  });

  test('1,000 concurrent clients, each hello + get, then close', async () => {
    const base = HS.server.counters.open;
    const keys = Object.keys(model.arp).filter((k) => k.startsWith('10.201.0.'));
    const answers = await Promise.all(Array.from({ length: 1_000 }, async (_, i) => {
      const c = await connect(HS.unix, { timeoutMs: 15_000 });
      try {
        const h = await c.hello();
        const key = keys[i % keys.length];
        const g = await c.get('arp', key);
        return h.scopes.join() === 'read:*' && g.key === key && JSON.stringify(g.value) === JSON.stringify(model.arp[key]);
      } finally {
        await c.close();
      }
    }));
    assert.equal(answers.filter(Boolean).length, 1_000);
    await waitFor('every connection gone', () => HS.server.counters.open === base, 5_000);
  });

  test('1,000 clients connected at once (Unix and TCP), each doing a request', async () => {
    const base = HS.server.counters.open;
    const clients = await Promise.all(Array.from({ length: 1_000 }, (_, i) => (i % 2 === 0
      ? connect(HS.unix, { timeoutMs: 15_000 })
      : connect(HS.tcp, { token: T.readArp, timeoutMs: 15_000 }))));
    try {
      assert.equal(HS.server.counters.open, base + 1_000, 'all open at once');
      const keys = Object.keys(model.arp);
      const got = await Promise.all(clients.map((c, i) => c.get('arp', keys[i % keys.length])));
      got.forEach((g, i) => assert.deepEqual(g.value, model.arp[keys[i % keys.length]]));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    await waitFor('every connection gone', () => HS.server.counters.open === base, 5_000);
  });

  test('over maxConnections: too-many-connections, and closed; room again once one leaves', async () => {
    const tiny = await serve('tiny', { maxConnections: 3 });
    const held = await Promise.all([0, 1, 2].map(() => RawClient.open({ path: tiny.path })));
    closers.push(() => held.forEach((h) => h.destroy()));
    for (const h of held) assert.equal((await h.request({ id: 1, op: 'hello' })).ok, true);
    const lines = await refusals(tiny, async () => {
      const extra = await RawClient.open({ path: tiny.path });
      const f = await extra.response(null);
      assert.equal(f.error.code, 'too-many-connections');
      await extra.waitClosed();
      const extraTcp = await RawClient.open({ port: tiny.port });
      assert.equal((await extraTcp.response(null)).error.code, 'too-many-connections');
      await extraTcp.waitClosed();
    });
    assert.equal(lines.length, 2);
    assert.match(String(lines[0].fields.reason), /3 connections are open/);
    assert.equal(tiny.server.counters.tooManyConnections, 2);
    held[0].destroy();
    await waitFor('a connection gone', () => tiny.server.counters.open === 2, 3_000);
    const again = await RawClient.open({ path: tiny.path });
    closers.push(() => again.destroy());
    assert.equal((await again.request({ id: 1, op: 'hello' })).ok, true);
    await tiny.close();
  });

  test('a client that disconnects mid-stream: no crash, the connection forgotten, the server serves on', async () => {
    const base = HS.server.counters.open;
    const r = await RawClient.open({ path: HS.path });
    assert.equal((await r.request({ id: 1, op: 'watch', table: 'arp', prefix: '10.251.' })).ok, true);
    let destroyedAt = -1;
    for (let i = 0; i < 60; i++) {
      edit(Array.from({ length: 20 }, (_, j): [string, string, unknown] => ['arp', `10.251.${i}.${j}`, dyn(j, 7_000_000 + i)]), `flow ${i}`);
      tick();
      if (destroyedAt < 0 && r.events(1).length >= 30) { r.destroy(); destroyedAt = i; }
      await sleep(1);
    }
    assert.ok(destroyedAt >= 0 && destroyedAt < 50, `destroyed mid-stream (at batch ${destroyedAt})`);
    await waitFor('the connection count back to the baseline', () => HS.server.counters.open <= base, 3_000);
    const c = await client(HS);
    const w = pump(await c.watch('arp', { prefix: '10.251.' }));
    for (let i = 0; i < 60; i++) {
      edit(Array.from({ length: 20 }, (_, j): [string, string, unknown] => ['arp', `10.251.${i}.${j}`, undefined]), `flow ${i} ends`);
      tick();
      await sleep(1);
    }
    await waitFor('the removals at a new watcher', () => w.events.length === 1_200, 3_000);
    assert.ok(w.events.every((e) => e.value === null));
    await c.close();
    assertPrimaryIsModel('after the mid-stream disconnect');
  });

  test('garbage fuzz: no crash, no internal error, no table changed', async () => {
    const before = dump(primary);
    assert.deepEqual(before, model);
    const base = HS.server.counters.open;
    const codes = new Map<string, number>();
    let answers = 0;
    const SENTINEL = 0x7fff_fff0;
    // Any value: maps, sets, dates, typed arrays, sparse arrays, objects without a prototype, 64-bit integers.
    const odd = fc.oneof(
      fc.anything({ maxDepth: 2, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, withSparseArray: true }),
      fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }),
    );
    const plausible = fc.record({
      id: fc.integer({ min: 0, max: 1_000_000 }),
      op: fc.constantFrom('hello', 'auth', 'get', 'list', 'watch', 'unwatch', 'history', 'set', 'delete', 'stats', 'bogus', '__proto__', 'constructor', ''),
      table: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('arp', 'nat', 'dnat') }, fc.constantFrom('nope', 'constructor', '__proto__'), odd),
      key: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('10.201.0.2', '10.201.0.201', 'tcp:8080', 'tcp:9999', NAT1, NAT2) }, fc.string({ maxLength: 40 }), odd),
      value: fc.oneof(fc.constant(STATIC(0x70)), fc.constant({ ...RULE, port: 9999 }), fc.constant(model.nat[NAT1]), odd),
      // Never a token that may write: nothing in here is authorized to change a table.
      token: fc.oneof(fc.constant(T.readArp), fc.string({ minLength: 16, maxLength: 24 }), odd),
      prefix: fc.oneof(fc.string({ maxLength: 4 }), odd),
      limit: fc.oneof(fc.integer({ min: -5, max: 200_000 }), odd),
      after: fc.oneof(fc.string({ maxLength: 12 }), odd),
      watch: fc.oneof(fc.integer({ min: 0, max: 50 }), odd),
    }, { requiredKeys: ['id', 'op'] });
    const anything = fc.record({
      id: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null), odd),
      op: fc.oneof(fc.constantFrom('hello', 'get', 'set', 'delete'), odd),
      table: odd, key: odd, value: odd, token: odd,
    }, { requiredKeys: [] });
    const encode = (r: unknown): Buffer => {
      try { return encodeFrame(r); } catch { return frameOf(Buffer.from([0xc0])); }
    };
    // Well-framed msgpack (a connection stays open after these), then garbage that may close it.
    const frame = fc.oneof({ weight: 4, arbitrary: plausible.map(encode) }, { weight: 1, arbitrary: fc.oneof(anything, odd).map(encode) });
    const garbage = fc.oneof(
      fc.tuple(plausible, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([r, flips]) => {
        const f = Buffer.from(encode(r));
        for (const [i, b] of flips) f[4 + (i % (f.length - 4))] = b; // the body's bytes, the length left true
        return f;
      }),
      fc.uint8Array({ maxLength: 200 }).map((b) => frameOf(b)),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.uint8Array({ maxLength: 32 })).map(([n, b]) => Buffer.concat([u32(n), b])),
    );
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.array(frame, { maxLength: 6 }), fc.array(garbage, { maxLength: 3 }), async (tcp, frames, junk) => {
      const r = await RawClient.open(tcp ? { port: HS.port } : { path: HS.path });
      try {
        for (const c of [...frames, ...junk]) r.write(c);
        r.send({ id: SENTINEL, op: 'hello' });
        await r.until('the sentinel answered, or a close', () => r.closed || r.frames.some((f) => f.id === SENTINEL), 40).catch(() => undefined);
      } finally {
        r.destroy();
      }
      assert.equal(r.undecodable, 0, 'the server sends only well-formed frames');
      for (const f of r.frames) {
        answers++;
        if (f.ok === false) codes.set(f.error.code, (codes.get(f.error.code) ?? 0) + 1);
        assert.notEqual(f.error?.code, 'internal', `an internal error: ${f.error?.message}`);
      }
      assert.deepEqual(dump(actor.branch), model, 'garbage changed the lookup actor\'s branch');
    }), { numRuns: 200 });
    assert.ok(answers >= 200, `the server answered (${answers} frames)`);
    // The garbage reached past the framing: refusals and the requests' own checks answered it too.
    for (const code of ['bad-frame', 'unknown-op', 'bad-request']) assert.ok((codes.get(code) ?? 0) > 0, `no '${code}' among ${JSON.stringify([...codes])}`);
    assert.ok((codes.get('forbidden') ?? 0) + (codes.get('unauthenticated') ?? 0) > 0, `no refusals among ${JSON.stringify([...codes])}`);
    await waitFor('every fuzz connection gone', () => HS.server.counters.open === base, 5_000);
    const c = await client(HS);
    assert.equal((await c.hello()).server, 'netbranch', 'still serving');
    await c.close();
    assertPrimaryIsModel('after the fuzz');
    assert.deepEqual(dump(primary), before);
  });

  test('after all of that, the primary holds the seed, the tests\' edits and the authorized writes only', () => {
    assertPrimaryIsModel('at the end of the hostile clients');
    // The authorized writes, as made above.
    assert.deepEqual(model.arp['10.201.0.9'], STATIC(9));
    assert.deepEqual(model.arp['10.201.0.152'], STATIC(0x52));
    assert.equal(model.dnat['tcp:9999'], undefined);
    assert.deepEqual(model.dnat, { 'tcp:8080': RULE });
    assert.equal(model.nat[NAT2], undefined);
    for (const k of ['10.201.0.150', '10.201.0.151', '10.201.0.154', '10.201.0.160', '10.201.0.201']) assert.equal(model.arp[k], undefined, k);
  });
});

// ================================================================== 4. Unix socket files

describe('the Unix socket file', () => {
  const server = () => {
    const s = new LookupServer(source, { role: 'test', tokens: TOKENS, tables: routerApiRules });
    closers.push(() => s.close());
    return s;
  };

  test('mode 0600, in a directory made 0700 for it; removed on close', async () => {
    const path = join(DIR, 'files', 'deeper', 'api.sock');
    const s = server();
    await s.listenUnix(path);
    assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
    const st = lstatSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    const c = await connect(`unix:${path}`);
    assert.deepEqual((await c.hello()).scopes, ['read:*']);
    await c.close();
    await s.close();
    assert.equal(existsSync(path), false);
  });

  test('a stale socket left by a dead server is replaced', async () => {
    const path = join(DIR, 'stale', 'api.sock');
    mkdirSync(dirname(path), { mode: 0o700 });
    // A server that dies without closing: its socket file stays behind.
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.env.SOCK, () => process.kill(process.pid, 'SIGKILL'))"], { env: { ...process.env, SOCK: path }, stdio: 'ignore' });
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    clearTimeout(killer);
    assert.equal(signal, 'SIGKILL');
    assert.ok(lstatSync(path).isSocket(), 'the stale socket is there');
    await assert.rejects(connect(`unix:${path}`, { timeoutMs: 2_000 }), (e: unknown) => e instanceof ConnectError && e.errno === 'ECONNREFUSED');
    const s = server();
    await s.listenUnix(path);
    const c = await connect(`unix:${path}`);
    assert.equal((await c.hello()).role, 'test');
    await c.close();
    await s.close();
  });

  test('a live socket, a file that is not a socket, a directory others can write: refused', async () => {
    const live = await serve('live');
    await assert.rejects(server().listenUnix(live.path), /^Error: in use by a live server$/, 'the wording of listeners.ts (the CLI prefixes the flag)');
    const c = await connect(live.unix);
    assert.equal((await c.hello()).server, 'netbranch', 'the live server still serves');
    await c.close();

    const file = join(DIR, 'plain', 'api.sock');
    mkdirSync(dirname(file), { mode: 0o700 });
    writeFileSync(file, 'not a socket');
    await assert.rejects(server().listenUnix(file), /exists and is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'not a socket', 'left alone');

    const open = join(DIR, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await assert.rejects(server().listenUnix(join(open, 'api.sock')), /writable by others/);
    assert.equal(existsSync(join(open, 'api.sock')), false);

    await assert.rejects(server().listenTcp('0.0.0.0', 0), /loopback only/);
  });
});

// ================================================================== 5. the HTTP view

interface HttpAnswer { status: number; body: any; allow?: string; raw: string }

function httpGet(port: number, path: string, token?: string | null, method = 'GET', authorization?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.authorization = authorization;
    else if (token) headers.authorization = `Bearer ${token}`;
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false, timeout: 5_000 }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { raw += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: raw ? JSON.parse(raw) : undefined, allow: res.headers.allow as string | undefined, raw }));
    });
    req.on('timeout', () => req.destroy(new Error('HTTP request timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('the HTTP view', () => {
  test('authentication, scopes, the routes, the status codes', async () => {
    const H = await serve('http');
    const view = new HttpView(H.server);
    const port = await view.listen('127.0.0.1', 0);
    closers.push(() => view.close());
    const g = (path: string, token?: string | null, method?: string, authz?: string) => httpGet(port, path, token, method, authz);

    const lines = await refusals(H, async () => {
      let r = await g('/api/arp');
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'unauthenticated');
      assert.match(r.body.error.message, /Bearer/);
      assert.equal((await g('/api/arp', null, 'GET', `Basic ${Buffer.from('a:b').toString('base64')}`)).status, 401);
      r = await g('/api/arp', 'not-a-token-not-a-token');
      assert.equal(r.status, 401);
      assert.match(r.body.error.message, /unknown token/);

      r = await g('/api/arp', T.writeDnat);
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'forbidden');
      assert.match(r.body.error.message, /read:arp/);
      assert.equal((await g('/api/nat', T.readArp)).status, 403);
      assert.equal((await g(`/api/nat/${NAT1}`, T.readArp)).status, 403);
    });
    assert.deepEqual(lines.map((l) => [l.msg, l.fields.client, l.fields.op, l.fields.table]), [
      ['lookup: refused (unauthenticated)', 'http', 'list', 'arp'],
      ['lookup: refused (forbidden)', 'http:dnat-writer', 'list', 'arp'],
      ['lookup: refused (forbidden)', 'http:arp-reader', 'list', 'nat'],
      ['lookup: refused (forbidden)', 'http:arp-reader', 'get', 'nat'],
    ]);

    let r = await g('/api', T.readArp);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.tables.map((t: { name: string }) => t.name), ['arp', 'nat', 'dnat', 'frag', 'leases', 'dhcp-client', 'dns']);
    assert.deepEqual(r.body.scopes, ['read:arp']);
    assert.equal(r.body.now, now);

    r = await g('/api/arp?prefix=10.201.0.1&limit=3', T.readArp);
    assert.equal(r.status, 200);
    const withPrefix = Object.keys(model.arp).filter((k) => k.startsWith('10.201.0.1')).sort();
    assert.deepEqual(r.body.entries.map((e: { key: string }) => e.key), withPrefix.slice(0, 3));
    assert.equal(r.body.more, true);
    assert.equal(r.body.next, withPrefix[2]);
    r = await g(`/api/arp?prefix=10.201.0.1&limit=3&after=${r.body.next}`, T.readArp);
    assert.deepEqual(r.body.entries.map((e: { key: string }) => e.key), withPrefix.slice(3, 6));

    r = await g('/api/arp/10.201.0.7', T.readArp);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { table: 'arp', key: '10.201.0.7', value: model.arp['10.201.0.7'] });
    r = await g('/api/arp/10.201.0.5/history?limit=2', T.readArp);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.entries.map((e: { message: string }) => e.message), ['relearned', 'expired']);
    r = await g(`/api/nat/${encodeURIComponent(NAT1)}`, T.admin);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.value, model.nat[NAT1]);

    r = await g('/api/nope', T.admin);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'unknown-table');
    r = await g('/api/arp/10.201.0.99', T.admin);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not-found');
    assert.equal((await g('/api/arp/banana', T.admin)).body.error.code, 'bad-key');
    assert.equal((await g('/api/arp/banana', T.admin)).status, 400);
    assert.equal((await g('/api/arp?limit=lots', T.admin)).status, 400);
    const badEscape = await g('/api/arp/%zz', T.admin);
    assert.equal(badEscape.status, 400, `a malformed escape is the client's error: ${badEscape.raw}`);
    assert.equal(badEscape.body.error.code, 'bad-request');

    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      r = await g('/api/arp/10.201.0.2', T.admin, method);
      assert.equal(r.status, 405, method);
      assert.equal(r.allow, 'GET, HEAD');
    }
    for (const path of ['/foo', '/apix', '/api/arp/10.201.0.2/notes', '/api/arp/10.201.0.2/history/more']) {
      r = await g(path, T.admin);
      assert.equal(r.status, 404, path);
      assert.match(r.body.error.message, /routes:/);
    }
    r = await g('/api/arp', T.admin, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.raw, '');
    assert.ok(view.requests >= 25);
    assertPrimaryIsModel('the HTTP view never writes');
    await view.close();
  });
});

// ================================================================== 6. the worker actor, and the CLI against a sim

const INSIDE: NetInterface = { name: 'in', mac: localMac(0x201), ip: parseIpv4('10.201.0.1'), prefix: 24 };
const OUTSIDE: NetInterface = { name: 'out', mac: localMac(0x202), ip: parseIpv4('10.202.0.1'), prefix: 24 };

describe('the lookup actor in a router', () => {
  test('serves the replica on its socket; writes reach the primary; history from the main thread; stop cleans up', { timeout: 40_000 }, async () => {
    const t0 = Date.now();
    const rstore = new Store(routerTables);
    const seedArp = { mac: 0x02_00_00_00_01_02, expires: 0, kind: 'static' as const };
    rstore.main.table(arpTable).set(parseIpv4('10.201.0.2'), seedArp);
    const nat = TABLES[store.schema.index('nat')];
    const seedFlow = { ...flow(NAT1, 40000, 'udp-replied'), created: t0, lastSeen: t0 };
    rstore.main.table(natTable).set(nat.key.decode(NAT1) as string, nat.value.decode(seedFlow) as never);
    rstore.main.commit({ author: 'seed' });

    const [ia, ib] = ringLinkPair('inside');
    const [oa, ob] = ringLinkPair('outside');
    const peers = [new RingLink(ib), new RingLink(ob)];
    const sock = join(DIR, 'router', 'api.sock');
    const logged: { level: string; msg: string }[] = [];
    const logger = {
      info: (_o: object, msg: string) => logged.push({ level: 'info', msg }),
      warn: (_o: object, msg: string) => logged.push({ level: 'warn', msg }),
      error: (_o: object, msg: string) => logged.push({ level: 'error', msg }),
    };
    const actors = new RouterActors(new RingLink(ia), new RingLink(oa), {
      inside: INSIDE, outside: OUTSIDE, packetActors: 1, mergeIntervalMs: 30, primary: rstore, logger,
      api: { unix: sock, tokens: TOKENS, role: 'router' },
    });
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await actors.stop();
      for (const p of peers) p.close();
    };
    closers.push(stop);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([actors.ready(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('the actors were not ready in 20 s')), 20_000); })]);
    clearTimeout(timer);

    const c = await connect(`unix:${sock}`, { timeoutMs: 5_000 });
    closers.push(() => c.close());
    const h = await c.hello();
    assert.equal(h.role, 'router');
    assert.deepEqual(h.tables.map((t) => t.name), ['arp', 'nat', 'dnat', 'frag', 'leases', 'dhcp-client', 'dns']);
    assert.ok(Math.abs(h.now - Date.now()) < 5_000, 'the router\'s clock is the epoch');
    assert.deepEqual((await c.list('nat')).entries.map((e) => e.key), [NAT1]);
    assert.deepEqual((await c.get('nat', NAT1)).value, canonical('nat', NAT1, seedFlow));
    assert.deepEqual((await c.get('arp', '10.201.0.2')).value, { mac: '02:00:00:00:01:02', expires: 0, kind: 'static' });

    const events = pump(await c.watch('dnat'));
    assert.deepEqual((await c.request('set', { table: 'dnat', key: 'tcp:8080', value: RULE, token: T.writeDnat }) as { value: unknown }).value, RULE);
    await waitFor('the own write reported', () => events.events.length >= 1, 3_000);
    assert.deepEqual(events.events[0], { id: events.events[0].id, event: 'change', table: 'dnat', key: 'tcp:8080', value: RULE });
    const dnat = rstore.main.table(dnatTable);
    await waitFor('the rule merged into the primary', () => dnat.get('tcp:8080')?.insidePort === 80, 5_000);
    assert.deepEqual(dnat.get('tcp:8080'), { proto: 'tcp', port: 8080, insideIp: parseIpv4('10.201.0.5'), insidePort: 80, created: 1234 });
    await waitFor('the dispatchers\' port-forward maps rebuilt', () => actors.forwards.inside.size === 1, 3_000);

    // History is the primary's, answered by the main thread.
    const hist = await c.history('dnat', 'tcp:8080');
    assert.ok(hist.entries.length >= 1, JSON.stringify(hist));
    assert.deepEqual(hist.entries[0].value, RULE);

    // A write without a token: refused, and it never reaches the primary.
    await refused(c.set('dnat', 'tcp:9090', { ...RULE, port: 9090 }), 'forbidden', /write:dnat/);
    // A removal with a token reaches the primary too.
    assert.equal((await c.request<{ existed: boolean }>('delete', { table: 'nat', key: NAT1, token: T.admin })).existed, true);
    await waitFor('the flow removed from the primary', () => rstore.main.table(natTable).size === 0, 5_000);
    await sleep(150); // several merge intervals
    assert.equal(dnat.get('tcp:9090'), undefined);
    assert.equal(events.events.filter((e) => e.key === 'tcp:9090').length, 0);
    await waitFor('the refusal logged by the actor', () => logged.some((l) => l.msg.includes('lookup: refused (forbidden)') && l.msg.includes('write:dnat')), 3_000);
    assert.ok(logged.some((l) => l.msg.includes('lookup: serving unix:')), 'the actor said where it serves');

    assert.equal(events.events.filter((e) => e.key === 'tcp:8080').length, 1, 'the own write reported once, not again when it comes back from the primary');

    await c.close();
    await stop();
    await assert.rejects(connect(`unix:${sock}`, { timeoutMs: 2_000 }), ConnectError, 'nobody serves the socket after stop()');
    assert.equal(existsSync(sock), false, 'the socket file is gone with the actor');
    // The path can be served again (a stale file, if any, is replaced).
    const again = new LookupServer(source, { role: 'test', tokens: [], tables: routerApiRules });
    closers.push(() => again.close());
    await again.listenUnix(sock);
    await again.close();
  });
});

/** Runs the CLI (`node --import tsx cli/main.ts ARGS`): exit code, stdout, stderr. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the CLI against a running `netbranch sim --api`', () => {
  test('arp --json lists node0\'s entries; set and rm with a token; a refused write exits 1 and is logged by the sim', { timeout: 50_000 }, async () => {
    const sock = join(DIR, 'sim', 'api.sock');
    const tokens = join(DIR, 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ tokens: TOKENS }), { mode: 0o600 });
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'sim', '--nodes', '4', '--api', `unix:${sock}`, '--tokens', tokens, '--api-node', '0', '--seconds', '60', '--speed', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let exited = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
    const kill = async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exit;
      clearTimeout(t);
    };
    closers.push(kill);
    try {
      await waitFor('the sim serving its API', () => out.includes("api: node0's tables") || exited, 20_000);
      assert.ok(!exited, `the sim exited: ${err}`);
      assert.match(out, new RegExp(`api: node0's tables .* on unix:${sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

      // node0 learns its peers from their announcements: wait until the API shows some.
      const probe = await connect(`unix:${sock}`, { timeoutMs: 5_000 });
      closers.push(() => probe.close());
      let known: string[] = [];
      for (let i = 0; i < 100 && known.length === 0; i++) {
        known = (await probe.list('arp')).entries.map((e) => e.key);
        if (!known.length) await sleep(100);
      }
      assert.ok(known.length > 0, 'node0 has ARP entries');

      const [listed, refusedNoToken, refusedReader] = await Promise.all([
        cli(['arp', '--api', `unix:${sock}`, '--json']),
        cli(['set', 'arp', '10.9.9.8', '02:00:00:00:09:08', '--api', `unix:${sock}`]),
        cli(['set', 'arp', '10.9.9.8', '02:00:00:00:09:08', '--api', `unix:${sock}`, '--token', T.readArp]),
      ]);
      assert.equal(listed.code, 0, listed.stderr);
      const doc = JSON.parse(listed.stdout) as { table: string; entries: { key: string; value: { mac: string; kind: string; expires: number } }[] };
      assert.equal(doc.table, 'arp');
      const keys = doc.entries.map((e) => e.key);
      for (const k of known) assert.ok(keys.includes(k), `${k} listed`);
      for (const e of doc.entries) {
        assert.match(e.key, /^\d+\.\d+\.\d+\.\d+$/);
        assert.match(e.value.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
        assert.ok(e.value.kind === 'dynamic' || e.value.kind === 'static');
      }
      for (const r of [refusedNoToken, refusedReader]) {
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /netbranch: forbidden: needs scope write:arp/);
      }
      await refused(probe.get('arp', '10.9.9.8'), 'not-found');

      const set = await cli(['set', 'arp', '10.9.9.9', '02:00:00:00:09:09', '--api', `unix:${sock}`, '--token', T.writeArp]);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /^set arp 10\.9\.9\.9 = \{"mac":"02:00:00:00:09:09","expires":0,"kind":"static"\}/);
      assert.deepEqual((await probe.get('arp', '10.9.9.9')).value, { mac: '02:00:00:00:09:09', expires: 0, kind: 'static' });
      const rm = await cli(['rm', 'arp', '10.9.9.9', '--api', `unix:${sock}`, '--token', T.writeArp]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stdout, /^removed arp 10\.9\.9\.9/);
      await refused(probe.get('arp', '10.9.9.9'), 'not-found');

      // The sim's stderr: a pino line per refusal, with the reason.
      await waitFor('the refusals in the sim\'s log', () => err.split('\n').filter((l) => l.includes('lookup: refused (forbidden)')).length >= 2, 5_000);
      const lines = err.split('\n').filter((l) => l.includes('lookup: refused (forbidden)')).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(lines.every((l) => l.msg === 'lookup: refused (forbidden)' && l.level === 40 && l.op === 'set' && l.table === 'arp' && /needs scope write:arp/.test(String(l.reason))), JSON.stringify(lines));
      assert.deepEqual(lines.map((l) => l.client).sort(), ['arp-reader', 'unix-socket'], 'the client as it authenticated');
      await probe.close();
    } finally {
      await kill();
    }
  });
});
