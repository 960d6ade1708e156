import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../store/index.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { HostStack, HOST_MTU } from '../actors/host/host-stack.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { Reassembler } from '../actors/iface/reassembly.js';
import type { TcpSocket } from '../actors/tcp/tcp-endpoint.js';
import { prng } from '../actors/sim/prng.js';
import {
  EthernetPacket, ETHERNET_HEADER_LEN, Icmpv4Type, IpProtocol, Ipv4Packet, TimeExceededCode, fragmentFrame, parseIpv4,
} from '../wire/index.js';
import { arpFrame, decode, echoRequestFrame } from './support/frames.js';

const IF_A: NetInterface = { name: 'eth0', mac: localMac(0x1401), ip: parseIpv4('10.14.5.1'), prefix: 24 };
const IF_B: NetInterface = { name: 'eth0', mac: localMac(0x1402), ip: parseIpv4('10.14.5.2'), prefix: 24 };

function seeded(seed: number): () => number {
  const r = prng(seed);
  return () => Math.floor(r() * 2 ** 32) >>> 0;
}

/** Two host stacks on one wire: frames queue until `run` moves them, on a simulated clock. */
function twoHosts() {
  const wire: Array<{ to: 'a' | 'b'; frame: Uint8Array }> = [];
  const store = new Store([arpTable]);
  const a = new HostStack(IF_A, store.main.fork().table(arpTable), (f) => wire.push({ to: 'b', frame: f.slice() }), { tcp: { isn: seeded(1) } });
  const b = new HostStack(IF_B, store.main.fork().table(arpTable), (f) => wire.push({ to: 'a', frame: f.slice() }), { tcp: { isn: seeded(2) } });
  const clock = { now: 0 };
  const run = (until: number, done: () => boolean = () => false) => {
    while (!done()) {
      if (wire.length > 0) {
        const { to, frame } = wire.shift()!;
        (to === 'a' ? a : b).receiveOne(frame, clock.now);
        continue;
      }
      const next = Math.min(a.tcp.nextDeadline(), b.tcp.nextDeadline(), clock.now + 100);
      if (next > until) return;
      clock.now = next;
      a.poll(clock.now);
      b.poll(clock.now);
    }
  };
  return { a, b, run, clock };
}

describe('the host stack carries TCP', () => {
  test('a connection through two host stacks (ARP, IPv4 with DF, TCP) moves 1 MiB byte for byte', () => {
    const { a, b, run, clock } = twoHosts();
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
    const chunks: Uint8Array[] = [];
    let ended = false;
    b.tcp.listen(7).onAccept = (s: TcpSocket) => {
      s.onData = () => { let d; while ((d = s.read()) !== null) chunks.push(d); };
      s.onEnd = () => { ended = true; s.close(clock.now); };
    };
    const c = a.tcp.connect(IF_B.ip, 7, 0);
    let sent = 0;
    const go = () => {
      while (sent < data.length) { const n = c.send(data.subarray(sent), clock.now); if (n === 0) break; sent += n; }
      if (sent === data.length) c.close(clock.now);
    };
    c.onEstablished = go;
    c.onWritable = go;
    run(60_000, () => ended && c.state === 'time-wait');
    assert.deepEqual(Buffer.concat(chunks), Buffer.from(data));
    assert.equal(c.state, 'time-wait');
    assert.ok(a.tcp.counters.segmentsOut > 700);
    assert.equal(b.tcp.counters.badChecksum, 0);
  });
});

describe('the host stack reassembles and fragments', () => {
  const PEER_MAC = 0x02_00_00_00_14_99;
  const PEER = parseIpv4('10.14.5.9');

  function stack() {
    const store = new Store([arpTable]);
    const sent: Uint8Array[] = [];
    const s = new HostStack(IF_A, store.main.table(arpTable), (f) => sent.push(f.slice()));
    return { s, sent };
  }

  test('ping -s 4000: a fragmented echo request is answered with a fragmented reply carrying the same data', () => {
    const { s, sent } = stack();
    const data = new Uint8Array(4000).map((_, i) => i & 0xff);
    const request = echoRequestFrame({ srcMac: PEER_MAC, dstMac: IF_A.mac, src: PEER, dst: IF_A.ip, seq: 1, data });
    const pieces = fragmentFrame(request, HOST_MTU);
    assert.equal(pieces.length, 3);
    for (const p of pieces.reverse()) s.receiveOne(p, 0);
    assert.equal(s.counters.reassembled, 1);
    assert.equal(s.counters.echoAnswered, 1);
    assert.equal(sent.length, 3, 'the reply leaves as three fragments');
    for (const f of sent) {
      assert.equal(EthernetPacket.newChecked(f).dst, PEER_MAC);
      assert.ok(f.length - ETHERNET_HEADER_LEN <= HOST_MTU);
    }
    const peer = new Reassembler(null);
    let whole: Uint8Array | null = null;
    for (const f of sent) whole = peer.accept(Ipv4Packet.newChecked(f, ETHERNET_HEADER_LEN), 0) ?? whole;
    assert.ok(whole);
    const reply = decode(new Uint8Array([...sent[0].subarray(0, ETHERNET_HEADER_LEN), ...whole]));
    assert.equal(reply.network.kind, 'ipv4');
    if (reply.network.kind !== 'ipv4' || reply.network.transport.kind !== 'icmpv4') assert.fail('not ICMP');
    assert.equal(reply.network.transport.icmp.type, Icmpv4Type.EchoReply);
    assert.deepEqual(reply.network.transport.icmp.data, data);
    assert.equal(reply.checksumErrors.length, 0);
  });

  test('fragments that never complete get ICMP time exceeded (code 1) after 30 s, sent once ARP resolves the source', () => {
    const { s, sent } = stack();
    const request = echoRequestFrame({ srcMac: PEER_MAC, dstMac: IF_A.mac, src: PEER, dst: IF_A.ip, seq: 1, data: new Uint8Array(3000) });
    s.receiveOne(fragmentFrame(request, HOST_MTU)[0], 0);
    s.poll(29_999);
    assert.equal(sent.length, 0);
    s.poll(30_000);
    s.receiveOne(arpFrame({ op: 'reply', srcMac: PEER_MAC, senderIp: PEER, targetIp: IF_A.ip, targetMac: IF_A.mac }), 30_001);
    const icmp = sent.map(decode).find((f) => f.network.kind === 'ipv4');
    assert.ok(icmp, 'an ICMP message left');
    if (icmp.network.kind !== 'ipv4' || icmp.network.transport.kind !== 'icmpv4') assert.fail('not ICMP');
    assert.equal(icmp.network.ipv4.dst, PEER);
    assert.equal(icmp.network.ipv4.protocol, IpProtocol.Icmp);
    assert.equal(icmp.network.transport.icmp.type, Icmpv4Type.TimeExceeded);
    assert.equal(icmp.network.transport.icmp.code, TimeExceededCode.FragmentReassembly);
    assert.equal(s.counters.timeExceededSent, 1);
  });
});
