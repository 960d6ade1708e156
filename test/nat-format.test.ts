// The conntrack line (actors/router/nat-format.ts): field for field as conntrack-tools prints a kernel flow,
// with [UNREPLIED] and [ASSURED] decided by the kernel's rules on our rows' fields. The last test makes the
// same flows through a kernel masquerade router in namespaces and compares `conntrack -L`'s line with ours.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { assured, formatConntrack, formatNatEntry, seenReply, type ConntrackFlow } from '../actors/router/nat-format.js';
import { TIMEOUTS } from '../actors/router/conntrack.js';
import type { ConnState, NatEntry, NatProto } from '../actors/router/nat-table.js';
import { parseIpv4 } from '../wire/ipv4.js';
import { ip, missing, noLab, PY, ServicesLab, waitOutput } from './support/services-lab.js';

const OUT = parseIpv4('10.202.0.1');
const T0 = 1_700_000_000_000;

function entry(proto: NatProto, state: ConnState, o: Partial<NatEntry> = {}): NatEntry {
  return {
    proto, insideIp: parseIpv4('10.201.0.2'), insidePort: 40000, remoteIp: parseIpv4('10.202.0.2'), remotePort: proto === 'icmp' ? 0 : 53,
    outPort: 40000, state, created: T0, lastSeen: T0, pktsOut: 1, pktsIn: 1, bytesOut: 32, bytesIn: 32, ...o,
  };
}

test('conntrack -L fields: protocol padded to 8 and its number, seconds left, state, both tuples, counters, mark and use', () => {
  assert.equal(formatNatEntry(entry('udp', 'udp-replied'), OUT, T0 + 3_400),
    'udp      17 116 src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 packets=1 bytes=32 src=10.202.0.2 dst=10.202.0.1 sport=53 dport=40000 packets=1 bytes=32 mark=0 use=1');
  assert.equal(formatNatEntry(entry('tcp', 'syn-sent', { remotePort: 9999, pktsIn: 0, bytesIn: 0, bytesOut: 60 }), OUT, T0 + 1_500),
    'tcp      6 118 SYN_SENT src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=9999 packets=1 bytes=60 [UNREPLIED] src=10.202.0.2 dst=10.202.0.1 sport=9999 dport=40000 packets=0 bytes=0 mark=0 use=1');
  assert.equal(formatNatEntry(entry('icmp', 'icmp', { insidePort: 4660, outPort: 4661, bytesOut: 36, bytesIn: 36 }), OUT, T0 + 1_000),
    'icmp     1 29 src=10.201.0.2 dst=10.202.0.2 type=8 code=0 id=4660 packets=1 bytes=36 src=10.202.0.2 dst=10.202.0.1 type=0 code=0 id=4661 packets=1 bytes=36 mark=0 use=1');
  // Seconds left are whole seconds rounded down, never negative (an expired row the sweep has not removed yet).
  assert.match(formatNatEntry(entry('udp', 'udp-new'), OUT, T0 + 31_000), /^udp {6}17 0 src=/);
});

test('a port-forwarded flow reads as conntrack shows DNAT: opened by the remote end, to our outside address', () => {
  const e = entry('tcp', 'established', { insideIp: parseIpv4('10.201.0.5'), insidePort: 80, remoteIp: parseIpv4('10.202.0.9'), remotePort: 51000, outPort: 8080, pktsOut: 4, pktsIn: 5 });
  assert.equal(formatNatEntry(e, OUT, T0, true),
    'tcp      6 432000 ESTABLISHED src=10.202.0.9 dst=10.202.0.1 sport=51000 dport=8080 packets=5 bytes=32 src=10.201.0.5 dst=10.202.0.9 sport=80 dport=51000 packets=4 bytes=32 [ASSURED] mark=0 use=1');
  // The reply way of a forwarded flow is the inside host's: no packet from it yet is UNREPLIED, whatever came in.
  const fresh = entry('udp', 'udp-new', { outPort: 5001, pktsIn: 3, pktsOut: 0 });
  assert.match(formatNatEntry(fresh, OUT, T0, true), /packets=3 bytes=32 \[UNREPLIED\] src=10\.201\.0\.2/);
});

const flow = (proto: string, state: string, o: Partial<ConntrackFlow> = {}): ConntrackFlow => ({
  proto, state, expires: undefined, insideIp: '10.201.0.2', insidePort: 40000, remoteIp: '10.202.0.2', remotePort: 53, outPort: 40000, outsideIp: undefined,
  created: 0, lastSeen: 0, pktsOut: 1, pktsIn: 0, bytesOut: 0, bytesIn: 0, ...o,
});

test('[UNREPLIED]: no packet came the reply way (by the counters, or by a state only a reply reaches)', () => {
  assert.equal(seenReply(flow('udp', 'udp-new')), false);
  assert.equal(seenReply(flow('udp', 'udp-new', { pktsIn: 1 })), true);
  // A state change is written at once, counters with the next merge: the state alone already says it.
  assert.equal(seenReply(flow('udp', 'udp-replied')), true);
  for (const s of ['none', 'syn-sent', 'close']) assert.equal(seenReply(flow('tcp', s)), false, s);
  for (const s of ['syn-recv', 'established', 'fin-wait', 'close-wait', 'last-ack', 'time-wait']) assert.equal(seenReply(flow('tcp', s)), true, s);
  assert.equal(seenReply(flow('icmp', 'icmp', { pktsIn: '?' })), false);
});

test('[ASSURED]: TCP once the handshake completed; UDP as a stream (more traffic after the reply, past 2 s); ICMP never', () => {
  for (const s of ['none', 'syn-sent', 'syn-recv', 'close']) assert.equal(assured(flow('tcp', s, { pktsIn: 5 })), false, s);
  for (const s of ['established', 'fin-wait', 'close-wait', 'last-ack', 'time-wait']) assert.equal(assured(flow('tcp', s)), true, s);
  const dns = flow('udp', 'udp-replied', { pktsOut: 1, pktsIn: 1, created: 0, lastSeen: 40 });
  assert.equal(assured(dns), false, 'a query and its answer: not a stream');
  assert.equal(assured({ ...dns, pktsOut: 2, lastSeen: 1_500 }), false, 'more traffic, within 2 s');
  assert.equal(assured({ ...dns, pktsOut: 2, lastSeen: 2_200 }), true, 'more traffic past 2 s');
  assert.equal(assured({ ...dns, lastSeen: 9_000 }), false, 'a late answer alone');
  assert.equal(assured({ ...dns, state: 'udp-new', pktsIn: 0, pktsOut: 9, lastSeen: 9_000 }), false, 'never answered');
  assert.equal(assured(flow('icmp', 'icmp', { pktsOut: 9, pktsIn: 9, lastSeen: 9_000 })), false);
});

test('conntrack -E lines: the event right-aligned in 9 columns, counters only on DESTROY, no mark or use', () => {
  const f = flow('udp', 'udp-new', { expires: 30_000, outsideIp: '10.202.0.1' });
  assert.equal(formatConntrack(f, 0, { event: 'new' }),
    '    [NEW] udp      17 30 src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 [UNREPLIED] src=10.202.0.2 dst=10.202.0.1 sport=53 dport=40000');
  assert.equal(formatConntrack({ ...f, state: 'udp-replied', pktsIn: 1 }, 0, { event: 'update' }),
    ' [UPDATE] udp      17 30 src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 src=10.202.0.2 dst=10.202.0.1 sport=53 dport=40000');
  assert.equal(formatConntrack({ ...f, state: 'udp-replied', pktsIn: 1, bytesOut: 32, bytesIn: 40 }, 31_000, { event: 'destroy' }),
    '[DESTROY] udp      17 0 src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 packets=1 bytes=32 src=10.202.0.2 dst=10.202.0.1 sport=53 dport=40000 packets=1 bytes=40');
  // Unknown outside address: the reply tuple has no dst=; unknown expiry: `?`.
  assert.equal(formatConntrack(flow('tcp', 'established'), 0), 'tcp      6 ? ESTABLISHED src=10.201.0.2 dst=10.202.0.2 sport=40000 dport=53 packets=1 bytes=0 src=10.202.0.2 sport=53 dport=40000 packets=0 bytes=0 [ASSURED] mark=0 use=1');
});

// ---- the real tool: a kernel masquerade router (namespaces a → r → b), the same flows, conntrack -L in r ----

const noKernel = noLab || (missing('conntrack', 'nft') ? `needs conntrack and nft (apt-get install conntrack nftables): ${missing('conntrack', 'nft')} is missing`
  : !existsSync('/proc/sys/net/netfilter') ? 'the kernel has no netfilter conntrack' : false);

/** In b: UDP 5353 answers once; UDP 5354 answers once then takes a second datagram; TCP 8080 holds its connection. */
const SERVERS = `
import socket, sys, threading, time
def udp(port, extra):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.77.2.2', port))
    d, a = s.recvfrom(100); s.sendto(b'pong', a)
    if extra: s.recvfrom(100)
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('10.77.2.2', 8080)); t.listen()
threading.Thread(target=udp, args=(5353, False), daemon=True).start()
threading.Thread(target=udp, args=(5354, True), daemon=True).start()
print('ready', flush=True)
c, a = t.accept(); c.recv(10); time.sleep(30)
`;

/** In a: the flows, each from a known port (the echo socket's identifier 4660), then "done" and the times (ms) of each. */
const CLIENTS = `
import json, socket, struct, time
ms = lambda: int(time.time() * 1000)
times = {}
def udp(port, dport, then_more):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.77.1.2', port)); s.settimeout(3)
    t0 = ms(); s.sendto(b'ping', ('10.77.2.2', dport))
    if dport != 9: s.recvfrom(100)
    if then_more: time.sleep(2.3); s.sendto(b'more', ('10.77.2.2', dport))
    times[str(port)] = [t0, ms()]
udp(40000, 5353, False); udp(40001, 9, False); udp(40002, 5354, True)
t0 = ms(); tc = socket.socket(); tc.bind(('10.77.1.2', 40010)); tc.connect(('10.77.2.2', 8080)); tc.send(b'hi'); time.sleep(0.3); times['40010'] = [t0, ms()]
t0 = ms(); sy = socket.socket(); sy.bind(('10.77.1.2', 40011)); sy.settimeout(0.5)
try: sy.connect(('10.77.2.2', 9999))
except OSError: pass
times['40011'] = [t0, ms()]
ic = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP); ic.bind(('10.77.1.2', 4660)); ic.settimeout(2)
t0 = ms(); ic.sendto(struct.pack('!BBHHH', 8, 0, 0, 0, 1) + b'abcdefgh', ('10.77.2.2', 0)); ic.recv(100); times['4660'] = [t0, ms()]
print('done ' + json.dumps(times), flush=True)
time.sleep(30)
`;

/** What our router's row holds for each flow the clients made, keyed by the inside port (the echo identifier for ICMP). */
const OURS: Record<string, { proto: NatProto; state: ConnState; sameTimeout: boolean }> = {
  40000: { proto: 'udp', state: 'udp-replied', sameTimeout: false }, // the kernel keeps 30 s until a stream; conntrack.ts 120 s
  40001: { proto: 'udp', state: 'udp-new', sameTimeout: true },
  40002: { proto: 'udp', state: 'udp-replied', sameTimeout: true },
  40010: { proto: 'tcp', state: 'established', sameTimeout: true },
  40011: { proto: 'tcp', state: 'syn-sent', sameTimeout: true },
  4660: { proto: 'icmp', state: 'icmp', sameTimeout: true },
};

/** A conntrack line's fields: `[proto, number, seconds, STATE?, key=value…, [FLAG]…]`. */
const fields = (line: string): string[] => line.trim().split(/\s+/);
const field = (fs: string[], name: string, nth = 0): string => fs.filter((f) => f.startsWith(`${name}=`))[nth]?.slice(name.length + 1) ?? '';

/** Our row for the kernel's flow: the tuple, port and counters the kernel saw, the state and times our router would have. */
function ourRow(kernel: string[], times: Record<string, [number, number]>): { e: NatEntry; sameTimeout: boolean } {
  const icmp = kernel[0] === 'icmp';
  const port = icmp ? field(kernel, 'id') : field(kernel, 'sport');
  const ours = OURS[port];
  assert.ok(ours && times[port], `a flow the test made: ${kernel.join(' ')}`);
  const n = (name: string, nth: number) => Number(field(kernel, name, nth));
  return {
    sameTimeout: ours.sameTimeout,
    e: {
      proto: ours.proto, state: ours.state, created: times[port][0], lastSeen: times[port][1],
      insideIp: parseIpv4(field(kernel, 'src')), insidePort: Number(port), remoteIp: parseIpv4(field(kernel, 'dst')),
      remotePort: icmp ? 0 : n('dport', 0), outPort: icmp ? n('id', 1) : n('dport', 1),
      pktsOut: n('packets', 0), bytesOut: n('bytes', 0), pktsIn: n('packets', 1), bytesIn: n('bytes', 1),
    },
  };
}

let lab: ServicesLab | undefined;
after(() => lab?.teardown());

test('each flow through a kernel masquerade router: `conntrack -L` and our line agree field for field', { skip: noKernel, timeout: 60_000 }, async () => {
  lab = new ServicesLab(`nbct${process.pid % 10_000}`);
  const [a, r, b] = ['a', 'r', 'b'].map((x) => lab!.addNamespace(x));
  ip('link', 'add', `${lab.tag}a0`, 'netns', a, 'type', 'veth', 'peer', 'name', `${lab.tag}r0`, 'netns', r);
  ip('link', 'add', `${lab.tag}b0`, 'netns', b, 'type', 'veth', 'peer', 'name', `${lab.tag}r1`, 'netns', r);
  for (const [ns, dev, addr] of [[a, 'a0', '10.77.1.2/24'], [r, 'r0', '10.77.1.1/24'], [r, 'r1', '10.77.2.1/24'], [b, 'b0', '10.77.2.2/24']]) {
    ip('-n', ns, 'addr', 'add', addr, 'dev', `${lab.tag}${dev}`);
    ip('-n', ns, 'link', 'set', `${lab.tag}${dev}`, 'up');
  }
  ip('-n', a, 'route', 'add', 'default', 'via', '10.77.1.1');
  const sh = async (ns: string, cmd: string, ...args: string[]) => {
    const run = await lab!.run(ns, cmd, args, 10_000);
    assert.equal(run.code, 0, `${cmd} ${args.join(' ')}: ${run.stderr}`);
    return run.stdout;
  };
  await sh(r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.netfilter.nf_conntrack_acct=1');
  await sh(a, 'sysctl', '-qw', 'net.ipv4.ping_group_range=0 2147483647');
  await sh(r, 'nft', `table ip nbct { chain post { type nat hook postrouting priority 100; oifname "${lab.tag}r1" masquerade; }; }`);
  await sh(b, 'nft', 'table ip nbct { chain in { type filter hook input priority 0; tcp dport 9999 drop; }; }');

  const servers = lab.spawn(PY, ['-c', SERVERS], { ns: b });
  await waitOutput(servers, /ready/, 10_000, 'the servers');
  const clients = lab.spawn(PY, ['-c', CLIENTS], { ns: a });
  await waitOutput(clients, /done .*\n/, 20_000, 'the clients');
  const times = JSON.parse(/done (.*)\n/.exec(clients.out())![1]) as Record<string, [number, number]>;
  const now = Date.now();
  const listed = (await sh(r, 'conntrack', '-L')).trim().split('\n');
  assert.equal(listed.length, Object.keys(OURS).length, listed.join('\n'));

  for (const line of listed) {
    const kernel = fields(line);
    const { e, sameTimeout } = ourRow(kernel, times);
    const ourLine = formatNatEntry(e, parseIpv4('10.77.2.1'), now);
    const ours = fields(ourLine);
    assert.equal(ourLine.slice(0, 9), line.slice(0, 9), 'the protocol padded as conntrack pads it');
    assert.equal(ours.length, kernel.length, `the same fields:\n  kernel ${line}\n  ours   ${ourLine}`);
    for (let i = 0; i < kernel.length; i++) {
      if (i !== 2) assert.equal(ours[i], kernel[i], `field ${i}:\n  kernel ${line}\n  ours   ${ourLine}`);
    }
    // Seconds left: the same where our timeout is the kernel's (the clocks differ by the scheduling of a tick).
    if (sameTimeout) assert.ok(Math.abs(Number(ours[2]) - Number(kernel[2])) <= 2, `seconds left ${ours[2]} vs ${kernel[2]}: ${line}`);
    else assert.equal(Number(ours[2]), Math.floor((e.lastSeen + TIMEOUTS[e.state] - now) / 1000));
  }
});
