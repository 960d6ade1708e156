// The one error type of the wire layer: malformed input is data, so it says which protocol and field, never a RangeError.

/** Why a field was rejected. */
export type WireErrorReason =
  | 'truncated' // the buffer ends before the field does
  | 'bad-length' // a length field contradicts itself or its container
  | 'bad-checksum' // the checksum was verified and did not match
  | 'bad-value' // a field holds a value the protocol forbids
  | 'unsupported'; // well-formed, but a variant this codec does not decode

/** The protocol (or container format) whose field was rejected. */
export type WireProtocol =
  | 'ethernet'
  | 'arp'
  | 'ipv4'
  | 'icmpv4'
  | 'udp'
  | 'tcp'
  | 'dhcpv4'
  | 'dns'
  | 'virtio-net'
  | 'vrrp'
  | 'pcap';

const REASON_TEXT: Record<WireErrorReason, string> = {
  truncated: 'truncated',
  'bad-length': 'bad length',
  'bad-checksum': 'bad checksum',
  'bad-value': 'bad value',
  unsupported: 'unsupported',
};

export class WireError extends Error {
  override readonly name = 'WireError';

  constructor(
    readonly protocol: WireProtocol,
    /** The field in the protocol's own words, e.g. 'total length', 'data offset'. */
    readonly field: string,
    readonly reason: WireErrorReason,
    /** Numbers that explain the rejection, e.g. 'needs 20 bytes, has 12'. */
    readonly detail?: string,
  ) {
    super(`${protocol} ${field}: ${REASON_TEXT[reason]}${detail ? ` (${detail})` : ''}`);
  }
}

