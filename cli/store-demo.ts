// The store demo: three branches edit one ARP-like table concurrently and merge back into main.
import type { Command } from 'commander';
import { Store, table, keys, values, option, record, max, lww, counter, type Commit } from '../store/index.js';
import { prng } from '../actors/sim/prng.js';

interface Neighbour { mac: string; expires: number; hits: number }

const neighbours = table<string, Neighbour>({
  name: 'arp',
  key: keys.ipv4,
  value: values.record({ mac: values.mac, expires: values.uint, hits: values.uint }),
  // A later expiry wins (a refresh beats a stale copy); hit counters add up; a refresh beats a concurrent expiry.
  merge: option(
    record<Neighbour>({ mac: lww<string>(() => 0), expires: max<number>(), hits: counter() }),
    { onDeleteModify: 'keep' },
  ),
});


export async function runStoreDemo(opts: { seed: number; out: (line: string) => void }): Promise<void> {
  const { out } = opts;
  let now = 1_000_000;
  const store = new Store([neighbours], { clock: () => now });
  const main = store.main;
  const arp = main.table(neighbours);
  const rand = prng(opts.seed);
  const mac = (i: number) => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`;

  out('netbranch store demo: one ARP-like table, three actors on their own branches, merged back into main');
  for (let i = 1; i <= 8; i++) arp.set(`10.0.0.${i}`, { mac: mac(i), expires: now + 60_000, hits: 0 });
  const c0 = main.commit({ author: 'boot', message: 'learn 8 neighbours' })!;
  out(`  main #${c0.seq}: ${arp.size} entries`);

  const actors = ['packet-0', 'packet-1', 'arp-expiry'].map((name) => main.fork(name));
  out(`  forked ${actors.map((a) => a.name).join(', ')} from #${c0.seq} (O(1): no entry copied)`);

  now += 30_000;
  for (const a of actors.slice(0, 2)) {
    const t = a.table(neighbours);
    for (let n = 0; n < 20; n++) {
      const ip = `10.0.0.${1 + Math.floor(rand() * 10)}`;
      const cur = t.get(ip);
      t.set(ip, { mac: cur?.mac ?? mac(Number(ip.split('.')[3])), expires: now + 60_000 + Math.floor(rand() * 1000), hits: (cur?.hits ?? 0) + 1 });
    }
    a.commit({ author: a.name, message: 'traffic' });
  }
  const expiry = actors[2].table(neighbours);
  for (const [ip, e] of [...expiry.entries()]) if (e.expires < now + 45_000) expiry.delete(ip);
  actors[2].commit({ author: 'arp-expiry', message: 'expire stale entries' });
  out(`  packet-0 and packet-1 refreshed and counted hits; arp-expiry removed what it saw as stale`);

  const show = (c: Commit | null, who: string) =>
    out(`  merge ${who.padEnd(10)} -> main #${c?.seq ?? '-'} (${c?.kind ?? 'nothing'}, ${c?.conflicts.length ?? 0} conflicts resolved)`);
  for (const i of [2, 0, 1]) show(main.merge(actors[i]).commit, actors[i].name);

  out(`  main now: ${arp.size} entries; a refresh beat every concurrent expiry, hits added up:`);
  for (const [ip, e] of [...arp.entries()].sort()) out(`    ${ip.padEnd(10)} ${e.mac}  expires +${((e.expires - now) / 1000).toFixed(1)}s  hits ${e.hits}`);

  out('  log of main:');
  for (const c of main.log(6)) out(`    #${c.seq} ${c.kind.padEnd(12)} by ${c.author.padEnd(10)} ${c.message}`);
  const d = main.diff(c0.seq);
  out(`  diff #${c0.seq}..#${main.headSeq}: ${d.length} entries changed`);
  main.revert(c0.seq, { author: 'operator' });
  out(`  revert to #${c0.seq}: ${arp.size} entries, as at boot`);
  out(`  stats: ${JSON.stringify(store.stats)}`);
}

export function registerStoreDemo(program: Command): void {
  program
    .command('store-demo')
    .description('the versioned store on its own: forks, concurrent edits, merges, log, diff, revert')
    .option('--seed <n>', 'random seed', '1')
    .action(async (opts: { seed: string }) => {
      const seed = Number(opts.seed);
      if (!Number.isSafeInteger(seed)) throw new RangeError(`--seed must be an integer, got '${opts.seed}'`);
      await runStoreDemo({ seed, out: (line) => process.stdout.write(line + '\n') });
    });
}
