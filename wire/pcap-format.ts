// The classic libpcap file format's numbers, shared by the writer (pcap.ts) and the reader (pcap-file.ts).

/** The magic number of a file with microsecond timestamps; read in the other byte order, the file is big-endian. */
export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
/** The magic number of a file with nanosecond timestamps. */
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
/** The first word of a pcapng file (a Section Header Block), which this reader does not decode. */
export const PCAPNG_MAGIC = 0x0a0d0d0a;
/** The format version a writer puts in the global header (2.4). */
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/** tcpdump's largest snapshot length; a record longer than this is a corrupt length, not a frame. */
export const PCAP_MAX_SNAPLEN = 262144;
/** The link type of Ethernet frames, the only one this stack writes or reads. */
export const LINKTYPE_ETHERNET = 1;
