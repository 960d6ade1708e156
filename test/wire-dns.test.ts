import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DnsRepr } from '../wire/dns.js';
import { WireError } from '../wire/error.js';
import { SAMPLES, hex } from './wire-samples.js';

/** The captured response (CNAME + A, with compression pointers), after Ethernet, IPv4 and UDP headers. */
const RESPONSE = SAMPLES.dnsResponse.subarray(42);

// A query for example.com A, id 0x1234, RD.
const QUERY = hex(`1234 0100 0001 0000 0000 0000
  07 6578616d706c65 03 636f6d 00 0001 0001`);

const isDnsError = (e: unknown): boolean => e instanceof WireError && e.protocol === 'dns';

describe('DNS', () => {
  test('parse reads the literal query', () => {
    const repr = DnsRepr.parse(QUERY);
    assert.equal(repr.message.id, 0x1234);
    assert.equal(repr.message.type, 'query');
    assert.deepEqual(repr.message.questions, [{ name: 'example.com', type: 'A', class: 'IN' }]);
    assert.equal(repr.bufferLen(), QUERY.length);
  });

  test('a message built from fields encodes to the literal query', () => {
    const built = DnsRepr.fromMessage({ id: 0x1234, type: 'query', flags: 0x0100, questions: [{ name: 'example.com', type: 'A', class: 'IN' }] });
    assert.deepEqual(built.toBytes(), QUERY);
  });

  test('a captured response with compressed names re-emits its own bytes', () => {
    const repr = DnsRepr.parse(RESPONSE);
    const answers = repr.message.answers ?? [];
    assert.deepEqual(answers.map((a) => [a.type, a.name, 'data' in a ? a.data : undefined]), [
      ['CNAME', 'alias.netbranch.test', 'www.netbranch.test'],
      ['A', 'www.netbranch.test', '10.203.0.10'],
    ]);
    const out = new Uint8Array(repr.bufferLen() + 4);
    assert.equal(repr.emit(out, 4), RESPONSE.length);
    assert.deepEqual(out.subarray(4), RESPONSE);
  });

  test('a parsed message is frozen, so an edit cannot be silently dropped by emit', () => {
    const repr = DnsRepr.parse(QUERY);
    assert.throws(() => { (repr.message as { id: number }).id = 7; }, TypeError);
    const changed = DnsRepr.fromMessage({ ...repr.message, id: 7 });
    assert.equal(DnsRepr.parse(changed.toBytes()).message.id, 7);
  });

  test('every message shorter than the 12-byte header is a truncation error naming the header', () => {
    for (let n = 0; n < 12; n++) {
      assert.throws(() => DnsRepr.parse(QUERY.subarray(0, n)),
        (e: unknown) => isDnsError(e) && (e as WireError).field === 'header' && (e as WireError).reason === 'truncated');
    }
  });

  test('every truncation inside the question is a WireError, not a RangeError', () => {
    for (let n = 12; n < QUERY.length; n++) assert.throws(() => DnsRepr.parse(QUERY.subarray(0, n)), isDnsError, `length ${n}`);
  });

  test('a compression pointer that points forward is a WireError naming the name', () => {
    const bytes = QUERY.slice();
    bytes[12] = 0xc0; bytes[13] = 0x20;
    assert.throws(() => DnsRepr.parse(bytes), (e: unknown) => isDnsError(e) && (e as WireError).field === 'name');
  });

  test('a name with a label over 63 bytes is refused naming the name', () => {
    assert.throws(() => DnsRepr.fromMessage({ questions: [{ name: `${'x'.repeat(64)}.com`, type: 'A' }] }),
      (e: unknown) => isDnsError(e) && (e as WireError).field === 'name');
    assert.throws(() => DnsRepr.fromMessage({ questions: [{ name: 'a..b', type: 'A' }] }), isDnsError);
  });

  test('a record dns-packet cannot encode is a WireError, not a TypeError', () => {
    const bad = DnsRepr.fromMessage({ answers: [{ type: 'MX', name: 'x', data: undefined as never }] });
    assert.throws(() => bad.toBytes(), isDnsError);
  });
});
