// The messages the forwarder sends its clients: an answer built from a cache row (TTLs counted down), or an error
// reply; each echoes the client's id and question as it sent them, and is cut to a header and question with TC set
// when it does not fit the client's transport (RFC 1035 §4.2.1: 512 bytes over UDP, more with EDNS, RFC 6891).
import { DnsFlag, DnsRcode, DnsRepr, type DnsMessage, type DnsMessageInit } from '../../wire/dns.js';
import { WireError } from '../../wire/error.js';
import { fromDnsData, type DnsEntry, type DnsRecord } from './dns-table.js';

export type DnsTransport = 'udp' | 'tcp';
type Question = NonNullable<DnsMessageInit['questions']>[number];
type ResourceRecord = NonNullable<DnsMessageInit['answers']>[number];

/** What is kept of a client's query to answer it later. */
export interface DnsAsker {
  id: number;
  /** The question exactly as the client sent it (its letter case too: RFC 1035 §7.3, 0x20 randomisation). */
  question: Question;
  recursionDesired: boolean;
  checkingDisabled: boolean;
  /** The client sent an OPT record, so the reply carries one (RFC 6891 §6.1.1). */
  edns: boolean;
  /** The largest reply the client takes, bytes. */
  maxSize: number;
}

/** Classic DNS over UDP (RFC 1035 §4.2.1). */
export const UDP_CLASSIC_MAX = 512;
/** The UDP size we offer and accept with EDNS (DNS flag day 2020: no IP fragmentation on common paths). */
export const EDNS_UDP_SIZE = 1232;
/** A DNS message over TCP (RFC 1035 §4.2.2: a 2-byte length). */
export const TCP_MAX = 0xffff;

const OPT: ResourceRecord = { type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE } as ResourceRecord;

/** The asker for a query with one question; its reply size from the transport and the client's EDNS size. */
export function askerOf(query: DnsMessage, question: Question, transport: DnsTransport): DnsAsker {
  const opt = (query.additionals ?? []).find((r) => r.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  const ednsSize = Math.min(Math.max(opt?.udpPayloadSize ?? UDP_CLASSIC_MAX, UDP_CLASSIC_MAX), EDNS_UDP_SIZE);
  return {
    id: query.id ?? 0,
    question,
    recursionDesired: query.flag_rd,
    checkingDisabled: query.flag_cd,
    edns: opt !== undefined,
    maxSize: transport === 'tcp' ? TCP_MAX : opt !== undefined ? ednsSize : UDP_CLASSIC_MAX,
  };
}

/** The header flags of a reply to `asker` with this rcode: recursion available, RD and CD echoed. */
function replyFlags(asker: DnsAsker, rcode: number, extra = 0): number {
  return DnsFlag.RecursionAvailable | (asker.recursionDesired ? DnsFlag.RecursionDesired : 0)
    | (asker.checkingDisabled ? DnsFlag.CheckingDisabled : 0) | extra | (rcode & 0xf);
}

function packetRecord(r: DnsRecord, ttl: number): ResourceRecord {
  return { name: r.name, type: r.type, class: r.class, ttl, data: fromDnsData(r.data) } as ResourceRecord;
}

/** Encodes, or cuts to header + question with TC when over the client's size; null when dns-packet cannot encode it. */
function encodeReply(asker: DnsAsker, message: DnsMessageInit): Uint8Array | null {
  try {
    const bytes = DnsRepr.fromMessage(message).toBytes();
    if (bytes.length <= asker.maxSize) return bytes;
    const flags = (message.flags ?? 0) | DnsFlag.Truncated;
    return DnsRepr.fromMessage({ ...message, flags, answers: [], authorities: [] }).toBytes();
  } catch (err) {
    if (err instanceof WireError) return null; // a row an operator wrote that is not a record dns-packet can write
    throw err;
  }
}

/** The answer a cache row gives `asker`, every record's TTL the row's remaining `ttlS`; null when unencodable. */
export function answerFromEntry(asker: DnsAsker, entry: DnsEntry, ttlS: number): Uint8Array | null {
  const rcode = entry.rcode === 'NXDOMAIN' ? DnsRcode.NxDomain : DnsRcode.NoError;
  return encodeReply(asker, {
    id: asker.id,
    type: 'response',
    flags: replyFlags(asker, rcode),
    questions: [asker.question],
    answers: entry.answers.map((r) => packetRecord(r, ttlS)),
    authorities: entry.authorities.map((r) => packetRecord(r, ttlS)),
    additionals: asker.edns ? [OPT] : [],
  });
}

/** A reply with no records: SERVFAIL on a timeout, an upstream's REFUSED relayed, FORMERR, NOTIMP. */
export function errorReply(asker: DnsAsker, rcode: number): Uint8Array {
  return encodeReply(asker, {
    id: asker.id,
    type: 'response',
    flags: replyFlags(asker, rcode),
    questions: [asker.question],
    additionals: asker.edns ? [OPT] : [],
  }) ?? headerOnly(asker.id, rcode);
}

/** A bare header (no question): the reply to a query whose question cannot be echoed (RFC 1035 §4.1.1 FORMERR). */
export function headerOnly(id: number, rcode: number): Uint8Array {
  return DnsRepr.fromMessage({ id, type: 'response', flags: DnsFlag.RecursionAvailable | (rcode & 0xf) }).toBytes();
}

/** The query sent upstream for an asker: a fresh id, the question copied, recursion desired, our EDNS size. */
export function upstreamQuery(id: number, asker: DnsAsker): Uint8Array {
  return DnsRepr.fromMessage({
    id,
    type: 'query',
    flags: DnsFlag.RecursionDesired | (asker.checkingDisabled ? DnsFlag.CheckingDisabled : 0),
    questions: [asker.question],
    additionals: [OPT],
  }).toBytes();
}
