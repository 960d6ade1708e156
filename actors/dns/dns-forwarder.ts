// A forwarding resolver (what dnsmasq is to a home router): clients' queries are answered from the DNS cache or sent
// upstream under a fresh random id (RFC 5452); an upstream answer is taken only for an outstanding id and the exact
// question, its off-chain records dropped, then cached and sent to every client waiting on that question.
import { DnsRcode, dnsOpcode, dnsRcode, tryParseDns, type DnsMessage } from '../../wire/dns.js';
import { WireError } from '../../wire/error.js';
import { DnsCache } from './dns-cache.js';
import { dnsKey, asciiLower, type DnsEntry, type DnsQuestion } from './dns-table.js';
import { inBailiwick } from './bailiwick.js';
import { answerFromEntry, askerOf, errorReply, headerOnly, upstreamQuery, type DnsAsker, type DnsTransport } from './dns-answer.js';

export interface DnsForwarderIo<C> {
  /** Sends a query to the upstream server (over UDP unless the caller retries a truncated answer over TCP). */
  upstream(payload: Uint8Array, now: number): void;
  /** Sends a reply to a client, `to` being whatever `query` was given as `from`. */
  reply(to: C, payload: Uint8Array, now: number): void;
  /** A 16-bit query id; must be unpredictable off-path (RFC 5452 §9.2), e.g. crypto.randomInt(65536). */
  randomId(): number;
}

export interface DnsForwarderOptions {
  /** How long an upstream query may go unanswered before its clients get SERVFAIL, ms. */
  timeoutMs?: number;
  /** Upstream queries outstanding at once; past it new questions get SERVFAIL (dnsmasq's dns-forward-max: 150). */
  maxOutstanding?: number;
  /** Clients waiting on one outstanding question; more are dropped (a flood of one name costs one query). */
  maxWaiters?: number;
}

export interface DnsForwarderCounters {
  queries: number;
  answeredFromCache: number;
  upstreamQueries: number;
  /** Queries that joined an upstream query already outstanding for their question. */
  coalesced: number;
  upstreamAnswers: number;
  /** Upstream error rcodes (SERVFAIL, REFUSED, ...) passed on to the clients, not cached. */
  relayedErrors: number;
  timeouts: number;
  // Client queries dropped or refused, one reason each:
  malformedQueries: number;
  notQueries: number;
  notImplemented: number;
  formErr: number;
  overloaded: number;
  tooManyWaiters: number;
  // Upstream messages dropped, one reason each:
  malformedResponses: number;
  notResponses: number;
  unknownId: number;
  wrongQuestion: number;
  /** Records (not messages) dropped from accepted answers: off the question's CNAME chain. */
  outOfBailiwick: number;
  /** Upstream answers with TC set over UDP: the caller should resend `query` over TCP. */
  truncatedUpstream: number;
  /** Replies dns-packet could not encode (a question or a row it cannot write): SERVFAIL or a bare header instead. */
  unencodable: number;
}

/** What became of an upstream message. */
export type UpstreamOutcome =
  | { kind: 'answered'; clients: number }
  | { kind: 'dropped'; reason: 'malformedResponses' | 'notResponses' | 'unknownId' | 'wrongQuestion' }
  | { kind: 'truncated'; query: Uint8Array };

/** One upstream query and the clients waiting on its answer. */
interface Outstanding<C> {
  id: number;
  key: string;
  question: DnsQuestion;
  deadline: number;
  query: Uint8Array;
  waiters: { to: C; asker: DnsAsker }[];
}

const DEFAULTS: Required<DnsForwarderOptions> = { timeoutMs: 5_000, maxOutstanding: 1_024, maxWaiters: 64 };
/** Fresh ids drawn before giving up on finding one not in use. */
const ID_TRIES = 8;

function newCounters(): DnsForwarderCounters {
  return {
    queries: 0, answeredFromCache: 0, upstreamQueries: 0, coalesced: 0, upstreamAnswers: 0, relayedErrors: 0, timeouts: 0,
    malformedQueries: 0, notQueries: 0, notImplemented: 0, formErr: 0, overloaded: 0, tooManyWaiters: 0,
    malformedResponses: 0, notResponses: 0, unknownId: 0, wrongQuestion: 0, outOfBailiwick: 0, truncatedUpstream: 0, unencodable: 0,
  };
}

/** A message's only question in the cache's form, or undefined when it has not exactly one. */
function onlyQuestion(m: DnsMessage): DnsQuestion | undefined {
  const qs = m.questions ?? [];
  return qs.length === 1 ? { name: qs[0].name, type: qs[0].type, class: qs[0].class ?? 'IN' } : undefined;
}

/** RFC 5452 §9.1: the same name (in any letter case), type and class. */
function sameQuestion(a: DnsQuestion, b: DnsQuestion): boolean {
  return a.type === b.type && a.class === b.class && asciiLower(a.name) === asciiLower(b.name);
}

export class DnsForwarder<C> {
  readonly counters: DnsForwarderCounters = newCounters();
  private readonly opts: Required<DnsForwarderOptions>;
  /** By id, in deadline order (one timeout for all, re-armed entries re-inserted at the end). */
  private readonly byId = new Map<number, Outstanding<C>>();
  private readonly byQuestion = new Map<string, Outstanding<C>>();

  constructor(readonly cache: DnsCache, private readonly io: DnsForwarderIo<C>, opts: DnsForwarderOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** Upstream queries waiting for an answer. */
  get outstanding(): number { return this.byId.size; }

  /** A client's query (a UDP payload, or one message from a DnsStream): answered now from the cache, or later. */
  query(payload: Uint8Array, from: C, now: number, transport: DnsTransport = 'udp'): void {
    this.counters.queries++;
    const parsed = tryParseDns(payload);
    if (parsed instanceof WireError) { this.counters.malformedQueries++; return; }
    const m = parsed.message as DnsMessage;
    if (m.type === 'response') { this.counters.notQueries++; return; }
    const q = onlyQuestion(m);
    if (q === undefined) {
      this.counters.formErr++;
      this.io.reply(from, headerOnly(m.id ?? 0, DnsRcode.FormErr), now);
      return;
    }
    const asker = askerOf(m, m.questions![0], transport);
    if (dnsOpcode(m) !== 0) {
      this.counters.notImplemented++;
      this.io.reply(from, errorReply(asker, DnsRcode.NotImp), now);
      return;
    }
    const hit = this.cache.lookup(q, now);
    if (hit !== undefined) {
      this.counters.answeredFromCache++;
      this.answer(from, asker, hit.entry, hit.ttlS, now);
      return;
    }
    this.forward(q, from, asker, now);
  }

  /** An upstream message (UDP payload, or one message of the TCP stream to upstream). */
  receiveUpstream(payload: Uint8Array, now: number, transport: DnsTransport = 'udp'): UpstreamOutcome {
    const parsed = tryParseDns(payload);
    if (parsed instanceof WireError) return this.dropped('malformedResponses');
    const m = parsed.message as DnsMessage;
    if (m.type !== 'response') return this.dropped('notResponses');
    const o = this.byId.get(m.id ?? -1);
    if (o === undefined) return this.dropped('unknownId');
    const q = onlyQuestion(m);
    // A spoof that guessed the id but not the question leaves the real query waiting.
    if (q === undefined || !sameQuestion(q, o.question)) return this.dropped('wrongQuestion');
    if (m.flag_tc && transport === 'udp') {
      this.counters.truncatedUpstream++;
      this.rearm(o, now);
      return { kind: 'truncated', query: o.query };
    }
    this.settle(o);
    this.counters.upstreamAnswers++;
    const rcode = dnsRcode(m);
    if (rcode !== DnsRcode.NoError && rcode !== DnsRcode.NxDomain) {
      this.counters.relayedErrors++;
      for (const w of o.waiters) this.io.reply(w.to, errorReply(w.asker, rcode), now);
      return { kind: 'answered', clients: o.waiters.length };
    }
    const kept = inBailiwick(o.question.name, m.answers ?? [], m.authorities ?? []);
    this.counters.outOfBailiwick += kept.dropped;
    const entry = this.cache.entryFor(o.question, rcode === DnsRcode.NxDomain ? 'NXDOMAIN' : 'NOERROR', kept.answers, kept.authorities, now);
    this.cache.insert(o.question, entry, now);
    const ttlS = Math.floor((entry.expires - now) / 1000);
    for (const w of o.waiters) this.answer(w.to, w.asker, entry, ttlS, now);
    return { kind: 'answered', clients: o.waiters.length };
  }

  /** Gives up on upstream queries past their deadline (SERVFAIL to their clients) and sweeps the cache. */
  poll(now: number): void {
    for (const o of this.byId.values()) {
      if (o.deadline > now) break;
      this.settle(o);
      this.counters.timeouts++;
      for (const w of o.waiters) this.io.reply(w.to, errorReply(w.asker, DnsRcode.ServFail), now);
    }
    this.cache.poll(now);
  }

  /** When `poll` has work next; Infinity when nothing waits. */
  nextDeadline(): number {
    let first = Infinity;
    for (const o of this.byId.values()) { first = o.deadline; break; }
    return Math.min(first, this.cache.nextDeadline());
  }

  /** Joins the outstanding query for `q`, or sends a new one upstream. */
  private forward(q: DnsQuestion, from: C, asker: DnsAsker, now: number): void {
    const key = dnsKey(q) ?? `${asciiLower(q.name)}\0${q.type}\0${q.class}`;
    const joined = this.byQuestion.get(key);
    if (joined !== undefined) {
      if (joined.waiters.length >= this.opts.maxWaiters) { this.counters.tooManyWaiters++; return; }
      this.counters.coalesced++;
      joined.waiters.push({ to: from, asker });
      return;
    }
    const id = this.byId.size < this.opts.maxOutstanding ? this.freshId() : undefined;
    if (id === undefined) {
      this.counters.overloaded++;
      this.io.reply(from, errorReply(asker, DnsRcode.ServFail), now);
      return;
    }
    let query: Uint8Array;
    try {
      query = upstreamQuery(id, asker);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      this.counters.unencodable++; // a decoded name dns-packet cannot write back (a label grown past 63 bytes)
      this.io.reply(from, errorReply(asker, DnsRcode.FormErr), now);
      return;
    }
    const o: Outstanding<C> = { id, key, question: q, deadline: now + this.opts.timeoutMs, query, waiters: [{ to: from, asker }] };
    this.byId.set(id, o);
    this.byQuestion.set(key, o);
    this.counters.upstreamQueries++;
    this.io.upstream(query, now);
  }

  private answer(to: C, asker: DnsAsker, entry: DnsEntry, ttlS: number, now: number): void {
    let bytes = answerFromEntry(asker, entry, ttlS);
    if (bytes === null) {
      this.counters.unencodable++;
      bytes = errorReply(asker, DnsRcode.ServFail);
    }
    this.io.reply(to, bytes, now);
  }

  /** An id no outstanding query uses, or undefined after ID_TRIES draws. */
  private freshId(): number | undefined {
    for (let i = 0; i < ID_TRIES; i++) {
      const id = this.io.randomId() & 0xffff;
      if (!this.byId.has(id)) return id;
    }
    return undefined;
  }

  /** A truncated answer: the query waits again, for its TCP retry, from now. */
  private rearm(o: Outstanding<C>, now: number): void {
    this.byId.delete(o.id);
    o.deadline = now + this.opts.timeoutMs;
    this.byId.set(o.id, o);
  }

  private settle(o: Outstanding<C>): void {
    this.byId.delete(o.id);
    this.byQuestion.delete(o.key);
  }

  private dropped(reason: 'malformedResponses' | 'notResponses' | 'unknownId' | 'wrongQuestion'): UpstreamOutcome {
    this.counters[reason]++;
    return { kind: 'dropped', reason };
  }
}
