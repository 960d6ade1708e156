// The sim's messages over TCP: a node keeps one connection to each peer it messages (opened on the
// first message, reused after), the peer answers each `hello` with an `ack` on the same connection,
// and a connection idle for `idleMs` is closed by its opener (so FIN and TIME-WAIT are exercised too).
import type { HostStack } from '../host/host-stack.js';
import type { TcpSocket } from '../tcp/tcp-endpoint.js';
import type { NetInterface } from '../iface/net-interface.js';
import { ackMessage, helloMessage, isHello, SIM_PORT, type MessageCounters, type SimMessenger } from './sim-messenger.js';
import { MessageConnection, type CloseReason, type MessageConnectionEvents } from './message-connection.js';
import { portForActor } from './actor-port.js';

export interface TcpMessengerCounters extends MessageCounters {
  /** Connections this node opened, and those of them that completed the handshake. */
  opened: number;
  established: number;
  /** Connections peers opened to this node. */
  accepted: number;
  /** Connections that ended reset, refused or timed out. */
  failed: number;
  /** Connections closed by their opener after `idleMs` without a message. */
  closedIdle: number;
}

/** Linux's default ip_local_port_range. */
const EPHEMERAL: readonly [number, number] = [32768, 60999];

export class TcpMessenger implements SimMessenger {
  readonly counters: TcpMessengerCounters = { sent: 0, received: 0, acked: 0, opened: 0, established: 0, accepted: 0, failed: 0, closedIdle: 0 };
  /** The connection this node opened to each peer. */
  private readonly peers = new Map<number, MessageConnection>();
  private readonly live = new Set<MessageConnection>();
  private readonly portsInUse = new Set<number>();
  private nextPort = EPHEMERAL[0];
  private readonly events: MessageConnectionEvents = {
    message: (c, msg, now) => this.onMessage(c, msg, now),
    established: (c) => { if (c.outbound) this.counters.established++; },
    gone: (c, reason) => this.onGone(c, reason),
  };

  constructor(
    private readonly stacks: readonly HostStack[],
    private readonly iface: NetInterface,
    private readonly clock: () => number,
    private readonly idleMs = 20_000,
  ) {
    for (const stack of stacks) {
      stack.tcp.listen(SIM_PORT).onAccept = (s) => this.accept(s);
    }
  }

  /** Connections open or closing. */
  get connections(): number {
    return this.live.size;
  }

  send(dst: number, now: number): void {
    const known = this.peers.get(dst);
    const c = known !== undefined && known.open ? known : this.connect(dst, now);
    this.counters.sent++;
    if (c === null) return; // no port left for the actor: the message is lost, and counted as not acked
    c.awaiting++;
    c.write(helloMessage(this.counters.sent), now);
  }

  /** Closes connections this node opened that carried nothing for `idleMs`. */
  tick(now: number): void {
    for (const [dst, c] of this.peers) {
      if (!c.idle || now - c.lastActive < this.idleMs) continue;
      this.peers.delete(dst);
      this.counters.closedIdle++;
      c.close(now);
    }
  }

  /** Opens from the actor the peer's address picks, on a port whose frames the dispatcher gives that actor. */
  private connect(dst: number, now: number): MessageConnection | null {
    const actor = (dst >>> 0) % this.stacks.length;
    const q = { localIp: this.iface.ip, remoteIp: dst, remotePort: SIM_PORT, actor, actors: this.stacks.length };
    const port = portForActor(q, this.nextPort, EPHEMERAL, (p) => this.portsInUse.has(p));
    if (port < 0) return null;
    this.nextPort = port === EPHEMERAL[1] ? EPHEMERAL[0] : port + 1;
    this.counters.opened++;
    const c = this.adopt(this.stacks[actor].tcp.connect(dst, SIM_PORT, now, port), true);
    this.portsInUse.add(port);
    this.peers.set(dst, c);
    return c;
  }

  private accept(s: TcpSocket): void {
    this.counters.accepted++;
    this.adopt(s, false);
  }

  private adopt(s: TcpSocket, outbound: boolean): MessageConnection {
    const c = new MessageConnection(s, outbound, this.clock, this.events);
    this.live.add(c);
    return c;
  }

  private onMessage(c: MessageConnection, msg: Uint8Array, now: number): void {
    if (isHello(msg)) {
      this.counters.received++;
      c.write(ackMessage(), now);
    } else {
      this.counters.acked++;
      if (c.awaiting > 0) c.awaiting--;
    }
  }

  private onGone(c: MessageConnection, reason: CloseReason): void {
    if (reason !== 'closed') this.counters.failed++;
    this.live.delete(c);
    if (c.outbound) this.portsInUse.delete(c.socket.localPort);
    const dst = c.socket.remoteIp;
    if (this.peers.get(dst) === c) this.peers.delete(dst);
  }
}
