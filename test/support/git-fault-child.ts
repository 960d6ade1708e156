// The process test/git-fault.test.ts kills: a GitStore on DIR (argv) with two small tables, driven by
// JSON commands on stdin, reporting JSON lines on stdout. Before each flush it prints the state that
// flush may write, and after it the state written, so the test knows what a restart must load
// wherever it kills.
// SIGTERM: the final state, a clean close (final flush), exit 0. The command `exit` exits at once,
// without closing (test/git-lock.test.ts).
// Usage: node --import tsx test/support/git-fault-child.ts DIR HISTORY_COMMITS worker|inline [PRUNE_GRACE_MS, default 0]
import { createInterface } from 'node:readline';
import { prng } from '../../actors/sim/prng.js';
import { Store, type Branch } from '../../store/index.js';
import { GitStore } from '../../store/git/index.js';
import { plain, stamped } from './tables.js';

type Command = { id: number; op: 'work'; seed: number; n: number; t: number } | { id: number; op: 'flush' | 'poll'; t: number } | { id: number; op: 'exit'; t: number };

const [dir, history, mode, grace = '0'] = process.argv.slice(2);
let now = 0;
const store = new Store([plain, stamped], { clock: () => now });

function say(ev: object): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

/** Both tables, sorted: what the test compares across a restart. */
function state(b: Branch): object {
  const sorted = <V>(m: Iterable<[string, V]>) => [...m].sort((x, y) => (x[0] < y[0] ? -1 : 1));
  return { def: sorted(b.table(plain).entries()), lww: sorted(b.table(stamped).entries()) };
}

/** n changes made on a fork and merged back, as an actor would. */
function work(seed: number, n: number): void {
  const rand = prng(seed); // the work a seed stands for, the same on every run
  const b = store.main.fork('worker');
  for (let i = 0; i < n; i++) {
    const key = `k${Math.floor(rand() * 30)}`;
    const r = rand();
    if (r < 0.25) b.table(plain).delete(key);
    else if (r < 0.75) b.table(plain).set(key, Math.floor(rand() * 1000));
    else b.table(stamped).set(key, { t: now, v: `v${Math.floor(rand() * 100)}` });
  }
  b.commit({ author: 'worker' });
  store.main.merge(b);
  b.close();
}

const gs = await GitStore.open(dir, store.main, { thread: mode === 'worker', historyCommits: Number(history), pruneGraceMs: Number(grace), logger: {
  info() {},
  warn: (obj, msg) => say({ ev: 'log', level: 'warn', msg, obj }),
  error: (obj, msg) => say({ ev: 'log', level: 'error', msg, obj }),
} });
let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  say({ ev: 'closing', state: state(store.main) });
  gs.close(now + 1).then(
    () => { say({ ev: 'closed', head: gs.head }); process.exit(0); },
    (err: Error) => { say({ ev: 'error', msg: err.message }); process.exit(1); },
  );
});
say({ ev: 'loaded', head: gs.head, state: state(store.main), pid: process.pid }); // SIGTERM is handled from here on

// An edit merged by a poll commits on the primary and its flush starts at once: say so first.
store.main.watch((ev) => {
  if (ev.commit.author.startsWith('git edits')) say({ ev: 'flushing', state: state(store.main) });
});

async function run(c: Command): Promise<void> {
  now = Math.max(now, c.t);
  if (c.op === 'exit') process.exit(0); // without closing: the lock must go all the same
  if (c.op === 'work') {
    work(c.seed, c.n);
    say({ ev: 'ack', id: c.id });
    return;
  }
  say({ ev: 'flushing', state: state(store.main) });
  const out = c.op === 'poll' ? await gs.pollEdits(now) : null;
  await gs.flush(now);
  say({ ev: 'ack', id: c.id, head: gs.head, state: state(store.main), edit: out?.head ?? null, rejected: out?.rejected.map((r) => r.path) ?? [] });
}

let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as Command;
  queue = queue.then(() => (stopping ? undefined : run(c))).catch((err: Error) => say({ ev: 'error', id: c.id, msg: err.message }));
});
