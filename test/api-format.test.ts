// One conntrack line, one "is this flow port-forwarded" rule and one way of showing times: the CLI
// (cli/api-format.ts, on the API's readable forms) and the router (actors/router/nat-format.ts and
// dnat-table.ts, on stored entries) must say the same of the same flow; times read `in 4m 3s` / `12s ago`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatArpEntry, formatChange, formatHistoryEntry, formatNatValue, isForwarded, outsideAddress } from '../cli/api-format.js';
import { formatDuration, formatField, formatFields, formatRelative } from '../cli/time-format.js';
import { formatNatEntry } from '../actors/router/nat-format.js';
import { isForwardedFlow, type DnatRule } from '../actors/router/dnat-table.js';
import type { NatEntry } from '../actors/router/nat-table.js';
import { MapTable } from '../actors/router/map-table.js';
import { ipv4ToString, parseIpv4 } from '../wire/ipv4.js';

const OUTSIDE = parseIpv4('10.202.0.1');

/** The entry as the API shows it (addresses dotted). */
function readable(e: NatEntry): Record<string, unknown> {
  return { ...e, insideIp: ipv4ToString(e.insideIp), remoteIp: ipv4ToString(e.remoteIp) };
}

const FLOWS: NatEntry[] = [
  { proto: 'tcp', insideIp: parseIpv4('10.201.0.5'), insidePort: 80, remoteIp: parseIpv4('10.202.0.2'), remotePort: 40000, outPort: 8080, state: 'syn-recv', created: 0, lastSeen: 5_000, pktsOut: 1, pktsIn: 2, bytesOut: 60, bytesIn: 120 },
  { proto: 'udp', insideIp: parseIpv4('10.201.0.2'), insidePort: 40000, remoteIp: parseIpv4('10.202.0.2'), remotePort: 53, outPort: 61000, state: 'udp-replied', created: 0, lastSeen: 9_000, pktsOut: 3, pktsIn: 3, bytesOut: 300, bytesIn: 900 },
  { proto: 'udp', insideIp: parseIpv4('10.201.0.2'), insidePort: 40001, remoteIp: parseIpv4('10.202.0.2'), remotePort: 53, outPort: 61001, state: 'udp-new', created: 8_000, lastSeen: 8_000, pktsOut: 1, pktsIn: 0, bytesOut: 60, bytesIn: 0 },
  { proto: 'icmp', insideIp: parseIpv4('10.201.0.2'), insidePort: 7, remoteIp: parseIpv4('10.202.0.2'), remotePort: 0, outPort: 1030, state: 'icmp', created: 0, lastSeen: 1_000, pktsOut: 1, pktsIn: 1, bytesOut: 84, bytesIn: 84 },
];

test('the CLI prints a flow from the API as the router logs the stored entry, forwarded or not', () => {
  for (const e of FLOWS) {
    for (const forwarded of [false, true]) {
      assert.equal(formatNatValue(readable(e), 7_000, { forwarded, outsideIp: '10.202.0.1' }), formatNatEntry(e, OUTSIDE, 7_000, forwarded), `${e.proto} forwarded=${forwarded}`);
    }
  }
});

test('the CLI and the router agree on which flows a port-forward rule made', () => {
  const rule: DnatRule = { proto: 'tcp', port: 8080, insideIp: parseIpv4('10.201.0.5'), insidePort: 80, created: 0 };
  const stored = new MapTable<string, DnatRule>();
  stored.set('tcp:8080', rule);
  const shown = new Map<string, unknown>([['tcp:8080', { ...rule, insideIp: ipv4ToString(rule.insideIp) }]]);
  const elsewhere = { ...FLOWS[0], insidePort: 81 };
  for (const e of [...FLOWS, elsewhere]) {
    assert.equal(isForwarded(readable(e), shown), isForwardedFlow(e, stored), `${e.proto}:${e.outPort} inside port ${e.insidePort}`);
  }
  assert.equal(isForwardedFlow(FLOWS[0], stored), true);
  assert.equal(isForwardedFlow(elsewhere, stored), false);
});

test('without the outside address the reply direction has no dst=; hello names it by role, 0.0.0.0 is no address yet', () => {
  const line = formatNatValue(readable(FLOWS[1]), 7_000);
  assert.match(line, / src=10\.202\.0\.2 sport=53 dport=61000 /);
  assert.equal(line.match(/dst=/g)?.length, 1);
  const iface = (role: 'inside' | 'outside', ip: string) => ({ role, dev: `tap-${role}`, ip, prefix: 24, mac: '02:00:00:00:00:01' });
  assert.equal(outsideAddress({ interfaces: [iface('inside', '10.201.0.1'), iface('outside', '10.202.0.1')] }), '10.202.0.1');
  assert.equal(outsideAddress({ interfaces: [iface('outside', '0.0.0.0')] }), undefined);
  assert.equal(outsideAddress({}), undefined);
  assert.equal(formatNatValue('not a flow', 0), '"not a flow"');
});

test('durations: at most two units, larger first; relative times round towards the deadline', () => {
  assert.deepEqual([0, 1, 59, 60, 243, 3600, 3661, 86_400, 90_000, 432_000].map(formatDuration),
    ['0s', '1s', '59s', '1m', '4m 3s', '1h', '1h 1m', '1d', '1d 1h', '5d']);
  const now = 1_000_000;
  assert.equal(formatRelative(now + 243_000, now), 'in 4m 3s');
  assert.equal(formatRelative(now + 40_200, now), 'in 41s'); // up: a deadline 40.2 s away is not "in 40s"
  assert.equal(formatRelative(now - 12_900, now), '12s ago');
  assert.equal(formatRelative(now - 400, now), 'now');
  assert.equal(formatRelative(now, now), 'now');
});

test('fields: time fields relative (0 is none), the rest as they are', () => {
  const now = 5_000_000;
  assert.equal(formatField('expires', now + 61_000, now), 'in 1m 1s');
  assert.equal(formatField('lastSeen', now - 3_000, now), '3s ago');
  assert.equal(formatField('expires', 0, now), '0');
  assert.equal(formatField('mac', '02:00:00:00:00:01', now), '02:00:00:00:00:01');
  assert.equal(formatField('outPort', 61000, now), '61000');
  assert.deepEqual(formatFields({ mac: '02:00:00:00:00:01', expires: now + 41_000, kind: 'dynamic', answers: [1, 2] }, now),
    ['mac: 02:00:00:00:00:01', 'expires: in 41s', 'kind: dynamic', 'answers: [1,2]']);
  assert.deepEqual(formatFields(7, now), ['7']);
});

test('arp lines like ip neigh; changes and history with relative times', () => {
  const now = 1_000_000;
  assert.equal(formatArpEntry('10.201.0.2', { mac: '02:00:00:00:00:01', expires: now + 40_200, kind: 'dynamic' }, now), '10.201.0.2 lladdr 02:00:00:00:00:01 dynamic expires in 41s');
  assert.equal(formatArpEntry('10.201.0.3', { mac: '02:00:00:00:00:03', expires: 0, kind: 'static' }, now), '10.201.0.3 lladdr 02:00:00:00:00:03 static');
  assert.equal(formatArpEntry('10.201.0.4', { mac: '02:00:00:00:00:04', expires: now - 3000, kind: 'dynamic' }, now), '10.201.0.4 lladdr 02:00:00:00:00:04 dynamic expired 3s ago');
  assert.equal(formatArpEntry('10.201.0.5', { mac: '02:00:00:00:00:05', expires: now - 250_000, kind: 'dynamic' }, now), '10.201.0.5 lladdr 02:00:00:00:00:05 dynamic expired 4m 10s ago');
  assert.equal(formatChange('arp', '10.201.0.2', { mac: '02:00:00:00:00:01', expires: now + 60_000, kind: 'dynamic' }, now), 'arp 10.201.0.2 = mac: 02:00:00:00:00:01, expires: in 1m, kind: dynamic');
  assert.equal(formatChange('arp', '10.201.0.2', null, now), 'arp 10.201.0.2 removed');
  assert.deepEqual(formatHistoryEntry({ seq: 12, time: now - 185_000, author: 'packet-1', message: 'merge', value: { mac: '02:00:00:00:00:01', expires: now + 1_000, kind: 'dynamic' } }, now),
    ['#12 3m 5s ago packet-1: merge', '    mac: 02:00:00:00:00:01, expires: in 1s, kind: dynamic']);
  assert.deepEqual(formatHistoryEntry({ seq: 3, time: 1600, author: 'packet-0', message: 'merge packet-0', value: null }, 4600), ['#3 3s ago packet-0: merge packet-0', '    (removed)']);
});
