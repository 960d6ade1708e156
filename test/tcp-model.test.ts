import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TcpEndpoint, type TcpSocket } from '../actors/tcp/tcp-endpoint.js';
import { TCP_STATES, type TcpState } from '../actors/tcp/tcp-table.js';
import { seqAtOrBefore } from '../actors/tcp/seq-space.js';
import { prng } from '../actors/sim/prng.js';
import { parseIpv4 } from '../wire/index.js';

// The endpoint against a reference model over random event orders on a simulated clock: the network is a bag of
// segments the test delivers, drops, duplicates or reorders at will; the model holds what each side has sent.

const A = parseIpv4('10.14.9.1');
const B = parseIpv4('10.14.9.2');
const seed = process.env.TCP_MODEL_SEED === undefined ? undefined : Number(process.env.TCP_MODEL_SEED);

/** RFC 9293 figure 5's transitions (plus any state to CLOSED by RST, abort or timeout). */
const EDGES: Record<TcpState, TcpState[]> = {
  'syn-sent': ['syn-received', 'established'],
  'syn-received': ['established', 'fin-wait-1'],
  established: ['fin-wait-1', 'close-wait'],
  'fin-wait-1': ['fin-wait-2', 'closing', 'time-wait'],
  'fin-wait-2': ['time-wait'],
  closing: ['time-wait'],
  'close-wait': ['last-ack'],
  'last-ack': [],
  'time-wait': [],
  closed: [],
};

/** Pairs (from, to) reachable along EDGES, each state to itself included. */
function reachable(): Set<string> {
  const ok = new Set<string>();
  for (const from of TCP_STATES) {
    const seen = new Set<TcpState>([from, 'closed']);
    const todo: TcpState[] = [from];
    while (todo.length > 0) for (const n of EDGES[todo.pop()!]) if (!seen.has(n)) { seen.add(n); todo.push(n); }
    for (const to of seen) ok.add(`${from}>${to}`);
  }
  return ok;
}
const LEGAL = reachable();

type Side = 'client' | 'server';
type Cmd =
  | { t: 'send'; side: Side; n: number }
  | { t: 'read'; side: Side }
  | { t: 'close'; side: Side }
  | { t: 'abort'; side: Side }
  | { t: 'deliver'; i: number }
  | { t: 'drop'; i: number }
  | { t: 'dup'; i: number }
  | { t: 'advance'; ms: number };

const side = fc.constantFrom<Side>('client', 'server');
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ t: fc.constant('send' as const), side, n: fc.integer({ min: 1, max: 6000 }) }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('read' as const), side }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('close' as const), side }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('abort' as const), side }) },
  { weight: 50, arbitrary: fc.record({ t: fc.constant('deliver' as const), i: fc.nat(50) }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant('drop' as const), i: fc.nat(50) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('dup' as const), i: fc.nat(50) }) },
  { weight: 15, arbitrary: fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }) },
);

/** One side as the model sees it: bytes it sent (accepted by send()), bytes it read, how it ended. */
class Party {
  sent: number[] = [];
  readBytes: number[] = [];
  ended = false;
  closeReason: string | null = null;
  lastState: TcpState | null = null;
  sock: TcpSocket | null = null;
  private counter: number;

  constructor(salt: number) { this.counter = salt; }

  attach(s: TcpSocket): void {
    this.sock = s;
    s.onEnd = () => { this.ended = true; };
    s.onClose = (r) => { this.closeReason = r; };
  }

  send(n: number, now: number): void {
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = (this.counter + i) & 0xff;
    const took = this.sock!.send(data, now);
    for (let i = 0; i < took; i++) this.sent.push(data[i]);
    this.counter += took;
  }

  read(): void {
    let d;
    while (this.sock !== null && (d = this.sock.read()) !== null) for (const x of d) this.readBytes.push(x);
  }
}

class World {
  now = 0;
  net: Array<{ dst: number; src: number; bytes: Uint8Array }> = [];
  readonly a: TcpEndpoint;
  readonly b: TcpEndpoint;
  readonly client = new Party(0);
  readonly server = new Party(128);

  constructor(isnSeed: number) {
    const isn = prng(isnSeed);
    const opts = { rcvBuffer: 4096, sndBuffer: 8192, mss: 1000, timeWaitMs: 5000, isn: () => Math.floor(isn() * 2 ** 32) };
    this.a = new TcpEndpoint(A, (dst, s) => this.net.push({ dst, src: A, bytes: s.slice() }), opts);
    this.b = new TcpEndpoint(B, (dst, s) => this.net.push({ dst, src: B, bytes: s.slice() }), opts);
    const l = this.b.listen(80);
    l.onAccept = (s) => { if (this.server.sock === null) this.server.attach(s); };
    this.client.attach(this.a.connect(B, 80, 0, 40000));
  }

  party(s: Side): Party { return s === 'client' ? this.client : this.server; }

  deliver(i: number): void {
    const [p] = this.net.splice(i, 1);
    (p.dst === A ? this.a : this.b).receive(p.src, p.dst, p.bytes, this.now);
  }

  apply(c: Cmd): void {
    const n = this.net.length;
    switch (c.t) {
      case 'send': { const p = this.party(c.side); if (p.sock) p.send(c.n, this.now); break; }
      case 'read': this.party(c.side).read(); break;
      case 'close': this.party(c.side).sock?.close(this.now); break;
      case 'abort': this.party(c.side).sock?.abort(this.now); break;
      case 'deliver': if (n > 0) this.deliver(c.i % n); break;
      case 'drop': if (n > 0) this.net.splice(c.i % n, 1); break;
      case 'dup': if (n > 0) this.net.push(this.net[c.i % n]); break;
      case 'advance': this.now += c.ms; this.a.poll(this.now); this.b.poll(this.now); break;
    }
  }

  /** The invariants after every event. */
  check(): void {
    for (const p of [this.client, this.server]) {
      const s = p.sock;
      if (s === null) continue;
      assert.ok(seqAtOrBefore(s.sndUna, s.sndNxt), `${s.state}: SND.UNA ${s.sndUna} > SND.NXT ${s.sndNxt}`);
      assert.ok(seqAtOrBefore(s.sndNxt, s.sndMax), `${s.state}: SND.NXT ${s.sndNxt} > SND.MAX ${s.sndMax}`);
      if (p.lastState !== null) assert.ok(LEGAL.has(`${p.lastState}>${s.state}`), `illegal move ${p.lastState} -> ${s.state}`);
      p.lastState = s.state;
      const peer = p === this.client ? this.server : this.client;
      assert.ok(p.readBytes.length <= peer.sent.length, 'read more than was sent');
      for (let i = 0; i < p.readBytes.length; i++) if (p.readBytes[i] !== peer.sent[i]) assert.fail(`byte ${i} differs`);
    }
  }

  /** A healed network: everything delivered in order, timers run, until nothing moves. */
  settle(): void {
    this.client.read();
    this.server.read();
    for (let round = 0; round < 5000; round++) {
      if (this.net.length > 0) { this.deliver(0); this.client.read(); this.server.read(); this.check(); continue; }
      const next = Math.min(this.a.nextDeadline(), this.b.nextDeadline());
      if (next === Infinity) return;
      this.now = Math.max(this.now, next);
      this.a.poll(this.now);
      this.b.poll(this.now);
      this.check();
    }
  }
}

test('the endpoint follows the model over random event orders (deliver, drop, duplicate, reorder, send, read, close, abort, time)', () => {
  let checkedTransfers = 0;
  let closedCleanly = 0;
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.array(cmd, { minLength: 10, maxLength: 120 }), fc.boolean(), (isnSeed, cmds, closeAtEnd) => {
    const w = new World(isnSeed);
    w.check();
    for (const c of cmds) { w.apply(c); w.check(); }
    if (closeAtEnd) {
      // Half the runs end with both sides closing on a healed network: both must reach CLOSED through FIN, not RST.
      w.settle();
      w.client.sock?.close(w.now);
      w.server.sock?.close(w.now);
    }
    w.settle();
    const failed = [w.client.closeReason, w.server.closeReason].some((r) => r === 'reset' || r === 'timeout' || r === 'refused');
    if (failed || w.server.sock === null) return;
    assert.ok(w.client.sock!.state !== 'syn-sent' && w.server.sock.state !== 'syn-received', 'a healed network finishes the handshake');
    // Nothing was lost for good: each side read every byte the other's send() accepted.
    assert.deepEqual(w.server.readBytes, w.client.sent);
    assert.deepEqual(w.client.readBytes, w.server.sent);
    if (w.client.sent.length + w.server.sent.length > 0) checkedTransfers++;
    if (closeAtEnd) {
      assert.equal(w.client.sock!.state, 'closed');
      assert.equal(w.server.sock.state, 'closed');
      closedCleanly++;
    }
    if (w.client.sock!.state !== 'established' && w.client.sock!.state !== 'close-wait') assert.ok(w.server.ended, 'the client closed: the server saw the FIN');
    if (w.server.sock.state !== 'established' && w.server.sock.state !== 'close-wait') assert.ok(w.client.ended, 'the server closed: the client saw the FIN');
  }), { numRuns: 300, seed, verbose: 1 });
  // The property is only worth its runs if many of them carried data to the end and closed both ways.
  assert.ok(checkedTransfers > 60, `only ${checkedTransfers} runs carried data to the end`);
  assert.ok(closedCleanly > 10, `only ${closedCleanly} runs closed both ways`);
});
