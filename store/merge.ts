// Merge combinators in the manner of Irmin.Merge: a merge takes a lazy ancestor and two sides and
// returns a value or a Conflict. Every combinator here is commutative: merge(o, a, b) = merge(o, b, a).
import { compareCanonical, deepEqual } from './canonical.js';

/**
 * A merge that could not decide. A composite merge (record, map, pair) carries the value it built by
 * resolving each conflicting part on its own, so the rest of the value still merges normally;
 * otherwise the table's deterministic resolver picks a winner. Either way the conflict is counted.
 */
export class Conflict {
  constructor(readonly reason: string, readonly resolution?: readonly [unknown]) {}
}

/** The value a conflict settles on: its own resolution, else the given resolver's pick. */
export function settle<T>(c: Conflict, old: T | undefined, a: T, b: T, resolve: (o: T | undefined, a: T, b: T) => T | undefined): T {
  return (c.resolution ? c.resolution[0] : resolve(old, a, b)) as T;
}

/** The common ancestor's value, computed on demand (undefined = absent or deleted there). */
export type Old<T> = () => T;

/** A three-way merge. `T` includes `undefined` where absence is a value (see `option`). */
export type Merge<T> = (old: Old<T | undefined>, a: T, b: T) => T | Conflict;

/**
 * Runs a merge and settles a conflict on the spot (see `settle`), handing the conflict to
 * `onConflict` to count or record: the one place a merge's result becomes a value.
 */
export function mergeSettled<T>(m: Merge<T>, resolve: (o: T | undefined, a: T, b: T) => T | undefined, old: Old<T | undefined>, a: T, b: T, onConflict: (c: Conflict) => void): T {
  const r = m(old, a, b);
  if (!(r instanceof Conflict)) return r;
  const settled = settle(r, old(), a, b, resolve);
  onConflict(r);
  return settled;
}

/** Memoises a lazy ancestor so a combinator tree reads it once. */
export function lazy<T>(f: () => T): () => T {
  let done = false;
  let v: T;
  return () => {
    if (!done) { v = f(); done = true; }
    return v;
  };
}

function sub<T, U>(old: Old<T | undefined>, pick: (t: T) => U | undefined): Old<U | undefined> {
  return lazy(() => {
    const o = old();
    return o === undefined ? undefined : pick(o);
  });
}

/** Irmin's default: equal sides agree; a side equal to the ancestor yields the other; else conflict. */
export function defaultMerge<T>(equal: (x: T | undefined, y: T | undefined) => boolean = deepEqual): Merge<T> {
  return (old, a, b) => {
    if (equal(a, b)) return a;
    const o = old();
    if (equal(o, a)) return b;
    if (equal(o, b)) return a;
    return new Conflict('both sides changed the value differently');
  };
}

/** Succeeds only when both sides agree. */
export function idempotent<T>(equal: (x: T, y: T) => boolean = deepEqual): Merge<T> {
  return (_old, a, b) => (equal(a, b) ? a : new Conflict('sides differ'));
}

/** What `option` does when one side deleted an entry the other side changed. */
export type DeleteModifyRule = 'conflict' | 'keep' | 'delete';

/**
 * Lifts a merge on present values to one where absence (deletion) is a value. A deletion wins
 * only where the other side left the entry unchanged; a delete/modify clash follows `onDeleteModify`.
 */
export function option<V>(
  inner: Merge<V>,
  opts: { onDeleteModify?: DeleteModifyRule; equal?: (x: V | undefined, y: V | undefined) => boolean } = {},
): Merge<V | undefined> {
  const rule = opts.onDeleteModify ?? 'conflict';
  const equal = opts.equal ?? deepEqual;
  const oneSide = (old: Old<V | undefined>, present: V): V | undefined | Conflict => {
    const o = old();
    if (o === undefined) return present; // added on one side only
    if (equal(o, present)) return undefined; // deleted on one side, untouched on the other
    if (rule === 'keep') return present;
    if (rule === 'delete') return undefined;
    return new Conflict('deleted on one side, changed on the other');
  };
  return (old, a, b) => {
    if (a === undefined) return b === undefined ? undefined : oneSide(old, b);
    if (b === undefined) return oneSide(old, a);
    return inner(old as Old<V | undefined>, a, b);
  };
}

/** Irmin's counter: a + b − old, an absent ancestor counting as 0. */
export function counter(): Merge<number> {
  return (old, a, b) => a + b - (old() ?? 0);
}

/**
 * A counter where absent counts as 0 and a total of 0 is absent: for the keys of a `map`. Pure
 * addition, so merges in any order agree; `option(counter())` inside a map does not, because it
 * tells "unchanged" by value and a count back at its old value looks unchanged to a deletion.
 */
export function sparseCounter(): Merge<number | undefined> {
  return (old, a, b) => {
    const n = (a ?? 0) + (b ?? 0) - (old() ?? 0);
    return n === 0 ? undefined : n;
  };
}

/** The larger side wins (by `cmp`, default the canonical order). */
export function max<T>(cmp: (x: T, y: T) => number = compareCanonical): Merge<T> {
  return (_old, a, b) => (cmp(a, b) >= 0 ? a : b);
}

/** The smaller side wins. */
export function min<T>(cmp: (x: T, y: T) => number = compareCanonical): Merge<T> {
  return (_old, a, b) => (cmp(a, b) <= 0 ? a : b);
}

/**
 * Last writer wins by `stamp`; equal stamps are broken by `tieBreak` (default canonical order, the
 * larger value winning), so the result never depends on which side is "ours".
 */
export function lww<T>(stamp: (v: T) => number, tieBreak: (x: T, y: T) => number = compareCanonical): Merge<T> {
  return (_old, a, b) => {
    const sa = stamp(a);
    const sb = stamp(b);
    if (sa !== sb) return sa > sb ? a : b;
    return tieBreak(a, b) >= 0 ? a : b;
  };
}

/**
 * A set kept as a sorted array without duplicates: old − removed ∪ added. An element survives if
 * both sides kept it, or either side added it.
 */
export function set<T>(cmp: (x: T, y: T) => number = compareCanonical): Merge<readonly T[]> {
  return (old, a, b) => {
    const o = old() ?? [];
    const has = (xs: readonly T[], x: T) => binarySearch(xs, x, cmp) >= 0;
    const out: T[] = [];
    for (const x of a) if (has(b, x) || !has(o, x)) out.push(x);
    for (const x of b) if (!has(a, x) && !has(o, x)) out.push(x);
    out.sort(cmp);
    return out;
  };
}

function binarySearch<T>(xs: readonly T[], x: T, cmp: (x: T, y: T) => number): number {
  let lo = 0;
  let hi = xs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = cmp(xs[mid], x);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** A per-key merge of string-keyed maps (plain objects); `inner` sees absence as undefined. */
export function map<V>(inner: Merge<V | undefined>): Merge<Readonly<Record<string, V>>> {
  return (old, a, b) => {
    const out: Record<string, V> = {};
    const o = lazy(() => old() ?? {});
    // Every key of either side or of the ancestor: a key both sides dropped is still the inner merge's
    // to decide (for option() it stays deleted; for sparseCounter both sides took its count to 0).
    const keys = new Set([...Object.keys(a), ...Object.keys(b), ...Object.keys(o())]);
    const reasons: string[] = [];
    for (const k of [...keys].sort()) {
      const r = mergePart(inner, lazy(() => o()[k]), a[k], b[k], reasons, 'key', k);
      if (r !== undefined) out[k] = r;
    }
    return reasons.length ? new Conflict(reasons.join('; '), [out]) : out;
  };
}

export type FieldMerges<R> = { [K in keyof R]-?: Merge<R[K]> };

/** A per-field merge of records; a conflict in any field is a conflict of the record. */
export function record<R extends object>(fields: FieldMerges<R>): Merge<R> {
  const names = Object.keys(fields).sort() as (keyof R)[];
  return (old, a, b) => {
    const out = {} as R;
    const reasons: string[] = [];
    for (const f of names) {
      out[f] = mergePart(fields[f] as Merge<R[typeof f]>, sub(old, (o: R) => o[f]), a[f], b[f], reasons, 'field', String(f));
    }
    return reasons.length ? new Conflict(reasons.join('; '), [out]) : out;
  };
}

/** A pair, merged component-wise. */
export function pair<A, B>(ma: Merge<A>, mb: Merge<B>): Merge<readonly [A, B]> {
  return (old, a, b) => {
    const reasons: string[] = [];
    const x = mergePart(ma, sub(old, (o: readonly [A, B]) => o[0]), a[0], b[0], reasons, 'first');
    const y = mergePart(mb, sub(old, (o: readonly [A, B]) => o[1]), a[1], b[1], reasons, 'second');
    return reasons.length ? new Conflict(reasons.join('; '), [[x, y] as const]) : ([x, y] as const);
  };
}

/**
 * One part of a composite value (a map's key, a record's field, a pair's side), merged on its own: a
 * conflict settles by its resolution or resolveByOrder, and its reason is kept as `label [name]: reason`.
 */
function mergePart<T>(m: Merge<T>, old: Old<T | undefined>, a: T, b: T, reasons: string[], label: string, name?: string): T {
  return mergeSettled(m, resolveByOrder, old, a, b, (c) => { reasons.push(`${name === undefined ? label : `${label} ${name}`}: ${c.reason}`); });
}

/** The first merge that does not conflict (Irmin's `seq`). */
export function seq<T>(...merges: Merge<T>[]): Merge<T> {
  return (old, a, b) => {
    let last: Conflict = new Conflict('no merge given');
    for (const m of merges) {
      const r = m(old, a, b);
      if (!(r instanceof Conflict)) return r;
      last = r;
    }
    return last;
  };
}

/** Merges through a conversion (Irmin's `like`): `to` and `from` must be inverse. */
export function like<T, U>(inner: Merge<U>, to: (t: T) => U, from: (u: U) => T): Merge<T> {
  return (old, a, b) => {
    const r = inner(sub(old, to), to(a), to(b));
    if (!(r instanceof Conflict)) return from(r);
    return r.resolution ? new Conflict(r.reason, [from(r.resolution[0] as U)]) : r;
  };
}

/**
 * A hand-written merge. It must be commutative: the property tests in test/ check every shipped
 * merge, and a table's own custom merge should get the same test (see docs/store.md).
 */
export function custom<T>(fn: Merge<T>): Merge<T> {
  return fn;
}

/**
 * The tables' default conflict resolver: present beats deleted, then the canonically larger value.
 * Symmetric in a and b, so a resolved conflict is as commutative as the merge itself.
 */
export function resolveByOrder<T>(_old: T | undefined, a: T | undefined, b: T | undefined): T | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareCanonical(a, b) >= 0 ? a : b;
}
