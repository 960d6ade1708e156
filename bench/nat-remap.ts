// NAT remap on an outside address change (actors/router/nat-remap.ts): in-process, 100,000 bindings on one packet
// actor's store branch moved to a new address (median of repeats); as root, a UDP stream's gap across a real change.
//   npm run bench -- nat-remap        (or: node --import tsx bench/nat-remap.ts)
import { performance } from 'node:perf_hooks';
import { Store } from '../store/index.js';
import { natTable, type NatProto } from '../actors/router/nat-table.js';
import { NatEngine } from '../actors/router/nat-engine.js';
import { remapOutside } from '../actors/router/nat-remap.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { parseIpv4 } from '../wire/ipv4.js';
import { type BenchReport, median, runAlone } from './report.js';
import { ServicesLab, noLab, missing } from '../test/support/services-lab.js';
import { remapAcrossChange, UDP_PERIOD_MS } from '../test/support/services-remap.js';

const FLOWS = Number(process.env.NB_REMAP_FLOWS ?? 100_000);
const ROUNDS = Number(process.env.NB_REMAP_ROUNDS ?? 5);
/** The mix of a home router's table: mostly UDP (DNS, QUIC), some TCP and ping. */
const TCP_SHARE = 0.2;
const ICMP_SHARE = 0.05;
const OLD = parseIpv4('10.202.0.1');
const NEW = parseIpv4('10.202.0.77');

function protoOf(i: number): NatProto {
  const x = (i % 100) / 100;
  return x < TCP_SHARE ? 'tcp' : x < TCP_SHARE + ICMP_SHARE ? 'icmp' : 'udp';
}

/** One round: FLOWS flows opened and written to a fresh branch, then the remap timed, and the commit that carries it. */
function round(): { remapMs: number; commitMs: number; expired: number; kept: number } {
  const store = new Store([natTable]);
  const branch = store.main.fork('actor-0');
  const nat = new NatEngine(branch.table(natTable), { maxEntries: 2 * FLOWS });
  const outside: NetInterface = { name: 'out', mac: localMac(0x402), ip: OLD, prefix: 24 };
  for (let i = 0; i < FLOWS; i++) {
    const p = protoOf(i);
    // Unique inside ends and remote ends, so every flow is a new binding with its port kept.
    nat.outbound(p, parseIpv4('10.201.0.2') + (i % 200), 1024 + (i % 60_000), parseIpv4('10.202.1.1') + Math.floor(i / 60_000), p === 'icmp' ? 0 : 443, 0, 60, 1);
  }
  nat.flush(1);
  branch.commit();
  const t0 = performance.now();
  const r = remapOutside({ nat, cfg: { outside } }, OLD, NEW, 2);
  const t1 = performance.now();
  branch.commit();
  const commitMs = performance.now() - t1;
  if (!r.changed || r.kept + r.expired !== FLOWS) throw new Error(`remap kept ${r.kept} + expired ${r.expired}, expected ${FLOWS} flows`);
  return { remapMs: t1 - t0, commitMs, expired: r.expired, kept: r.kept };
}

export async function run(report: BenchReport): Promise<void> {
  const rounds = Array.from({ length: ROUNDS }, round);
  const { expired, kept } = rounds[0];
  report.add('nat.remap_ms_100k', median(rounds.map((r) => r.remapMs)) * (100_000 / FLOWS), 'ms', undefined,
    `${FLOWS} bindings (${kept} UDP/ICMP kept, ${expired} TCP expired) on one actor's store branch, all in its memory; remapOutside only; median of ${ROUNDS}; the branch commit carrying the ${expired} deletes took a median ${median(rounds.map((r) => r.commitMs)).toFixed(1)} ms more`);
  await remapLoss(report);
}

/** As root: the longest gap in a UDP echo stream across a real address change (dnsmasq moving the router's lease). */
async function remapLoss(report: BenchReport): Promise<void> {
  const tool = noLab ? null : missing('dnsmasq', 'ping');
  if (noLab || tool) return report.add('nat.remap_loss_ms', null, 'ms', '<= 1000', `not measured: ${noLab || `${tool} is not installed`}`);
  const lab = new ServicesLab(`nbt15br${process.pid % 10000}`);
  try {
    const f = await remapAcrossChange(lab);
    report.add('nat.remap_loss_ms', f.udp.max_gap_ms, 'ms', '<= 1000',
      `the longest gap between echoes of a UDP stream (one datagram per ${UDP_PERIOD_MS} ms, client namespace → router → server) across the change ${f.oldIp} → ${f.newIp} (dnsmasq restarted with a new range; the router's renewal NAKed, rebound ${f.remappedAt - f.changedAt} ms later); ${f.udp.lost}/${f.udp.sent} datagrams lost; ping every 50 ms: longest loss ${f.ping.longestLossMs} ms; a TCP connection across it: ${f.tcp.error ?? 'survived'}`);
  } catch (e) {
    report.add('nat.remap_loss_ms', null, 'ms', '<= 1000', `not measured: ${(e as Error).message.slice(0, 300)}`);
  } finally {
    await lab.teardown();
  }
}

await runAlone(import.meta.url, run);
