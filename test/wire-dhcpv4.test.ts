import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  BootpOp, DHCP_FLAG_BROADCAST, DhcpMessageType, DhcpPacket, DhcpRepr, parseDhcpOptions, type DhcpOption,
} from '../wire/dhcpv4.js';
import { WireError } from '../wire/error.js';
import { parseIpv4 } from '../wire/ipv4.js';
import { SAMPLES, hex } from './wire-samples.js';

/** The BOOTP/DHCP message of the captured Discover (after Ethernet, IPv4 and UDP headers). */
const DISCOVER = SAMPLES.dhcpDiscover.subarray(42);
const MAC = 0x02000acb0002;

const isWire = (field: string, reason?: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === 'dhcpv4' && e.field === field && (reason === undefined || e.reason === reason);

function emitted(repr: DhcpRepr): Uint8Array {
  const out = new Uint8Array(repr.bufferLen());
  repr.emit(DhcpPacket.newUnchecked(out));
  return out;
}

describe('DHCPv4', () => {
  test('getters read the captured Discover', () => {
    const p = DhcpPacket.newChecked(DISCOVER);
    assert.equal(p.op, BootpOp.Request);
    assert.equal(p.htype, 1);
    assert.equal(p.hlen, 6);
    assert.equal(p.hops, 0);
    assert.equal(p.xid, 0xee873d07);
    assert.equal(p.secs, 0);
    assert.equal(p.flags, 0);
    assert.equal(p.ciaddr, 0);
    assert.equal(p.yiaddr, 0);
    assert.equal(p.clientMac, MAC);
    assert.equal(p.chaddr().length, 16);
    assert.ok(p.hasMagicCookie);
  });

  test('setters reproduce the fixed part of the Discover', () => {
    const out = new Uint8Array(236);
    const p = DhcpPacket.newUnchecked(out);
    p.op = 1; p.htype = 1; p.hlen = 6; p.hops = 0; p.xid = 0xee873d07; p.secs = 0; p.flags = 0;
    p.ciaddr = 0; p.yiaddr = 0; p.siaddr = 0; p.giaddr = 0;
    out.set(hex('02000acb0002'), 28);
    assert.deepEqual(out, DISCOVER.subarray(0, 236));
  });

  test('parse types the known options, keeps the others raw, and emit gives the bytes back', () => {
    const repr = DhcpRepr.parse(DhcpPacket.newChecked(DISCOVER));
    assert.equal(repr.messageType, DhcpMessageType.Discover);
    assert.equal(repr.clientMac, MAC);
    assert.deepEqual(repr.options.map((o) => (o.kind === 'raw' ? o.code : o.kind)), ['message-type', 57, 55, 12, 60, 61, 'end']);
    const hostname = repr.options.find((o): o is Extract<DhcpOption, { kind: 'raw' }> => o.kind === 'raw' && o.code === 12);
    assert.equal(Buffer.from(hostname!.data).toString(), 'netbranch-test');
    assert.deepEqual([...repr.trailer], [0, 0, 0, 0]);
    assert.deepEqual(emitted(repr), DISCOVER);
  });

  test('an Offer built from typed options emits, parses back to the same Repr, and answers its accessors', () => {
    const offer = new DhcpRepr({
      op: BootpOp.Reply,
      xid: 0x1234,
      clientMac: MAC,
      flags: DHCP_FLAG_BROADCAST,
      yiaddr: parseIpv4('10.203.0.77'),
      siaddr: parseIpv4('10.203.0.1'),
      options: [
        { kind: 'message-type', value: DhcpMessageType.Offer },
        { kind: 'server-id', address: parseIpv4('10.203.0.1') },
        { kind: 'lease-time', seconds: 3600 },
        { kind: 'subnet-mask', mask: parseIpv4('255.255.255.0') },
        { kind: 'router', addresses: [parseIpv4('10.203.0.1')] },
        { kind: 'dns', addresses: [parseIpv4('10.203.0.1'), parseIpv4('9.9.9.9')] },
        { kind: 'requested-ip', address: parseIpv4('10.203.0.77') },
        { kind: 'pad' },
        { kind: 'end' },
      ],
    });
    const bytes = emitted(offer);
    const back = DhcpRepr.parse(DhcpPacket.newChecked(bytes));
    assert.deepEqual(back, offer);
    assert.equal(back.messageType, DhcpMessageType.Offer);
    assert.equal(back.serverId, parseIpv4('10.203.0.1'));
    assert.equal(back.leaseTime, 3600);
    assert.equal(back.subnetMask, parseIpv4('255.255.255.0'));
    assert.deepEqual(back.routers, [parseIpv4('10.203.0.1')]);
    assert.deepEqual(back.dnsServers, [parseIpv4('10.203.0.1'), parseIpv4('9.9.9.9')]);
    assert.equal(back.requestedIp, parseIpv4('10.203.0.77'));
    assert.equal(back.clientMac, MAC);
  });

  test('a known option with a wrong length is kept raw', () => {
    const { options } = parseDhcpOptions(hex('3502 0102 0103 0a0b0c ff'));
    assert.deepEqual(options, [
      { kind: 'raw', code: 53, data: hex('0102') },
      { kind: 'raw', code: 1, data: hex('0a0b0c') },
      { kind: 'end' },
    ]);
  });

  test('plain BOOTP without the magic cookie keeps everything after the fixed part', () => {
    const bytes = DISCOVER.slice(0, 300);
    bytes[236] = 0;
    const repr = DhcpRepr.parse(DhcpPacket.newChecked(bytes));
    assert.equal(repr.magicCookie, false);
    assert.deepEqual(repr.options, []);
    assert.equal(repr.trailer.length, 64);
    assert.equal(repr.messageType, undefined);
    assert.deepEqual(emitted(repr), bytes);
  });

  test('options running to the end without an End option re-emit as they came', () => {
    const bytes = DISCOVER.slice(0, 243);
    const repr = DhcpRepr.parse(DhcpPacket.newChecked(bytes));
    assert.deepEqual(repr.options, [{ kind: 'message-type', value: 1 }]);
    assert.deepEqual(emitted(repr), bytes);
  });

  test('a message shorter than the 236-byte fixed part is a truncation error naming the fixed part', () => {
    for (const n of [0, 1, 100, 235]) assert.throws(() => DhcpPacket.newChecked(DISCOVER.subarray(0, n)), isWire('fixed part', 'truncated'));
  });

  test('an option whose length runs past the message is a truncation error naming the option length', () => {
    assert.throws(() => DhcpRepr.parse(DhcpPacket.newChecked(DISCOVER.subarray(0, 242))), isWire('option length', 'truncated'));
    assert.throws(() => DhcpRepr.parse(DhcpPacket.newChecked(DISCOVER.subarray(0, 241))), isWire('option length', 'truncated'));
  });

  test('fixed-size fields of the wrong size are refused when building', () => {
    assert.throws(() => new DhcpRepr({ op: 1, xid: 1, sname: new Uint8Array(10) }), isWire('sname', 'bad-length'));
  });

  test('an option longer than 255 bytes cannot be emitted', () => {
    const repr = new DhcpRepr({ op: 1, xid: 1, options: [{ kind: 'raw', code: 43, data: new Uint8Array(256) }] });
    assert.throws(() => emitted(repr), isWire('option length', 'bad-length'));
  });
});
