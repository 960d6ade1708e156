import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ArpOperation, ArpPacket, ArpRepr } from '../wire/arp.js';
import { WireError } from '../wire/error.js';

// Request: who-has 10.203.0.1 tell 10.203.0.2 (02:00:0a:cb:00:02).
const PACKET = Uint8Array.from([
  0x00, 0x01, // hardware type: Ethernet
  0x08, 0x00, // protocol type: IPv4
  0x06, // hardware length
  0x04, // protocol length
  0x00, 0x01, // operation: request
  0x02, 0x00, 0x0a, 0xcb, 0x00, 0x02, // sender MAC
  0x0a, 0xcb, 0x00, 0x02, // sender IP
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC
  0x0a, 0xcb, 0x00, 0x01, // target IP
]);

const REPR = new ArpRepr({ operation: ArpOperation.Request, senderMac: 0x02000acb0002, senderIp: 0x0acb0002, targetMac: 0, targetIp: 0x0acb0001 });

const isWire = (field: string, reason?: string) => (e: unknown): boolean =>
  e instanceof WireError && e.protocol === 'arp' && e.field === field && (reason === undefined || e.reason === reason);

describe('ARP', () => {
  test('getters read the literal packet', () => {
    const p = ArpPacket.newChecked(PACKET);
    assert.equal(p.hardwareType, 1);
    assert.equal(p.protocolType, 0x0800);
    assert.equal(p.hardwareLen, 6);
    assert.equal(p.protocolLen, 4);
    assert.equal(p.operation, 1);
    assert.equal(p.senderMac, 0x02000acb0002);
    assert.equal(p.senderIp, 0x0acb0002);
    assert.equal(p.targetMac, 0);
    assert.equal(p.targetIp, 0x0acb0001);
  });

  test('setters reproduce the literal packet', () => {
    const out = new Uint8Array(28);
    const p = ArpPacket.newUnchecked(out);
    p.hardwareType = 1;
    p.protocolType = 0x0800;
    p.hardwareLen = 6;
    p.protocolLen = 4;
    p.operation = 1;
    p.senderMac = 0x02000acb0002;
    p.senderIp = 0x0acb0002;
    p.targetMac = 0;
    p.targetIp = 0x0acb0001;
    assert.deepEqual(out, PACKET);
  });

  test('parse gives the Repr and emit gives the bytes back', () => {
    assert.deepEqual(ArpRepr.parse(ArpPacket.newChecked(PACKET)), REPR);
    const out = new Uint8Array(REPR.bufferLen());
    REPR.emit(ArpPacket.newUnchecked(out));
    assert.deepEqual(out, PACKET);
  });

  test('an unknown opcode is kept', () => {
    const bytes = PACKET.slice();
    bytes[7] = 9;
    assert.equal(ArpRepr.parse(ArpPacket.newChecked(bytes)).operation, 9);
  });

  test('every truncation is a WireError naming the header or the addresses', () => {
    for (let n = 0; n < PACKET.length; n++) {
      assert.throws(() => ArpPacket.newChecked(PACKET.subarray(0, n)), isWire(n < 8 ? 'header' : 'addresses', 'truncated'));
    }
  });

  test('address lengths that run past the buffer are a truncation of the addresses', () => {
    const bytes = PACKET.slice();
    bytes[4] = 200;
    assert.throws(() => ArpPacket.newChecked(bytes), isWire('addresses', 'truncated'));
  });

  test('a non-Ethernet or non-IPv4 ARP is refused naming the field', () => {
    const cases: Array<[number, number, string]> = [[1, 6, 'hardware type'], [3, 0x86, 'protocol type'], [4, 8, 'hardware length'], [5, 16, 'protocol length']];
    for (const [at, value, field] of cases) {
      const bytes = new Uint8Array(64);
      bytes.set(PACKET);
      bytes[at] = value;
      assert.throws(() => ArpRepr.parse(ArpPacket.newChecked(bytes)), isWire(field));
    }
  });
});
