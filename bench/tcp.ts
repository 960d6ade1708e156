// tcp.endpoint_gbps: our TCP endpoint (test/support/tcp-tap-peer.ts as a sink) receiving from a kernel client over a
// TAP, beside its twin in the same run (tcp.kernel_gbps: kernel to kernel over a veth pair between two namespaces,
// the same python sender and sink); and tcp.sim_msgs_per_s from bench/tcp-sim.ts. Root only for the first two.
import { existsSync } from 'node:fs';
import { noTap } from '../test/support/cli.js';
import { STACK_IP, TcpLab, ip, noPython, type JsonProcess } from '../test/support/tcp-lab.js';
import { median, runAlone, type BenchReport } from './report.js';

const RUNS = 3;
const BYTES = 256 * 1024 * 1024;
const SECONDS = 5; // a run ends at BYTES or SECONDS of sending, whichever comes first
const PORT = 5001;
const TWIN = { client: '198.51.100.1', server: '198.51.100.2' };

interface Transfer { gbps: number; bytes: number; intact: boolean }

export async function run(report: BenchReport): Promise<void> {
  await simRate(report);
  const why = noTap || noPython;
  if (why) {
    report.add('tcp.endpoint_gbps', null, 'Gbit/s', undefined, why);
    report.add('tcp.kernel_gbps', null, 'Gbit/s', undefined, why);
    return;
  }
  const lab = new TcpLab('nbb14e');
  try {
    const tapNs = lab.namespace('t');
    const [a, b] = [lab.namespace('ka'), lab.namespace('kb')];
    ip('-n', a, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', b);
    for (const [ns, dev, addr] of [[a, a, TWIN.client], [b, b, TWIN.server]]) {
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    const ours: Transfer[] = [];
    const kernel: Transfer[] = [];
    for (let r = 0; r < RUNS; r++) {
      ours.push(await endpointRun(lab, tapNs));
      kernel.push(await kernelRun(lab, a, b));
    }
    reportTransfers(report, ours, kernel);
  } catch (err) {
    report.add('tcp.endpoint_gbps', null, 'Gbit/s', undefined, `failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    lab.teardown();
  }
}

/** A kernel client sends to our sink behind the TAP; the rate is what our sink took in, first byte to FIN. */
async function endpointRun(lab: TcpLab, ns: string): Promise<Transfer> {
  const peer = lab.peer(ns, ['serve-sink', '--port', String(PORT), '--timeout-ms', String((SECONDS + 60) * 1000)]);
  const client = lab.kernel(ns, ['connect', STACK_IP, String(PORT), ...sendLimits()]);
  const k = await finished(client, 'the kernel client');
  const flow = (await finished(peer, 'tcp-tap-peer')).flows[0];
  return { gbps: (flow.receivedBytes * 8) / flow.seconds / 1e9, bytes: flow.receivedBytes, intact: flow.receivedSha256 === k.sentSha256 };
}

/** The same sender and sink, kernel to kernel over a veth pair. */
async function kernelRun(lab: TcpLab, clientNs: string, serverNs: string): Promise<Transfer> {
  const sink = lab.kernel(serverNs, ['serve-sink', String(PORT), '--timeout', String(SECONDS + 60)]);
  await sink.line('listening', 20_000);
  const client = lab.kernel(clientNs, ['connect', TWIN.server, String(PORT), ...sendLimits()]);
  const k = await finished(client, 'the kernel client');
  const s = await finished(sink, 'the kernel sink');
  return { gbps: (s.receivedBytes * 8) / s.seconds / 1e9, bytes: s.receivedBytes, intact: s.receivedSha256 === k.sentSha256 };
}

function sendLimits(): string[] {
  return ['--send-bytes', String(BYTES), '--seconds', String(SECONDS), '--seed', '14', '--timeout', String(SECONDS + 60)];
}

async function finished(p: JsonProcess, what: string): Promise<Record<string, any>> {
  const { code, json } = await p.result((SECONDS + 90) * 1000);
  if (code !== 0) throw new Error(`${what} exited ${code}: ${JSON.stringify(json).slice(0, 300)} ${p.stderr.slice(-300)}`);
  return json;
}

function reportTransfers(report: BenchReport, ours: Transfer[], kernel: Transfer[]): void {
  const damaged = [...ours, ...kernel].filter((t) => !t.intact).length;
  const mib = (ts: Transfer[]) => ts.map((t) => Math.round(t.bytes / 2 ** 20)).join('/');
  const ourGbps = median(ours.map((t) => t.gbps));
  const kernelGbps = median(kernel.map((t) => t.gbps));
  const checked = damaged === 0 ? 'sha256 checked' : `${damaged} run(s) arrived DAMAGED (sha256 differs)`;
  report.add('tcp.endpoint_gbps', damaged === 0 ? ourGbps : null, 'Gbit/s', undefined,
    `median of ${RUNS}; a kernel client (python) to our sink over a TAP, MTU 1500, no offloads; ${mib(ours)} MiB per run (${BYTES / 2 ** 20} MiB or ${SECONDS} s of sending); ${checked}`);
  report.add('tcp.kernel_gbps', kernelGbps, 'Gbit/s', undefined,
    `median of ${RUNS}; the twin: the same python sender and sink, kernel to kernel over a veth pair (GSO/GRO on); ${mib(kernel)} MiB per run`);
  report.add('tcp.endpoint_vs_kernel', damaged === 0 ? ourGbps / kernelGbps : null, 'ratio', undefined, 'tcp.endpoint_gbps / tcp.kernel_gbps, same run');
}

async function simRate(report: BenchReport): Promise<void> {
  const file = new URL('./tcp-sim.ts', import.meta.url);
  if (!existsSync(file)) {
    report.add('tcp.sim_msgs_per_s', null, 'msgs/s', undefined, 'not measured: bench/tcp-sim.ts is not here');
    return;
  }
  const { simTcpMsgsPerS } = await import('./tcp-sim.js');
  const r = await simTcpMsgsPerS();
  report.add('tcp.sim_msgs_per_s', r.msgsPerS, 'msgs/s', undefined, r.note);
  if (r.udpMsgsPerS !== undefined) report.add('tcp.sim_udp_msgs_per_s', r.udpMsgsPerS, 'msgs/s', undefined, 'the same sim over UDP, same run');
}

await runAlone(import.meta.url, run);
