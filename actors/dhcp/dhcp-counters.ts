// The DHCP server's counters: one per message and answer, one per reason a message is dropped or refused,
// so nothing is silent. Plain numbers, so the actor runtime can copy them out as they are.

export interface DhcpCounters {
  received: number;
  discovers: number;
  requests: number;
  releases: number;
  declines: number;
  informs: number;
  offers: number;
  acks: number;
  naks: number;
  /** Drops: shorter than BOOTP's 236-byte fixed part (or a window outside the buffer). */
  truncated: number;
  /** Drops: op is not BOOTREQUEST (a reply, or garbage). */
  notRequest: number;
  /** Drops: not Ethernet (htype 1, hlen 6): chaddr would not be a MAC. */
  badHardware: number;
  /** Drops: no DHCP magic cookie (plain BOOTP, which this server does not answer). */
  badCookie: number;
  /** Drops: an option runs past the end of the message (truncated or overflowing length). */
  badOptions: number;
  /** Drops: no option 53. */
  noMessageType: number;
  /** Drops: option 53 names a message a server does not take (an OFFER, ACK, unknown codes). */
  badMessageType: number;
  /** Drops: a REQUEST with neither requested address nor ciaddr (no state of RFC 2131 §4.3.2 fits). */
  badRequest: number;
  /** Messages with option 52 (overload): options in sname/file are not read, the message is served on the rest. */
  overloadIgnored: number;
  /** DISCOVERs left unanswered: no free address in the range. */
  poolExhausted: number;
  /** Addresses the conflict probe found in use: marked declined, the next one tried. */
  probeInUse: number;
  /** DISCOVERs held while the probe of their address runs. */
  probePending: number;
  /** Held DISCOVERs dropped because the probe never answered (the client retransmits). */
  probeGaveUp: number;
  /** DISCOVERs dropped because too many are held for probes already. */
  pendingFull: number;
  /** REQUESTs selecting another server: our offer withdrawn, no answer (RFC 2131 §4.3.2). */
  otherServer: number;
  /** NAKs: the address is held by another client (taken meanwhile, or lost in a merge). */
  nakTaken: number;
  /** NAKs: the address is not on our subnet. */
  nakWrongSubnet: number;
  /** NAKs: no lease and the address is outside the range (or ours, or in use). */
  nakNotLeasable: number;
  /** RELEASEs and DECLINEs for an address this client does not hold (ignored). */
  unknownLease: number;
  /** Leases, offers and decline holds reaped at their expiry. */
  expired: number;
}

export function newDhcpCounters(): DhcpCounters {
  return {
    received: 0, discovers: 0, requests: 0, releases: 0, declines: 0, informs: 0, offers: 0, acks: 0, naks: 0,
    truncated: 0, notRequest: 0, badHardware: 0, badCookie: 0, badOptions: 0, noMessageType: 0, badMessageType: 0,
    badRequest: 0, overloadIgnored: 0, poolExhausted: 0, probeInUse: 0, probePending: 0, probeGaveUp: 0, pendingFull: 0,
    otherServer: 0, nakTaken: 0, nakWrongSubnet: 0, nakNotLeasable: 0, unknownLease: 0, expired: 0,
  };
}
