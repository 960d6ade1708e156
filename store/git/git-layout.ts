// How a table entry looks in git: one file per entry at `table/dirs…/key`, holding the value as
// indented JSON in its readable form, so `git show HEAD:arp/10.0.0/10.0.0.2` needs no decoder.
import { showValue } from '../codec.js';
import { CodecError } from '../errors.js';
import type { Schema, Table } from '../table.js';

/** The entry's path in the repository, as segments: table name, directories, file name. */
export function entrySegments(t: Table, key: string | number): string[] {
  const dirs = t.key.dirs ? t.key.dirs(key as never) : [];
  return [t.name, ...dirs, t.key.encode(key as never)];
}

export function entryPath(t: Table, key: string | number): string {
  return entrySegments(t, key).join('/');
}

/** The file's text for a value. */
export function renderEntry(t: Table, value: unknown): string {
  return `${JSON.stringify(showValue(t.value, value), null, 2)}\n`;
}

export interface ParsedEntry {
  table: number;
  key: string | number;
}

/** Finds the table and key a path names; throws CodecError saying what is wrong with it. */
export function parseEntryPath(schema: Schema, path: string): ParsedEntry {
  const segs = path.split('/');
  const ti = schema.tables.findIndex((t) => t.name === segs[0]);
  if (ti < 0) throw new CodecError(path, 'path', `'${segs[0]}' is not a table (tables: ${schema.tables.map((t) => t.name).join(', ')})`);
  const t = schema.tables[ti];
  const key = t.key.decode(segs[segs.length - 1]);
  const want = entryPath(t, key);
  if (want !== path) throw new CodecError(path, 'path', `this entry belongs at ${want}`);
  return { table: ti, key };
}

/** Parses a file's text into a checked value; throws CodecError naming what is wrong. */
export function parseEntry(t: Table, text: string, path: string): unknown {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CodecError(path, 'json', `not valid JSON: ${(err as Error).message}`);
  }
  return t.value.decode(raw, path);
}
