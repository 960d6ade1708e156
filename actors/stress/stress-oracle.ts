// The oracle of `netbranch stress`. A sequential reference model in plain Maps: it replays the accepted
// deltas in acceptance order and keeps its own copy of the state after every commit a later delta is
// based on. Per key of a delta: if the model's key has not changed since the delta's base commit, the
// delta's value is taken; otherwise the table's own merge function decides (old = the model's copy at
// the base), a Conflict settled by its resolution or the table's resolver. It calls no Branch,
// BranchTable, ReplicaHost or store equality: only the table definitions.
import { Conflict, type DeltaMessage, type Table } from '../../store/index.js';
import type { StressView } from './stress-messages.js';

/** One delta the primary accepted, in acceptance order, with the head it produced. */
export interface LoggedDelta {
  delta: DeltaMessage;
  /** The primary's head commit right after accepting it. */
  head: number;
}

/** Everything the oracle needs; plain data, so a test can corrupt any part of it. */
export interface StressEvidence {
  log: LoggedDelta[];
  /** The primary's final committed entries, per table name. */
  primary: Record<string, [string | number, unknown][]>;
  /** The primary's final head commit. */
  head: number;
  /** store.stats.conflicts. */
  conflicts: number;
  branches: { replica: string; increments: Record<string, number>; view: StressView }[];
}

export interface StressCheck {
  ok: boolean;
  divergences: string[];
  modelConflicts: number;
  abaMerges: number;
  /** The first such merge, described. */
  abaExample: string | null;
}

/** Replays the log through the reference model and compares it with the primary and the branches. */
export function checkStress(tables: readonly Table<any, any>[], ev: StressEvidence): StressCheck {
  const found = new Divergences();
  const model = new ReferenceModel(tables, ev.log);
  for (let i = 0; i < ev.log.length; i++) if (!model.replay(i, found)) break;
  if (ev.head !== model.seq) found.add(`final head: primary #${ev.head}, model #${model.seq}`);
  if (ev.conflicts !== model.conflicts) found.add(`conflicts: the store settled ${ev.conflicts}, the model ${model.conflicts}`);
  comparePrimary(tables, model, ev, found);
  compareCounters(ev, found);
  compareViews(ev, found);
  return { ok: found.lines.length === 0, divergences: found.lines, modelConflicts: model.conflicts, abaMerges: model.aba, abaExample: model.abaExample };
}

/** (1) The primary equals the model. */
function comparePrimary(tables: readonly Table<any, any>[], model: ReferenceModel, ev: StressEvidence, found: Divergences): void {
  for (const t of tables) {
    eachDifference(new Map(ev.primary[t.name] ?? []), model.state.get(t.name)!, (k, primary, modelled) =>
      found.add(`primary vs model: ${t.name}/${String(k)}: primary ${show(primary)}, model ${show(modelled)}`));
  }
}

/** (2) Every counter is the sum of every branch's increments. */
function compareCounters(ev: StressEvidence, found: Divergences): void {
  const expected = new Map<string | number, unknown>();
  for (const b of ev.branches) for (const [k, n] of Object.entries(b.increments)) expected.set(k, ((expected.get(k) as number | undefined) ?? 0) + n);
  eachDifference(new Map(ev.primary.counters ?? []), expected, (k, got, want) =>
    found.add(`counter ${String(k)}: primary ${show(got)}, sum of increments ${show(want)}`));
}

/** (3) Every branch's final view is the primary. */
function compareViews(ev: StressEvidence, found: Divergences): void {
  for (const b of ev.branches) {
    for (const [name, entries] of Object.entries(b.view) as [string, [string | number, unknown][]][]) {
      eachDifference(new Map(ev.primary[name] ?? []), new Map(entries), (k, primary, view) =>
        found.add(`${b.replica}'s final view: ${name}/${String(k)}: branch ${show(view)}, primary ${show(primary)}`));
    }
  }
}

type Entries = Map<string | number, unknown>;
type State = Map<string, Entries>;

/** The model's state, replayed one logged delta at a time. */
class ReferenceModel {
  readonly state: State;
  /** The model's head commit. */
  seq = 0;
  conflicts = 0;
  /** Merges of keys that went A→B→A since the delta's base, where the delta's value did not win. */
  aba = 0;
  abaExample: string | null = null;
  private readonly defs: Map<string, Table<any, any>>;
  /** Per table and key, the commit that last changed it. */
  private readonly lastChange: Map<string, Map<string | number, number>>;
  /** Per base commit, the index of the last delta based on it. */
  private readonly lastUse = new Map<number, number>();
  // Copies are kept only for commits a later delta is based on, and dropped after their last use.
  private readonly copies = new Map<number, State>();

  constructor(tables: readonly Table<any, any>[], private readonly log: LoggedDelta[]) {
    this.defs = new Map(tables.map((t) => [t.name, t]));
    this.state = new Map(tables.map((t) => [t.name, new Map()]));
    this.lastChange = new Map(tables.map((t) => [t.name, new Map()]));
    log.forEach((e, i) => this.lastUse.set(e.delta.base, i));
    if (this.lastUse.has(0)) this.copies.set(0, copyState(this.state));
  }

  /** Applies delta #i; false when it is based on a commit the model never reached (the replay stops there). */
  replay(i: number, found: Divergences): boolean {
    const { delta, head } = this.log[i];
    const entries = changedKeys(delta);
    const base = this.copies.get(delta.base);
    if (entries.length === 0) {
      if (head !== this.seq) found.add(`delta #${i} (${delta.replica}, a pull): primary head is ${head}, the model's ${this.seq}`);
      this.release(delta.base, i);
      return true;
    }
    if (base === undefined) {
      found.add(`delta #${i} (${delta.replica}) is based on commit ${delta.base}, which the model never reached (its head: ${this.seq})`);
      return false;
    }
    this.seq++;
    for (const [name, key, theirs] of entries) this.applyKey(i, delta, base, name, key, theirs, found);
    if (head !== this.seq) found.add(`delta #${i} (${delta.replica}): primary head is ${head} after it, the model's ${this.seq}`);
    this.release(delta.base, i);
    if (this.lastUse.has(this.seq)) this.copies.set(this.seq, copyState(this.state));
    return true;
  }

  private applyKey(i: number, delta: DeltaMessage, base: State, name: string, key: string | number, theirs: unknown, found: Divergences): void {
    const def = this.defs.get(name);
    const cur = this.state.get(name);
    if (!def || !cur) { found.add(`delta #${i}: unknown table '${name}'`); return; }
    const old = base.get(name)!.get(key);
    const ours = cur.get(key);
    const lastChanged = this.lastChange.get(name)!.get(key);
    let result: unknown;
    if ((lastChanged ?? 0) <= delta.base) {
      if (!sameValue(ours, old)) found.add(`model: ${name}/${String(key)} unchanged since #${delta.base} yet differs from its value there`);
      result = theirs;
    } else {
      result = this.merge(def, old, ours, theirs);
      if (sameValue(ours, old) && !sameValue(result, theirs)) {
        this.aba++;
        this.abaExample ??= `commit #${this.seq}: ${delta.replica} sets ${name}/${String(key)} to ${show(theirs)} on base #${delta.base}, where it was ${show(old)}; `
          + `the primary changed it since (last at #${lastChanged}) and back to ${show(ours)}; the merge gives ${show(result)}`;
      }
    }
    if (sameValue(ours, result)) return;
    if (result === undefined) cur.delete(key);
    else cur.set(key, result);
    this.lastChange.get(name)!.set(key, this.seq);
  }

  /** The table's own merge, a Conflict settled by its resolution or the table's resolver. */
  private merge(def: Table<any, any>, old: unknown, ours: unknown, theirs: unknown): unknown {
    const r = def.merge(() => old, ours, theirs);
    if (!(r instanceof Conflict)) return r;
    this.conflicts++;
    return r.resolution ? r.resolution[0] : def.resolve(old, ours, theirs);
  }

  private release(base: number, i: number): void {
    if (this.lastUse.get(base) === i) this.copies.delete(base);
  }
}

/** A delta's changes as [table, key, value], a deletion's value undefined. */
function changedKeys(delta: DeltaMessage): [string, string | number, unknown][] {
  const entries: [string, string | number, unknown][] = [];
  for (const tc of delta.tables) {
    for (const [k, v] of tc.set) entries.push([tc.table, k, v]);
    for (const k of tc.del) entries.push([tc.table, k, undefined]);
  }
  return entries;
}

/** The first differences found, up to MAX_SHOWN, then '…'. */
class Divergences {
  static readonly MAX_SHOWN = 10;
  readonly lines: string[] = [];

  add(line: string): void {
    if (this.lines.length < Divergences.MAX_SHOWN) this.lines.push(line);
    else if (this.lines.length === Divergences.MAX_SHOWN) this.lines.push('…');
  }
}

/** Calls `differs` for every key, in order, whose values in `a` and `b` are not the same. */
function eachDifference(a: Entries, b: Entries, differs: (key: string | number, inA: unknown, inB: unknown) => void): void {
  for (const k of sortedKeys(new Set([...a.keys(), ...b.keys()]))) {
    if (!sameValue(a.get(k), b.get(k))) differs(k, a.get(k), b.get(k));
  }
}

/** Structural equality of plain data (what arrives from msgpack): the oracle's own. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameValue(x, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function show(x: unknown): string {
  return x === undefined ? '(absent)' : JSON.stringify(x);
}

function copyState(s: State): State {
  return new Map([...s].map(([t, m]) => [t, new Map(m)]));
}

function sortedKeys(ks: Set<string | number>): (string | number)[] {
  return [...ks].sort((a, b) => (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1));
}
