// `netbranch sim --store git:DIR`: each node's primary persisted to its own git repository, DIR/node<i>
// (created or loaded), flushed on the simulated clock.
import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { Store } from '../../store/index.js';
import { GitStore } from '../../store/git/index.js';
import { stackTables } from '../host/host-schema.js';
import { arpTable } from '../iface/arp-table.js';
import type { SimClock } from './sim-clock.js';
import type { Logger } from '../../store/index.js';

export interface SimReposOptions {
  nodes: number;
  gitFlushIntervalMs?: number;
  gitHistory?: number;
  gitLogger?: Logger;
}

/** A node's repository and the commit its last flush wrote. */
export interface SimRepoSummary { repo: string; head: string | null; flushes: number; objects: number; editsMerged: number }

export class SimRepos {
  private constructor(readonly stores: Store[], private readonly gits: GitStore[]) {}

  /**
   * Every node's store, loaded from its repository, each of which it holds locked from now on. One that cannot
   * be opened (held by another process, not a repository) closes those already open and throws a RangeError.
   */
  static async open(dir: string, o: SimReposOptions, clock: SimClock, out: (line: string) => void): Promise<SimRepos> {
    checkGitParent(dir);
    const repos = new SimRepos([], []);
    for (let i = 0; i < o.nodes; i++) {
      const store = new Store(stackTables, { clock: () => clock.wallMs(), retention: 256 });
      const repo = join(dir, `node${i}`);
      let g: GitStore;
      try {
        g = await GitStore.open(repo, store.main, { thread: false, flushIntervalMs: o.gitFlushIntervalMs, historyCommits: o.gitHistory, logger: o.gitLogger });
      } catch (err) {
        await repos.close(clock.wallMs());
        throw new RangeError(`--store git:${dir}: ${(err as Error).message}`);
      }
      repos.stores.push(store);
      repos.gits.push(g);
      out(`git: node${i} loaded ${g.head ?? '(new repository)'} with ${store.main.table(arpTable).size} entries from ${repo}`);
    }
    return repos;
  }

  tick(wallMs: number): void {
    for (const g of this.gits) g.tick(wallMs);
  }

  /** The last flush of each, and its lock released. */
  async close(wallMs: number): Promise<void> {
    for (const g of this.gits) await g.close(wallMs);
  }

  summary(): SimRepoSummary[] {
    return this.gits.map((g) => ({ repo: g.dir, head: g.head, flushes: g.stats.flushes, objects: g.stats.objectsWritten, editsMerged: g.stats.editsMerged }));
  }
}

/** A sim's git directory holds one repository per node and nothing else: never write into a directory of other things. */
function checkGitParent(dir: string): void {
  if (!existsSync(dir)) return;
  const other = readdirSync(dir).filter((f) => !/^node\d+$/.test(f));
  if (other.length) throw new RangeError(`--store git:${dir}: the directory holds other things (${other.slice(0, 3).join(', ')}${other.length > 3 ? ', …' : ''}); give a new or empty directory (each node gets DIR/node<i>)`);
}
