// The TCP endpoint's counters: one per event worth watching and one per reason a segment is dropped, so a
// drop is never silent. Plain numbers, so the actor runtime can copy them out as they are.

export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  /** Data or FIN segments sent again (after an RTO, fast retransmit or a NewReno partial ack). */
  retransmits: number;
  fastRetransmits: number;
  rtoExpired: number;
  /** Zero-window probes sent by the persist timer. */
  persistProbes: number;
  /** Drops: the segment's checksum is wrong. */
  badChecksum: number;
  /** Drops: data offset below 5 words or past the segment's end. */
  badDataOffset: number;
  /** Drops: an option's length runs past the options area or is below 2. */
  badOptions: number;
  /** Drops: not addressed to this endpoint's address. */
  notForUs: number;
  synCookiesSent: number;
  synCookiesAccepted: number;
  /** ACKs to a listening port whose cookie did not verify (answered with a RST). */
  synCookiesRejected: number;
  /** SYNs dropped (accept queue full). */
  synDropped: number;
  /** SYNs or handshake-completing ACKs refused because the listener's accept queue was full. */
  backlogFull: number;
  /** SYNs answered with a cookie because the half-open table was full. */
  halfOpenFull: number;
  resetsSent: number;
  /** RSTs that reset a connection. */
  resetsReceived: number;
  /** RSTs in the window but not at RCV.NXT (RFC 5961: answered with a challenge ACK, not obeyed). */
  resetsIgnored: number;
  challengeAcks: number;
  /** ACKs not sent to out-of-window segments without data, past the 500 ms rate limit. */
  acksRateLimited: number;
  /** Segments for no connection and no listener (answered with a RST unless they carry one). */
  noSocket: number;
  /** Segments outside the receive window (answered with an ACK). */
  outOfWindow: number;
  /** ACKs for data never sent (answered with an ACK, dropped). */
  ackUnsent: number;
  /** Data segments kept out of order until the hole fills. */
  outOfOrder: number;
  /** Duplicate ACKs received (RFC 5681 definition). */
  dupAcks: number;
  /** A SYN reopened a connection in TIME-WAIT (its sequence number was past the old one's). */
  timeWaitReused: number;
  /** Connections given up after too many retransmissions. */
  timeouts: number;
  connectionsOpened: number;
  connectionsClosed: number;
}

export function newTcpCounters(): TcpCounters {
  return {
    segmentsIn: 0, segmentsOut: 0, retransmits: 0, fastRetransmits: 0, rtoExpired: 0, persistProbes: 0,
    badChecksum: 0, badDataOffset: 0, badOptions: 0, notForUs: 0,
    synCookiesSent: 0, synCookiesAccepted: 0, synCookiesRejected: 0, synDropped: 0, backlogFull: 0, halfOpenFull: 0,
    resetsSent: 0, resetsReceived: 0, resetsIgnored: 0, challengeAcks: 0, acksRateLimited: 0, noSocket: 0, outOfWindow: 0, ackUnsent: 0,
    outOfOrder: 0, dupAcks: 0, timeWaitReused: 0, timeouts: 0, connectionsOpened: 0, connectionsClosed: 0,
  };
}
