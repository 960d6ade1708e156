// Hostile bytes at the DNS forwarder, from clients and from upstream: random bytes (fast-check; DNS_HOSTILE_SEED=n
// replays a run), every truncation of real messages, names past 255 bytes, compression-pointer loops crafted by hand.
// Each is a counted drop (or a refusal to the client); nothing throws, nothing is cached.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DnsRepr } from '../wire/dns.js';
import { hex } from './wire-samples.js';
import type { DnsForwarderCounters } from '../actors/dns/dns-forwarder.js';
import { a, harness, query, respond } from './support/dns-upstream.js';

const SEED = Number(process.env.DNS_HOSTILE_SEED ?? Date.now() % 1_000_000);
console.log(`dns-hostile: seed ${SEED} (DNS_HOSTILE_SEED=${SEED} replays it)`);
const T0 = 1_000;

/** The counters that moved, and by how much. */
function moved(c: DnsForwarderCounters): Partial<DnsForwarderCounters> {
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== 0));
}

/** A header (id 0x1234, QR as given, one question) followed by `rest`. */
const withHeader = (qr: boolean, rest: string) => hex(`1234 ${qr ? '8180' : '0100'} 0001 0000 0000 0000 ${rest}`);

/** Harness with one outstanding query for www.example.com, and the id it went out with. */
function waiting() {
  const h = harness({ randomId: () => 0x1234 });
  h.fwd.query(query('www.example.com'), 'c', T0);
  return h;
}

describe('random bytes', () => {
  test('random client bytes never throw; each is dropped, refused or forwarded, and counted (fast-check)', () => {
    const h = harness({ seed: SEED });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const before = { ...h.fwd.counters };
      h.fwd.query(bytes, 'c', T0);
      const after = h.fwd.counters;
      const outcomes = ['malformedQueries', 'notQueries', 'formErr', 'notImplemented', 'answeredFromCache', 'coalesced', 'upstreamQueries', 'overloaded', 'tooManyWaiters', 'unencodable'] as const;
      assert.equal(outcomes.reduce((n, k) => n + after[k] - before[k], 0), 1, `one outcome for ${Buffer.from(bytes).toString('hex')}`);
    }), { numRuns: 2000, seed: SEED, endOnFailure: true });
  });

  test('random upstream bytes never throw and never reach a client or the cache (fast-check)', () => {
    const h = waiting();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const outcome = h.fwd.receiveUpstream(bytes, T0);
      if (outcome.kind === 'answered') return; // 1 in 2^16 guesses the id, and then also needs the question
      assert.ok(outcome.kind === 'dropped' || outcome.kind === 'truncated');
    }), { numRuns: 2000, seed: SEED, endOnFailure: true });
    assert.deepEqual([h.replies.length, h.table.size], [0, 0]);
  });

  test('random mutations of a real answer never throw (fast-check)', () => {
    const h = waiting();
    const real = respond(h.sent[0], { answers: [a('www.example.com', '192.0.2.1')] });
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(real.length - 1), fc.nat(255)), { minLength: 1, maxLength: 6 }), (edits) => {
      const bytes = real.slice();
      for (const [at, v] of edits) bytes[at] = v;
      h.fwd.receiveUpstream(bytes, T0);
      if (h.fwd.outstanding === 0) h.fwd.query(query('www.example.com'), 'c', T0 + 100_000_000); // past any TTL: asks again
    }), { numRuns: 1000, seed: SEED, endOnFailure: true });
  });
});

describe('truncated messages', () => {
  test('every prefix of a real answer is dropped as malformed, and the whole one is then taken', () => {
    const h = waiting();
    const real = respond(h.sent[0], { answers: [a('www.example.com', '192.0.2.1'), a('www.example.com', '192.0.2.2')] });
    for (let n = 0; n < real.length; n++) {
      assert.deepEqual(h.fwd.receiveUpstream(real.subarray(0, n), T0), { kind: 'dropped', reason: 'malformedResponses' }, `length ${n}`);
    }
    assert.equal(h.fwd.receiveUpstream(real, T0).kind, 'answered');
    assert.deepEqual(moved(h.fwd.counters), { queries: 1, upstreamQueries: 1, malformedResponses: real.length, upstreamAnswers: 1 });
  });

  test('every prefix of a query is dropped as malformed, with no reply', () => {
    const h = harness();
    const q = query('www.example.com');
    for (let n = 0; n < q.length; n++) h.fwd.query(q.subarray(0, n), 'c', T0);
    assert.deepEqual([h.fwd.counters.malformedQueries, h.replies.length, h.sent.length], [q.length, 0, 0]);
  });
});

describe('names', () => {
  test('a name of 5 labels of 63 bytes (past 255) is malformed from either side', () => {
    const label = `3f${'61'.repeat(63)}`;
    const name = `${label.repeat(5)} 00 0001 0001`;
    const h = waiting();
    h.fwd.query(withHeader(false, name), 'c', T0);
    assert.equal(h.fwd.receiveUpstream(withHeader(true, name), T0).kind, 'dropped');
    assert.deepEqual([h.fwd.counters.malformedQueries, h.fwd.counters.malformedResponses], [1, 1]);
  });

  test('a label whose bytes are not UTF-8 decodes to a longer label: refused with FORMERR, not thrown', () => {
    const h = harness();
    h.fwd.query(withHeader(false, `3f${'ff'.repeat(63)} 00 0001 0001`), 'c', T0);
    assert.deepEqual([h.fwd.counters.unencodable, h.sent.length, h.replies.length], [1, 0, 1]);
  });

  test('a 250-byte name of escaped bytes is forwarded and answered, but not cached (its key would not be a file name)', () => {
    const h = harness();
    const name = Array.from({ length: 4 }, () => '+'.repeat(60)).join('.');
    h.fwd.query(query(name), 'c', T0);
    h.fwd.receiveUpstream(respond(h.sent[0], { answers: [a(name, '192.0.2.1')] }), T0);
    assert.deepEqual([h.replies.length, h.table.size, h.fwd.cache.counters.unstorable], [1, 0, 1]);
  });
});

describe('compression pointers', () => {
  const cases: [string, string][] = [
    ['a pointer to itself', 'c00c 0001 0001'],
    ['two pointers to each other', '01 61 c0 0e c0 0c 0001 0001'],
    ['a pointer past the end', 'c0ff 0001 0001'],
    ['a pointer cut in half', 'c0'],
    ['a reserved label type (0x40)', '40 61 00 0001 0001'],
  ];
  for (const [what, rest] of cases) {
    test(`${what}: a counted drop from a client and from upstream`, () => {
      const h = waiting();
      h.fwd.query(withHeader(false, rest), 'c', T0);
      const outcome = h.fwd.receiveUpstream(withHeader(true, rest), T0);
      assert.ok(outcome.kind === 'dropped', JSON.stringify(outcome));
      assert.equal(h.fwd.counters.malformedQueries + h.fwd.counters.formErr, 1);
      assert.equal(h.fwd.counters.malformedResponses + h.fwd.counters.wrongQuestion, 1);
      assert.equal(h.replies.length, h.fwd.counters.formErr);
    });
  }

  test('a loop in an answer record\'s name drops the whole answer; the query keeps waiting', () => {
    const h = waiting();
    const real = respond(h.sent[0], { answers: [a('www.example.com', '192.0.2.1')] });
    const answerAt = 12 + DnsRepr.parse(h.sent[0]).message.questions![0].name.length + 2 + 4;
    const looped = real.slice();
    looped[answerAt] = 0xc0; looped[answerAt + 1] = answerAt; // the record's owner name points at itself
    assert.deepEqual(h.fwd.receiveUpstream(looped, T0), { kind: 'dropped', reason: 'malformedResponses' });
    assert.equal(h.fwd.outstanding, 1);
  });
});
