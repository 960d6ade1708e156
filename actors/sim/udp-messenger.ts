// The sim's messages over UDP: each message one datagram from the actor its peer's address picks,
// each `hello` answered with an `ack` datagram to the port it came from.
import type { HostStack } from '../host/host-stack.js';
import { ackMessage, helloMessage, isHello, SIM_PORT, type MessageCounters, type SimMessenger } from './sim-messenger.js';

export class UdpMessenger implements SimMessenger {
  readonly counters: MessageCounters = { sent: 0, received: 0, acked: 0 };

  constructor(private readonly stacks: readonly HostStack[]) {
    for (const stack of stacks) {
      stack.onUdp = (src, srcPort, dstPort, payload, now) => {
        if (dstPort !== SIM_PORT) return;
        if (!isHello(payload)) { this.counters.acked++; return; }
        this.counters.received++;
        stack.sendUdp(src, SIM_PORT, srcPort, ackMessage(), now);
      };
    }
  }

  send(dst: number, now: number): void {
    const stack = this.stacks[(dst >>> 0) % this.stacks.length];
    this.counters.sent++;
    stack.sendUdp(dst, SIM_PORT, SIM_PORT, helloMessage(this.counters.sent), now);
  }

  tick(): void {}
}
