// Records the options of the first SYN (or SYN-ACK) each way on a link, read with wire/'s views, so a test can
// show which handshake options the kernel offered and which our endpoint answered with.
import { EtherType, EthernetPacket } from '../../wire/ethernet.js';
import { IpProtocol, Ipv4Packet } from '../../wire/ipv4.js';
import { TcpFlags, TcpPacket, parseTcpOptions, type TcpOption } from '../../wire/tcp.js';
import { WireStatus } from '../../wire/status.js';

export interface SynSeen {
  flags: string;
  mss: number | null;
  windowScale: number | null;
  sackPermitted: boolean;
  timestamps: boolean;
  /** Option kinds in the order they came. */
  kinds: string[];
}

function describe(flags: number, options: TcpOption[]): SynSeen {
  const find = <K extends TcpOption['kind']>(k: K) => options.find((o) => o.kind === k) as Extract<TcpOption, { kind: K }> | undefined;
  return {
    flags: flags & TcpFlags.ACK ? 'SYN-ACK' : 'SYN',
    mss: find('mss')?.value ?? null,
    windowScale: find('window-scale')?.shift ?? null,
    sackPermitted: find('sack-permitted') !== undefined,
    timestamps: find('timestamps') !== undefined,
    kinds: options.map((o) => o.kind),
  };
}

export class SynWatch {
  private readonly seen: { in: SynSeen | null; out: SynSeen | null } = { in: null, out: null };
  /** SYNs (without ACK) received, counted after the first: a flood shows here. */
  synsIn = 0;

  see(frame: Uint8Array, way: 'in' | 'out'): void {
    const eth = EthernetPacket.newUnchecked(frame);
    if (eth.checkLen() !== WireStatus.Ok || eth.ethertype !== EtherType.Ipv4) return;
    const ip = Ipv4Packet.newUnchecked(frame, 14);
    if (ip.checkLen() !== WireStatus.Ok || ip.protocol !== IpProtocol.Tcp || ip.isFragment) return;
    const tcp = TcpPacket.newUnchecked(frame, 14 + ip.headerLength, ip.payloadLength);
    if (tcp.checkLen() !== WireStatus.Ok || !(tcp.flags & TcpFlags.SYN)) return;
    if (way === 'in' && !(tcp.flags & TcpFlags.ACK)) this.synsIn++;
    if (this.seen[way] === null) this.seen[way] = describe(tcp.flags, parseTcpOptions(tcp.optionBytes()).options);
  }

  result(): { in: SynSeen | null; out: SynSeen | null; synsIn: number } {
    return { ...this.seen, synsIn: this.synsIn };
  }
}
