// What an idle router does not do: its merge loops stop turning once nothing changes (and start
// again on a commit to the primary or an edit of the actor's own), its rings' bounded waits grow
// long while no frame comes, and its ARP retry timer runs only while a resolution is pending.
// bench/router-idle.ts measures what that saves (router.idle_cpu_pct); these pin the behaviour.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RingLink, ringLinkPair, WaitBackoff } from '../wire/link/ring-link.js';
import { FrameRing } from '../wire/link/frame-ring.js';
import { parseIpv4 } from '../wire/index.js';
import { IDLE_TURNS_TO_SLEEP, MergeTimer } from '../actors/runtime/merge-timer.js';
import { ArpRetryTimer } from '../actors/iface/arp-retry-timer.js';
import { StackActors } from '../actors/host/host-actors.js';
import { arpTable } from '../actors/iface/arp-table.js';
import { localMac, type NetInterface } from '../actors/iface/net-interface.js';
import { waitFor } from './support/api-raw.js';
import { arpFrame } from './support/frames.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a ring link waiting for frames', () => {
  test('the bounded wait doubles while the ring stays empty, up to its cap, and is short again after frames', () => {
    const b = new WaitBackoff(10, 250);
    const seen: number[] = [];
    for (let i = 0; i < 7; i++) { seen.push(b.ms); b.idle(); }
    assert.deepEqual(seen, [10, 20, 40, 80, 160, 250, 250]);
    b.busy();
    assert.equal(b.ms, 10);
  });

  test('an idle link waits longer and longer; a frame still comes at once, and the waits are short again', async () => {
    const [ea, eb] = ringLinkPair('idle', 16384);
    // Every wait b asks its receive ring for, with its timeout.
    const asked: number[] = [];
    const wait = FrameRing.prototype.waitForFrames;
    FrameRing.prototype.waitForFrames = function (this: FrameRing, ms?: number) {
      if (this.buffer === eb.rx) asked.push(ms ?? -1);
      return wait.call(this, ms);
    };
    const a = new RingLink(ea);
    const b = new RingLink(eb);
    const got: number[] = [];
    b.onFrames((fs) => { for (const f of fs) got.push(f[0]); });
    try {
      await waitFor('the waits to reach their cap', () => asked.includes(250));
      assert.deepEqual(asked.slice(0, 6), [10, 20, 40, 80, 160, 250]);
      a.send(new Uint8Array(60).fill(7));
      await waitFor('the frame', () => got.length === 1);
      assert.deepEqual(got, [7]);
      await waitFor('the next wait', () => asked.length > 0 && asked.at(-1) !== 250);
      assert.equal(asked.at(-1), 10, 'after frames, short waits again');
    } finally {
      FrameRing.prototype.waitForFrames = wait;
      a.close();
      b.close();
    }
  });
});

/** A merge loop over a primary's head cell: a turn is idle unless there is work or the head moved; a busy turn "merges" (base := head). */
function mergeLoop() {
  const head = new Int32Array(new SharedArrayBuffer(4));
  const state = { base: 0, work: false, turned: [] as boolean[] };
  const turn = () => {
    const idle = !state.work && Atomics.load(head, 0) === state.base;
    if (!idle) { state.base = Atomics.load(head, 0); state.work = false; }
    state.turned.push(idle);
    return idle;
  };
  return { head, state, timer: new MergeTimer(turn, head, () => state.base) };
}

/**
 * Waits until a loop that never sleeps, on the same interval, has turned `n` times: the positive proof that a
 * loop which did not turn meanwhile had `n` chances to (a slow machine just makes this wait longer).
 */
async function whileAnotherLoopTurns(n: number, intervalMs: number): Promise<void> {
  const control = new MergeTimer(() => false, null, () => 0);
  control.run(intervalMs);
  try {
    await waitFor(`${n} turns of a running loop`, () => control.turns >= n, 10_000);
  } finally {
    control.run(null);
  }
}

// Each test makes its own loop: they share nothing.
describe('the merge loop of an idle actor', () => {
  test(`after ${IDLE_TURNS_TO_SLEEP} idle turns it stops turning; a commit to the primary (the head cell) starts it again`, async () => {
    const { head, state, timer } = mergeLoop();
    try {
      timer.run(5);
      await waitFor('sleep', () => timer.asleep);
      assert.ok(state.turned.length >= IDLE_TURNS_TO_SLEEP && state.turned.slice(-IDLE_TURNS_TO_SLEEP).every((idle) => idle));
      const turns = timer.turns;
      await whileAnotherLoopTurns(10, 5);
      assert.equal(timer.turns, turns, 'asleep, it did not turn while a running loop turned ten times');
      Atomics.store(head, 0, 1);
      Atomics.notify(head, 0);
      await waitFor('a turn that merges the new head', () => state.base === 1);
      assert.ok(timer.turns > turns);
      await waitFor('sleep again', () => timer.asleep);
    } finally {
      timer.run(null);
    }
  });

  test('an edit of its own (wake) starts it again; a merge loop that is stopped stays stopped', async () => {
    const { state, timer } = mergeLoop();
    try {
      timer.run(5);
      await waitFor('sleep', () => timer.asleep);
      state.work = true;
      timer.wake();
      assert.equal(timer.asleep, false);
      await waitFor('the edit pushed', () => !state.work);
      await waitFor('sleep again', () => timer.asleep);
      timer.run(null);
      const turns = timer.turns;
      timer.wake(); // not asleep: stopped
      assert.equal(timer.asleep, false);
      await whileAnotherLoopTurns(10, 5);
      assert.equal(timer.turns, turns, 'stopped, it did not turn while a running loop turned ten times');
    } finally {
      timer.run(null);
    }
  });
});

describe('ARP retries', () => {
  test('the retry timer runs only while a resolution is pending', async () => {
    let pending = false;
    const polls: number[] = [];
    const t = new ArpRetryTimer(() => pending, (now) => polls.push(now), 5);
    try {
      t.arm();
      assert.equal(t.running, false, 'nothing pending: no timer');
      pending = true;
      t.arm();
      assert.equal(t.running, true);
      await waitFor('a poll with the time', () => polls.length >= 2);
      assert.ok(polls.every((n) => Number.isInteger(n) && n > 0));
      pending = false;
      await waitFor('the timer to stop', () => !t.running);
    } finally {
      t.stop();
    }
  });
});

// One set of actor threads for both tests (starting them costs seconds). They are not ordered: each
// begins by waiting for every actor to be asleep, and neither looks at what the other left.
describe('actors on worker threads, idle', () => {
  const ME: NetInterface = { name: 'idle0', mac: localMac(9), ip: parseIpv4('10.78.0.1'), prefix: 24 };
  let peer: RingLink;
  let actors: StackActors;
  before(async () => {
    const [a, b] = ringLinkPair('idle-wire');
    peer = new RingLink(b);
    peer.onFrames(() => {});
    actors = new StackActors(new RingLink(a), ME, { packetActors: 2, mergeIntervalMs: 20, expiryTickMs: 60_000 });
    await actors.ready();
  });
  after(async () => {
    await actors?.stop();
    peer?.close();
  });

  const allAsleep = async () => {
    const stats = await actors.supervisor.stats();
    return stats.length === 3 && stats.every((s) => s.counters['merge.asleep'] === 1);
  };
  const untilAsleep = async () => {
    const end = Date.now() + 10_000;
    while (!(await allAsleep())) {
      if (Date.now() > end) throw new Error(`the actors' merge loops never slept: ${JSON.stringify((await actors.supervisor.stats()).map((s) => s.counters))}`);
      await sleep(20);
    }
  };
  const idleTurns = async () => new Map((await actors.supervisor.stats()).map((s) => [s.name, s.counters['merge.idleTurns']]));

  test('a commit on the primary reaches each idle actor with one pull; the idle turns that follow, until it sleeps again, send nothing', async () => {
    await untilAsleep();
    const idleBefore = await idleTurns();
    const deltas = actors.supervisor.counters.deltas;
    const primary = actors.store.main;
    primary.table(arpTable).set(parseIpv4('10.78.0.99'), { mac: 0x02_00_00_00_00_99, expires: 0, kind: 'static' });
    primary.commit({ author: 'test' });
    const headSeq = primary.headSeq;
    const end = Date.now() + 5_000;
    while (!(await actors.supervisor.stats()).every((s) => s.base === headSeq)) {
      if (Date.now() > end) throw new Error('the commit did not reach every actor');
      await sleep(20);
    }
    await untilAsleep();
    // Each actor turned idle at least IDLE_TURNS_TO_SLEEP times since the commit (that is what put it back to
    // sleep), and the only deltas are the three pulls: an idle turn sends nothing.
    for (const [name, n] of await idleTurns()) {
      assert.ok(n - idleBefore.get(name)! >= IDLE_TURNS_TO_SLEEP, `${name}: ${n - idleBefore.get(name)!} idle turns since the commit`);
    }
    assert.equal(actors.supervisor.counters.deltas, deltas + 3, 'one pull per actor, and no delta from any idle turn');
  });

  test('frames wake an asleep packet actor: what it learns reaches the primary', async () => {
    await untilAsleep();
    const ip = parseIpv4('10.78.0.10');
    peer.send(arpFrame({ op: 'request', srcMac: 0x02_00_00_00_10_10, senderIp: ip, targetIp: ME.ip }));
    await waitFor('the primary to learn the sender', () => actors.store.main.table(arpTable).get(ip) !== undefined);
  });
});
