// A router on two ring "wires" in this process's worker threads (no TAP, no root): the client is a test end that
// sends frames, the server a HostStack that echoes UDP. Shared by the router-actors and API stack tests.
import { ringLinkPair, RingLink } from '../../wire/link/ring-link.js';
import { parseIpv4 } from '../../wire/index.js';
import { Store } from '../../store/index.js';
import { RouterActors, type RouterActorsOptions } from '../../actors/router/router-actors.js';
import { arpTable } from '../../actors/iface/arp-table.js';
import { HostStack } from '../../actors/host/host-stack.js';
import { localMac, type NetInterface } from '../../actors/iface/net-interface.js';
import { decode, udpFrame } from './frames.js';

export const INSIDE: NetInterface = { name: 'in', mac: localMac(0x201), ip: parseIpv4('10.201.0.1'), prefix: 24 };
export const OUTSIDE: NetInterface = { name: 'out', mac: localMac(0x202), ip: parseIpv4('10.202.0.1'), prefix: 24 };
export const CLIENT: NetInterface = { name: 'c', mac: 0x02_00_00_00_01_02, ip: parseIpv4('10.201.0.2'), prefix: 24 };
export const SERVER: NetInterface = { name: 's', mac: 0x02_00_00_00_02_02, ip: parseIpv4('10.202.0.2'), prefix: 24 };

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 8_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A router on two ring "wires"; the client is a test end that sends frames, the server a HostStack that echoes UDP. */
export async function rig(store: 'memory' | 'hashtable', more: Partial<RouterActorsOptions> = {}) {
  const [ia, ib] = ringLinkPair('inside');
  const [oa, ob] = ringLinkPair('outside');
  const client = new RingLink(ib);
  const serverLink = new RingLink(ob);
  const got: Uint8Array[] = [];
  // The client answers the router's ARP requests (a HostStack) and keeps the UDP it receives.
  const clientStack = new HostStack(CLIENT, new Store([arpTable]).main.table(arpTable), (f) => client.send(f));
  client.onFrames((fs) => {
    for (const f of fs) {
      const udp = f.length > 23 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 17;
      if (udp) got.push(f.slice());
      clientStack.receiveOne(f, Date.now());
    }
  });
  const serverStack = new HostStack(SERVER, new Store([arpTable]).main.table(arpTable), (f) => serverLink.send(f));
  serverStack.onUdp = (src, sport, dport, payload, now) => serverStack.sendUdp(src, dport, sport, payload, now); // echo
  serverLink.onFrames((fs) => serverStack.receive(fs, Date.now()));
  const poll = setInterval(() => serverStack.poll(Date.now()), 50);
  const actors = new RouterActors(new RingLink(ia), new RingLink(oa), { inside: INSIDE, outside: OUTSIDE, packetActors: 2, mergeIntervalMs: 30, store, ...more });
  await actors.ready();
  const send = (sport: number, n: number) => client.send(udpFrame({ srcMac: CLIENT.mac, dstMac: INSIDE.mac, src: CLIENT.ip, dst: SERVER.ip, srcPort: sport, dstPort: 7, payload: new Uint8Array([n]) }));
  const replies = () => got.map(decode).filter((r) => r.network.kind === 'ipv4' && r.network.transport.kind === 'udp');
  const close = async () => {
    clearInterval(poll);
    await actors.stop();
    client.close();
    serverLink.close();
  };
  return { actors, send, replies, close, serverStack };
}

