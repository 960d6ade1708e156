// The forwarding resolver (actors/dns/dns-forwarder.ts) against a scripted upstream on a simulated clock: cache hits,
// TTLs, RFC 2308 negative answers, spoof checks, coalescing, timeouts, truncation, and DNS over TCP (dns-stream.ts,
// with a fast-check property over every way of cutting the stream; DNS_STREAM_SEED=n replays a run).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DnsRcode, DnsRepr, type DnsMessage } from '../wire/dns.js';
import { DnsStream } from '../actors/dns/dns-stream.js';
import { dnsKey } from '../actors/dns/dns-table.js';
import { a, cname, harness, query, respond, soa, ttls } from './support/dns-upstream.js';

const SEED = Number(process.env.DNS_STREAM_SEED ?? Date.now() % 1_000_000);
console.log(`dns-forwarder properties: seed ${SEED} (DNS_STREAM_SEED=${SEED} replays it)`);

const T0 = 5_000_000;
const rcodeOf = (m: DnsMessage) => (m.flags ?? 0) & 0xf;

describe('answers from upstream, then from the cache', () => {
  test('the first answer comes from upstream, the second from the cache: upstream asked once', () => {
    const h = harness();
    h.fwd.query(query('www.example.com', 'A', 0x1111), 'client-1', T0);
    assert.equal(h.sent.length, 1);
    assert.equal(h.replies.length, 0);
    const outcome = h.fwd.receiveUpstream(respond(h.sent[0], { answers: [a('www.example.com', '192.0.2.10', 300)] }), T0 + 20);
    assert.deepEqual(outcome, { kind: 'answered', clients: 1 });
    h.fwd.query(query('www.example.com', 'A', 0x2222), 'client-2', T0 + 1000);
    assert.equal(h.sent.length, 1, 'the second query was not sent upstream');
    assert.deepEqual(h.replies.map((r) => [r.to, r.message.id, r.message.answers?.[0] && 'data' in r.message.answers[0] ? r.message.answers[0].data : null]),
      [['client-1', 0x1111, '192.0.2.10'], ['client-2', 0x2222, '192.0.2.10']]);
    assert.equal(h.fwd.counters.answeredFromCache, 1);
    assert.ok(h.table.has('www.example.com~A~IN'));
  });

  test('the upstream query has a fresh id from the injected source and the client\'s question copied', () => {
    const ids = [0xbeef];
    const h = harness({ randomId: () => ids.shift() ?? 7 });
    h.fwd.query(query('MiXeD.example.com', 'AAAA', 0x0101), 'c', T0);
    const sent = DnsRepr.parse(h.sent[0]).message;
    assert.equal(sent.id, 0xbeef);
    assert.deepEqual(sent.questions, [{ name: 'MiXeD.example.com', type: 'AAAA', class: 'IN' }]);
  });

  test('TTLs count down on the simulated clock, and an expired row goes upstream again', () => {
    const h = harness();
    h.fwd.query(query('www.example.com'), 'c', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], { answers: [cname('www.example.com', 'web.example.com', 600), a('web.example.com', '192.0.2.10', 60)] }), T0);
    h.fwd.query(query('www.example.com'), 'c', T0 + 25_000);
    h.fwd.query(query('www.example.com'), 'c', T0 + 59_500);
    assert.deepEqual(h.replies.map((r) => ttls(r.message)), [[60, 60], [35, 35], [0, 0]]);
    h.fwd.query(query('www.example.com'), 'c', T0 + 60_000);
    assert.equal(h.sent.length, 2);
  });

  test('the question is echoed in the client\'s letter case, and the answer names as upstream gave them', () => {
    const h = harness();
    h.fwd.query(query('www.example.com'), 'c', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], { answers: [a('www.example.com', '192.0.2.10')] }), T0);
    h.fwd.query(query('WWW.Example.Com'), 'c', T0 + 1);
    assert.deepEqual(h.replies[1].message.questions, [{ name: 'WWW.Example.Com', type: 'A', class: 'IN' }]);
    assert.equal(h.replies[1].message.answers?.length, 1);
  });
});

describe('negative answers (RFC 2308)', () => {
  test('NXDOMAIN is cached for the SOA minimum and served with the SOA in the authority section', () => {
    const h = harness();
    h.fwd.query(query('nope.example.com'), 'c', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], { rcode: DnsRcode.NxDomain, authorities: [soa('example.com', 3600, 30)] }), T0);
    h.fwd.query(query('nope.example.com'), 'c', T0 + 10_000);
    const cached = h.replies[1].message;
    assert.equal(rcodeOf(cached), DnsRcode.NxDomain);
    assert.deepEqual(cached.authorities?.map((r) => [r.type, r.name, 'ttl' in r ? r.ttl : -1]), [['SOA', 'example.com', 20]]);
    assert.equal(h.sent.length, 1);
    h.fwd.query(query('nope.example.com'), 'c', T0 + 30_000);
    assert.equal(h.sent.length, 2, 'asked again once the SOA minimum passed');
  });

  test('NODATA is cached for the SOA minimum likewise', () => {
    const h = harness();
    h.fwd.query(query('www.example.com', 'AAAA'), 'c', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], { authorities: [soa('example.com', 3600, 45)] }), T0);
    h.fwd.query(query('www.example.com', 'AAAA'), 'c', T0 + 44_000);
    assert.equal(h.sent.length, 1);
    assert.deepEqual([rcodeOf(h.replies[1].message), h.replies[1].message.answers?.length], [DnsRcode.NoError, 0]);
    h.fwd.query(query('www.example.com', 'AAAA'), 'c', T0 + 45_000);
    assert.equal(h.sent.length, 2);
  });

  test('an upstream SERVFAIL is relayed and not cached', () => {
    const h = harness();
    h.fwd.query(query('broken.example.com'), 'c', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], { rcode: DnsRcode.ServFail }), T0);
    assert.equal(rcodeOf(h.replies[0].message), DnsRcode.ServFail);
    assert.equal(h.fwd.counters.relayedErrors, 1);
    assert.equal(h.table.size, 0);
  });
});

describe('spoofed and bad upstream answers', () => {
  test('a wrong id is dropped and counted; the query still waits', () => {
    const h = harness();
    h.fwd.query(query('www.example.com'), 'c', T0);
    const id = DnsRepr.parse(h.sent[0]).message.id!;
    const spoof = respond(h.sent[0], { id: (id + 1) & 0xffff, answers: [a('www.example.com', '203.0.113.66')] });
    assert.deepEqual(h.fwd.receiveUpstream(spoof, T0), { kind: 'dropped', reason: 'unknownId' });
    assert.deepEqual([h.replies.length, h.fwd.outstanding, h.fwd.counters.unknownId], [0, 1, 1]);
  });

  test('the right id with a different question is dropped; the real answer after it is taken', () => {
    const h = harness();
    h.fwd.query(query('www.example.com'), 'c', T0);
    for (const questions of [[{ name: 'evil.example', type: 'A' as const, class: 'IN' as const }], [{ name: 'www.example.com', type: 'AAAA' as const, class: 'IN' as const }], []]) {
      const outcome = h.fwd.receiveUpstream(respond(h.sent[0], { questions, answers: [a('www.example.com', '203.0.113.66')] }), T0);
      assert.deepEqual(outcome, { kind: 'dropped', reason: 'wrongQuestion' });
    }
    h.fwd.receiveUpstream(respond(h.sent[0], { questions: [{ name: 'WWW.EXAMPLE.COM', type: 'A', class: 'IN' }], answers: [a('www.example.com', '192.0.2.10')] }), T0);
    assert.equal(h.fwd.counters.wrongQuestion, 3);
    assert.deepEqual(h.replies.map((r) => r.message.answers?.map((x) => ('data' in x ? x.data : null))), [['192.0.2.10']]);
  });

  test('records off the question\'s CNAME chain are dropped, counted, and neither cached nor served', () => {
    const h = harness();
    h.fwd.query(query('www.example.com'), 'c', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], {
      answers: [cname('www.example.com', 'web.example.com'), a('web.example.com', '192.0.2.10'), a('bank.example', '203.0.113.66'), a('www.example.com.evil', '203.0.113.67')],
      authorities: [soa('evil.example', 60, 60)],
    }), T0);
    assert.equal(h.fwd.counters.outOfBailiwick, 3);
    assert.deepEqual(h.replies[0].message.answers?.map((r) => r.name), ['www.example.com', 'web.example.com']);
    assert.deepEqual([...h.table.entries()].map(([k]) => k), ['www.example.com~A~IN']);
    assert.equal(h.table.get(dnsKey({ name: 'bank.example', type: 'A', class: 'IN' })!), undefined);
  });

  test('a query (QR clear) arriving from upstream is dropped as notResponses', () => {
    const h = harness();
    h.fwd.query(query('www.example.com'), 'c', T0);
    assert.deepEqual(h.fwd.receiveUpstream(h.sent[0], T0), { kind: 'dropped', reason: 'notResponses' });
  });
});

describe('waiting clients', () => {
  test('concurrent identical queries share one upstream query, each answered with its own id', () => {
    const h = harness();
    for (const [i, name] of ['www.example.com', 'WWW.example.com', 'www.EXAMPLE.com'].entries()) h.fwd.query(query(name, 'A', 100 + i), `c${i}`, T0 + i);
    h.fwd.query(query('other.example.com', 'A', 200), 'c9', T0);
    assert.equal(h.sent.length, 2);
    assert.equal(h.fwd.counters.coalesced, 2);
    h.fwd.receiveUpstream(respond(h.sent[0], { answers: [a('www.example.com', '192.0.2.10')] }), T0 + 5);
    assert.deepEqual(h.replies.map((r) => [r.to, r.message.id, r.message.questions?.[0].name]),
      [['c0', 100, 'www.example.com'], ['c1', 101, 'WWW.example.com'], ['c2', 102, 'www.EXAMPLE.com']]);
  });

  test('an upstream query unanswered past the timeout gives its clients SERVFAIL, and nextDeadline says when', () => {
    const h = harness({ forwarder: { timeoutMs: 2000 } });
    h.fwd.query(query('slow.example.com', 'A', 1), 'c1', T0);
    h.fwd.query(query('slow.example.com', 'A', 2), 'c2', T0 + 500);
    assert.equal(h.fwd.nextDeadline(), T0 + 2000);
    h.fwd.poll(T0 + 1999);
    assert.equal(h.replies.length, 0);
    h.fwd.poll(T0 + 2000);
    assert.deepEqual(h.replies.map((r) => [r.to, r.message.id, rcodeOf(r.message)]), [['c1', 1, DnsRcode.ServFail], ['c2', 2, DnsRcode.ServFail]]);
    assert.deepEqual([h.fwd.counters.timeouts, h.fwd.outstanding, h.fwd.nextDeadline()], [1, 0, Infinity]);
    const late = h.fwd.receiveUpstream(respond(h.sent[0], { answers: [a('slow.example.com', '192.0.2.10')] }), T0 + 2500);
    assert.deepEqual(late, { kind: 'dropped', reason: 'unknownId' });
  });

  test('past maxOutstanding a new question gets SERVFAIL at once', () => {
    const h = harness({ forwarder: { maxOutstanding: 2 } });
    for (const n of ['a', 'b', 'c']) h.fwd.query(query(`${n}.example.com`), n, T0);
    assert.deepEqual([h.sent.length, h.fwd.counters.overloaded, rcodeOf(h.replies[0].message)], [2, 1, DnsRcode.ServFail]);
  });

  test('an id already in use is never handed out twice', () => {
    const ids = [5, 5, 5, 6];
    const h = harness({ randomId: () => ids.shift() ?? 9 });
    h.fwd.query(query('a.example.com'), 'a', T0);
    h.fwd.query(query('b.example.com'), 'b', T0);
    assert.deepEqual(h.sent.map((q) => DnsRepr.parse(q).message.id), [5, 6]);
  });
});

describe('sizes, truncation and TCP', () => {
  const many = Array.from({ length: 40 }, (_, i) => a('big.example.com', `192.0.2.${i + 1}`));

  test('an answer too big for 512 bytes of UDP goes out header + question with TC; over TCP whole', () => {
    const h = harness();
    h.fwd.query(query('big.example.com'), 'udp', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], { answers: many }), T0, 'tcp');
    h.fwd.query(query('big.example.com'), 'tcp', T0, 'tcp');
    assert.deepEqual([h.replies[0].message.flag_tc, h.replies[0].message.answers?.length, h.replies[0].bytes.length <= 512], [true, 0, true]);
    assert.deepEqual([h.replies[1].message.flag_tc, h.replies[1].message.answers?.length], [false, 40]);
  });

  test('a truncated upstream answer is not cached: it hands back the query to resend over TCP', () => {
    const h = harness();
    h.fwd.query(query('big.example.com'), 'c', T0);
    const outcome = h.fwd.receiveUpstream(respond(h.sent[0], { truncated: true }), T0 + 10);
    assert.equal(outcome.kind, 'truncated');
    assert.deepEqual(outcome.kind === 'truncated' ? outcome.query : null, h.sent[0]);
    assert.deepEqual([h.replies.length, h.table.size, h.fwd.outstanding], [0, 0, 1]);
    const upstreamTcp = new DnsStream((m, now) => h.fwd.receiveUpstream(m, now, 'tcp'));
    const framed = DnsStream.frame(respond(h.sent[0], { answers: many }));
    upstreamTcp.receive(framed.subarray(0, 100), T0 + 20);
    upstreamTcp.receive(framed.subarray(100), T0 + 21);
    assert.deepEqual([h.replies.length, h.table.size, h.fwd.counters.truncatedUpstream], [1, 1, 1]);
  });

  test('a TCP client is served through a DnsStream, replies framed on its connection', () => {
    const h = harness();
    const toClient: Uint8Array[] = [];
    const server = new DnsStream((m, now) => h.fwd.query(m, 'tcp-1', now, 'tcp'));
    const both = [...DnsStream.frame(query('x.example.com', 'A', 1)), ...DnsStream.frame(query('y.example.com', 'A', 2))];
    server.receive(Uint8Array.from(both.slice(0, 3)), T0);
    server.receive(Uint8Array.from(both.slice(3)), T0);
    assert.equal(h.sent.length, 2);
    for (const q of h.sent) h.fwd.receiveUpstream(respond(q, { answers: [a(DnsRepr.parse(q).message.questions![0].name, '192.0.2.1')] }), T0);
    for (const r of h.replies) toClient.push(DnsStream.frame(r.bytes));
    const got: number[] = [];
    const client = new DnsStream((m) => got.push(DnsRepr.parse(m).message.id!));
    for (const f of toClient) client.receive(f, T0);
    assert.deepEqual(got, [1, 2]);
  });

  test('any cut of a stream of messages gives back the messages, in order (fast-check)', () => {
    const message = fc.uint8Array({ minLength: 12, maxLength: 700 });
    fc.assert(fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (messages, cuts) => {
      const stream = Uint8Array.from(messages.flatMap((m) => [...DnsStream.frame(m)]));
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
      const got: Uint8Array[] = [];
      const s = new DnsStream((m) => got.push(m));
      let from = 0;
      for (const p of [...points, stream.length]) { s.receive(stream.subarray(from, p), T0); from = p; }
      assert.deepEqual(got, messages);
      assert.equal(s.buffered, 0);
    }), { numRuns: 300, seed: SEED, endOnFailure: true });
  });

  test('a framed message shorter than a DNS header is dropped as a runt, and the stream goes on', () => {
    const got: number[] = [];
    const s = new DnsStream((m) => got.push(m.length));
    s.receive(Uint8Array.from([...DnsStream.frame(new Uint8Array(3)), ...DnsStream.frame(new Uint8Array(12))]), T0);
    assert.deepEqual([got, s.counters.runts], [[12], 1]);
  });
});

describe('CNAME chains', () => {
  test('a chain followed through records in any order keeps every link; a loop ends it', () => {
    const h = harness();
    h.fwd.query(query('a.example.com'), 'c', T0);
    const answers = [a('c.example.com', '192.0.2.3'), cname('b.example.com', 'c.example.com'), cname('a.example.com', 'b.example.com'), cname('c.example.com', 'a.example.com')];
    h.fwd.receiveUpstream(respond(h.sent[0], { answers }), T0);
    assert.equal(h.fwd.counters.outOfBailiwick, 0);
    assert.equal(h.replies[0].message.answers?.length, 4);
  });
});
