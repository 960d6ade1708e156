// The addresses and flows the NAT benchmarks share (nat, api, git's data plane): clients 10.201.0.2 …
// behind the router's inside interface, one server 10.202.0.2 beyond its outside one.
import { parseIpv4, ETHERNET_HEADER_LEN } from '../wire/index.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { udpFrame } from '../test/support/frames.js';

const ip = parseIpv4;
export const INSIDE: NetInterface = { name: 'in', mac: localMac(0x301), ip: ip('10.201.0.1'), prefix: 24 };
export const OUTSIDE: NetInterface = { name: 'out', mac: localMac(0x302), ip: ip('10.202.0.1'), prefix: 24 };
export const SERVER = ip('10.202.0.2');
export const SERVER_MAC = 0x02_00_00_00_02_02;
export const CLIENTS = 200; // 10.201.0.2 … 10.201.0.201
export const clientIp = (i: number) => ip('10.201.0.2') + (i % CLIENTS);
export const clientMac = (a: number) => 0x02_00_00_00_00_00 + (a & 0xffff);
export const PORTS = 64_000; // flow i: source port 1024 + i % PORTS, destination port 5300 + ⌊i / PORTS⌋: unique, so ports are preserved
export const FRAME_LEN = 60;

/** Flow i's port on the client (kept on the outside: ports are preserved), and its port on the server. */
export const clientPort = (i: number) => 1024 + (i % PORTS);
export const serverPort = (i: number) => 5300 + Math.floor(i / PORTS);

const PAYLOAD = new Uint8Array(FRAME_LEN - ETHERNET_HEADER_LEN - 20 - 8);
export const outboundFrame = (i: number) => udpFrame({
  srcMac: clientMac(clientIp(i)), dstMac: INSIDE.mac, src: clientIp(i), dst: SERVER, srcPort: clientPort(i), dstPort: serverPort(i), payload: PAYLOAD,
});
export const replyFrame = (i: number) => udpFrame({
  srcMac: SERVER_MAC, dstMac: OUTSIDE.mac, src: SERVER, dst: OUTSIDE.ip, srcPort: serverPort(i), dstPort: clientPort(i), payload: PAYLOAD,
});
