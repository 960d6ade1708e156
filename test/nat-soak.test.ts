// Soak: 50,000 flows churn through two packet actors' Routers, each on its own Replica of one primary
// (as router-worker.ts sets them up, in one process as bench/nat.ts does), with an expiry actor's
// replica beside them, while merge cycles (sliced flush → delta → primary → head back) run in random
// interleavings on a simulated clock. An oracle records every binding handed out; the run asserts
// none is lost or duplicated, and that return traffic of every live flow reaches its inside end.
// Seeded: NB_SOAK_SEED=<n> replays a run (the seed is printed).
import { prng } from '../actors/sim/prng.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeltaCodec, Replica, ReplicaHost, Store, type HeadDeltaMessage } from '../store/index.js';
import { TcpFlags, parseIpv4 } from '../wire/index.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { localMac } from '../actors/iface/net-interface.js';
import { TIMEOUTS, initialState, nextState } from '../actors/router/conntrack.js';
import { NatEngine, portOwner } from '../actors/router/nat-engine.js';
import { natKey, natTable, type ConnState, type NatEntry } from '../actors/router/nat-table.js';
import { Router } from '../actors/router/router.js';
import { routerTables } from '../actors/router/router-schema.js';
import { tcpFrame, udpFrame } from './support/frames.js';

const FLOWS = 50_000;
const ACTORS = 2;
const WALL_LIMIT_MS = 50_000;
const ip = parseIpv4;
const INSIDE = { name: 'in', mac: localMac(0x101), ip: ip('10.201.0.1'), prefix: 24 };
const OUTSIDE = { name: 'out', mac: localMac(0x102), ip: ip('10.202.0.1'), prefix: 24 };
const CLIENTS = Array.from({ length: 8 }, (_, i) => ip(`10.201.0.${10 + i}`));
/** Few remote ends and inside ports, so flows often want the same port towards the same remote end. */
const REMOTES = Array.from({ length: 4 }, (_, i) => ip(`10.202.0.${10 + i}`));
const REMOTE_PORTS = [53, 80, 443];
const macOf = (a: number) => 0x02_00_00_00_00_00 + (a & 0xffff);


/** One flow as the oracle knows it: its tuple, the binding handed out, and conntrack as the router keeps it. */
interface Flow {
  tcp: boolean;
  insideIp: number;
  insidePort: number;
  remoteIp: number;
  remotePort: number;
  outPort: number;
  state: ConnState;
  lastSeen: number;
  packets: number;
  /** In the list of flows the run picks packets for. */
  listed: boolean;
}

const tupleKey = (f: Pick<Flow, 'tcp' | 'insideIp' | 'insidePort' | 'remoteIp' | 'remotePort'>) => `${f.tcp ? 't' : 'u'}${f.insideIp}:${f.insidePort}>${f.remoteIp}:${f.remotePort}`;
const returnKey = (tcp: boolean, outPort: number, remoteIp: number, remotePort: number) => `${tcp ? 't' : 'u'}${outPort}<${remoteIp}:${remotePort}`;
const alive = (f: Flow, now: number) => f.lastSeen + TIMEOUTS[f.state] > now;
/** `f` holds outside port `p` now: it is alive and `p` is its current binding (a flow that died and came back may have another). */
const holds = (f: Flow, p: number, now: number) => f.outPort === p && alive(f, now);

/** A replica's merge cycle in steps, so other work can run between any two of them. */
class MergeCycle {
  private stage: 'flush' | 'push' | 'accept' | 'apply' = 'flush';
  private bytes: Uint8Array | null = null;
  cycles = 0;
  constructor(readonly replica: Replica, private readonly host: ReplicaHost, private readonly codec: DeltaCodec, private readonly flush: (limit?: number) => number) {}

  /** One step; `limit` bounds a flush slice. */
  step(limit?: number): void {
    if (this.stage === 'flush') {
      if (this.flush(limit) === 0) this.stage = 'push';
    } else if (this.stage === 'push') {
      this.bytes = this.codec.encode(this.replica.takeDelta()!);
      this.stage = 'accept';
    } else if (this.stage === 'accept') {
      this.bytes = this.host.acceptBytes(this.bytes!);
      this.stage = 'apply';
    } else {
      const head = this.codec.decode(this.bytes!);
      assert.equal(head.type, 'head', `merge refused: ${JSON.stringify(head).slice(0, 200)}`);
      assert.ok(this.replica.applyHead(head as HeadDeltaMessage));
      this.stage = 'flush';
      this.cycles++;
    }
  }

  /** Steps until a whole cycle with everything flushed has ended. */
  finish(): void {
    const end = this.cycles + (this.stage === 'flush' ? 1 : 2);
    while (this.cycles < end) this.step();
  }
}

test(`NAT soak: ${FLOWS} flows churning on ${ACTORS} actors while merges interleave; no binding lost or duplicated`, () => {
  const seed = Number(process.env.NB_SOAK_SEED ?? Date.now() % 2 ** 31);
  console.log(`nat-soak seed ${seed} (NB_SOAK_SEED=${seed} replays it)`);
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const wall0 = Date.now();

  const primary = new Store(routerTables);
  const host = new ReplicaHost(primary.main);
  const codec = new DeltaCodec(primary.schema);
  let now = 1_700_000_000_000;
  const out: Uint8Array[] = [];
  const into: Uint8Array[] = [];
  const routers: Router[] = [];
  const cycles: MergeCycle[] = [];
  for (let a = 0; a < ACTORS; a++) {
    const replica = new Replica(primary.schema, host.attach(`packet-${a}`));
    const r = new Router({ inside: INSIDE, outside: OUTSIDE, nat: { actor: a, actors: ACTORS, maxEntries: 1 << 20, now } },
      { arp: replica.table(arpTable), nat: replica.table(natTable) }, (f) => into.push(f), (f) => out.push(f));
    for (const c of CLIENTS) r.insideArp.cache.setStatic(c, macOf(c));
    for (const s of REMOTES) r.outsideArp.cache.setStatic(s, macOf(s));
    routers.push(r);
    cycles.push(new MergeCycle(replica, host, codec, (limit) => r.flush(now, limit)));
  }
  const expiryReplica = new Replica(primary.schema, host.attach('expiry'));
  const expiry = new NatEngine(expiryReplica.table(natTable));
  const expiryCycle = new MergeCycle(expiryReplica, host, codec, () => 0);

  const flows = new Map<string, Flow>(); // by tuple: the latest flow of each tuple
  const holders = new Map<string, Flow>(); // by return key: the latest flow given that binding
  const live: Flow[] = [];
  let opened = 0, returned = 0, drops = 0;

  const owner = (f: Flow) => routers[portOwner(f.insidePort, ACTORS)];
  const frameOut = (f: Flow, flags: number) => f.tcp
    ? tcpFrame({ srcMac: macOf(f.insideIp), dstMac: INSIDE.mac, src: f.insideIp, dst: f.remoteIp, srcPort: f.insidePort, dstPort: f.remotePort, flags })
    : udpFrame({ srcMac: macOf(f.insideIp), dstMac: INSIDE.mac, src: f.insideIp, dst: f.remoteIp, srcPort: f.insidePort, dstPort: f.remotePort, payload: new Uint8Array(8) });
  const frameIn = (f: Flow, flags: number) => f.tcp
    ? tcpFrame({ srcMac: macOf(f.remoteIp), dstMac: OUTSIDE.mac, src: f.remoteIp, dst: OUTSIDE.ip, srcPort: f.remotePort, dstPort: f.outPort, flags })
    : udpFrame({ srcMac: macOf(f.remoteIp), dstMac: OUTSIDE.mac, src: f.remoteIp, dst: OUTSIDE.ip, srcPort: f.remotePort, dstPort: f.outPort, payload: new Uint8Array(8) });
  const port = (frame: Uint8Array, at: number) => (frame[14 + 20 + at] << 8) | frame[14 + 20 + at + 1];
  const addr = (frame: Uint8Array, at: number) => ((frame[14 + at] << 24) | (frame[14 + at + 1] << 16) | (frame[14 + at + 2] << 8) | frame[14 + at + 3]) >>> 0;

  /** An inside → outside packet: a live flow keeps its binding; a new one gets a port no live flow holds towards that remote end. */
  function sendOut(f: Flow, flags: number): void {
    const wasLive = f.outPort >= 0 && alive(f, now);
    owner(f).receiveInside([frameOut(f, flags)], now);
    const o = out.splice(0);
    assert.equal(o.length, 1, `seed ${seed}: ${tupleKey(f)} forwarded out once`);
    assert.equal(addr(o[0], 12), OUTSIDE.ip);
    const p = port(o[0], 0);
    if (wasLive) assert.equal(p, f.outPort, `seed ${seed}: live flow ${tupleKey(f)} kept its binding`);
    else {
      const rk = returnKey(f.tcp, p, f.remoteIp, f.remotePort);
      const h = holders.get(rk);
      assert.ok(h === undefined || h === f || !holds(h, p, now), `seed ${seed}: port ${p} handed to ${tupleKey(f)} while ${h && tupleKey(h)} holds it`);
      holders.set(rk, f);
      if (!f.listed) { live.push(f); f.listed = true; }
      f.outPort = p;
      f.state = initialState(f.tcp ? 'tcp' : 'udp');
    }
    f.state = nextState(f.state, f.tcp ? 'tcp' : 'udp', true, flags);
    f.lastSeen = now;
    f.packets++;
  }

  /**
   * Return traffic to `f`'s binding, sent to the binding's owner: it reaches the inside end of the live
   * flow holding that binding now (`f`, or a later flow given the same port towards the same remote end), or is dropped.
   */
  function sendIn(f: Flow, flags: number): void {
    const h = holders.get(returnKey(f.tcp, f.outPort, f.remoteIp, f.remotePort));
    const to = h !== undefined && holds(h, f.outPort, now) ? h : undefined;
    routers[portOwner(f.outPort, ACTORS)].receiveOutside([frameIn(f, flags)], now);
    const i = into.splice(0);
    if (to === undefined) {
      assert.equal(i.length, 0, `seed ${seed}: return traffic to dead ${tupleKey(f)} dropped`);
      drops++;
      return;
    }
    assert.equal(i.length, 1, `seed ${seed}: return traffic to live ${tupleKey(to)} (port ${to.outPort}) forwarded in`);
    assert.equal(addr(i[0], 16), to.insideIp);
    assert.equal(port(i[0], 2), to.insidePort);
    to.state = nextState(to.state, to.tcp ? 'tcp' : 'udp', false, flags);
    to.lastSeen = now;
    to.packets++;
    returned++;
  }

  function openFlow(): void {
    const tcp = rnd() < 0.3;
    const t = { tcp, insideIp: pick(CLIENTS), insidePort: 20_000 + Math.floor(rnd() * 2_000) * 16 + Math.floor(rnd() * 2), remoteIp: pick(REMOTES), remotePort: pick(REMOTE_PORTS) };
    const k = tupleKey(t);
    let f = flows.get(k);
    if (f !== undefined && alive(f, now)) return; // the tuple is busy: no new flow this step
    if (f === undefined) { f = { ...t, outPort: -1, state: 'none', lastSeen: 0, packets: 0, listed: false }; flows.set(k, f); }
    opened++;
    sendOut(f, TcpFlags.SYN);
  }

  /** The next packet of a flow: TCP through handshake, data, and a close (FIN both ways or RST); UDP either way. */
  function packet(f: Flow): void {
    if (!f.tcp) { if (rnd() < 0.5) sendOut(f, 0); else sendIn(f, 0); return; }
    switch (f.state) {
      case 'syn-sent': sendIn(f, TcpFlags.SYN | TcpFlags.ACK); break;
      case 'syn-recv': sendOut(f, TcpFlags.ACK); break;
      case 'established': {
        const x = rnd();
        if (x < 0.06) sendOut(f, TcpFlags.FIN | TcpFlags.ACK);
        else if (x < 0.08) sendIn(f, TcpFlags.RST);
        else if (x < 0.54) sendOut(f, TcpFlags.ACK | TcpFlags.PSH);
        else sendIn(f, TcpFlags.ACK | TcpFlags.PSH);
        break;
      }
      case 'fin-wait': sendIn(f, TcpFlags.FIN | TcpFlags.ACK); break;
      default: if (rnd() < 0.5) sendIn(f, TcpFlags.ACK); else sendOut(f, TcpFlags.ACK);
    }
  }

  let steps = 0;
  while (opened < FLOWS) {
    assert.ok(Date.now() - wall0 < WALL_LIMIT_MS, `seed ${seed}: soak bounded in time (${opened} flows opened)`);
    steps++;
    const x = rnd();
    if (x < 0.2) openFlow();
    else if (x < 0.85) {
      if (live.length === 0) continue;
      const i = Math.floor(rnd() * live.length);
      const f = live[i];
      if (alive(f, now)) packet(f);
      else if (rnd() < 0.05) sendIn(f, 0); // a late reply to a dead binding
      else { live[i] = live[live.length - 1]; live.pop(); f.listed = false; }
    } else if (x < 0.97) cycles[Math.floor(rnd() * ACTORS)].step(1 + Math.floor(rnd() * 512));
    else if (x < 0.998) now += Math.floor(rnd() * 100);
    else {
      now += Math.floor(rnd() * 20_000); // time passes: idle UDP flows and closing TCP ones expire
      expiry.expire(now);
      expiryCycle.finish();
    }
  }
  // A final merge: every actor's changes in the primary, and everything merged back to every replica.
  for (let round = 0; round < 2; round++) for (const c of [...cycles, expiryCycle]) c.finish();

  const table = primary.main.table(natTable);
  const stillLive = live.filter((f) => alive(f, now));
  for (const f of stillLive) {
    const e = table.get(natKey(f.tcp ? 'tcp' : 'udp', f.insideIp, f.insidePort, f.remoteIp, f.remotePort));
    assert.ok(e !== undefined, `seed ${seed}: live flow ${tupleKey(f)} is in the primary`);
    assert.equal(e.outPort, f.outPort, `seed ${seed}: live flow ${tupleKey(f)} has the oracle's binding in the primary`);
  }
  const held = new Map<string, NatEntry>();
  for (const [, e] of table.entries()) {
    if (e.lastSeen + TIMEOUTS[e.state] <= now) continue;
    const rk = returnKey(e.proto === 'tcp', e.outPort, e.remoteIp, e.remotePort);
    assert.ok(!held.has(rk), `seed ${seed}: two live flows share the binding ${rk}`);
    held.set(rk, e);
  }
  for (const f of stillLive) sendIn(f, f.tcp ? TcpFlags.ACK : 0);
  const nat = routers.map((r) => r.nat.counters);
  console.log(`nat-soak: ${steps} steps, ${opened} flows opened (${nat.map((c) => c.created).join('/')} bindings made, ${nat.map((c) => c.created - c.preserved).join('/')} not on the inside port), ${stillLive.length} live at the end, `
    + `${returned} return packets translated, ${drops} to dead bindings dropped, merges ${cycles.map((c) => c.cycles).join('/')}, ${expiry.counters.expired} expired, ${Date.now() - wall0} ms`);
  assert.ok(stillLive.length > 100, 'flows are live at the end');
});

test('NatEngine.flush(now, limit) writes at most `limit` dirty flows and returns how many remain dirty', () => {
  const store = new Store(routerTables);
  const t = store.main.table(natTable);
  const nat = new NatEngine(t);
  const client = ip('10.201.0.2'), server = ip('10.202.0.2');
  for (let p = 0; p < 100; p++) nat.outbound('udp', client, 10_000 + p, server, 53, 0, 40, 0);
  for (let p = 0; p < 100; p++) nat.outbound('udp', client, 10_000 + p, server, 53, 0, 40, 1); // known flows: dirty, not written
  const written = () => [...t.entries()].filter(([, e]) => e.pktsOut > 0).length;
  assert.equal(nat.flush(2, 0), 100);
  assert.equal(written(), 0);
  assert.equal(nat.flush(2, 30), 70);
  assert.equal(written(), 30);
  nat.outbound('udp', client, 10_000, server, 53, 0, 40, 3); // written already: dirty again, queued behind the rest
  assert.equal(nat.flush(3, 70), 1);
  assert.equal(nat.flush(3), 0);
  assert.equal(written(), 100);
  assert.equal(t.get(natKey('udp', client, 10_000, server, 53))!.pktsOut, 3);
  assert.equal(nat.flush(4), 0, 'nothing dirty: nothing written');
  assert.equal(nat.counters.flushedWrites, 101);
});
