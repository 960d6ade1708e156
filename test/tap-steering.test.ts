// Kernel queue steering on a multi-queue TAP: frames the kernel transmits on the device (sent by a python3 AF_PACKET
// socket bound to it) arrive on exactly the queue actors/router/steering.ts `steer` names for them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { steer } from '../actors/router/steering.js';
import { IpProtocol } from '../wire/ipv4.js';
import { TapError, TapLink, TapQueueSet, tapSupport } from '../wire/link/tap.js';

const support = tapSupport();
const skip =
  process.getuid?.() !== 0
    ? 'needs root: it creates multi-queue TAP devices and loads an eBPF program'
    : !support.ok
      ? support.error.message
      : spawnSync('python3', ['-c', 'import socket; socket.AF_PACKET']).status !== 0
        ? 'needs python3 with AF_PACKET sockets to make the kernel transmit on the TAP'
        : false;
if (skip) process.stdout.write(`# skipping TAP steering tests: ${skip}\n`);

const sets = new Set<TapQueueSet>();
const links = new Set<TapLink>();
function teardown(): void {
  for (const l of links) l.close();
  links.clear();
  for (const s of sets) s.close(); // our devices vanish with their last fd
  sets.clear();
}
process.on('exit', teardown);
after(teardown);

const MAGIC = 0x4e425354; // 'NBST': marks the frames this test sent, so nothing else the device carries is counted

interface Flow { proto: number; src: number; dst: number; sport: number; dport: number }

/** An untagged IPv4 TCP/UDP/ICMP-echo frame carrying MAGIC and its index; `fragOffset` makes it a later fragment. */
function frameOf(f: Flow, index: number, fragOffset = 0): Uint8Array {
  const l4Header = f.proto === IpProtocol.Tcp ? 20 : 8;
  const frame = new Uint8Array(14 + 20 + l4Header + 8);
  const d = new DataView(frame.buffer);
  d.setUint32(0, 0x024e4200); d.setUint16(4, 0x0001); // dst 02:4e:42:00:00:01
  d.setUint32(6, 0x024e4200); d.setUint16(10, 0x0002);
  d.setUint16(12, 0x0800);
  frame[14] = 0x45;
  d.setUint16(16, frame.length - 14);
  d.setUint16(20, fragOffset);
  frame[22] = 64;
  frame[23] = f.proto;
  d.setUint32(26, f.src);
  d.setUint32(30, f.dst);
  const l4 = 34;
  if (f.proto === IpProtocol.Icmp) {
    frame[l4] = f.sport & 1 ? 8 : 0; // echo request or reply
    d.setUint16(l4 + 4, f.dport); // identifier
  } else {
    d.setUint16(l4, f.sport);
    d.setUint16(l4 + 2, f.dport);
    if (f.proto === IpProtocol.Tcp) frame[l4 + 12] = 0x50;
  }
  d.setUint32(l4 + l4Header, MAGIC);
  d.setUint32(l4 + l4Header + 4, index);
  return frame;
}

const markerOf = (f: Uint8Array): number => {
  const l4Header = f[23] === IpProtocol.Tcp ? 20 : 8;
  const d = new DataView(f.buffer, f.byteOffset, f.length);
  return f.length >= 34 + l4Header + 8 && d.getUint32(34 + l4Header) === MAGIC ? d.getUint32(34 + l4Header + 4) : -1;
};

const SENDER = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for line in sys.stdin:
    if line.strip(): s.send(bytes.fromhex(line.strip()))
`;

/** Makes the kernel transmit `frames` on device `name` (dev_queue_xmit, so the steering program picks each queue). */
function transmit(name: string, frames: Uint8Array[]): void {
  const input = frames.map((f) => Buffer.from(f).toString('hex')).join('\n') + '\n';
  const r = spawnSync('python3', ['-c', SENDER, name], { input, timeout: 10_000, encoding: 'utf8' });
  assert.equal(r.status, 0, `python3 sender failed: ${r.stderr}`);
}

/** A k-queue TAP with IPv6 off (so the kernel sends nothing of its own), every queue attached in order and read. */
function openQueues(k: number): { set: TapQueueSet; got: Map<number, number[]> } {
  const set = TapQueueSet.open('nbst%d', k, { up: false });
  sets.add(set);
  writeFileSync(`/proc/sys/net/ipv6/conf/${set.name}/disable_ipv6`, '1');
  set.setUp(true);
  const got = new Map<number, number[]>(); // marker → queues it arrived on
  for (let q = 0; q < k; q++) {
    const end = set.lend(q); // lent in order: kernel queue index q
    const link = TapLink.fromFd(end.fd, end.name);
    links.add(link);
    link.onFrames((frames) => {
      for (const f of frames) {
        const m = markerOf(f);
        if (m >= 0) got.set(m, [...(got.get(m) ?? []), q]);
      }
    });
  }
  return { set, got };
}

function closeQueues(set: TapQueueSet): void {
  for (const l of links) l.close();
  links.clear();
  set.close();
  sets.delete(set);
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!cond() && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
}

const flow = fc.record({
  proto: fc.constantFrom(IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmp),
  src: fc.nat(0xffffffff), dst: fc.nat(0xffffffff),
  sport: fc.oneof(fc.nat(1023), fc.nat(0xffff)), dport: fc.oneof(fc.nat(1023), fc.nat(0xffff)),
});
const noForwards = { inside: new Map<number, number>(), outside: new Map<number, number>() };

test('every frame the kernel transmits arrives on the queue steer() names (src and dst port fields)', { skip, timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.constantFrom('src', 'dst'), fc.array(flow, { minLength: 1, maxLength: 12 }),
    async (k, field, flows) => {
      const { set, got } = openQueues(k);
      try {
        set.steerByPort(field as 'src' | 'dst');
        const frames = flows.map((f, i) => frameOf(f, i));
        transmit(set.name, frames);
        await waitFor(() => got.size === frames.length, 3000);
        for (let i = 0; i < frames.length; i++) {
          const want = steer(frames[i], field === 'src', noForwards, k);
          assert.deepEqual(got.get(i), [want], `frame ${i} (${JSON.stringify(flows[i])}) with ${k} queues by ${field}`);
        }
      } finally {
        closeQueues(set);
      }
    }), { numRuns: 40 });
});

test('later fragments and non-IPv4 frames go to queue 0', { skip, timeout: 20_000 }, async () => {
  const { set, got } = openQueues(4);
  try {
    set.steerByPort('src');
    const high: Flow = { proto: IpProtocol.Udp, src: 1, dst: 2, sport: 65000, dport: 65000 }; // owner 3 unfragmented
    const frames = [frameOf(high, 0), frameOf(high, 1, 0x2000 | 0x10)];
    const notIp = frameOf(high, 2);
    notIp[12] = 0x86; notIp[13] = 0xdd; // claims IPv6
    transmit(set.name, [...frames, notIp]);
    await waitFor(() => got.size === 3, 3000);
    assert.deepEqual([got.get(0), got.get(1), got.get(2)], [[3], [0], [0]]);
  } finally {
    closeQueues(set);
  }
});

test('steering a closed queue set, or with a bad actor count, is an error, not a crash', { skip }, () => {
  const set = TapQueueSet.open('nbst%d', 2, { up: false });
  sets.add(set);
  assert.throws(() => set.steerByPort('src', 0), RangeError);
  set.steerByPort('dst', 1);
  set.clearSteering();
  set.close();
  sets.delete(set);
  assert.throws(() => set.steerByPort('src'), (e: unknown) => e instanceof TapError && /closed/.test(e.message));
  assert.throws(() => set.clearSteering(), TapError);
});
