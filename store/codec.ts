// Key and value codecs: how a table's keys become path segments and how values are checked when they
// cross a trust boundary (a delta from another thread, a file edited with git, an API client).
// Written by hand: no schema library also gives path encoding and shared msgpack field orders.
import { CodecError } from './errors.js';

/** A key type: stored as itself in memory, rendered as one path segment (`arp/10.0.0.2`). */
export interface KeyCodec<K extends string | number> {
  readonly name: string;
  /** The path segment for a key; never contains '/'. */
  encode(key: K): string;
  /** Parses and validates a path segment or a key received from outside; throws CodecError. */
  decode(segment: unknown): K;
  /** Directories above the entry's file in git (nested trees keep each tree small); default none. */
  dirs?(key: K): string[];
}

/** A value type: plain data checked on the way in; `fields` fixes a record's msgpack field order. */
export interface ValueCodec<V> {
  readonly name: string;
  /** Validates a value received from outside and returns it typed; throws CodecError. */
  decode(x: unknown, path?: string): V;
  /** Field names of a record value, in order: shared msgpackr structures are built from them. */
  readonly fields?: readonly string[];
  /** The readable JSON form a file in git shows (a MAC as aa:bb:…); `decode` accepts it back. Default: the value. */
  show?(v: V): unknown;
}

/** A value in its readable JSON form. */
export function showValue<V>(codec: ValueCodec<V>, v: V): unknown {
  return codec.show ? codec.show(v) : v;
}

function fail(path: string | undefined, codec: string, reason: string): never {
  throw new CodecError(path ?? '', codec, reason);
}

// The store's own text forms of addresses (path segments, files in git): the store knows no packets, so not wire/'s.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const isDottedQuad = (x: unknown): x is string => typeof x === 'string' && IPV4.test(x);
const isUint32 = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff;

/** A 32-bit IPv4 number as a dotted quad. */
function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** A dotted quad (already checked) as its 32-bit number. */
function parseIpv4(dotted: string): number {
  const p = dotted.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/** An address's directory in git: its /24 (`arp/10.0.0/10.0.0.2`), so no tree grows large. */
function subnetDirs(dotted: string): string[] {
  return [dotted.slice(0, dotted.lastIndexOf('.'))];
}

function dottedQuadKey(s: unknown): string {
  if (!isDottedQuad(s)) fail(String(s), 'ipv4', `not a dotted-quad IPv4 address: ${JSON.stringify(s)}`);
  return s;
}

const notDottedQuad = (x: unknown, p?: string): never => fail(p, 'ipv4', `expected a dotted-quad IPv4 address, got ${describe(x)}`);
const notMac = (x: unknown, p?: string): never => fail(p, 'mac', `expected a MAC like 02:00:00:00:00:01, got ${describe(x)}`);

export const keys = {
  /** Dotted-quad IPv4 address. */
  ipv4: {
    name: 'ipv4',
    encode: (k: string) => k,
    decode: dottedQuadKey,
    dirs: subnetDirs,
  } satisfies KeyCodec<string>,

  /** An IPv4 address held as a 32-bit unsigned number (fast Map keys), shown as a dotted quad. */
  ipv4num: {
    name: 'ipv4',
    encode: formatIpv4,
    decode: (s: unknown): number => (isUint32(s) ? s : parseIpv4(dottedQuadKey(s))),
    dirs: (k: number) => subnetDirs(formatIpv4(k)),
  } satisfies KeyCodec<number>,

  /** Any string that is a safe single path segment. */
  string: {
    name: 'string',
    encode: (k: string) => k,
    decode(s: unknown): string {
      if (typeof s !== 'string' || s.length === 0 || s.length > 255 || s.includes('/') || s === '.' || s === '..' || /[\0\n]/.test(s)) {
        fail(String(s), 'string', `not a valid key (non-empty, ≤ 255 chars, no '/', NUL or newline): ${JSON.stringify(s)}`);
      }
      return s;
    },
  } satisfies KeyCodec<string>,

  /** A non-negative safe integer. */
  uint: {
    name: 'uint',
    encode: (k: number) => String(k),
    decode(s: unknown): number {
      const n = typeof s === 'string' && /^\d{1,16}$/.test(s) ? Number(s) : s;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) fail(String(s), 'uint', `not a non-negative integer: ${JSON.stringify(s)}`);
      return n;
    },
  } satisfies KeyCodec<number>,
};

type Infer<C> = C extends ValueCodec<infer V> ? V : never;

export const values = {
  number: { name: 'number', decode: (x: unknown, p?: string) => (typeof x === 'number' && Number.isFinite(x) ? x : fail(p, 'number', `expected a finite number, got ${describe(x)}`)) } as ValueCodec<number>,
  uint: { name: 'uint', decode: (x: unknown, p?: string) => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : fail(p, 'uint', `expected a non-negative integer, got ${describe(x)}`)) } as ValueCodec<number>,
  string: { name: 'string', decode: (x: unknown, p?: string) => (typeof x === 'string' ? x : fail(p, 'string', `expected a string, got ${describe(x)}`)) } as ValueCodec<string>,
  boolean: { name: 'boolean', decode: (x: unknown, p?: string) => (typeof x === 'boolean' ? x : fail(p, 'boolean', `expected a boolean, got ${describe(x)}`)) } as ValueCodec<boolean>,
  mac: { name: 'mac', decode: (x: unknown, p?: string) => (typeof x === 'string' && MAC.test(x) ? x : notMac(x, p)) } as ValueCodec<string>,
  /** A MAC held as a 48-bit number; accepts the number or 'aa:bb:cc:dd:ee:ff'. */
  macNumber: {
    name: 'mac',
    show: (v: number) => v.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:'),
    decode(x: unknown, p?: string): number {
      if (typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff_ffff) return x;
      if (typeof x === 'string' && MAC.test(x.toLowerCase())) return parseInt(x.replace(/:/g, ''), 16);
      return notMac(x, p);
    },
  } as ValueCodec<number>,
  /** An IPv4 address held as a 32-bit number; accepts the number or a dotted quad, shows the dotted quad. */
  ipv4num: {
    name: 'ipv4',
    show: formatIpv4,
    decode: (x: unknown, p?: string): number => (isUint32(x) ? x : isDottedQuad(x) ? parseIpv4(x) : notDottedQuad(x, p)),
  } as ValueCodec<number>,
  ipv4: { name: 'ipv4', decode: (x: unknown, p?: string) => (isDottedQuad(x) ? x : notDottedQuad(x, p)) } as ValueCodec<string>,

  /** One of a fixed set of strings. */
  oneOf<const T extends readonly string[]>(...choices: T): ValueCodec<T[number]> {
    return {
      name: `oneOf(${choices.join('|')})`,
      decode: (x: unknown, p?: string) => (typeof x === 'string' && choices.includes(x) ? (x as T[number]) : fail(p, 'oneOf', `expected one of ${choices.join(', ')}, got ${describe(x)}`)),
    };
  },

  /** A sorted array without duplicates, as the `set` merge keeps it. */
  sortedSet<T>(item: ValueCodec<T>, cmp: (a: T, b: T) => number): ValueCodec<readonly T[]> {
    return {
      name: `set(${item.name})`,
      show: item.show ? (v: readonly T[]) => v.map((e) => item.show!(e)) : undefined,
      decode(x: unknown, p?: string) {
        if (!Array.isArray(x)) fail(p, 'set', `expected an array, got ${describe(x)}`);
        const out = x.map((e, i) => item.decode(e, `${p ?? ''}[${i}]`));
        for (let i = 1; i < out.length; i++) if (cmp(out[i - 1], out[i]) >= 0) fail(p, 'set', 'elements must be sorted and unique');
        return out;
      },
    };
  },

  /** A record with exactly these fields (optional fields may be absent). */
  record<S extends Record<string, ValueCodec<unknown>>>(shape: S, optional: readonly (keyof S)[] = []): ValueCodec<{ [K in keyof S]: Infer<S[K]> }> {
    const names = Object.keys(shape);
    return {
      name: `record(${names.join(',')})`,
      fields: names,
      show(v: Record<string, unknown>) {
        const out: Record<string, unknown> = {};
        for (const k of names) if (v[k] !== undefined) out[k] = showValue(shape[k] as ValueCodec<unknown>, v[k]);
        return out;
      },
      decode(x: unknown, p?: string) {
        if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) fail(p, 'record', `expected an object, got ${describe(x)}`);
        const src = x as Record<string, unknown>;
        for (const k of Object.keys(src)) if (!Object.hasOwn(shape, k) && src[k] !== undefined) fail(p, 'record', `unknown field '${k}'`);
        const out: Record<string, unknown> = {};
        for (const k of names) {
          if (src[k] === undefined) {
            if (optional.includes(k)) continue;
            fail(p, 'record', `missing field '${k}'`);
          }
          out[k] = shape[k].decode(src[k], p === undefined ? k : `${p}.${k}`);
        }
        return out as { [K in keyof S]: Infer<S[K]> };
      },
    };
  },
};

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (x instanceof Uint8Array) return 'bytes';
  const t = typeof x;
  if (t === 'object') return 'an object';
  if (t === 'string') return JSON.stringify((x as string).length > 40 ? `${(x as string).slice(0, 40)}…` : x);
  return `${t} ${String(x)}`;
}
