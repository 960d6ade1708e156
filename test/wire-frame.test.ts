import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DnsRepr } from '../wire/dns.js';
import { WireError } from '../wire/error.js';
import { EtherType, EthernetRepr, BROADCAST_MAC } from '../wire/ethernet.js';
import { decodeFrame, emitFrame, frameLen, summarizeFrame, type FrameRepr } from '../wire/frame.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4 } from '../wire/ipv4.js';
import { readPcapFile } from '../wire/pcap-file.js';
import { UdpRepr } from '../wire/udp.js';
import { SAMPLES, type SampleName } from './wire-samples.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

const SUMMARIES: Record<SampleName, string> = {
  arpRequest: 'ARP, Request who-has 10.203.0.1 tell 10.203.0.2, length 28',
  arpReplyPadded: 'ARP, Reply 10.203.0.1 is-at 02:00:0a:cb:00:01, length 28',
  icmpEcho: 'IP 10.203.0.2 > 10.203.0.1: ICMP echo request, id 12121, seq 1, length 64',
  icmpTimeExceeded: 'IP 10.203.0.1 > 10.203.0.2: ICMP time exceeded in-transit for icmp 10.203.0.2 > 10.203.1.9, length 92',
  dnsQuery: 'IP 10.203.0.2.42729 > 10.203.0.1.53: DNS 18221+ A? www.netbranch.test. (59)',
  dnsResponse: 'IP 10.203.0.1.53 > 10.203.0.2.43395: DNS 53258* 2/0/1 CNAME www.netbranch.test., A 10.203.0.10 (97)',
  dhcpDiscover: 'IP 0.0.0.0.68 > 255.255.255.255.67: DHCP Discover from 02:00:0a:cb:00:02, xid 0xee873d07, length 300',
  tcpSyn: 'IP 10.203.0.2.46094 > 10.203.0.1.80: Flags [S], seq 3702354007, win 64240, options [mss 1460,sackOK,TS val 2144635221 ecr 0,nop,wscale 10], length 0',
  ipv6: '02:00:0a:cb:00:02 > 33:33:00:00:00:02: unsupported ethertype 0x86dd, length 48',
};

/** The layer kinds a decoded frame has, top to bottom. */
function layers(frame: FrameRepr): string[] {
  const net = frame.network;
  if (net.kind !== 'ipv4') return [net.kind];
  const t = net.transport;
  return t.kind === 'udp' ? ['ipv4', 'udp', t.app.kind] : ['ipv4', t.kind];
}

const isWire = (protocol: string, field: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === protocol && e.field === field;

describe('whole frames', () => {
  test('each sample frame decodes to its layers, summarizes like tcpdump, and re-emits byte for byte', () => {
    const expectLayers: Record<SampleName, string[]> = {
      arpRequest: ['arp'], arpReplyPadded: ['arp'], icmpEcho: ['ipv4', 'icmpv4'], icmpTimeExceeded: ['ipv4', 'icmpv4'],
      dnsQuery: ['ipv4', 'udp', 'dns'], dnsResponse: ['ipv4', 'udp', 'dns'], dhcpDiscover: ['ipv4', 'udp', 'dhcpv4'],
      tcpSyn: ['ipv4', 'tcp'], ipv6: ['unsupported'],
    };
    for (const [name, bytes] of Object.entries(SAMPLES) as Array<[SampleName, Uint8Array]>) {
      const frame = decodeFrame(bytes, { checksum: 'verify' });
      assert.deepEqual(layers(frame), expectLayers[name], name);
      assert.equal(summarizeFrame(frame), SUMMARIES[name], name);
      assert.equal(frameLen(frame), bytes.length, name);
      assert.deepEqual(emitFrame(frame), bytes, name);
    }
  });

  test('an IPv6 frame is reported as an unsupported ethertype, not an error', () => {
    const frame = decodeFrame(SAMPLES.ipv6);
    assert.equal(frame.network.kind, 'unsupported');
    assert.match(summarizeFrame(frame), /unsupported ethertype 0x86dd/);
  });

  test('Ethernet padding after the ARP packet is kept and re-emitted', () => {
    const frame = decodeFrame(SAMPLES.arpReplyPadded);
    assert.equal(frame.padding.length, 18);
    assert.deepEqual(emitFrame(frame), SAMPLES.arpReplyPadded);
  });

  test('Ethernet padding after the IPv4 total length is kept and re-emitted', () => {
    const padded = new Uint8Array(SAMPLES.tcpSyn.length + 6);
    padded.set(SAMPLES.tcpSyn);
    padded.fill(0xee, SAMPLES.tcpSyn.length);
    const frame = decodeFrame(padded);
    assert.deepEqual([...frame.padding], [0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
    assert.deepEqual(emitFrame(frame), padded);
  });

  test('a wrong transport checksum (checksum offload) is reported, kept, and re-emitted as it was', () => {
    const bytes = SAMPLES.tcpSyn.slice();
    bytes[14 + 20 + 16] = 0x00; // TCP checksum field
    bytes[14 + 20 + 17] = 0x00;
    const frame = decodeFrame(bytes);
    assert.deepEqual(frame.checksumErrors.map((e) => [e.protocol, e.found, e.expected]), [['tcp', 0, 0x2ce6]]);
    assert.match(summarizeFrame(frame), /\[bad tcp cksum 0x0000 -> 0x2ce6!\]$/);
    assert.deepEqual(emitFrame(frame), bytes);
    assert.throws(() => decodeFrame(bytes, { checksum: 'verify' }), isWire('tcp', 'checksum'));
  });

  test('a non-first fragment is not decoded past IPv4', () => {
    const bytes = SAMPLES.dnsQuery.slice();
    const ip = Ipv4Packet.newChecked(bytes, 14);
    ip.fragmentOffset = 1480;
    ip.fillChecksum();
    const frame = decodeFrame(bytes, { checksum: 'verify' });
    assert.deepEqual(layers(frame), ['ipv4', 'fragment']);
    assert.match(summarizeFrame(frame), /udp \(frag 44630:67@1480\)$/);
    assert.deepEqual(emitFrame(frame), bytes);
  });

  test('IPv4 payload beyond the UDP length is kept as a trailer', () => {
    const bytes = new Uint8Array(SAMPLES.dnsQuery.length + 2);
    bytes.set(SAMPLES.dnsQuery);
    const ip = Ipv4Packet.newChecked(bytes, 14);
    ip.totalLength += 2;
    ip.fillChecksum();
    const frame = decodeFrame(bytes, { checksum: 'verify' });
    const t = frame.network.kind === 'ipv4' ? frame.network.transport : undefined;
    assert.equal(t?.kind === 'udp' ? t.trailer.length : -1, 2);
    assert.deepEqual(emitFrame(frame), bytes);
  });

  test('editing a decoded Repr re-emits with lengths and checksums recomputed', () => {
    const frame = decodeFrame(SAMPLES.icmpEcho);
    assert.equal(frame.network.kind, 'ipv4');
    if (frame.network.kind !== 'ipv4') return;
    frame.network.ipv4.ttl = 1;
    const again = decodeFrame(emitFrame(frame), { checksum: 'verify' });
    assert.equal(again.network.kind === 'ipv4' && again.network.ipv4.ttl, 1);
  });

  test('a frame built from Reprs emits valid checksums and decodes back to the same Reprs', () => {
    const src = parseIpv4('10.0.0.2'), dst = parseIpv4('10.0.0.1');
    const dns = DnsRepr.fromMessage({ id: 42, type: 'query', flags: 0x0100, questions: [{ name: 'router.lan', type: 'A', class: 'IN' }] });
    const frame: FrameRepr = {
      ethernet: new EthernetRepr({ dst: BROADCAST_MAC, src: 0x020000000002, ethertype: EtherType.Ipv4 }),
      network: {
        kind: 'ipv4',
        ipv4: new Ipv4Repr({ src, dst, protocol: IpProtocol.Udp, payloadLen: 0 }),
        transport: { kind: 'udp', udp: new UdpRepr({ srcPort: 33333, dstPort: 53 }), app: { kind: 'dns', dns }, trailer: new Uint8Array(0) },
      },
      padding: new Uint8Array(0),
      checksumErrors: [],
    };
    const bytes = emitFrame(frame);
    const back = decodeFrame(bytes, { checksum: 'verify' });
    assert.equal(summarizeFrame(back), 'IP 10.0.0.2.33333 > 10.0.0.1.53: DNS 42+ A? router.lan. (28)');
    assert.equal(back.network.kind === 'ipv4' && back.network.ipv4.payloadLen, 8 + 28);
  });

  test('a frame cut short anywhere is a WireError naming the layer and field, never a RangeError', () => {
    for (const [name, bytes] of Object.entries(SAMPLES)) {
      for (let n = 0; n < bytes.length; n++) {
        try {
          decodeFrame(bytes.subarray(0, n));
        } catch (e) {
          assert.ok(e instanceof WireError, `${name} cut to ${n}: ${String(e)}`);
          assert.ok(e.message.startsWith(`${e.protocol} ${e.field}`), e.message);
        }
      }
    }
    assert.throws(() => decodeFrame(SAMPLES.icmpEcho.subarray(0, 60)), isWire('ipv4', 'total length'));
    assert.throws(() => decodeFrame(SAMPLES.arpRequest.subarray(0, 13)), isWire('ethernet', 'header'));
  });
});

describe('captured fixtures', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.pcap')).sort();

  test('there is at least one captured fixture to check against', () => {
    assert.ok(files.length >= 1, `no .pcap in ${FIXTURES}`);
  });

  for (const file of files) {
    test(`every frame of ${file} decodes and re-emits byte for byte`, () => {
      const { records } = readPcapFile(join(FIXTURES, file));
      assert.ok(records.length > 0);
      for (const r of records) {
        const frame = decodeFrame(r.data);
        assert.ok(summarizeFrame(frame).length > 0);
        assert.deepEqual(emitFrame(frame), r.data, `${file} frame ${r.number}`);
      }
    });
  }
});
