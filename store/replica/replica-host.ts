// The primary's side of replication: snapshots out, deltas in (checked, then merged per key against
// the replica's recorded base), head deltas back. A refused delta leaves the primary unchanged.
import type { Branch, Change } from '../branch.js';
import { type DeltaMessage, DeltaCodec, type HeadDeltaMessage, type ReplicaMessage, type SnapshotMessage, type TableChanges } from './delta.js';
import type { EntryVisitor } from './records.js';
import { BadDeltaError, BaseReleasedError, CodecError, StoreError, UnknownCommitError, UnknownReplicaError } from '../errors.js';

export interface ReplicaHostOptions {
  /** A replica whose base falls this many commits behind the head loses its pin (default 100k). */
  maxLag?: number;
}

export class ReplicaHost {
  readonly codec: DeltaCodec;
  /**
   * The branch's head commit (its low 32 bits), shared with the replicas' threads: a replica whose
   * base is the head and that has no edits has nothing to push or pull, and can tell without a message.
   */
  readonly headCell = new SharedArrayBuffer(4);
  private readonly head = new Int32Array(this.headCell);
  private readonly known = new Set<string>();
  private readonly maxLag: number;
  /** Replicas that lost their pin by lagging; counted for the operator. */
  evictions = 0;

  constructor(readonly branch: Branch, opts: ReplicaHostOptions = {}) {
    this.codec = new DeltaCodec(branch.store.schema);
    this.maxLag = opts.maxLag ?? 100_000;
    Atomics.store(this.head, 0, branch.headSeq | 0);
    branch.watch(() => {
      Atomics.store(this.head, 0, branch.headSeq | 0);
      Atomics.notify(this.head, 0); // a replica that waits on it for a change pulls now
    });
  }

  /** Registers a replica at the branch's head without building a snapshot; returns that commit. */
  pin(id: string): number {
    if (!id) throw new BadDeltaError('replica', 'empty replica id');
    this.known.add(id);
    this.branch.replicaBases.set(id, this.branch.headSeq);
    return this.branch.headSeq;
  }

  /** Registers a replica and returns the snapshot to start it from (the branch's head). */
  attach(id: string): SnapshotMessage {
    this.pin(id);
    const b = this.branch;
    const tables: TableChanges[] = b.tables.map((t) => ({ table: t.name, set: [...t.committedEntries()], del: [] }));
    return { type: 'snapshot', replica: id, base: b.headSeq, tables };
  }

  /** Forgets a replica and releases its pin; its later deltas are refused as unknown. */
  detach(id: string): void {
    this.known.delete(id);
    this.branch.replicaBases.delete(id);
    this.branch.collect();
  }

  get replicas(): string[] {
    return [...this.known];
  }

  /** Checks every entry of a delta, merges it, and returns the head delta for the replica. */
  accept(delta: DeltaMessage): HeadDeltaMessage {
    return this.acceptEntries(delta, (visit) => {
      for (const tc of delta.tables) {
        for (const [k, v] of tc.set) {
          if (v === undefined || v === null) throw new CodecError(`${tc.table}/${String(k)}`, 'value', 'a set entry needs a value (deletions go in del)');
          visit(tc.table, k, v);
        }
        for (const k of tc.del) visit(tc.table, k, null);
      }
    });
  }

  /** A delta's header, then its entries read as they are checked (`each` calls `visit` per entry; null deletes). */
  private acceptEntries(delta: Omit<DeltaMessage, 'tables'>, each: (visit: EntryVisitor) => void): HeadDeltaMessage {
    const b = this.branch;
    if (!this.known.has(delta.replica)) throw new UnknownReplicaError(delta.replica);
    if (delta.base < b.horizon) throw new BaseReleasedError(delta.replica, delta.base, b.horizon);
    if (delta.base > b.headSeq) throw new UnknownCommitError(delta.base, b.name);
    // Check everything before touching anything.
    const changes = this.checked(each);
    // Re-pin the base for the length of the merge: the merge's own commit may release old commits, and
    // the head delta still needs this base. Nothing may throw once the merge is committed.
    b.replicaBases.set(delta.replica, delta.base);
    const merged: Change[] = [];
    const outcome = changes.length
      ? b.mergeChanges(changes, delta.base, { author: delta.replica, message: `merge ${delta.replica} (push ${delta.push}, ${changes.length} changes)` }, merged)
      : null;
    const head = this.headDelta(delta.replica, delta.base, merged, changes);
    head.push = delta.push;
    head.conflicts = outcome?.conflicts ?? 0;
    b.replicaBases.set(delta.replica, b.headSeq);
    this.evictLagging();
    b.collect();
    return head;
  }

  /** Every entry through its table's key and value codecs, as changes to merge; throws at the first bad one. */
  private checked(each: (visit: EntryVisitor) => void): Change[] {
    const schema = this.branch.store.schema;
    const changes: Change[] = [];
    let name = '';
    let ti = -1;
    each((table, rawKey, rawValue) => {
      if (table !== name) { ti = schema.index(table); name = table; }
      const def = schema.tables[ti];
      const key = decodeKey(def.name, def.key, rawKey);
      changes.push([ti, key, rawValue === null ? undefined : def.value.decode(rawValue, `${def.name}/${def.key.encode(key)}`)]);
    });
    return changes;
  }

  /** Bytes in, bytes out: a refused delta is answered with a `rejected` message, never a throw. */
  acceptBytes(bytes: Uint8Array): Uint8Array {
    let replica = '';
    let push = 0;
    try {
      const r = this.codec.reader(bytes);
      const h = r.header as unknown as DeltaMessage;
      replica = h.replica;
      if (h.type !== 'delta') throw new BadDeltaError('type', `expected a delta, got '${h.type}'`);
      push = h.push;
      return this.codec.encode(this.acceptEntries(h, (visit) => r.rest(visit)));
    } catch (err) {
      this.branch.store.stats.rejectedDeltas++;
      const e = err instanceof StoreError ? err : new BadDeltaError('message', (err as Error).message);
      const out: ReplicaMessage = { type: 'rejected', replica, push, code: e.code, message: e.message };
      return this.codec.encode(out);
    }
  }

  /**
   * What changed on the branch since `from`, plus the keys just merged: `merged` carries their
   * values, so only the keys others changed are looked up (each lookup into a big table is a cache miss).
   */
  headDelta(replica: string, from: number, merged: readonly Change[] = [], pushed: readonly Change[] = []): HeadDeltaMessage {
    const b = this.branch;
    const touched = b.changedBetween(from, b.headSeq);
    const tables: TableChanges[] = [];
    const byTable: TableChanges[] = [];
    const out = (ti: number): TableChanges => {
      let tc = byTable[ti];
      if (tc === undefined) {
        tc = byTable[ti] = { table: b.tables[ti].name, set: [], del: [] };
        tables.push(tc);
      }
      return tc;
    };
    for (let i = 0; i < merged.length; i++) {
      const [ti, k, v] = merged[i];
      touched[ti]?.delete(k);
      // The replica already holds what it pushed: a key that merged to exactly that is not sent back.
      const p = pushed[i];
      if (p !== undefined && p[1] === k && b.tables[ti].def.equal(p[2], v)) continue;
      if (v === undefined) out(ti).del.push(k);
      else out(ti).set.push([k, v]);
    }
    touched.forEach((ks, ti) => {
      if (!ks || ks.size === 0) return;
      const t = b.tables[ti];
      const tc = out(ti);
      for (const k of ks) {
        const v = t.committedValue(k);
        if (v === undefined) tc.del.push(k);
        else tc.set.push([k, v]);
      }
    });
    return { type: 'head', replica, from, to: b.headSeq, push: 0, conflicts: 0, tables };
  }

  private evictLagging(): void {
    const b = this.branch;
    for (const [id, base] of b.replicaBases) {
      if (b.headSeq - base > this.maxLag) {
        b.replicaBases.delete(id);
        this.evictions++;
      }
    }
  }
}

function decodeKey(table: string, codec: { decode(s: unknown): string | number; name: string }, raw: unknown): string | number {
  try {
    return codec.decode(raw);
  } catch (err) {
    if (err instanceof CodecError) throw new CodecError(`${table}/${String(raw)}`, codec.name, err.reason);
    throw err;
  }
}
