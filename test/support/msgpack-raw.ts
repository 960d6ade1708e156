// A msgpack reader that keeps every value's type byte: what a client in another language sees
// (msgpack-python turns 0xcb into a float and 0xcf into an int). It shares no code with msgpackr or
// api/frames.ts, so a test that uses it checks the bytes on the wire, not what our own decoder makes of them.

/** A value with the type byte it was written with; maps keep their string keys in order. */
export type Typed =
  | { type: number; value: unknown }
  | { type: number; map: [string, Typed][] }
  | { type: number; items: Typed[] };

export function readTyped(bytes: Uint8Array): Typed {
  const r = new Reader(bytes);
  const v = r.value();
  if (r.at !== bytes.length) throw new Error(`${bytes.length - r.at} bytes after the value`);
  return v;
}

/** An integer type: positive or negative fixint, uint8..uint64, int8..int64. */
export function isIntType(t: number): boolean {
  return t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3);
}

/** Every value under one of `keys` in any map of the tree, with its path. */
export function valuesUnder(v: Typed, keys: ReadonlySet<string>, path = ''): { path: string; node: Typed }[] {
  const out: { path: string; node: Typed }[] = [];
  if ('map' in v) {
    for (const [k, x] of v.map) {
      if (keys.has(k)) out.push({ path: `${path}.${k}`, node: x });
      out.push(...valuesUnder(x, keys, `${path}.${k}`));
    }
  } else if ('items' in v) v.items.forEach((x, i) => out.push(...valuesUnder(x, keys, `${path}[${i}]`)));
  return out;
}

/** Every scalar's type byte in the tree. */
export function scalarTypes(v: Typed): number[] {
  if ('map' in v) return v.map.flatMap(([, x]) => scalarTypes(x));
  if ('items' in v) return v.items.flatMap(scalarTypes);
  return [v.type];
}

class Reader {
  at = 0;
  private readonly view: DataView;

  constructor(private readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  value(): Typed {
    const t = this.b[this.at++];
    if (t === undefined) throw new Error('truncated');
    if (t <= 0x7f) return { type: t, value: t };
    if (t >= 0xe0) return { type: t, value: t - 0x100 };
    if (t <= 0x8f) return this.map(t, t & 0x0f);
    if (t <= 0x9f) return this.array(t, t & 0x0f);
    if (t <= 0xbf) return { type: t, value: this.str(t & 0x1f) };
    const v = this.view;
    const n = (size: number, read: (o: number) => number | bigint): Typed => {
      const x = read(this.at);
      this.at += size;
      return { type: t, value: x };
    };
    switch (t) {
      case 0xc0: return { type: t, value: null };
      case 0xc2: return { type: t, value: false };
      case 0xc3: return { type: t, value: true };
      case 0xca: return n(4, (o) => v.getFloat32(o));
      case 0xcb: return n(8, (o) => v.getFloat64(o));
      case 0xcc: return n(1, (o) => v.getUint8(o));
      case 0xcd: return n(2, (o) => v.getUint16(o));
      case 0xce: return n(4, (o) => v.getUint32(o));
      case 0xcf: return n(8, (o) => v.getBigUint64(o));
      case 0xd0: return n(1, (o) => v.getInt8(o));
      case 0xd1: return n(2, (o) => v.getInt16(o));
      case 0xd2: return n(4, (o) => v.getInt32(o));
      case 0xd3: return n(8, (o) => v.getBigInt64(o));
      case 0xd9: return { type: t, value: this.str(this.len(1)) };
      case 0xda: return { type: t, value: this.str(this.len(2)) };
      case 0xdb: return { type: t, value: this.str(this.len(4)) };
      case 0xdc: return this.array(t, this.len(2));
      case 0xdd: return this.array(t, this.len(4));
      case 0xde: return this.map(t, this.len(2));
      case 0xdf: return this.map(t, this.len(4));
      default: throw new Error(`type byte 0x${t.toString(16)} (bin, ext or unused) at ${this.at - 1}: not in the protocol`);
    }
  }

  private len(bytes: 1 | 2 | 4): number {
    const o = this.at;
    this.at += bytes;
    return bytes === 1 ? this.view.getUint8(o) : bytes === 2 ? this.view.getUint16(o) : this.view.getUint32(o);
  }

  private str(len: number): string {
    const s = Buffer.from(this.b.subarray(this.at, this.at + len)).toString('utf8');
    this.at += len;
    return s;
  }

  private map(type: number, count: number): Typed {
    const map: [string, Typed][] = [];
    for (let i = 0; i < count; i++) {
      const k = this.value();
      if (!('value' in k) || typeof k.value !== 'string') throw new Error('a map key that is not a string');
      map.push([k.value, this.value()]);
    }
    return { type, map };
  }

  private array(type: number, count: number): Typed {
    const items: Typed[] = [];
    for (let i = 0; i < count; i++) items.push(this.value());
    return { type, items };
  }
}
