// One conntrack line and one "is this flow port-forwarded" rule: the CLI (cli/api-format.ts, on the
// API's readable forms) and the router (actors/router/nat-format.ts and dnat-table.ts, on stored
// entries) must say the same of the same flow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNatValue, isForwarded } from '../cli/api-format.js';
import { formatNatEntry } from '../actors/router/nat-format.js';
import { isForwardedFlow, type DnatRule } from '../actors/router/dnat-table.js';
import type { NatEntry } from '../actors/router/nat-table.js';
import { MapTable } from '../actors/router/map-table.js';
import { ipv4ToString, parseIpv4 } from '../wire/ipv4.js';

const OUTSIDE = parseIpv4('10.202.0.1');

/** The entry as the API shows it (addresses dotted), with the outside address the CLI is not told. */
function readable(e: NatEntry): Record<string, unknown> {
  return { ...e, insideIp: ipv4ToString(e.insideIp), remoteIp: ipv4ToString(e.remoteIp), outsideIp: ipv4ToString(OUTSIDE) };
}

const FLOWS: NatEntry[] = [
  { proto: 'tcp', insideIp: parseIpv4('10.201.0.5'), insidePort: 80, remoteIp: parseIpv4('10.202.0.2'), remotePort: 40000, outPort: 8080, state: 'syn-recv', created: 0, lastSeen: 5_000, pktsOut: 1, pktsIn: 2, bytesOut: 60, bytesIn: 120 },
  { proto: 'udp', insideIp: parseIpv4('10.201.0.2'), insidePort: 40000, remoteIp: parseIpv4('10.202.0.2'), remotePort: 53, outPort: 61000, state: 'udp-replied', created: 0, lastSeen: 9_000, pktsOut: 3, pktsIn: 3, bytesOut: 300, bytesIn: 900 },
  { proto: 'icmp', insideIp: parseIpv4('10.201.0.2'), insidePort: 7, remoteIp: parseIpv4('10.202.0.2'), remotePort: 0, outPort: 1030, state: 'icmp', created: 0, lastSeen: 1_000, pktsOut: 1, pktsIn: 1, bytesOut: 84, bytesIn: 84 },
];

test('the CLI prints a flow from the API as the router logs the stored entry, forwarded or not', () => {
  for (const e of FLOWS) {
    for (const forwarded of [false, true]) {
      assert.equal(formatNatValue(readable(e), 7_000, forwarded), formatNatEntry(e, OUTSIDE, 7_000, forwarded), `${e.proto} forwarded=${forwarded}`);
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
