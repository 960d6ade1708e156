// The tokens file given at start (`--tokens FILE`): who may do what through the external-lookup API.
//   { "tokens": [ { "name": "ops", "token": "…", "scopes": ["read:*", "write:arp", "write:dnat"] } ] }
// Scopes: read:TABLE, write:TABLE (TABLE may be *), admin. Checked whole at start: a bad file stops
// the router with one line naming the problem, never half-applies.
import { readFileSync, statSync } from 'node:fs';

/** One token of the tokens file: who it is and what it may do (`read:arp`, `write:*`, `admin`). */
export interface TokenSpec {
  name: string;
  token: string;
  scopes: string[];
}

const SCOPE = /^(admin|(read|write):(\*|[a-z][a-z0-9_-]{0,63}))$/;

export function loadTokens(path: string, tables: readonly string[]): { tokens: TokenSpec[]; warnings: string[] } {
  const warnings: string[] = [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the tokens file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o044) warnings.push(`the tokens file ${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`the tokens file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  const list = (doc as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) throw new Error(`the tokens file ${path} needs {"tokens": [{"name", "token", "scopes"}]}`);
  const seen = new Set<string>();
  const tokens = list.map((t: unknown, i: number): TokenSpec => {
    const where = `${path}: tokens[${i}]`;
    const o = t as Record<string, unknown>;
    if (typeof o !== 'object' || o === null) throw new Error(`${where} is not an object`);
    if (typeof o.name !== 'string' || o.name === '') throw new Error(`${where}: name must be a non-empty string`);
    if (typeof o.token !== 'string' || o.token.length < 16) throw new Error(`${where} (${o.name}): token must be a string of at least 16 characters`);
    if (seen.has(o.token)) throw new Error(`${where} (${o.name}): the same token appears twice`);
    seen.add(o.token);
    if (!Array.isArray(o.scopes) || o.scopes.length === 0) throw new Error(`${where} (${o.name}): scopes must be a non-empty array`);
    for (const s of o.scopes) {
      if (typeof s !== 'string' || !SCOPE.test(s)) throw new Error(`${where} (${o.name}): bad scope ${JSON.stringify(s)} (read:TABLE, write:TABLE, TABLE may be *, or admin)`);
      const table = s.split(':')[1];
      if (table && table !== '*' && !tables.includes(table)) warnings.push(`${where} (${o.name}): scope ${s} names no table of this process (${tables.join(', ')})`);
    }
    return { name: o.name, token: o.token, scopes: o.scopes as string[] };
  });
  return { tokens, warnings };
}
