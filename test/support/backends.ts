// The store's test suite runs once per backend: 'memory' (a Store alone) and 'git' (the same Store
// with a GitStore persisting its primary). Under 'git', every test ends by flushing, loading the
// repository into a second, fresh Store and checking that its primary holds exactly the original
// primary's committed entries: the git run fails if persistence loses or changes anything.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'node:test';
import { Store, compareCanonical, type StoreOptions, type Table } from '../../store/index.js';
import { GitStore, type GitStoreOptions } from '../../store/git/index.js';
import type { Logger } from '../../store/index.js';

export const BACKENDS = ['memory', 'git'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface Backed {
  readonly store: Store;
  readonly backend: Backend;
  /** The GitStore persisting the primary ('git' only). */
  readonly git: GitStore | null;
  readonly dir: string | null;
  /** Writes the dirty entries as one git commit ('memory': nothing to do). */
  flush(): Promise<void>;
  /** Flushes, reloads the repository into a fresh Store and asserts it equals the primary ('memory': nothing to do). */
  verify(): Promise<void>;
  /** Stops the GitStore and removes its directory ('memory': nothing to do). */
  close(): Promise<void>;
}

/** Logs kept so a test can insist nothing went wrong: a flush error or an entry that cannot be read fails `verify`. */
function recordingLogger(): { logger: Logger; problems: string[] } {
  const problems: string[] = [];
  return {
    problems,
    logger: {
      info() {},
      warn: (obj, msg) => problems.push(`warn: ${msg} ${JSON.stringify(obj)}`),
      error: (obj, msg) => problems.push(`error: ${msg} ${JSON.stringify(obj)}`),
    },
  };
}

const byKey = (a: readonly [unknown, unknown], b: readonly [unknown, unknown]) => compareCanonical(a[0], b[0]);

/**
 * A value with every plain object given Object.prototype. The one difference forgiven: a value
 * built with a null prototype (fast-check's records and dictionaries make some) is the same data to
 * the store (deepEqual and compareCanonical ignore prototypes) and comes back from JSON as a plain
 * object. Everything else stays as it is, so -0, undefined fields, bytes or a key's type still differ.
 */
function withPlainPrototypes(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(withPlainPrototypes);
  if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x)) return x;
  const proto = Object.getPrototypeOf(x);
  if (proto !== null && proto !== Object.prototype) return x;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(x)) out[k] = withPlainPrototypes((x as Record<string, unknown>)[k]);
  return out;
}

/** Committed entries of each table of a primary, sorted by key. */
function committed(store: Store): { table: string; entries: [string | number, unknown][] }[] {
  return store.main.tables.map((t) => ({
    table: t.name,
    entries: [...t.committedEntries()].sort(byKey).map(([k, v]): [string | number, unknown] => [k, withPlainPrototypes(v)]),
  }));
}

/** Attaches `backend` to a Store a test just built (before its first commit). */
export async function attachBackend(backend: Backend, store: Store, gitOpts: Omit<GitStoreOptions, 'thread' | 'logger'> = {}): Promise<Backed> {
  if (backend === 'memory') {
    return { store, backend, git: null, dir: null, flush: async () => {}, verify: async () => {}, close: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), 'netbranch-store-'));
  const log = recordingLogger();
  let gs: GitStore;
  try {
    // No prune grace: a test's objects are all seconds old, and a history cut should delete what it cuts.
    gs = await GitStore.open(dir, store.main, { pruneGraceMs: 0, ...gitOpts, thread: false, logger: log.logger });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  const flush = async () => {
    await gs.flush(Date.now());
    assert.deepEqual(log.problems, [], `git backend at ${dir} reported problems`);
  };
  return {
    store, backend, git: gs, dir, flush,
    async verify() {
      await flush();
      const again = new Store(store.schema.tables);
      const reloadLog = recordingLogger();
      const reloaded = await GitStore.open(dir, again.main, { thread: false, readOnly: true, logger: reloadLog.logger }); // beside the open writer: no lock
      try {
        assert.equal(reloaded.head, gs.head, 'the reload reads the commit the flush wrote');
        assert.deepEqual(reloadLog.problems, [], `reloading ${dir} reported problems`);
        const want = committed(store);
        const got = committed(again);
        for (let i = 0; i < want.length; i++) {
          // Strict but for null prototypes (see withPlainPrototypes): -0 for 0, an undefined field or a key's type would fail here.
          assert.deepStrictEqual(got[i], want[i], `table '${want[i].table}' reloaded from ${dir} differs from the primary's committed entries`);
        }
      } finally {
        await reloaded.close(Date.now());
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await gs.close(Date.now());
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A Store of `tables` with `backend` attached. */
export async function openBackend(backend: Backend, tables: readonly Table<any, any>[], storeOpts: StoreOptions = {}, gitOpts: Omit<GitStoreOptions, 'thread' | 'logger'> = {}): Promise<Backed> {
  return attachBackend(backend, new Store(tables, storeOpts), gitOpts);
}

/**
 * For one backend's describe block: stores opened through it are verified and closed after each
 * test (afterEach), so a test only has to await `open`/`attach` before its first commit.
 */
export function useBackend(backend: Backend) {
  const live: Backed[] = [];
  afterEach(async () => {
    let failure: unknown = null;
    for (const b of live.splice(0)) {
      try {
        await b.verify();
      } catch (err) {
        failure ??= err;
      } finally {
        await b.close();
      }
    }
    if (failure !== null) throw failure;
  });
  return {
    backend,
    async attach(store: Store, gitOpts: Omit<GitStoreOptions, 'thread' | 'logger'> = {}): Promise<Backed> {
      const b = await attachBackend(backend, store, gitOpts);
      live.push(b);
      return b;
    },
    async open(tables: readonly Table<any, any>[], storeOpts: StoreOptions = {}, gitOpts: Omit<GitStoreOptions, 'thread' | 'logger'> = {}): Promise<Backed> {
      return this.attach(new Store(tables, storeOpts), gitOpts);
    },
  };
}
