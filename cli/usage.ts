// Bad flags and arguments: a one-line error and exit status 2, like commander's own usage errors.
import type { Command } from 'commander';
import { PcapOpenError, PcapWriter } from '../wire/pcap.js';
import { TapError } from '../wire/link/tap.js';
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

/** Flags that only tune the git store: given without `--store git:DIR` they would silently do nothing. */
const GIT_ONLY_FLAGS: [key: string, flag: string][] = [['flushInterval', '--flush-interval'], ['gitHistory', '--git-history']];

export function requireGitStoreFor(cmd: Pick<Command, 'getOptionValueSource'>, store: { git?: string }): void {
  if (store.git) return;
  for (const [key, flag] of GIT_ONLY_FLAGS) {
    if (cmd.getOptionValueSource(key) === 'cli') throw new UsageError(`${flag} needs --store git:DIR: it tunes the git store, and this run has none`);
  }
}

/** A flag that takes one of a few words: `--steering must be kernel or handoff, got 'x'`. */
export function wordFlag<T extends string>(flag: string, value: string | undefined, words: readonly T[]): T {
  if (words.includes(value as T)) return value as T;
  const list = words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}` : words[0];
  throw new UsageError(`${flag} must be ${list}, got '${value}'`);
}

/** `--pcap PATH` for every command: missing parent directories are made; a path that cannot be written is one line naming the flag. */
export function openPcapFlag(path: string): PcapWriter {
  try {
    return PcapWriter.open(path);
  } catch (err) {
    throw err instanceof PcapOpenError ? new UsageError(`--pcap ${err.message}`) : err;
  }
}

/** Opens the TAP a flag names; what the kernel refused is a start-up failure naming the flag (exit 2). */
export function openTapFlag<T>(flag: string, open: () => T): T {
  try {
    return open();
  } catch (err) {
    throw err instanceof TapError ? new UsageError(`${flag}: ${err.message}`) : err;
  }
}
