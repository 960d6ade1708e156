// The supervisor tells a start-up failure from a crash: an actor that cannot start is given up with
// its reason (not restarted forever), one that crashes after it was ready is restarted. One that
// crashes and then cannot start again is given up too, and the router and host stop on it
// (StopRequest.stopOnGivenUp: the normal stop path, then exit 1 with one line naming it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicaHost, Store } from '../store/index.js';
import { stackTables } from '../actors/host/host-schema.js';
import { ActorStartupError, MAX_STARTUP_FAILURES, Supervisor, type ActorSpec } from '../actors/runtime/supervisor.js';
import { RestartBackoff } from '../actors/runtime/restart-backoff.js';
import type { ActorInitPart, ActorKind } from '../actors/runtime/messages.js';
import { RouterActors } from '../actors/router/router-actors.js';
import { ringLinkPair, RingLink } from '../wire/link/ring-link.js';
import { parseIpv4 } from '../wire/index.js';
import { localMac } from '../actors/iface/net-interface.js';
import { trapStop, type StopRequest } from '../cli/stop.js';

const ACTOR = new URL('./support/startup-actor.ts', import.meta.url);

/** The scripted test actor as an actor of `kind` (it reads only its name and incarnation, but each kind has its own init). */
function scripted<K extends ActorKind>(name: string, kind: K, part: ActorInitPart<K>): ActorSpec<K> {
  return { name, kind, module: ACTOR, prepare: () => part };
}
const NO_API = { lookup: { tokens: [], role: 'router' }, stack: 'router' as const };
const TICK = { tickMs: 1_000 };

function supervisor(): { sup: Supervisor; logs: string[] } {
  const logs: string[] = [];
  const log = (obj: object, msg: string) => logs.push(`${msg} ${JSON.stringify(obj)}`);
  const sup = new Supervisor(new ReplicaHost(new Store(stackTables).main), { backoffMs: 10, maxBackoffMs: 40, logger: { info: log, warn: log, error: log } });
  return { sup, logs };
}

/** Settles within `ms`, or says it did not (a restart loop never settles). */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  return Promise.race([p, new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), ms).unref())]);
}

test('an actor that fails at start-up the same way twice is given up with its reason; ready() rejects', async () => {
  const { sup, logs } = supervisor();
  const h = sup.spawn(scripted('fails-at-start', 'lookup', NO_API));
  try {
    const err = await within(sup.ready().then(() => null, (e: unknown) => e), 15_000);
    assert.ok(err instanceof ActorStartupError, `ready() settled with ${String(err)}`);
    assert.equal(err.reason, '--api-tcp 127.0.0.1:7070: address in use');
    assert.equal(err.kind, 'lookup');
    assert.equal(h.incarnation, 2, 'tried once more, then given up');
    assert.deepEqual([sup.counters.startupFailures, sup.counters.givenUp, sup.counters.crashes], [2, 1, 0]);
    assert.ok(logs.some((l) => l.startsWith('actor keeps failing at start-up; not restarting it') && l.includes('address in use')), logs.join('\n'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.incarnation, 2, 'no restart after it was given up');
    await assert.rejects(h.ready(), ActorStartupError, 'a later ready() says so too');
  } finally {
    await sup.stop();
  }
});

test(`start-up failures for different reasons are given up after ${MAX_STARTUP_FAILURES} in a row`, async () => {
  const { sup } = supervisor();
  const h = sup.spawn(scripted('fails-differently', 'arp-expiry', TICK));
  try {
    const err = await within(h.ready().then(() => null, (e: unknown) => e), 15_000);
    assert.ok(err instanceof ActorStartupError, `ready() settled with ${String(err)}`);
    assert.equal(err.reason, `attempt ${MAX_STARTUP_FAILURES} failed`);
    assert.equal(h.incarnation, MAX_STARTUP_FAILURES);
  } finally {
    await sup.stop();
  }
});

test('one start-up failure is retried: the next incarnation serves', async () => {
  const { sup } = supervisor();
  const h = sup.spawn(scripted('fails-once', 'arp-expiry', TICK));
  try {
    assert.equal(await within(sup.ready().then(() => 'ready'), 15_000), 'ready');
    assert.equal(h.incarnation, 2);
    assert.equal(h.failure, null);
  } finally {
    await sup.stop();
  }
});

test('a crash after the actor was ready is still restarted, and counted as a crash', async () => {
  const { sup } = supervisor();
  const h = sup.spawn(scripted('crashes-after-ready', 'arp-expiry', TICK));
  try {
    await sup.ready();
    const back = new Promise<void>((resolve) => sup.on('up', (a) => { if (a === h && h.incarnation === 2) resolve(); }));
    assert.equal(await within(back.then(() => 'restarted'), 15_000), 'restarted');
    assert.deepEqual([sup.counters.crashes, sup.counters.restarts, sup.counters.startupFailures, sup.counters.givenUp], [1, 1, 0, 0]);
  } finally {
    await sup.stop();
  }
});

test('the restart backoff, on a simulated clock: doubles per crash in a row up to its cap, and starts over after a stable run', () => {
  const backoff = new RestartBackoff({ backoffMs: 100, maxBackoffMs: 500, stableMs: 10_000 });
  let now = 5_000;
  const delays: number[] = [];
  for (let crash = 0; crash < 5; crash++) {
    backoff.started(now);
    now += 50; // up 50 ms, then it crashes
    const delay = backoff.next(now);
    delays.push(delay);
    now += delay;
  }
  assert.deepEqual(delays, [100, 200, 400, 500, 500]);
  backoff.started(now);
  now += 9_999;
  assert.equal(backoff.next(now), 500, 'up just under stableMs: still a crash in a row');
  backoff.started(now += 500);
  now += 10_000;
  assert.equal(backoff.next(now), 100, 'up stableMs: back to the first delay');
});

test("a worker started with another kind's init says so at start-up and is given up", async () => {
  const { sup } = supervisor();
  const module = new URL('../actors/host/arp-expiry-worker.ts', import.meta.url);
  const h = sup.spawn({ name: 'misstarted', kind: 'router-expiry', module, prepare: () => TICK });
  try {
    const err = await within(h.ready().then(() => null, (e: unknown) => e), 15_000);
    assert.ok(err instanceof ActorStartupError, `ready() settled with ${String(err)}`);
    assert.equal(err.reason, "actor misstarted: the arp-expiry worker was started with an init of kind 'router-expiry'");
    assert.equal(h.incarnation, 2, 'tried once more, then given up');
  } finally {
    await sup.stop();
  }
});

test("the router's lookup actor on a socket a live server holds: given up, its reason names the flag", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-sup-'));
  const path = join(dir, 'api.sock');
  const holder: Server = createServer();
  await new Promise<void>((r) => holder.listen(path, r));
  const links = [ringLinkPair('in'), ringLinkPair('out')].map(([a]) => new RingLink(a));
  const iface = (ip: string, n: number) => ({ name: `r${n}`, mac: localMac(900 + n), ip: parseIpv4(ip), prefix: 24 });
  const actors = new RouterActors(links[0], links[1], {
    inside: iface('10.251.0.1', 1), outside: iface('10.252.0.1', 2), packetActors: 1, mergeIntervalMs: 50,
    api: { unix: path, tokens: [], role: 'router' },
  });
  try {
    const err = await within(actors.ready().then(() => null, (e: unknown) => e), 20_000);
    assert.ok(err instanceof ActorStartupError, `ready() settled with ${String(err)}`);
    assert.equal(err.actor, 'lookup');
    assert.equal(err.reason, `--api unix:${path}: in use by a live server`, 'the words of the check before start (listeners.ts)');
    const lookup = actors.supervisor.actors.find((a) => a.name === 'lookup')!;
    assert.equal(lookup.incarnation, 2);
  } finally {
    await actors.stop();
    for (const l of links) l.close();
    await new Promise((r) => holder.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The router's and host's stop trap (cli/stop.ts), watching `sup` as they do once their actors are ready. */
function routerStop(sup: Supervisor): StopRequest {
  // The deadline is the process's guard against a stuck shutdown: here it must never exit the test process.
  const stop = trapStop({ deadlineMs: 2 ** 31 - 1 });
  stop.stopOnGivenUp(sup);
  return stop;
}

test('an actor that crashes after it was ready and then fails at start-up is given up, and the stop trap stops on it', async () => {
  const { sup, logs } = supervisor();
  const h = sup.spawn(scripted('crashes-then-fails', 'lookup', NO_API));
  let stop: StopRequest | undefined;
  try {
    await sup.ready(); // ready: what follows is a failure at run time, not at start-up
    stop = routerStop(sup);
    const reason = await within(stop.requested, 15_000);
    assert.equal(reason, 'actor crashes-then-fails given up');
    const err = stop.failure;
    assert.ok(err instanceof ActorStartupError);
    assert.equal(err.afterCrash, true);
    assert.equal(err.message, 'actor crashes-then-fails crashed and cannot start again: --api-tcp 127.0.0.1:7070: address in use');
    assert.equal(err, h.failure);
    assert.deepEqual([sup.counters.crashes, sup.counters.startupFailures, sup.counters.givenUp], [1, 2, 1]);
    assert.ok(logs.some((l) => l.startsWith('actor keeps failing at start-up; not restarting it') && l.includes('"afterCrash":true')), logs.join('\n'));
  } finally {
    stop?.dispose();
    await sup.stop();
  }
});

test("the router's lookup actor crashes and its socket is taken before it restarts: given up, and the router's stop trap stops", async () => {
  const dir = mkdtempSync(join(tmpdir(), `nb-sup${process.pid}-`));
  const path = join(dir, 'api.sock');
  const links = [ringLinkPair('in'), ringLinkPair('out')].map(([a]) => new RingLink(a));
  const iface = (ip: string, n: number) => ({ name: `r${n}`, mac: localMac(910 + n), ip: parseIpv4(ip), prefix: 24 });
  const actors = new RouterActors(links[0], links[1], {
    inside: iface('10.253.0.1', 1), outside: iface('10.254.0.1', 2), packetActors: 1, mergeIntervalMs: 50,
    api: { unix: path, tokens: [], role: 'router' },
  });
  const holder: Server = createServer();
  let stop: StopRequest | undefined;
  try {
    await actors.ready();
    stop = routerStop(actors.supervisor);
    const lookup = actors.supervisor.actors.find((a) => a.name === 'lookup')!;
    // Another process takes the socket while the lookup actor is down (its restart waits a backoff).
    const taken = new Promise<void>((resolve, reject) => actors.supervisor.once('down', (a) => {
      if (a !== lookup) { reject(new Error(`${a.name} went down, not lookup`)); return; }
      rmSync(path, { force: true });
      holder.once('error', reject);
      holder.listen(path, resolve);
    }));
    await lookup.worker!.terminate(); // a crash after ready
    await taken;
    const reason = await within(stop.requested, 20_000);
    assert.equal(reason, 'actor lookup given up');
    assert.ok(stop.failure instanceof ActorStartupError);
    assert.equal(stop.failure.message, `actor lookup crashed and cannot start again: --api unix:${path}: in use by a live server`);
    assert.equal(lookup.incarnation, 3, 'restarted after the crash, tried once more, then given up');
    assert.deepEqual([actors.supervisor.counters.crashes, actors.supervisor.counters.givenUp], [1, 1]);
  } finally {
    stop?.dispose();
    await actors.stop();
    for (const l of links) l.close();
    await new Promise((r) => holder.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
