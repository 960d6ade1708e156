// Structural equality and a total order over plain data (what a table value may hold), so merges
// and tie-breaks compare values the same way on every thread, whatever object identity they have.

const RANK_UNDEFINED = 0;
const RANK_NULL = 1;
const RANK_BOOLEAN = 2;
const RANK_NUMBER = 3;
const RANK_BIGINT = 4;
const RANK_STRING = 5;
const RANK_BYTES = 6;
const RANK_ARRAY = 7;
const RANK_OBJECT = 8;

function rank(x: unknown): number {
  switch (typeof x) {
    case 'undefined': return RANK_UNDEFINED;
    case 'boolean': return RANK_BOOLEAN;
    case 'number': return RANK_NUMBER;
    case 'bigint': return RANK_BIGINT;
    case 'string': return RANK_STRING;
    default:
      if (x === null) return RANK_NULL;
      if (x instanceof Uint8Array) return RANK_BYTES;
      if (Array.isArray(x)) return RANK_ARRAY;
      return RANK_OBJECT;
  }
}

/** Structural equality of plain data: primitives, arrays, Uint8Array and plain objects. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  // Fields set to undefined count as absent, as msgpack drops them. No arrays allocated: this runs per merged key.
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let nx = 0;
  for (const k in x) {
    if (x[k] === undefined) continue;
    nx++;
    if (!deepEqual(x[k], y[k])) return false;
  }
  let ny = 0;
  for (const k in y) if (y[k] !== undefined) ny++;
  return nx === ny;
}

/**
 * A total order on plain data: undefined < null < booleans < numbers < bigints < strings < bytes
 * < arrays < objects; arrays and objects compare element-wise (objects by sorted key, then value).
 */
export function compareCanonical(a: unknown, b: unknown): number {
  if (a === b) return 0;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case RANK_BOOLEAN: return a ? 1 : -1;
    case RANK_NUMBER: return compareNumbers(a as number, b as number);
    case RANK_BIGINT: return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case RANK_STRING: return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case RANK_BYTES: return compareBytes(a as Uint8Array, b as Uint8Array);
    case RANK_ARRAY: return compareArrays(a as unknown[], b as unknown[]);
    case RANK_OBJECT: return compareObjects(a as Record<string, unknown>, b as Record<string, unknown>);
    default: return 0;
  }
}

/** NaN first, then by value, -0 before 0. */
function compareNumbers(x: number, y: number): number {
  if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : -1;
  if (Number.isNaN(y)) return 1;
  return x < y ? -1 : x > y ? 1 : Object.is(x, y) ? 0 : Object.is(x, -0) ? -1 : 1;
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return x.length - y.length === 0 ? 0 : x.length < y.length ? -1 : 1;
}

function compareArrays(x: readonly unknown[], y: readonly unknown[]): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const c = compareCanonical(x[i], y[i]);
    if (c !== 0) return c;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

/** By the sorted list of defined keys, then value by value in that order. */
function compareObjects(x: Record<string, unknown>, y: Record<string, unknown>): number {
  const kx = Object.keys(x).filter((k) => x[k] !== undefined).sort();
  const ky = Object.keys(y).filter((k) => y[k] !== undefined).sort();
  const c = compareArrays(kx, ky);
  if (c !== 0) return c;
  for (const k of kx) {
    const d = compareCanonical(x[k], y[k]);
    if (d !== 0) return d;
  }
  return 0;
}
