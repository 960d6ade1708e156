import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { natTable } from '../actors/router/nat-table.js';
import { portOwner } from '../actors/router/nat-engine.js';
import { CLIENT, SERVER, rig, waitFor } from './support/router-rig.js';

describe('the router on worker threads', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => { for (const c of closers) await c(); });

  test('UDP flows are NATed by the actor owning their port, answered, and the bindings merge into the primary', async () => {
    const r = await rig('memory');
    closers.push(r.close);
    // Frames go straight to the router's MAC: the client needs no ARP for its gateway.
    const ports = [2000, 2001, 40000, 40001, 60000, 61000];
    for (const p of ports) r.send(p, 1);
    await waitFor('six echoes back through the NAT', () => r.replies().length === ports.length);
    for (const rep of r.replies()) {
      assert.ok(rep.network.kind === 'ipv4' && rep.network.transport.kind === 'udp');
      assert.equal(rep.network.ipv4.dst, CLIENT.ip);
      assert.equal(rep.network.ipv4.src, SERVER.ip);
      assert.ok(ports.includes(rep.network.transport.udp.dstPort));
    }
    const nat = r.actors.store.main.table(natTable);
    await waitFor('six replied flows merged into the primary', () => nat.size === ports.length && [...nat.entries()].every(([, e]) => e.state === 'udp-replied'));
    for (const [, e] of nat.entries()) {
      assert.equal(e.insideIp, CLIENT.ip);
      assert.equal(e.outPort, e.insidePort, 'the source port was free, so it was preserved');
      assert.equal(e.state, 'udp-replied');
    }
    // The server only ever saw the router's outside address.
    assert.ok(r.serverStack.cache.lookup(CLIENT.ip, Date.now()) === undefined);
    const stats = await r.actors.supervisor.stats();
    const created = stats.filter((s) => s.kind === 'packet').sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => s.counters['nat.created']);
    const owned = [0, 1].map((i) => ports.filter((p) => portOwner(p, 2) === i).length);
    assert.deepEqual(created, owned, 'each actor made the bindings of its own port slice');
  });

  test('a router actor killed mid-flow comes back from the primary and still translates its flows', async () => {
    const r = await rig('memory');
    closers.push(r.close);
    r.send(50000, 1); // port 50000: actor 1's slice with 2 actors
    await waitFor('the first echo', () => r.replies().length === 1);
    const nat = r.actors.store.main.table(natTable);
    await waitFor('the binding merged', () => nat.size === 1);
    const victim = r.actors.supervisor.actors[1];
    await victim.worker!.terminate();
    await waitFor('the restart', () => victim.up && victim.incarnation === 2);
    r.send(50000, 2);
    await waitFor('the flow answered by the new incarnation', () => r.replies().length === 2);
    assert.equal([...nat.entries()][0][1].outPort, 50000, 'the same binding');
  });

  test('--store hashtable: the same router on plain Maps, with nothing merged', async () => {
    const r = await rig('hashtable');
    closers.push(r.close);
    for (const p of [3000, 50000]) r.send(p, 1);
    await waitFor('two echoes', () => r.replies().length === 2);
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(r.actors.store.main.table(natTable).size, 0, 'no branches, no merges: the primary stays empty');
    assert.equal(r.actors.store.stats.merges, 0);
    const flows = (await r.actors.supervisor.stats()).filter((s) => s.kind === 'packet').map((s) => s.counters['nat.flows']);
    assert.deepEqual(flows.sort(), [1, 1]);
  });
});
