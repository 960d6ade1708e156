import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LossyChannel, type ChannelFaults } from './support/tcp-lossy-channel.js';
import type { TcpEndpointOptions, TcpSocket } from '../actors/tcp/tcp-endpoint.js';
import { tcpTable, tcpKey, type TcpState } from '../actors/tcp/tcp-table.js';
import { prng } from '../actors/sim/prng.js';
import { Store } from '../store/index.js';
import { TcpFlags, TcpPacket, TcpRepr, parseIpv4, type TcpOption } from '../wire/index.js';

const A = parseIpv4('10.14.0.1');
const B = parseIpv4('10.14.0.2');
const C = parseIpv4('10.14.0.3');
const SEED = Number(process.env.TCP_SEED ?? 1414);

function isnFrom(seed: number): () => number {
  const r = prng(seed);
  return () => Math.floor(r() * 2 ** 32) >>> 0;
}

function pair(seed: number, faults: ChannelFaults = {}, optsA: TcpEndpointOptions = {}, optsB: TcpEndpointOptions = {}) {
  const ch = new LossyChannel(seed, faults);
  const a = ch.endpoint(A, { isn: isnFrom(seed + 1), ...optsA });
  const b = ch.endpoint(B, { isn: isnFrom(seed + 2), ...optsB });
  return { ch, a, b };
}

function pattern(n: number, salt = 0): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (i * 131 + (i >>> 11) + salt) & 0xff;
  return d;
}

/** Collects everything a socket receives; closes it when the peer's FIN came. */
function sink(s: TcpSocket, ch: LossyChannel, closeOnEnd = true) {
  const got = { chunks: [] as Uint8Array[], bytes: 0, ended: false };
  s.onData = () => {
    let d;
    while ((d = s.read()) !== null) { got.chunks.push(d); got.bytes += d.length; }
  };
  s.onEnd = () => { got.ended = true; if (closeOnEnd) s.close(ch.now); };
  return got;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

/** Feeds `data` into the socket as the send buffer allows, then closes it. */
function pump(s: TcpSocket, ch: LossyChannel, data: Uint8Array, close = true) {
  let sent = 0;
  const go = () => {
    while (sent < data.length) {
      const n = s.send(data.subarray(sent, Math.min(data.length, sent + 64 * 1024)), ch.now);
      if (n === 0) break;
      sent += n;
    }
    if (sent === data.length && close) s.close(ch.now);
  };
  s.onEstablished = go;
  s.onWritable = go;
  return () => sent;
}

/** One transfer from A to B's port 80; returns what B received and both sockets. */
function transfer(seed: number, size: number, faults: ChannelFaults, opts: TcpEndpointOptions = {}) {
  const { ch, a, b } = pair(seed, faults, opts, opts);
  const l = b.listen(80);
  let got: ReturnType<typeof sink> | null = null;
  let server: TcpSocket | null = null;
  l.onAccept = (s) => { server = s; got = sink(s, ch); };
  const data = pattern(size, seed);
  const c = a.connect(B, 80, 0);
  pump(c, ch, data);
  ch.run(3_600_000, () => got !== null && got.ended && c.state === 'time-wait' && server!.state === 'closed');
  return { ch, a, b, c, server: server as TcpSocket | null, got: got as ReturnType<typeof sink> | null, data };
}

/** A segment from `src` as a peer would send it, checksum filled. */
function segment(src: number, dst: number, init: ConstructorParameters<typeof TcpRepr>[0], payload = new Uint8Array(0)): Uint8Array {
  const repr = new TcpRepr(init);
  const buf = new Uint8Array(repr.bufferLen(payload.length));
  repr.emit(TcpPacket.newUnchecked(buf), payload, src, dst);
  return buf;
}

function flagsOf(bytes: Uint8Array): number { return TcpPacket.newUnchecked(bytes).flags; }

function established(seed = SEED) {
  const { ch, a, b } = pair(seed);
  const l = b.listen(80);
  let server: TcpSocket | null = null;
  l.onAccept = (s) => { server = s; };
  const c = a.connect(B, 80, 0, 40000);
  ch.run(1000, () => server !== null && c.state === 'established');
  assert.ok(server, 'handshake completed');
  return { ch, a, b, c, s: server as TcpSocket, l };
}

describe('the TCP endpoint: handshake', () => {
  test('three segments open a connection both ways, MSS and window scale negotiated', () => {
    const { ch, a, b } = pair(SEED);
    ch.tapping = true;
    const l = b.listen(80);
    const accepted: TcpSocket[] = [];
    l.onAccept = (s) => accepted.push(s);
    const c = a.connect(B, 80, 0);
    let clientUp = false;
    c.onEstablished = () => { clientUp = true; };
    ch.run(1000);
    assert.equal(c.state, 'established');
    assert.ok(clientUp);
    assert.equal(accepted.length, 1);
    const s = accepted[0];
    assert.equal(s.state, 'established');
    assert.equal(s.remoteIp, A);
    assert.equal(s.remotePort, c.localPort);
    assert.ok(c.localPort >= 32768 && c.localPort <= 60999);
    assert.deepEqual(ch.tap.map((t) => flagsOf(t.bytes)), [TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.ACK]);
    const syn = TcpRepr.parse(TcpPacket.newChecked(ch.tap[0].bytes), A, B);
    assert.equal(syn.mss, 1460);
    assert.equal(syn.windowScale, 3, '256 KiB needs a shift of 3 to fit 16 bits');
    assert.equal(c.mss, 1460);
    assert.equal(c.sndWscale, 3);
    assert.equal(s.sndWscale, 3);
    assert.equal(a.connections, 1);
    assert.equal(b.connections, 1);
  });

  test('a SYN with the Linux option set (MSS, SACK-permitted, timestamps, wscale 7) is answered without SACK or timestamps', () => {
    const { ch, b } = pair(SEED);
    ch.tapping = true;
    b.listen(80);
    const linuxOptions: TcpOption[] = [
      { kind: 'mss', value: 1460 }, { kind: 'sack-permitted' }, { kind: 'timestamps', tsval: 12345, tsecr: 0 },
      { kind: 'nop' }, { kind: 'window-scale', shift: 7 },
    ];
    ch.offer(C, B, segment(C, B, { srcPort: 50000, dstPort: 80, seq: 1000, flags: TcpFlags.SYN, window: 64240, options: linuxOptions }));
    ch.run(100);
    const synAck = ch.tap.find((t) => t.src === B)!;
    const r = TcpRepr.parse(TcpPacket.newChecked(synAck.bytes), B, C);
    assert.equal(r.flags, TcpFlags.SYN | TcpFlags.ACK);
    assert.equal(r.ack, 1001);
    assert.equal(r.mss, 1460);
    assert.equal(r.windowScale, 3);
    assert.equal(r.sackPermitted, false);
    assert.equal(r.timestamps, undefined);
    assert.equal(b.halfOpenCount, 1);
  });

  test('connecting to a port nobody listens on is refused by a RST', () => {
    const { ch, a, b } = pair(SEED);
    const c = a.connect(B, 81, 0);
    let reason = '';
    c.onClose = (r) => { reason = r; };
    ch.run(1000);
    assert.equal(reason, 'refused');
    assert.equal(c.state, 'closed');
    assert.equal(b.counters.noSocket, 1);
    assert.equal(b.counters.resetsSent, 1);
    assert.equal(a.connections, 0);
  });

  test('simultaneous open: two SYNs cross and both sides reach ESTABLISHED', () => {
    const { ch, a, b } = pair(SEED);
    const x = a.connect(B, 5000, 0, 6000);
    const y = b.connect(A, 6000, 0, 5000);
    ch.run(5000);
    assert.equal(x.state, 'established');
    assert.equal(y.state, 'established');
    const got = sink(y, ch, false);
    x.send(pattern(3000), ch.now);
    ch.run(ch.now + 1000);
    assert.deepEqual(concat(got.chunks), pattern(3000));
  });
});

describe('the TCP endpoint: data', () => {
  test('a 1 MiB transfer on a clean link arrives byte for byte, then both sides close', () => {
    const { got, data, c, server, a } = transfer(SEED, 1 << 20, {});
    assert.ok(got && got.ended);
    assert.deepEqual(concat(got.chunks), data);
    assert.equal(c.state, 'time-wait');
    assert.equal(server!.state, 'closed');
    assert.equal(a.counters.retransmits, 0);
  });

  for (const seed of [SEED, SEED + 1, SEED + 2]) {
    test(`a 4 MiB transfer under 2% loss, 3% reorder and 2% duplication arrives byte for byte (seed ${seed})`, () => {
      const { got, data, a, b } = transfer(seed, 4 << 20, { drop: 0.02, reorder: 0.03, reorderMs: 8, duplicate: 0.02 });
      assert.ok(got && got.ended, 'the FIN arrived');
      assert.equal(got.bytes, data.length);
      assert.deepEqual(concat(got.chunks), data);
      assert.ok(a.counters.retransmits > 0);
      assert.ok(b.counters.outOfOrder > 0, 'out-of-order segments were kept');
    });
  }

  test('a 16 MiB transfer under 1% loss completes in sane simulated time (congestion control, not stop-and-wait)', () => {
    const { got, data, ch } = transfer(SEED, 16 << 20, { drop: 0.01, reorder: 0.01, reorderMs: 5, duplicate: 0.01 });
    assert.ok(got && got.ended);
    assert.deepEqual(concat(got.chunks), data);
    // 10 ms RTT: at 1% loss NewReno keeps tens of segments in flight; a timeout per loss would take minutes.
    assert.ok(ch.now < 120_000, `took ${ch.now} ms of simulated time`);
  });

  test('both directions at once: each side receives exactly what the other sent', () => {
    const { ch, c, s } = established();
    ch.faults = { drop: 0.02, reorder: 0.02, duplicate: 0.02 };
    const one = pattern(500_000, 1), two = pattern(300_000, 2);
    const gotC = sink(c, ch, false), gotS = sink(s, ch, false);
    pump(c, ch, one, false);
    pump(s, ch, two, false);
    c.onWritable!();
    s.onWritable!();
    ch.run(ch.now + 600_000, () => gotC.bytes === two.length && gotS.bytes === one.length);
    assert.deepEqual(concat(gotS.chunks), one);
    assert.deepEqual(concat(gotC.chunks), two);
  });

  test('send() takes no more than the send buffer and onWritable asks for the rest', () => {
    const { ch, c } = established();
    assert.equal(c.send(pattern(300_000), ch.now), 256 * 1024);
    assert.equal(c.sendSpace, 0);
    let writable = 0;
    c.onWritable = () => { writable++; };
    ch.run(ch.now + 1000);
    assert.ok(writable >= 1);
    assert.equal(c.sendSpace, 256 * 1024);
  });

  test('a zero window is probed by the persist timer until the reader drains it', () => {
    const { ch, a, b } = pair(SEED, {}, {}, { rcvBuffer: 8192 });
    const l = b.listen(80);
    let server: TcpSocket | null = null;
    l.onAccept = (s) => { server = s; };
    const c = a.connect(B, 80, 0);
    const data = pattern(40_000);
    pump(c, ch, data, false);
    ch.run(30_000);
    assert.ok(server);
    const s = server as TcpSocket;
    assert.equal(s.readable, 8192, 'the window is full');
    assert.ok(a.counters.persistProbes >= 3, `probes: ${a.counters.persistProbes}`);
    assert.equal(c.state, 'established', 'a zero window is not a timeout');
    const got = sink(s, ch, false);
    s.onData!();
    ch.run(ch.now + 120_000, () => got.bytes === data.length);
    assert.deepEqual(concat(got.chunks), data);
  });
});

describe('the TCP endpoint: retransmission', () => {
  test('an unanswered SYN is sent again after 1, 2, 4, 8, 16 and 32 s, then the connect times out', () => {
    const { ch, a } = pair(SEED, { drop: 1 });
    ch.tapping = true;
    const c = a.connect(B, 80, 0);
    let reason = '', at = -1;
    c.onClose = (r) => { reason = r; at = ch.now; };
    ch.run(400_000);
    assert.deepEqual(ch.tap.map((t) => t.at), [0, 1000, 3000, 7000, 15000, 31000, 63000]);
    assert.equal(reason, 'timeout');
    assert.equal(at, 127_000);
    assert.equal(a.counters.timeouts, 1);
  });

  test('lost data is retransmitted with the RTO doubling from the 200 ms floor (RFC 6298 backoff)', () => {
    const { ch, a, c } = established();
    ch.faults = { drop: 1 };
    ch.tapping = true;
    const t0 = ch.now;
    c.send(pattern(100), t0);
    ch.run(t0 + 13_000);
    const times = ch.tap.filter((t) => t.src === A).map((t) => t.at - t0);
    assert.deepEqual(times, [0, 200, 600, 1400, 3000, 6200, 12600]);
    assert.equal(a.counters.rtoExpired, 6);
    assert.equal(c.rtx.backoffs, 6);
    ch.faults = {};
    ch.run(ch.now + 30_000);
    assert.equal(c.sndUna, c.sndNxt, 'all acknowledged once the link heals (by the 7th retransmission, at 25.4 s)');
    assert.equal(c.rtx.backoffs, 7, 'Karn: the ACK of a retransmitted segment gives no sample, so the backoff stays');
  });

  test('three duplicate ACKs trigger one fast retransmit, without waiting for the RTO', () => {
    const { ch, a, c, s } = established();
    let dataSegments = 0;
    ch.dropIf = (src, _dst, bytes) => src === A && TcpPacket.newUnchecked(bytes).payloadLength > 0 && ++dataSegments === 3;
    const got = sink(s, ch, false);
    const data = pattern(30 * 1460);
    c.send(data, ch.now);
    ch.run(ch.now + 150, () => got.bytes === data.length);
    assert.deepEqual(concat(got.chunks), data);
    assert.equal(a.counters.fastRetransmits, 1);
    assert.equal(a.counters.rtoExpired, 0);
    assert.ok(a.counters.dupAcks >= 3);
  });
});

describe('the TCP endpoint: closing', () => {
  test('the active closer stays in TIME-WAIT for exactly 2MSL, the passive one goes through CLOSE-WAIT and LAST-ACK', () => {
    const { ch, a, c, s } = established();
    const seen: TcpState[] = [];
    const watch = () => { if (seen[seen.length - 1] !== s.state) seen.push(s.state); };
    s.onEnd = () => { watch(); s.close(ch.now); watch(); };
    let closedAt = -1;
    c.onClose = () => { closedAt = ch.now; };
    c.close(ch.now);
    ch.run(ch.now + 100);
    watch();
    assert.deepEqual(seen, ['close-wait', 'last-ack', 'closed']);
    assert.equal(c.state, 'time-wait');
    const entered = c.deadline - 60_000;
    ch.run(ch.now + 120_000);
    assert.equal(c.state, 'closed');
    assert.equal(closedAt - entered, 60_000);
    assert.equal(a.connections, 0);
  });

  test('a FIN retransmitted into TIME-WAIT is ACKed again and restarts the 2MSL timer', () => {
    const { ch, c, s } = established();
    s.onEnd = () => s.close(ch.now);
    let lastAcks = 0;
    // Lose the active closer's first ACK of the peer's FIN: the peer sends its FIN again.
    ch.dropIf = (src, _dst, bytes) => src === A && c.state === 'time-wait' && flagsOf(bytes) === TcpFlags.ACK && ++lastAcks === 1;
    let serverReason = '';
    s.onClose = (r) => { serverReason = r; };
    c.close(ch.now);
    ch.run(ch.now + 100);
    const firstDeadline = c.deadline;
    ch.run(ch.now + 5000, () => s.state === 'closed');
    assert.equal(serverReason, 'closed');
    assert.equal(lastAcks, 2);
    assert.ok(c.deadline > firstDeadline, 'the timer restarted');
    assert.equal(c.state, 'time-wait');
  });

  test('simultaneous close goes through CLOSING on both sides and ends in TIME-WAIT', () => {
    const { ch, c, s } = established();
    const states = new Set<TcpState>();
    c.close(ch.now);
    s.close(ch.now);
    const t0 = ch.now;
    for (let t = t0; t < t0 + 50; t++) { ch.run(t); states.add(c.state); states.add(s.state); }
    assert.ok(states.has('closing'), [...states].join());
    assert.equal(c.state, 'time-wait');
    assert.equal(s.state, 'time-wait');
  });

  test('data sent before close() all arrives before the FIN', () => {
    const { ch, c, s } = established();
    const got = sink(s, ch);
    const data = pattern(100_000);
    assert.equal(c.send(data, ch.now), data.length);
    c.close(ch.now);
    assert.equal(c.state, 'fin-wait-1');
    ch.run(ch.now + 5000, () => got.ended);
    assert.deepEqual(concat(got.chunks), data);
  });

  test('abort() resets the peer', () => {
    const { ch, c, s } = established();
    let reason = '';
    s.onClose = (r) => { reason = r; };
    c.abort(ch.now);
    assert.equal(c.state, 'closed');
    ch.run(ch.now + 100);
    assert.equal(reason, 'reset');
    assert.equal(s.state, 'closed');
  });
});

describe('the TCP endpoint: RST validation (RFC 5961)', () => {
  function rst(c: TcpSocket, seq: number): Uint8Array {
    return segment(B, A, { srcPort: 80, dstPort: c.localPort, seq, flags: TcpFlags.RST });
  }

  test('a RST in the window but not at RCV.NXT gets a challenge ACK and the connection lives', () => {
    const { ch, a, c } = established();
    ch.offer(B, A, rst(c, c.rcvNxt + 1000));
    ch.run(ch.now + 100);
    assert.equal(c.state, 'established');
    assert.equal(a.counters.challengeAcks, 1);
    assert.equal(a.counters.resetsIgnored, 1);
  });

  test('a RST outside the window is ignored', () => {
    const { ch, a, c } = established();
    ch.offer(B, A, rst(c, c.rcvNxt + 10_000_000));
    ch.run(ch.now + 100);
    assert.equal(c.state, 'established');
    assert.equal(a.counters.resetsIgnored, 1);
  });

  test('a RST exactly at RCV.NXT resets the connection', () => {
    const { ch, a, c } = established();
    let reason = '';
    c.onClose = (r) => { reason = r; };
    ch.offer(B, A, rst(c, c.rcvNxt));
    ch.run(ch.now + 100);
    assert.equal(reason, 'reset');
    assert.equal(a.counters.resetsReceived, 1);
    assert.equal(a.connections, 0);
  });

  test('a SYN on an established connection gets a challenge ACK, not a reset', () => {
    const { ch, a, c } = established();
    ch.offer(B, A, segment(B, A, { srcPort: 80, dstPort: c.localPort, seq: c.rcvNxt, flags: TcpFlags.SYN }));
    ch.run(ch.now + 100);
    assert.equal(c.state, 'established');
    assert.equal(a.counters.challengeAcks, 1);
  });

  test('an ACK for a connection that does not exist is answered by a RST with its ack as sequence number', () => {
    const { ch, b } = pair(SEED);
    ch.tapping = true;
    ch.offer(A, B, segment(A, B, { srcPort: 1234, dstPort: 99, seq: 5, ack: 777, flags: TcpFlags.ACK }));
    ch.run(100);
    const reply = TcpPacket.newUnchecked(ch.tap[1].bytes);
    assert.equal(reply.flags, TcpFlags.RST);
    assert.equal(reply.seq, 777);
    assert.equal(b.counters.noSocket, 1);
  });
});

describe('the TCP endpoint: listen backlog and SYN floods', () => {
  test('the accept queue holds at most the backlog; the other handshakes complete once accept() makes room', () => {
    const ch = new LossyChannel(SEED);
    const b = ch.endpoint(B, { isn: isnFrom(2) });
    const clients = [1, 2, 3, 4, 5].map((i) => ch.endpoint(parseIpv4(`10.14.1.${i}`), { isn: isnFrom(10 + i) }));
    const l = b.listen(80, 2);
    clients.forEach((e) => e.connect(B, 80, 0));
    ch.run(500);
    assert.equal(l.queued, 2);
    assert.equal(b.halfOpenCount, 3, 'their final ACKs were dropped: still SYN-RECEIVED here');
    assert.equal(b.counters.backlogFull, 3);
    const accepted = [l.accept(), l.accept()];
    assert.ok(accepted.every((x) => x !== null));
    assert.equal(l.accept(), null, 'only two were queued');
    ch.run(30_000, () => { let x; while ((x = l.accept()) !== null) accepted.push(x); return accepted.length === 5; });
    assert.equal(accepted.length, 5, 'SYN-ACK retransmissions got the rest in once room was made');
    assert.equal(b.halfOpenCount, 0);
  });

  test('a flood of 5,000 spoofed SYNs leaves half-open bounded, an established transfer intact, and a new client in by cookie', () => {
    const { ch, a, b, c, s } = established();
    const got = sink(s, ch, false);
    const data = pattern(2 << 20);
    pump(c, ch, data, false);
    c.onWritable!();
    const rand = prng(SEED);
    for (let i = 0; i < 5000; i++) {
      const src = (parseIpv4('172.16.0.0') + Math.floor(rand() * 65536)) >>> 0;
      ch.offer(src, B, segment(src, B, { srcPort: 1024 + i, dstPort: 80, seq: Math.floor(rand() * 2 ** 32), flags: TcpFlags.SYN, window: 1024, options: [{ kind: 'mss', value: 1400 }] }));
    }
    const late = ch.endpoint(C, { isn: isnFrom(99) });
    const lc = late.connect(B, 80, ch.now);
    ch.run(ch.now + 60_000, () => got.bytes === data.length && lc.state === 'established');
    assert.deepEqual(concat(got.chunks), data);
    assert.ok(b.halfOpenCount <= 256, `half-open: ${b.halfOpenCount}`);
    assert.equal(b.counters.halfOpenFull, 5000 - 256 + (b.counters.synCookiesAccepted > 0 ? 1 : 0));
    assert.ok(b.counters.synCookiesSent >= 4744);
    assert.equal(lc.state, 'established');
    assert.equal(b.counters.synCookiesAccepted, 1);
    assert.equal(lc.sndWscale, 0, 'no window scaling through a cookie');
    assert.equal(a.counters.timeouts, 0);
  });

  test('data flows both ways on a connection rebuilt from a SYN cookie', () => {
    const { ch, b } = pair(SEED, {}, {}, { maxHalfOpen: 0 });
    const l = b.listen(80);
    let server: TcpSocket | null = null;
    l.onAccept = (x) => { server = x; };
    const c = ch.endpoint(C, { isn: isnFrom(5) }).connect(B, 80, 0);
    const data = pattern(200_000);
    pump(c, ch, data);
    ch.run(100);
    assert.ok(server);
    const got = sink(server as TcpSocket, ch);
    (server as TcpSocket).onData!();
    ch.run(10_000, () => got.ended);
    assert.deepEqual(concat(got.chunks), data);
    assert.equal(b.counters.synCookiesAccepted, 1);
  });

  test('an ACK with a forged cookie is answered with a RST and opens nothing', () => {
    const { ch, b } = pair(SEED, {}, {}, { maxHalfOpen: 0 });
    b.listen(80);
    ch.offer(C, B, segment(C, B, { srcPort: 4000, dstPort: 80, seq: 1, flags: TcpFlags.SYN }));
    ch.run(50);
    ch.offer(C, B, segment(C, B, { srcPort: 4000, dstPort: 80, seq: 2, ack: 0x12345678, flags: TcpFlags.ACK }));
    ch.run(100);
    assert.equal(b.counters.synCookiesRejected, 1);
    assert.equal(b.connections, 0);
    assert.equal(b.counters.resetsSent, 1);
  });
});

describe('the TCP endpoint: hostile segments are counted drops', () => {
  test('bad data offsets, bad options and bad checksums are counted and never throw', () => {
    const { ch, b } = established();
    const good = segment(A, B, { srcPort: 40000, dstPort: 80, seq: 1, ack: 1, flags: TcpFlags.ACK });
    const low = good.slice();
    TcpPacket.newUnchecked(low).headerLength = 16;
    TcpPacket.newUnchecked(low).fillChecksum(A, B);
    const high = good.slice();
    TcpPacket.newUnchecked(high).headerLength = 60;
    TcpPacket.newUnchecked(high).fillChecksum(A, B);
    const badOpt = segment(A, B, { srcPort: 40000, dstPort: 80, flags: TcpFlags.SYN, options: [{ kind: 'unknown', code: 2, data: new Uint8Array(2) }] });
    badOpt[21] = 40; // the MSS option claims 40 bytes in a 4-byte options area
    TcpPacket.newUnchecked(badOpt).fillChecksum(A, B);
    const badSum = good.slice();
    badSum[16] ^= 0xff;
    for (const [bytes, reason] of [[low, 'badDataOffset'], [high, 'badDataOffset'], [badOpt, 'badOptions'], [badSum, 'badChecksum'], [good.subarray(0, 12), 'badDataOffset']] as const) {
      const before = b.counters[reason];
      b.receive(A, B, bytes, ch.now);
      assert.equal(b.counters[reason], before + 1, reason);
    }
  });

  test('10,000 random segments (valid checksums) neither throw nor disturb an established connection', () => {
    const { ch, a, b, c, s } = established();
    const rand = prng(SEED);
    for (let i = 0; i < 10_000; i++) {
      const len = 20 + Math.floor(rand() * 60);
      const bytes = new Uint8Array(len);
      for (let k = 0; k < len; k++) bytes[k] = Math.floor(rand() * 256);
      const pkt = TcpPacket.newUnchecked(bytes);
      pkt.dstPort = 80;
      pkt.srcPort = rand() < 0.5 ? c.localPort : pkt.srcPort;
      pkt.fillChecksum(A, B);
      b.receive(A, B, bytes, ch.now);
    }
    const got = sink(s, ch, false);
    const data = pattern(10_000);
    if (s.state === 'established') {
      c.send(data, ch.now);
      ch.run(ch.now + 5000, () => got.bytes === data.length);
      assert.deepEqual(concat(got.chunks), data);
    } else {
      assert.equal(s.state, 'closed', 'only a RST exactly at RCV.NXT could end it');
    }
    assert.ok(b.counters.badDataOffset + b.counters.badOptions > 0);
    assert.equal(a.counters.timeouts, 0);
  });
});

describe('the TCP endpoint: rows on the store', () => {
  test('flush(now) writes each connection to the tcp table and deletes it after TIME-WAIT', () => {
    const store = new Store([tcpTable]);
    const ta = store.main.fork();
    const tb = store.main.fork();
    const { ch, a, b } = pair(SEED, {}, { table: ta.table(tcpTable), timeWaitMs: 10_000 }, { table: tb.table(tcpTable) });
    const l = b.listen(80);
    let server: TcpSocket | null = null;
    l.onAccept = (x) => { server = x; };
    const c = a.connect(B, 80, 0, 40000);
    ch.run(100);
    a.flush(ch.now);
    b.flush(ch.now);
    const rowA = ta.table(tcpTable).get(tcpKey(A, 40000, B, 80));
    assert.ok(rowA);
    assert.equal(rowA.state, 'established');
    assert.equal(rowA.sndNxt, c.sndNxt);
    assert.equal(rowA.rcvNxt, c.rcvNxt);
    assert.equal(rowA.mss, 1460);
    assert.equal(tb.table(tcpTable).get(tcpKey(B, 80, A, 40000))?.state, 'established');
    c.send(pattern(5000), ch.now);
    c.close(ch.now);
    (server as TcpSocket | null)!.onEnd = () => server!.close(ch.now);
    ch.run(ch.now + 1000);
    a.flush(ch.now);
    b.flush(ch.now);
    const waiting = ta.table(tcpTable).get(tcpKey(A, 40000, B, 80));
    assert.equal(waiting?.state, 'time-wait');
    assert.equal(waiting?.timer, 'time-wait');
    assert.equal(waiting?.sndUna, waiting?.sndNxt);
    assert.equal(tb.table(tcpTable).get(tcpKey(B, 80, A, 40000)), undefined, 'the passive side is gone after LAST-ACK');
    ch.run(ch.now + 20_000);
    a.flush(ch.now);
    assert.equal(ta.table(tcpTable).get(tcpKey(A, 40000, B, 80)), undefined);
    ta.commit();
    store.main.merge(ta);
    assert.equal(store.main.table(tcpTable).size, 0);
  });

  test('flush writes one row per changed connection, however many segments changed it', () => {
    const writes: string[] = [];
    const rows = new Map<string, unknown>();
    const table = {
      get: (k: string) => rows.get(k) as never, has: (k: string) => rows.has(k),
      set: (k: string, v: unknown) => { writes.push(k); rows.set(k, v); },
      delete: (k: string) => { rows.delete(k); }, entries: () => rows.entries() as never, size: 0, sizeBound: 0,
    };
    const { ch, c } = (() => {
      const ch = new LossyChannel(SEED);
      const a = ch.endpoint(A, { isn: isnFrom(1), table });
      const b = ch.endpoint(B, { isn: isnFrom(2) });
      b.listen(80).onAccept = (x) => sink(x, ch, false);
      const c = a.connect(B, 80, 0);
      ch.run(100);
      c.send(pattern(100_000), ch.now);
      ch.run(ch.now + 1000);
      a.flush(ch.now);
      return { ch, c };
    })();
    assert.equal(writes.length, 1);
    assert.equal((rows.get(writes[0]) as { sndUna: number }).sndUna, c.sndUna);
    assert.ok(ch.now > 0);
  });
});

