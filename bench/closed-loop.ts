// The forward benchmarks' load through RouterActors: a closed loop over SAB rings, FLOWS UDP flows, WINDOW
// frames in flight, every forwarded outbound frame answered by its flow's reply (bench/nat.ts, bench/api.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { RingLink, ringLinkPair } from '../wire/link/ring-link.js';
import { arpFrame } from '../test/support/frames.js';
import { INSIDE, OUTSIDE, SERVER, SERVER_MAC, PORTS, clientMac, clientPort, outboundFrame, replyFrame } from './nat-flows.js';

export const FLOWS = 4096;
const WINDOW = 1024;

/** Flow j of FLOWS, spread over the whole port range so every packet actor's slice gets flows. */
export const flowOf = (j: number) => Math.floor((j * (PORTS - 1)) / FLOWS);

/** The router's two rings, each end a RingLink: the router's side and the peers' side. */
export interface Rings { routerIn: RingLink; routerOut: RingLink; peerIn: RingLink; peerOut: RingLink }

export function rings(tag: string): Rings {
  const [ra, pa] = ringLinkPair(`${tag}-in`, 1 << 22);
  const [rb, pb] = ringLinkPair(`${tag}-out`, 1 << 22);
  return { routerIn: new RingLink(ra), routerOut: new RingLink(rb), peerIn: new RingLink(pa), peerOut: new RingLink(pb) };
}

export function closeRings(r: Rings): void {
  for (const l of [r.peerIn, r.peerOut, r.routerIn, r.routerOut]) l.close();
}

/** The peers answer the router's ARP requests: the server for its address, a client for any other. */
function arpReply(f: Uint8Array, link: RingLink, ourMac: number): void {
  const target = ((f[38] << 24) | (f[39] << 16) | (f[40] << 8) | f[41]) >>> 0;
  const senderIp = ((f[28] << 24) | (f[29] << 16) | (f[30] << 8) | f[31]) >>> 0;
  const mac = target === SERVER ? SERVER_MAC : clientMac(target);
  link.send(arpFrame({ op: 'reply', srcMac: mac, senderIp: target, targetIp: senderIp, targetMac: ourMac, dst: ourMac }));
}

/** The closed-loop load on the peers' ends of the rings, started and stopped at will. */
export class ClosedLoop {
  private readonly out: Uint8Array[];
  private readonly back = new Map<number, Uint8Array>();
  private next = 0;
  private forwarded = 0;
  private inFlight = 0;
  private active = false;
  private guard: NodeJS.Timeout | null = null;
  private t0 = 0;
  refills = 0;

  constructor(private readonly peerIn: RingLink, peerOut: RingLink) {
    this.out = Array.from({ length: FLOWS }, (_, j) => outboundFrame(flowOf(j)));
    for (let j = 0; j < FLOWS; j++) this.back.set(clientPort(flowOf(j)), replyFrame(flowOf(j)));
    // The server: answers every forwarded frame with its flow's reply.
    peerOut.onFrames((batch) => {
      for (const f of batch) {
        if (f[12] === 0x08 && f[13] === 0x06) { if (f[21] === 1) arpReply(f, peerOut, OUTSIDE.mac); continue; }
        if (this.active) this.forwarded++;
        const r = this.back.get((f[34] << 8) | f[35]);
        if (r === undefined || !peerOut.send(r)) this.inFlight--;
      }
    });
    // The clients: each reply that made it back is replaced by the next outbound frame.
    peerIn.onFrames((batch) => {
      for (const f of batch) {
        if (f[12] === 0x08 && f[13] === 0x06) { if (f[21] === 1) arpReply(f, peerIn, INSIDE.mac); continue; }
        if (this.active) this.forwarded++;
        this.inFlight--;
        if (this.active) this.sendOut();
      }
    });
  }

  private sendOut(): void {
    if (this.peerIn.send(this.out[this.next++ % FLOWS])) this.inFlight++;
  }

  start(): void {
    this.forwarded = 0;
    this.active = true;
    this.t0 = performance.now();
    while (this.inFlight < WINDOW) this.sendOut();
    // A frame the router dropped (ring full, ARP queue) would shrink the window for good: when nothing
    // came back for 5 ms, the window is refilled.
    let seen = -1;
    this.guard = setInterval(() => {
      if (this.forwarded === seen) { this.refills++; this.inFlight = 0; while (this.inFlight < WINDOW) this.sendOut(); }
      seen = this.forwarded;
    }, 5);
  }

  /** Stops the load and drains: frames forwarded per second (both directions) since start(). */
  async stop(): Promise<number> {
    if (this.guard) clearInterval(this.guard);
    this.guard = null;
    this.active = false;
    const rate = this.forwarded / ((performance.now() - this.t0) / 1000);
    const end = Date.now() + 2000;
    while (this.inFlight > 0 && Date.now() < end) await sleep(5);
    this.inFlight = 0;
    return rate;
  }

  /** Frames forwarded since start(), and when. */
  snapshot(): { n: number; t: number } {
    return { n: this.forwarded, t: performance.now() };
  }

  /** The load for `seconds`: frames forwarded per second. */
  async round(seconds: number): Promise<number> {
    this.start();
    await sleep(seconds * 1000);
    return this.stop();
  }
}
