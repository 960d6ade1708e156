// The `tcp` table (actors/tcp/tcp-table.ts): its merge obeys the laws it claims over random rows of
// one connection (fast-check; TCP_TABLE_SEED=n replays a run), deletion wins, the key codec
// round-trips, branches editing one connection merge the same in every order, and the rows read and
// edit as files in git (the real git CLI).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { CodecError, Conflict, Store, type Branch } from '../store/index.js';
import { GitStore } from '../store/git/index.js';
import {
  TCP_STATES, TCP_TIMERS, compareTcpEntries, mergeTcpEntry, parseTcpKey, tcpConnKey, tcpKey, tcpTable, type TcpEntry,
} from '../actors/tcp/tcp-table.js';
import { seqAfter } from '../actors/tcp/seq-space.js';
import { git } from './support/git-cli.js';

const SEED = Number(process.env.TCP_TABLE_SEED ?? Date.now() % 1_000_000);
console.log(`tcp-table properties: seed ${SEED} (TCP_TABLE_SEED=${SEED} replays it)`);
const RUNS = { numRuns: 1000, seed: SEED, endOnFailure: true };

const tmp = mkdtempSync(join(tmpdir(), `nb-tcp-table-${process.pid}-`));
after(() => rmSync(tmp, { recursive: true, force: true }));

const L = 0x0a000001, R = 0x0a000002; // 10.0.0.1, 10.0.0.2
const KEY = tcpKey(L, 80, R, 40000);
const U32 = 2 ** 32;
const at = (base: number, d: number) => (((base + d) % U32) + U32) % U32;
/** Sequence numbers of one connection: within 2^29 either side of a base, so any two are < 2^30 apart. */
const WINDOW = 2 ** 29;

const row = (over: Partial<TcpEntry> = {}): TcpEntry => ({
  localIp: L, localPort: 80, remoteIp: R, remotePort: 40000, state: 'established',
  sndUna: 1000, sndNxt: 1000, sndWnd: 65535, rcvNxt: 5000, rcvWnd: 65535, sndWscale: 7, rcvWscale: 7, mss: 1460,
  rtoMs: 1000, srttMs: 0, timer: 'none', deadline: 0, created: 100, updated: 100, ...over,
});

/** A row of the connection with sequence numbers around `base` (near 2^32 often, to cross the wrap); now and then a later incarnation. */
function connRow(base: { snd: number; rcv: number }): fc.Arbitrary<TcpEntry> {
  const off = fc.integer({ min: -WINDOW, max: WINDOW });
  return fc.record({
    state: fc.constantFrom(...TCP_STATES), timer: fc.constantFrom(...TCP_TIMERS),
    una: off, inflight: fc.integer({ min: 0, max: 2 ** 20 }), rcv: off,
    sndWnd: fc.integer({ min: 0, max: 2 ** 30 }), rcvWnd: fc.nat(3), rtoMs: fc.constantFrom(200, 1000, 3000),
    deadline: fc.nat(5), updated: fc.nat(4), created: fc.constantFrom(100, 100, 100, 200),
  }).map((x) => row({ created: x.created,
    state: x.state, timer: x.timer, sndUna: at(base.snd, x.una), sndNxt: at(base.snd, x.una + x.inflight), rcvNxt: at(base.rcv, x.rcv),
    sndWnd: x.sndWnd, rcvWnd: x.rcvWnd * 1024, rtoMs: x.rtoMs, deadline: x.deadline * 100, updated: x.updated * 10,
  }));
}

const seqBase = fc.oneof(fc.integer({ min: U32 - 2 ** 20, max: U32 - 1 }), fc.nat(U32 - 1));
const conn = fc.record({ snd: seqBase, rcv: seqBase });
const pairOf = conn.chain((b) => fc.tuple(connRow(b), connRow(b)));
const tripleOf = conn.chain((b) => fc.tuple(connRow(b), connRow(b), connRow(b)));

/** The table's merge (option and all), both sides present, ancestor absent: a plain row or a failure. */
function merge(a: TcpEntry, b: TcpEntry, old?: TcpEntry): TcpEntry {
  const r = tcpTable.merge(() => old, a, b);
  assert.ok(!(r instanceof Conflict) && r !== undefined, `merge gave ${String(r)}`);
  return r;
}

const rank = (e: TcpEntry) => TCP_STATES.indexOf(e.state);

test('merge is commutative, idempotent and associative over rows of one connection (sequence numbers across the 2^32 wrap)', () => {
  fc.assert(fc.property(pairOf, ([a, b]) => {
    assert.deepEqual(merge(a, b), merge(b, a));
    assert.deepEqual(merge(a, a), a);
    const ab = merge(a, b);
    assert.deepEqual(merge(ab, a), ab, 'merging a side in again changes nothing');
  }), RUNS);
  fc.assert(fc.property(tripleOf, ([a, b, c]) => {
    assert.deepEqual(merge(merge(a, b), c), merge(a, merge(b, c)));
  }), RUNS);
});

test('merge is commutative even for sequence numbers no connection has (anywhere in 2^32, exactly 2^31 apart)', () => {
  const seq = fc.oneof(fc.nat(U32 - 1), fc.constantFrom(0, 2 ** 31, U32 - 1));
  fc.assert(fc.property(fc.tuple(seq, seq, seq, seq), fc.boolean(), ([u1, u2, r1, r2], half) => {
    const a = row({ sndUna: u1, sndNxt: u1, rcvNxt: r1 });
    const b = row({ sndUna: half ? at(u1, 2 ** 31) : u2, sndNxt: half ? at(u1, 2 ** 31) : u2, rcvNxt: r2 });
    assert.deepEqual(merge(a, b), merge(b, a));
  }), RUNS);
});

test('the merged row never goes backwards: state at least either side, each sequence number at least either side, SND.UNA <= SND.NXT', () => {
  fc.assert(fc.property(pairOf.filter(([a, b]) => a.created === b.created), ([a, b]) => {
    const m = merge(a, b);
    assert.equal(rank(m), Math.max(rank(a), rank(b)));
    for (const f of ['sndUna', 'sndNxt', 'rcvNxt'] as const) {
      assert.ok(!seqAfter(a[f], m[f]) && !seqAfter(b[f], m[f]), `${f}: ${m[f]} is before a side's ${a[f]} / ${b[f]}`);
      assert.ok(m[f] === a[f] || m[f] === b[f], `${f} is one side's`);
    }
    assert.ok(!seqAfter(m.sndUna, m.sndNxt), 'SND.UNA <= SND.NXT');
    // Everything but the sequence numbers comes whole from the winning side.
    const top = compareTcpEntries(a, b) >= 0 ? a : b;
    assert.deepEqual({ ...m, sndUna: 0, sndNxt: 0, rcvNxt: 0 }, { ...top, sndUna: 0, sndNxt: 0, rcvNxt: 0 });
  }), RUNS);
});

test('sequence numbers take the later in sequence space across the wrap: 0xfffffff0 then 0x10', () => {
  const a = row({ sndUna: 0xffff_fff0, sndNxt: 0xffff_fff0, rcvNxt: 0xffff_ff00 });
  const b = row({ sndUna: 0x10, sndNxt: 0x20, rcvNxt: 0xffff_fe00 });
  const m = mergeTcpEntry(() => undefined, a, b) as TcpEntry;
  assert.deepEqual([m.sndUna, m.sndNxt, m.rcvNxt], [0x10, 0x20, 0xffff_ff00]);
});

test('a later incarnation of the 4-tuple wins whole, even against the old one in time-wait: no sequence numbers mixed', () => {
  const old = row({ state: 'time-wait', sndUna: 0x7000_0000, sndNxt: 0x7000_0000, rcvNxt: 0x9000_0000, created: 100, updated: 900 });
  const reborn = row({ state: 'syn-received', sndUna: 0x1000, sndNxt: 0x1001, rcvNxt: 0xfff0_0001, created: 950, updated: 950 });
  assert.deepEqual(merge(old, reborn), reborn);
  assert.deepEqual(merge(reborn, old), reborn);
});

test('delete vs modify gives delete, in both orders; delete vs unchanged gives delete; added on one side is kept', () => {
  const old = row({ state: 'established' });
  const changed = row({ state: 'fin-wait-1', sndNxt: 1001, updated: 200 });
  assert.equal(tcpTable.merge(() => old, undefined, changed), undefined);
  assert.equal(tcpTable.merge(() => old, changed, undefined), undefined);
  assert.equal(tcpTable.merge(() => old, old, undefined), undefined);
  assert.deepEqual(tcpTable.merge(() => undefined, undefined, changed), changed);
});

test('the key codec round-trips canonical keys and puts a row under tcp/<local ip>/<local port>/', () => {
  const octet = fc.integer({ min: 0, max: 255 });
  const ip = fc.tuple(octet, octet, octet, octet).map((o) => ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0);
  const port = fc.integer({ min: 0, max: 65535 });
  fc.assert(fc.property(ip, port, ip, port, (li, lp, ri, rp) => {
    const k = tcpKey(li, lp, ri, rp);
    assert.equal(tcpConnKey.decode(k), k);
    assert.equal(tcpConnKey.encode(k), k);
    assert.deepEqual(parseTcpKey(k), { localIp: li, localPort: lp, remoteIp: ri, remotePort: rp });
    assert.deepEqual(tcpConnKey.dirs!(k), [k.slice(0, k.indexOf(':')), String(lp)]);
  }), RUNS);
  assert.equal(tcpConnKey.decode('10.0.0.1:0080-10.0.0.2:40000'), KEY, 'leading zeros in ports are read, written canonically');
});

test('the key codec refuses what is not a connection key with a CodecError naming the expected form', () => {
  const bad: unknown[] = [
    '', '10.0.0.1:80', '10.0.0.1:80-10.0.0.2', '10.0.0.1:80-10.0.0.2:65536', '10.0.0.1:80-10.0.0.256:1', '10.0.0.1:-1-10.0.0.2:1',
    '10.0.0.1:80_10.0.0.2:40000', ' 10.0.0.1:80-10.0.0.2:40000', '10.0.0.1:80-10.0.0.2:40000\n', '10.0.0:80-10.0.0.2:40000',
    'tcp/10.0.0.1/80/10.0.0.1:80-10.0.0.2:40000', 42, null, undefined, { k: KEY },
  ];
  for (const k of bad) {
    assert.throws(() => tcpConnKey.decode(k), (err: unknown) => err instanceof CodecError && /not a TCP connection key like 10\.0\.0\.1:80-10\.0\.0\.2:40000/.test(err.message), `key ${JSON.stringify(k)}`);
    assert.equal(parseTcpKey(k), undefined);
  }
});

test('a row with a sequence number past 2^32 is refused by the value codec', () => {
  assert.throws(() => tcpTable.value.decode({ ...row(), sndNxt: U32 }, 'tcp/x'), (err: unknown) => err instanceof CodecError && /sequence number 0\.\.4294967295/.test(err.message));
  assert.deepEqual(tcpTable.value.decode(row({ rcvNxt: U32 - 1 }), 'tcp/x'), row({ rcvNxt: U32 - 1 }));
});

// ------------------------------------------------------------------ branches

/** The handshake's row on the primary, then three branches forked from it, each editing the one connection. */
function threeEdits(): { store: Store; branches: Branch[] } {
  const store = new Store([tcpTable]);
  store.main.table(tcpTable).set(KEY, row({ state: 'syn-received', sndUna: 1000, sndNxt: 1001, rcvNxt: 5001, updated: 100 }));
  store.main.commit({ author: 'endpoint', message: 'SYN received' });
  const endpoint = store.main.fork('endpoint');
  endpoint.table(tcpTable).set(KEY, row({ state: 'established', sndUna: 1001, sndNxt: 1001, rcvNxt: 5301, updated: 300 }));
  endpoint.commit({ author: 'endpoint', message: 'ACK, then 300 bytes' });
  const operator = store.main.fork('operator');
  operator.table(tcpTable).set(KEY, { ...operator.table(tcpTable).get(KEY)!, state: 'closed' });
  operator.commit({ author: 'operator', message: 'close it' });
  const acker = store.main.fork('acker');
  acker.table(tcpTable).set(KEY, row({ state: 'syn-received', sndUna: 1001, sndNxt: 1001, rcvNxt: 5001, srttMs: 12, updated: 120 }));
  acker.commit({ author: 'acker', message: 'SYN-ACK acknowledged' });
  return { store, branches: [endpoint, operator, acker] };
}

const ORDERS = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

test('an operator closing a connection the endpoint concurrently advanced: closed, with the endpoint\'s later sequence numbers', () => {
  const results = ORDERS.map((order) => {
    const { store, branches } = threeEdits();
    for (const i of order) store.main.merge(branches[i]);
    return store.main.table(tcpTable).get(KEY);
  });
  // The closed row is the operator's (the top of the lattice); SND.UNA and RCV.NXT are the endpoint's, the latest.
  assert.deepEqual(results[0], row({ state: 'closed', sndUna: 1001, sndNxt: 1001, rcvNxt: 5301, updated: 100 }));
  for (const r of results) assert.deepEqual(r, results[0], 'every merge order gives the same row');
});

test('two branches, both merge orders: the endpoint deleting the row (after TIME-WAIT) beats an operator\'s edit', () => {
  const rows = [[0, 1], [1, 0]].map((order) => {
    const store = new Store([tcpTable]);
    store.main.table(tcpTable).set(KEY, row({ state: 'time-wait', timer: 'time-wait', deadline: 60_000 }));
    store.main.commit({ author: 'endpoint' });
    const endpoint = store.main.fork('endpoint');
    endpoint.table(tcpTable).delete(KEY);
    endpoint.commit({ author: 'endpoint', message: 'TIME-WAIT over' });
    const operator = store.main.fork('operator');
    operator.table(tcpTable).set(KEY, row({ state: 'time-wait', timer: 'time-wait', deadline: 1000 }));
    operator.commit({ author: 'operator', message: 'shorten TIME-WAIT' });
    const bs = [endpoint, operator];
    for (const i of order) store.main.merge(bs[i]);
    return store.main.table(tcpTable).get(KEY);
  });
  assert.deepEqual(rows, [undefined, undefined]);
});

// ------------------------------------------------------------------ git

/** A store of the tcp table persisted to a fresh bare repository at `dir`. */
async function gitTcpStore(dir: string) {
  const t = { now: 1_000 };
  const store = new Store([tcpTable], { clock: () => t.now });
  const gs = await GitStore.open(dir, store.main, { thread: false, pruneGraceMs: 0 });
  const write = async (rows: TcpEntry[], message: string) => {
    for (const r of rows) store.main.table(tcpTable).set(tcpKey(r.localIp, r.localPort, r.remoteIp, r.remotePort), r);
    store.main.commit({ author: 'endpoint', message });
    await gs.flush((t.now += 1000));
  };
  return { store, gs, write, t };
}

test('rows are files under tcp/<local ip>/<local port>/<key>, and `git log -p tcp/` shows a connection\'s history', async () => {
  const dir = join(tmp, 'log');
  const s = await gitTcpStore(dir);
  try {
    await s.write([row({ state: 'syn-received', rcvNxt: 5001 }), row({ remotePort: 40001, state: 'syn-sent', localPort: 51000 })], 'two connections');
    await s.write([row({ state: 'established', rcvNxt: 5301, updated: 300 })], 'established');
    const files = git(dir, 'ls-tree', '-r', '--name-only', 'main', '--', 'tcp/').trim().split('\n');
    assert.deepEqual(files, ['tcp/10.0.0.1/51000/10.0.0.1:51000-10.0.0.2:40001', `tcp/10.0.0.1/80/${KEY}`]);
    const log = git(dir, 'log', '-p', '--format=commit %s', '--', 'tcp/');
    assert.match(log, new RegExp(`\\+\\+\\+ b/tcp/10\\.0\\.0\\.1/80/${KEY.replace(/\./g, '\\.')}`));
    assert.match(log, /^-\s+"state": "syn-received",$/m);
    assert.match(log, /^\+\s+"state": "established",$/m);
    assert.match(log, /^\+\s+"rcvNxt": 5301,$/m);
    assert.match(log, /^\+\s+"localIp": "10\.0\.0\.1",$/m, 'addresses as dotted quads');
    const file = JSON.parse(git(dir, 'show', `main:tcp/10.0.0.1/80/${KEY}`));
    assert.deepEqual(file, { ...row({ state: 'established', rcvNxt: 5301, updated: 300 }), localIp: '10.0.0.1', remoteIp: '10.0.0.2' });
  } finally {
    await s.gs.close(s.t.now);
  }
});

test('a plain git commit setting a row\'s state to closed is loaded back and merged with the endpoint\'s later sequence numbers', async () => {
  const dir = join(tmp, 'edit');
  const work = join(tmp, 'edit-work');
  const s = await gitTcpStore(dir);
  try {
    await s.write([row({ state: 'established', rcvNxt: 5001, updated: 200 })], 'established');
    git(tmp, 'clone', '-q', dir, work);
    git(work, 'checkout', '-q', '-b', 'edits');
    // Meanwhile the endpoint receives 300 bytes.
    await s.write([row({ state: 'established', rcvNxt: 5301, updated: 300 })], '300 bytes in');
    const path = join(work, 'tcp/10.0.0.1/80', KEY);
    const text = readFileSync(path, 'utf8').replace('"state": "established"', '"state": "closed"');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    git(work, 'commit', '-q', '-am', 'close 10.0.0.2:40000');
    git(work, 'push', '-q', 'origin', 'edits');
    const out = await s.gs.pollEdits((s.t.now += 1000));
    assert.ok(out, 'the edit was found');
    assert.deepEqual(out.rejected, []);
    assert.deepEqual(s.store.main.table(tcpTable).get(KEY), row({ state: 'closed', rcvNxt: 5301, updated: 200 }));
    await s.gs.flush(s.t.now);
    assert.match(git(dir, 'show', `main:tcp/10.0.0.1/80/${KEY}`), /"state": "closed",\n\s+"sndUna": 1000,[^]*"rcvNxt": 5301,/);
  } finally {
    await s.gs.close(s.t.now);
  }
});
