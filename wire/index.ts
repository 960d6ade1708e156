// The public surface of the packet codecs: views (*Packet), Reprs, checksums, errors, the frame decoder, pcap reading.
export * from './error.js';
export * from './checksum.js';
export { WireView, type WireViewClass } from './view.js';
export * from './status.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './ipv4-fragment.js';
export * from './icmpv4.js';
export * from './udp.js';
export * from './tcp.js';
export * from './nat-ports.js';
export * from './dhcpv4.js';
export * from './dns.js';
export * from './frame.js';
export * from './pcap-file.js';
export * from './virtio-net.js';
export * from './vrrp.js';
