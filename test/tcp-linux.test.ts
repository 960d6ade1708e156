// Our TCP endpoint against the Linux kernel's: a TAP moved into a namespace holding the kernel's address, our
// HostStack on the root side (test/support/tcp-tap-peer.ts), python sockets on the kernel's. Data checked by sha256.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { noTap } from './support/cli.js';
import { JsonProcess, KERNEL_IP, STACK_IP, TcpLab, ip, moveIntoNamespace, noPython, until } from './support/tcp-lab.js';

const skip = noTap || noPython;
if (skip) process.stdout.write(`# skipping TCP lab tests: ${skip}\n`);

const lab = new TcpLab('nbt14e');
after(lab.teardown);

const KiB = 1024;
const MiB = 1024 * KiB;
/** Loss, duplication, reordering per frame: netem's `loss 1% duplicate 1% reorder 5%`, seeded. */
const IMPAIRED = '0.01,0.01,0.05';
const FAULT_SEED = Number(process.env.NB_TCP_FAULT_SEED ?? 14);
process.stdout.write(`# fault seed ${FAULT_SEED} (NB_TCP_FAULT_SEED overrides)\n`);

interface Flow { mss: number; sndWscale: number; sentBytes: number; sentSha256: string; receivedBytes: number; receivedSha256: string; closeReason: string | null }
interface PeerResult { ok: boolean; flows: Flow[]; tcp: Record<string, number>; syn: { in: Syn | null; out: Syn | null }; faults: Record<string, Record<string, number>> | null }
interface Syn { flags: string; mss: number | null; windowScale: number | null; sackPermitted: boolean; timestamps: boolean }
interface KernelResult { sentBytes: number; sentSha256: string; receivedBytes: number; receivedSha256: string }

async function outcome<T>(p: JsonProcess, what: string, ms: number): Promise<T> {
  const { code, json } = await p.result<T>(ms);
  assert.equal(code, 0, `${what} exited ${code}: ${JSON.stringify(json).slice(0, 1500)}\n${p.stderr.slice(-800)}`);
  return json;
}

/** A kernel client sending `bytes` to our `mode` server on `port`; both results. */
async function kernelToUs(ns: string, mode: string, port: number, bytes: number, peerArgs: string[] = [], beforeClient?: () => Promise<void>) {
  const peer = lab.peer(ns, [mode, '--port', String(port), '--timeout-ms', '240000', ...peerArgs]);
  await beforeClient?.();
  const client = lab.kernel(ns, ['connect', STACK_IP, String(port), '--send-bytes', String(bytes), '--seed', '11', '--timeout', '240']);
  const k = await outcome<KernelResult>(client, 'the kernel client', 260_000);
  const p = await outcome<PeerResult>(peer, 'tcp-tap-peer', 30_000);
  return { k, p };
}

/** Our client sending `bytes` to a kernel `mode` server on `port`; both results. */
async function usToKernel(ns: string, mode: string, port: number, bytes: number, peerArgs: string[] = []) {
  const server = lab.kernel(ns, [mode, String(port), '--timeout', '240']);
  await server.line('listening', 20_000);
  const peer = lab.peer(ns, ['connect', '--to', `${KERNEL_IP}:${port}`, '--send-bytes', String(bytes), '--seed', '12', '--timeout-ms', '240000', ...peerArgs]);
  const p = await outcome<PeerResult>(peer, 'tcp-tap-peer', 260_000);
  const k = await outcome<KernelResult>(server, 'the kernel server', 30_000);
  return { k, p };
}

test("a kernel client's 1 MiB comes back from our echo server byte for byte (sha256)", { skip }, async () => {
  const { k, p } = await kernelToUs(lab.namespace('a'), 'serve-echo', 7, MiB);
  assert.equal(k.sentBytes, MiB);
  assert.equal(k.receivedBytes, MiB);
  assert.equal(k.receivedSha256, k.sentSha256);
  assert.equal(p.flows.length, 1);
  assert.equal(p.flows[0].receivedSha256, k.sentSha256, 'what our server received is what the kernel sent');
  assert.equal(p.flows[0].closeReason, 'closed');
  assert.equal(p.tcp.badChecksum + p.tcp.badDataOffset + p.tcp.badOptions, 0);
});

test('our client sends 1 MiB to a kernel echo server and reads the same bytes back (sha256)', { skip }, async () => {
  const { k, p } = await usToKernel(lab.namespace('b'), 'serve-echo', 7007, MiB);
  const f = p.flows[0];
  assert.equal(f.sentBytes, MiB);
  assert.equal(k.receivedBytes, MiB);
  assert.equal(k.receivedSha256, f.sentSha256, 'the kernel received what our client sent');
  assert.equal(f.receivedBytes, MiB);
  assert.equal(f.receivedSha256, f.sentSha256, 'the echo is what we sent');
});

test("the kernel's handshake options (MSS, SACK permitted, timestamps, window scale) are taken both ways and the connection works", { skip }, async () => {
  const passive = await kernelToUs(lab.namespace('h'), 'serve-sink', 5000, 256 * KiB);
  const syn = passive.p.syn.in!;
  assert.deepEqual([syn.flags, syn.mss, syn.sackPermitted, syn.timestamps, syn.windowScale !== null], ['SYN', 1460, true, true, true], JSON.stringify(syn));
  const synAckOut = passive.p.syn.out!;
  assert.equal(synAckOut.flags, 'SYN-ACK');
  assert.notEqual(synAckOut.windowScale, null, 'window scale offered by the kernel is answered (RFC 7323 §2.2)');
  assert.deepEqual([passive.p.flows[0].mss, passive.p.flows[0].sndWscale], [1460, syn.windowScale], 'negotiated: our send MSS and the scale of the window the kernel advertises');
  assert.equal(passive.p.flows[0].receivedSha256, passive.k.sentSha256);
  assert.equal(passive.p.tcp.badOptions, 0);

  const active = await usToKernel(lab.namespace('i'), 'serve-sink', 5000, 256 * KiB);
  const synAck = active.p.syn.in!;
  assert.equal(synAck.flags, 'SYN-ACK');
  const ours = active.p.syn.out!;
  // The kernel answers an option only when we offered it (RFC 7323, 2018): its SYN-ACK mirrors our SYN.
  assert.deepEqual([synAck.sackPermitted, synAck.timestamps, synAck.windowScale !== null], [ours.sackPermitted, ours.timestamps, ours.windowScale !== null], JSON.stringify({ ours, synAck }));
  assert.equal(synAck.mss, 1460);
  assert.equal(active.p.flows[0].sndWscale, synAck.windowScale ?? 0);
  assert.equal(active.k.receivedSha256, active.p.flows[0].sentSha256);
  process.stdout.write(`# our SYN offered ${JSON.stringify(ours)}; our SYN-ACK answered ${JSON.stringify(passive.p.syn.out)}\n`);
});

test('16 MiB from a kernel client through loss 1%, duplication 1% and reordering arrives whole at our sink (sha256)', { skip }, async () => {
  const ns = lab.namespace('n');
  // netem on the namespace's TAP egress shapes kernel→us; a kernel without sch_netem gets the same impairment
  // from the TAP reader in tcp-tap-peer, before our stack sees the frames.
  const netem = lab.netemAvailable(ns);
  const peerArgs = netem ? [] : ['--impair-rx', IMPAIRED, '--fault-seed', String(FAULT_SEED)];
  process.stdout.write(`# kernel→us impairment: ${netem ? 'tc netem on the TAP in the namespace' : 'in-process, seeded (this kernel has no sch_netem)'}\n`);
  const { k, p } = await kernelToUs(ns, 'serve-sink', 5001, 16 * MiB, peerArgs, async () => {
    if (!netem) return;
    assert.ok(await until(() => spawnSync('ip', ['-n', ns, 'link', 'show', ns]).status === 0, 30_000), 'the TAP never reached the namespace');
    ip('netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', ns, 'root', 'netem', 'delay', '2ms', 'loss', '1%', 'duplicate', '1%', 'reorder', '95%', '50%');
  });
  assert.equal(k.sentBytes, 16 * MiB);
  assert.equal(p.flows[0].receivedBytes, 16 * MiB);
  assert.equal(p.flows[0].receivedSha256, k.sentSha256);
  if (!netem) assert.ok(p.faults!.rx.lost > 0 && p.faults!.rx.duplicated > 0 && p.faults!.rx.reordered > 0, JSON.stringify(p.faults));
  assert.ok(p.tcp.outOfOrder > 0, `out-of-order segments were kept: ${JSON.stringify(p.tcp)}`);
  process.stdout.write(`# kernel→us: faults ${JSON.stringify(p.faults?.rx ?? 'netem')}; our endpoint kept ${p.tcp.outOfOrder} out-of-order segments\n`);
});

test('16 MiB from our client through loss 1%, duplication 1% and reordering 5% arrives whole at a kernel sink (sha256)', { skip }, async () => {
  // netem on one device shapes only its egress: us→kernel is impaired where our frames leave, in tcp-tap-peer.
  const { k, p } = await usToKernel(lab.namespace('o'), 'serve-sink', 5002, 16 * MiB, ['--impair-tx', IMPAIRED, '--fault-seed', String(FAULT_SEED)]);
  const f = p.flows[0];
  assert.equal(f.sentBytes, 16 * MiB);
  assert.equal(k.receivedBytes, 16 * MiB);
  assert.equal(k.receivedSha256, f.sentSha256);
  assert.ok(p.faults!.tx.lost > 0 && p.faults!.tx.duplicated > 0 && p.faults!.tx.reordered > 0, JSON.stringify(p.faults));
  assert.ok(p.tcp.retransmits > 0, `lost segments were sent again: ${JSON.stringify(p.tcp)}`);
  process.stdout.write(`# us→kernel: faults ${JSON.stringify(p.faults!.tx)}; retransmits ${p.tcp.retransmits} (fast ${p.tcp.fastRetransmits}, RTO ${p.tcp.rtoExpired})\n`);
});

test('`netbranch host --tcp-echo 7` echoes a kernel client\'s 1 MiB byte for byte (sha256)', { skip }, async () => {
  const dev = lab.name('c');
  const host = lab.spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'host', '--tap', `${dev}:${STACK_IP}/24`, '--tcp-echo', '7', '--workers', '2']);
  const ready = await host.line('event', 60_000);
  assert.equal(ready.event, 'ready', JSON.stringify(ready));
  const ns = lab.namespace('c');
  moveIntoNamespace(dev, ns, `${KERNEL_IP}/24`);
  const client = lab.kernel(ns, ['connect', STACK_IP, '7', '--send-bytes', String(MiB), '--seed', '13', '--timeout', '120']);
  const k = await outcome<KernelResult>(client, 'the kernel client', 150_000);
  assert.equal(k.sentBytes, MiB);
  assert.equal(k.receivedBytes, MiB);
  assert.equal(k.receivedSha256, k.sentSha256);
  host.child.kill('SIGTERM'); // the host this test started
  assert.ok(await until(() => host.child.exitCode !== null, 15_000), 'the host exits after SIGTERM');
});
