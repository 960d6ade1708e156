// Bad flags and arguments: a one-line error and exit status 2, like commander's own usage errors.
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses a numeric flag, or throws a UsageError that names it and its range. */
export function numberFlag(name: string, v: unknown, min: number, max: number, integer = false): number {
  const text = String(v);
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got '${text}'`);
  }
  return n;
}

/** `--store`: memory, hashtable (where allowed), or git:DIR (memory branches persisted to git). */
export function storeFlag(v: unknown, allowHashtable: boolean): { kind: 'memory' | 'hashtable'; git?: string } {
  const text = String(v);
  if (text === 'memory') return { kind: 'memory' };
  if (text === 'hashtable' && allowHashtable) return { kind: 'hashtable' };
  if (text.startsWith('git:')) {
    const dir = text.slice(4);
    if (!dir) throw new UsageError("--store git:DIR needs a directory, e.g. git:/var/lib/netbranch");
    return { kind: 'memory', git: dir };
  }
  throw new UsageError(`--store must be memory${allowHashtable ? ', hashtable' : ''} or git:DIR, got '${text}'`);
}
