// The DNS cache on the router's inside address: a DnsForwarder on this actor's `dns` table, clients over
// UDP and over TCP (a TcpEndpoint bound to the inside address, port 53, DnsStream framing); upstream
// queries leave from the outside address and a port this actor owns, so their answers are steered back here.
import { randomInt } from 'node:crypto';
import { IpProtocol } from '../../wire/index.js';
import type { TableView } from '../../store/index.js';
import { DnsCache, type DnsCacheOptions } from '../dns/dns-cache.js';
import { DnsForwarder, type DnsForwarderOptions, type UpstreamOutcome } from '../dns/dns-forwarder.js';
import { DnsStream } from '../dns/dns-stream.js';
import type { DnsEntry } from '../dns/dns-table.js';
import { TcpEndpoint, type TcpSocket } from '../tcp/tcp-endpoint.js';
import type { NetInterface } from '../iface/net-interface.js';
import type { LocalSender } from './local-sender.js';
import { dnsUpstreamPort } from './steering.js';

export const DNS_PORT = 53;

/** Who asked: a UDP client's address and port, or a TCP connection. */
export type DnsClient = { ip: number; port: number } | { sock: TcpSocket };

export interface DnsServiceOptions {
  /** The upstream server, read per query: --dns-upstream, or the outside lease's first DNS server; undefined: none yet. */
  upstream: () => number | undefined;
  actor: number;
  actors: number;
  /** Query ids (tests pass a seeded source); default crypto.randomInt, as RFC 5452 asks. */
  randomId?: () => number;
  cache?: DnsCacheOptions;
  forwarder?: DnsForwarderOptions;
}

export interface DnsServiceCounters {
  /** Queries that could not go upstream: no upstream server known, or no outside address yet (their clients get SERVFAIL at the timeout). */
  noUpstream: number;
  /** Upstream answers truncated over UDP (the TCP retry is not built: their clients get SERVFAIL at the timeout). */
  truncatedNotRetried: number;
}

export class DnsService {
  readonly forwarder: DnsForwarder<DnsClient>;
  readonly tcp: TcpEndpoint;
  /** The source port of our upstream queries (steering.ts's rule: one this actor owns and NAT never hands out). */
  readonly upstreamPort: number;
  readonly counters: DnsServiceCounters = { noUpstream: 0, truncatedNotRetried: 0 };
  /** The time of the call in progress: the TCP endpoint's and the sockets' callbacks carry none. */
  private now = 0;

  constructor(
    private readonly inside: NetInterface,
    private readonly outside: NetInterface,
    table: TableView<string, DnsEntry>,
    private readonly insideSender: LocalSender,
    private readonly outsideSender: LocalSender,
    private readonly opts: DnsServiceOptions,
  ) {
    this.upstreamPort = dnsUpstreamPort(opts.actor, opts.actors);
    this.forwarder = new DnsForwarder<DnsClient>(new DnsCache(table, opts.cache), {
      upstream: (payload, now) => this.toUpstream(payload, now),
      reply: (to, payload, now) => this.toClient(to, payload, now),
      randomId: opts.randomId ?? (() => randomInt(65536)),
    }, opts.forwarder);
    this.tcp = new TcpEndpoint(inside.ip, (dst, segment) => { insideSender.ipv4(inside.ip, dst, IpProtocol.Tcp, segment, this.now); });
    this.tcp.listen(DNS_PORT).onAccept = (s) => this.serve(s);
  }

  /** The upstream server while it can be asked (an upstream and an outside address), else undefined. */
  upstream(): number | undefined {
    const up = this.opts.upstream();
    return up === undefined || up === 0 || this.outside.ip === 0 ? undefined : up;
  }

  /** A client's UDP query to our inside address, port 53. */
  queryUdp(src: number, srcPort: number, payload: Uint8Array, now: number): void {
    this.now = now;
    this.forwarder.query(payload, { ip: src, port: srcPort }, now, 'udp');
  }

  /** A TCP segment to our inside address, port 53. */
  /** `checksumPending`: the kernel left the checksum for the device to finish (wire/link/vnet-frames.ts). */
  segment(src: number, segment: Uint8Array, now: number, checksumPending = false): void {
    this.now = now;
    this.tcp.receive(src, this.inside.ip, segment, now, checksumPending);
  }

  /** A UDP datagram to our upstream port from the upstream's port 53; false when it is not an answer to us (NAT's, then). */
  answer(payload: Uint8Array, now: number): boolean {
    this.now = now;
    const outcome: UpstreamOutcome = this.forwarder.receiveUpstream(payload, now, 'udp');
    if (outcome.kind === 'truncated') this.counters.truncatedNotRetried++;
    return !(outcome.kind === 'dropped' && outcome.reason === 'unknownId');
  }

  poll(now: number): void {
    this.now = now;
    this.forwarder.poll(now);
    this.tcp.poll(now);
  }

  nextDeadline(): number {
    return Math.min(this.forwarder.nextDeadline(), this.tcp.nextDeadline());
  }

  private toUpstream(payload: Uint8Array, now: number): void {
    const up = this.upstream();
    if (up === undefined) { this.counters.noUpstream++; return; }
    this.outsideSender.udp(this.outside.ip, up, this.upstreamPort, DNS_PORT, payload, now);
  }

  private toClient(to: DnsClient, payload: Uint8Array, now: number): void {
    if ('sock' in to) to.sock.send(DnsStream.frame(payload), now);
    else this.insideSender.udp(this.inside.ip, to.ip, DNS_PORT, to.port, payload, now);
  }

  /** One TCP client: its stream cut into queries; the connection closes when the client ends its side. */
  private serve(s: TcpSocket): void {
    const client: DnsClient = { sock: s };
    const stream = new DnsStream((m, now) => this.forwarder.query(m, client, now, 'tcp'));
    s.onData = () => { for (let d = s.read(); d !== null; d = s.read()) stream.receive(d, this.now); };
    s.onEnd = () => s.close(this.now);
  }
}
