// A DHCP server's reply to a request: the BOOTP fields RFC 2131 table 3 fills, and where RFC 2131 §4.1 says
// it goes (relay, broadcast, ciaddr, or yiaddr at chaddr without ARP). The caller wraps it in UDP/IPv4/Ethernet.
import { BootpOp, DhcpClientPort, DhcpMessageType, DhcpPacket, DhcpRepr, DhcpServerPort, DHCP_FLAG_BROADCAST, type DhcpOption } from '../../wire/dhcpv4.js';
import { BROADCAST_MAC } from '../../wire/ethernet.js';

/** Where the caller sends a reply. `mac` undefined: resolve `ip` by ARP as for any datagram (a relay). */
export interface DhcpDestination {
  ip: number;
  mac: number | undefined;
  port: number;
}

/** BOOTP's minimum message (RFC 1542 §3.1.1): some clients drop shorter replies. */
const MIN_MESSAGE = 300;
const LIMITED_BROADCAST = 0xffff_ffff;

/** The reply to `req` of `type`, giving `yiaddr`, with `options` (the message type first, End appended), padded to 300 bytes. */
export function buildReply(req: DhcpRepr, type: number, yiaddr: number, options: DhcpOption[]): Uint8Array {
  const repr = new DhcpRepr({
    op: BootpOp.Reply,
    xid: req.xid,
    htype: req.htype,
    hlen: req.hlen,
    flags: req.flags,
    // Table 3: an ACK keeps the client's ciaddr (INFORM, renewal); OFFER and NAK send 0.
    ciaddr: type === DhcpMessageType.Ack ? req.ciaddr : 0,
    yiaddr,
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    options: [{ kind: 'message-type', value: type }, ...options, { kind: 'end' }],
  });
  const len = repr.bufferLen();
  if (len < MIN_MESSAGE) repr.trailer = new Uint8Array(MIN_MESSAGE - len);
  const out = new Uint8Array(Math.max(len, MIN_MESSAGE));
  repr.emit(DhcpPacket.newUnchecked(out));
  return out;
}

/** RFC 2131 §4.1, the server's four cases, in its order. */
export function replyDestination(req: DhcpRepr, type: number, yiaddr: number): DhcpDestination {
  if (req.giaddr !== 0) return { ip: req.giaddr, mac: undefined, port: DhcpServerPort };
  const broadcast = { ip: LIMITED_BROADCAST, mac: BROADCAST_MAC, port: DhcpClientPort };
  if (type === DhcpMessageType.Nak) return broadcast;
  if (req.ciaddr !== 0) return { ip: req.ciaddr, mac: req.clientMac, port: DhcpClientPort };
  if ((req.flags & DHCP_FLAG_BROADCAST) !== 0 || yiaddr === 0) return broadcast;
  // The client has no address yet and can take unicast: straight to chaddr, no ARP (it could not answer).
  return { ip: yiaddr, mac: req.clientMac, port: DhcpClientPort };
}
