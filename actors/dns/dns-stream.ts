// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each message behind a 2-byte length on the byte stream, so the same
// forwarder serves TCP clients (and reads a TCP upstream) whatever way the stream is cut into segments.
import { DNS_HEADER_LEN } from '../../wire/dns.js';
import { frameMessage, MessageReader } from '../../wire/stream-framing.js';

export interface DnsStreamCounters {
  messages: number;
  /** Messages shorter than a DNS header, dropped here (the length prefix framed them; they cannot be DNS). */
  runts: number;
}

/** One TCP connection's inbound side: stream bytes in, whole messages out through `deliver`, in order. */
export class DnsStream {
  readonly counters: DnsStreamCounters = { messages: 0, runts: 0 };
  private readonly reader = new MessageReader();

  constructor(private readonly deliver: (message: Uint8Array, now: number) => void) {}

  /** Bytes read from the connection; each message completed is delivered (a copy: the reader reuses its buffer). */
  receive(chunk: Uint8Array, now: number): void {
    this.reader.push(chunk);
    for (let m = this.reader.next(); m !== null; m = this.reader.next()) {
      if (m.length < DNS_HEADER_LEN) { this.counters.runts++; continue; }
      this.counters.messages++;
      this.deliver(m.slice(), now);
    }
  }

  /** Bytes held that do not yet make a whole message: after `receive`, less than one message (65537 bytes). */
  get buffered(): number { return this.reader.buffered; }

  /** A message as it goes on the connection: its length, then its bytes (a DNS message is at most 65535 bytes). */
  static frame(message: Uint8Array): Uint8Array {
    return frameMessage(message);
  }
}
