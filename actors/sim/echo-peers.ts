// The peers of a forwarding benchmark, simulated in the packet actor's own thread: clients on the
// inside network send UDP to one server beyond the outside network, which answers every datagram;
// each answer that makes it back to its client is replaced by the client's next datagram (a closed
// loop with a fixed window). No frame crosses a thread, so what is measured is the actor alone —
// the main thread only merges. Only flows this actor owns are sent (steering.ts's port slices).
import {
  ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetPacket, EthernetRepr, ETHERNET_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr,
  NatPorts, UdpRepr, emitFrame,
} from '../../wire/index.js';
import { newLinkCounters, type FrameBatchHandler, type Link, type LinkCounters } from '../../wire/link/link.js';
import type { NetInterface } from '../iface/net-interface.js';
import { portSlice } from '../router/nat-engine.js';

export interface EchoLoadInit {
  /** UDP flows this actor's clients keep going. */
  flows: number;
  /** Datagrams in flight. */
  window: number;
}

const SERVER_PORT = 5300;
const FRAME_LEN = 60;
const BATCH = 32;
// Batches delivered back to back before yielding, so merges and stats still get their turn.
const BATCHES_PER_TURN = 16;
const REFILL_AFTER_IDLE_TURNS = 2_000;

/** A link whose far end is the simulated peers: what the router sends is handed to `onSend`. */
class PeerLink implements Link {
  readonly counters: LinkCounters = newLinkCounters();
  handler: FrameBatchHandler | null = null;

  constructor(readonly name: string, private readonly onSend: (f: Uint8Array) => void) {}

  send(frame: Uint8Array): boolean {
    this.counters.txFrames++;
    this.onSend(frame);
    return true;
  }

  onFrames(handler: FrameBatchHandler | null): void {
    this.handler = handler;
  }

  close(): void {
    this.handler = null;
  }
}

export class EchoPeers {
  /** The router's ends. */
  readonly inside: PeerLink;
  readonly outside: PeerLink;
  /** Frames the router forwarded to a peer, both ways. */
  forwarded = 0;
  private readonly outbound: Uint8Array[];
  /** The server's answer to each flow, by the flow's port as the server sees it (kept by masquerade). */
  private readonly replies = new Map<number, Uint8Array>();
  private readonly pendingReplies: Uint8Array[] = [];
  private credits = 0;
  private next = 0;
  private running = false;
  private idleTurns = 0;
  private readonly slots: Uint8Array[] = Array.from({ length: BATCH }, () => new Uint8Array(FRAME_LEN));
  private readonly batch: Uint8Array[] = [];
  private readonly eth = EthernetPacket.newUnchecked(new Uint8Array(64));
  private readonly ip = Ipv4Packet.newUnchecked(new Uint8Array(64));
  private readonly arp = ArpPacket.newUnchecked(new Uint8Array(64));
  private readonly ports = NatPorts.newUnchecked(new Uint8Array(64));

  constructor(readonly init: EchoLoadInit, readonly me: NetInterface, readonly far: NetInterface, actor: number, actors: number) {
    this.inside = new PeerLink('echo-in', (f) => this.atClient(f));
    this.outside = new PeerLink('echo-out', (f) => this.atServer(f));
    const [lo, hi] = portSlice(actor, actors);
    this.outbound = [];
    for (let j = 0; j < init.flows; j++) {
      const port = lo + Math.floor((j * (hi - lo)) / init.flows);
      const client = me.ip + 1 + (j % 200);
      this.outbound.push(udp(clientMac(client), me.mac, client, far.ip + 1, port, SERVER_PORT));
      this.replies.set(port, udp(SERVER_MAC, far.mac, far.ip + 1, far.ip, SERVER_PORT, port));
    }
  }

  /** Starts the loop: a window of datagrams from the clients. */
  start(): void {
    this.running = true;
    this.credits = this.init.window;
    setImmediate(() => this.pump());
  }

  stop(): void {
    this.running = false;
  }

  /** A frame the router sent inside: an answer reached its client (which sends its next datagram), or ARP. */
  private atClient(f: Uint8Array): void {
    if (this.answerArp(f, this.inside, this.me.mac)) return;
    this.forwarded++;
    this.credits++;
  }

  /** A frame the router sent outside: the server answers the datagram, or ARP. */
  private atServer(f: Uint8Array): void {
    if (this.answerArp(f, this.outside, this.far.mac)) return;
    this.forwarded++;
    const ip = this.ip.resetIn(this.eth.reset(f), ETHERNET_HEADER_LEN, f.length - ETHERNET_HEADER_LEN);
    const r = this.replies.get(this.ports.of(ip).srcPort);
    if (r !== undefined) this.pendingReplies.push(r);
    else this.credits++; // not a flow of ours: keep the window
  }

  /** ARP requests from the router are answered by the peer asked for (any address answers). */
  private answerArp(f: Uint8Array, link: PeerLink, routerMac: number): boolean {
    if (this.eth.reset(f).ethertype !== EtherType.Arp) return false;
    const arp = this.arp.resetIn(this.eth, ETHERNET_HEADER_LEN, f.length - ETHERNET_HEADER_LEN);
    if (arp.operation !== ArpOperation.Request) return true;
    const mac = arp.targetIp === this.far.ip + 1 ? SERVER_MAC : clientMac(arp.targetIp);
    const reply = emitFrame({
      ethernet: new EthernetRepr({ dst: routerMac, src: mac, ethertype: EtherType.Arp }),
      network: { kind: 'arp', arp: new ArpRepr({ operation: ArpOperation.Reply, senderMac: mac, senderIp: arp.targetIp, targetMac: routerMac, targetIp: arp.senderIp }) },
      padding: new Uint8Array(0),
      checksumErrors: [],
    });
    setImmediate(() => link.handler?.([reply]));
    return true;
  }

  private pump(): void {
    if (!this.running) return;
    let moved = false;
    for (let turn = 0; turn < BATCHES_PER_TURN; turn++) {
      const a = this.deliverReplies();
      const b = this.deliverDatagrams();
      if (!a && !b) break;
      moved = true;
    }
    // Frames the router dropped (its ARP queue while resolving) would shrink the window for good: refill it.
    if (moved) this.idleTurns = 0;
    else if (++this.idleTurns >= REFILL_AFTER_IDLE_TURNS) {
      this.idleTurns = 0;
      this.credits = this.init.window;
    }
    setImmediate(() => this.pump());
  }

  private deliverReplies(): boolean {
    const q = this.pendingReplies;
    if (q.length === 0 || this.outside.handler === null) return false;
    const n = Math.min(BATCH, q.length);
    for (let i = 0; i < n; i++) this.batch.push(copyInto(this.slots[i], q.pop()!));
    this.hand(this.outside);
    return true;
  }

  private deliverDatagrams(): boolean {
    if (this.credits === 0 || this.inside.handler === null) return false;
    const n = Math.min(BATCH, this.credits);
    this.credits -= n;
    const out = this.outbound;
    for (let i = 0; i < n; i++) this.batch.push(copyInto(this.slots[i], out[this.next++ % out.length]));
    this.hand(this.inside);
    return true;
  }

  private hand(link: PeerLink): void {
    try {
      link.handler!(this.batch);
    } finally {
      this.batch.length = 0;
    }
  }
}

const SERVER_MAC = 0x02_00_00_00_02_02;
const clientMac = (ip: number) => 0x02_00_00_00_00_00 + (ip & 0xffff);

/** Forwarding rewrites in place: each delivery gets a fresh copy of the pre-built frame. */
function copyInto(slot: Uint8Array, f: Uint8Array): Uint8Array {
  slot.set(f);
  return slot;
}

function udp(srcMac: number, dstMac: number, src: number, dst: number, srcPort: number, dstPort: number): Uint8Array {
  const payload = new Uint8Array(FRAME_LEN - ETHERNET_HEADER_LEN - 20 - 8);
  return emitFrame({
    ethernet: new EthernetRepr({ dst: dstMac, src: srcMac, ethertype: EtherType.Ipv4 }),
    network: {
      kind: 'ipv4',
      ipv4: new Ipv4Repr({ src, dst, protocol: IpProtocol.Udp, payloadLen: 8 + payload.length, ttl: 64 }),
      transport: { kind: 'udp', udp: new UdpRepr({ srcPort, dstPort }), app: { kind: 'data', payload }, trailer: new Uint8Array(0) },
    },
    padding: new Uint8Array(0),
    checksumErrors: [],
  });
}
