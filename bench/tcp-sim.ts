// `tcp.sim_msgs_per_s`: the 10-node sim as fast as it runs, messages over TCP (each a length-prefixed
// message on a connection per peer, acknowledged by an `ack` message), against the same run over UDP.
// Called by bench/tcp.ts; bounded: a few simulated seconds, messages every ~10 simulated ms per node.
import { runSim } from '../actors/sim/sim.js';
import type { SimProto } from '../actors/sim/sim-node.js';
import type { SimResult } from '../actors/sim/sim-summary.js';

const NODES = 10;
const SIM_SECONDS = 20;
/** A node's next message every 5–15 simulated ms: about one a step, so the sim is busy with messages. */
const MESSAGE_EVERY_S = 0.01;

export interface SimTcpRates {
  /** Messages acknowledged per real second, over TCP. */
  msgsPerS: number;
  /** The same run over UDP. */
  udpMsgsPerS: number;
  note: string;
}

async function rate(proto: SimProto): Promise<{ rate: number; r: SimResult }> {
  const r = await runSim({ nodes: NODES, seconds: SIM_SECONDS, speed: Infinity, seed: 1, reportEveryS: 0, proto, messageEveryS: MESSAGE_EVERY_S });
  const acked = r.nodes.reduce((s, n) => s + n.acked, 0);
  return { rate: acked / r.realSeconds, r };
}

export async function simTcpMsgsPerS(): Promise<SimTcpRates> {
  const tcp = await rate('tcp');
  const udp = await rate('udp');
  const sum = (f: (t: NonNullable<SimResult['nodes'][number]['tcp']>) => number) => tcp.r.nodes.reduce((s, n) => s + (n.tcp ? f(n.tcp) : 0), 0);
  const acked = tcp.r.nodes.reduce((s, n) => s + n.acked, 0);
  const sent = tcp.r.nodes.reduce((s, n) => s + n.sent, 0);
  return {
    msgsPerS: Math.round(tcp.rate),
    udpMsgsPerS: Math.round(udp.rate),
    note: `${NODES} nodes, 2 packet actors each, ${SIM_SECONDS} simulated s at full speed, a message every ~${MESSAGE_EVERY_S * 1000} ms per node; `
      + `TCP: ${acked}/${sent} acked in ${tcp.r.realSeconds.toFixed(1)} s real, ${sum((t) => t.established)} connections, ${sum((t) => t.retransmits)} retransmits, ${tcp.r.frames} frames; `
      + `UDP: ${Math.round(udp.rate)} msgs/s (${udp.r.frames} frames)`,
  };
}
