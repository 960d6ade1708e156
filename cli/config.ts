// A command's flags from a TOML file (`--config FILE`). Each key stands for one flag (`workers` for
// --workers, `dhcp.range` for --dhcp-range), and its value goes through that flag's own checks, as if given
// on the command line: the file adds no second copy of any rule. A flag given on the command line wins over
// the file; the file wins over the flag's default. A file that cannot be read or parsed, an unknown key or a
// value of the wrong TOML type is one line naming the file (and the key) before anything is opened; so is a
// value the flag's check refuses, the message then re-labelled with the key.
import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { parse, TomlError } from 'smol-toml';
import { UsageError } from './usage.js';

/**
 * The TOML a key takes. Its value reaches the flag as command-line text: `integer` and `number` as digits
 * (the flag checks the range), `duration` a string like "1h" or an integer of seconds, `socket` a path or
 * `true` (the flag given without a value), `boolean` a switch.
 */
export type KeyType = 'string' | 'integer' | 'number' | 'boolean' | 'duration' | 'socket';

/** A command's keys: `workers`, or `dhcp.range` for the key `range` in the table `[dhcp]`, each → its flag. */
export type ConfigSchema = Readonly<Record<string, { flag: string; type: KeyType }>>;

/** --config FILE and --check, for a command that reads a config file. */
export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'read flags from this TOML file (docs/operations.md: the config file); flags given here win over it')
    .option('--check', 'check the config file and the flags, print one line saying what would run, and exit (0: good, 2: not); opens nothing');
}

/** A config file whose values are in the command's options (source 'config'). */
export class ConfigFile {
  private constructor(readonly path: string, private readonly cmd: Command, private readonly schema: ConfigSchema) {}

  /**
   * Reads `--config FILE` into `cmd`'s options: every key's value, unless its flag was given on the command
   * line. Null without --config. Throws a UsageError naming the file (and the key) for anything wrong with it.
   */
  static load(cmd: Command, schema: ConfigSchema): ConfigFile | null {
    const path = cmd.getOptionValue('config') as string | undefined;
    if (path === undefined) return null;
    const file = new ConfigFile(path, cmd, schema);
    for (const [key, value] of file.entries(file.read())) {
      const name = file.option(key).attributeName();
      if (cmd.getOptionValueSource(name) === 'cli' || value === undefined) continue;
      cmd.setOptionValueWithSource(name, value, 'config');
    }
    return file;
  }

  /**
   * Runs the command's flag checks; a UsageError about a flag whose value came from this file is told again in
   * the file's words: `FILE: dhcp.range: 10.9.0.5-10.9.0.9 must lie in the inside network …`.
   */
  check<T>(checks: () => T): T {
    try {
      return checks();
    } catch (err) {
      throw err instanceof UsageError ? this.relabel(err) : err;
    }
  }

  /** For checks that ask whether a flag was given (`getOptionValueSource(key) === 'cli'`): a value from the file was. */
  givenView(): Pick<Command, 'getOptionValueSource'> {
    return { getOptionValueSource: (key) => (this.cmd.getOptionValueSource(key) === 'config' ? 'cli' : this.cmd.getOptionValueSource(key)) };
  }

  private read(): Record<string, unknown> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException; // `ENOENT: no such file or directory, open 'FILE'`: the middle part
      throw new UsageError(`${this.path}: cannot be read: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')}${e.code ? ` (${e.code})` : ''}`);
    }
    try {
      return parse(text);
    } catch (err) {
      if (!(err instanceof TomlError)) throw err;
      throw new UsageError(`${this.path}:${err.line}:${err.column}: not valid TOML: ${err.message.split('\n')[0].replace(/^Invalid TOML document: /, '')}`);
    }
  }

  /** Every key of the parsed file with its value as the flag takes it; unknown keys and wrong types throw. */
  private *entries(table: Record<string, unknown>, prefix = ''): Generator<[string, string | boolean | undefined]> {
    for (const [name, value] of Object.entries(table)) {
      const key = prefix + name;
      const spec = this.schema[key];
      const table = Object.keys(this.schema).some((k) => k.startsWith(`${key}.`));
      if (spec) yield [key, this.value(key, spec.type, value)];
      else if (table && isTable(value)) yield* this.entries(value, `${key}.`);
      else if (table) throw this.error(key, `must be a table (${this.known(`${key}.`)}), got ${describe(value)}`);
      else throw this.error(key, `unknown key (${this.known(prefix)})`);
    }
  }

  private value(key: string, type: KeyType, v: unknown): string | boolean | undefined {
    const ok =
      type === 'string' ? typeof v === 'string'
        : type === 'integer' ? Number.isInteger(v)
          : type === 'number' ? typeof v === 'number'
            : type === 'duration' ? typeof v === 'string' || Number.isInteger(v)
              : type === 'socket' ? typeof v === 'string' || typeof v === 'boolean'
                : typeof v === 'boolean';
    if (!ok) throw this.error(key, `must be ${TYPE_WORDS[type]}, got ${describe(v)}`);
    if (type === 'boolean') return v as boolean;
    if (type === 'socket' && typeof v === 'boolean') return v ? true : undefined; // false: no API socket
    return String(v);
  }

  /** The keys (and tables) that may stand where an unknown one was, for its error. */
  private known(prefix: string): string {
    const here = Object.keys(this.schema).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    const keys = here.filter((k) => !k.includes('.'));
    const tables = [...new Set(here.filter((k) => k.includes('.')).map((k) => `[${prefix}${k.split('.')[0]}]`))];
    return `${prefix ? `[${prefix.slice(0, -1)}] takes` : 'known:'} ${[...keys, ...tables].join(', ')}`;
  }

  private option(key: string): Option {
    const flag = this.schema[key].flag;
    const o = this.cmd.options.find((x) => x.long === flag);
    if (!o) throw new Error(`config key ${key}: ${this.cmd.name()} has no ${flag}`);
    return o;
  }

  private error(key: string, message: string): UsageError {
    return new UsageError(`${this.path}: ${key}: ${message}`);
  }

  /** `--dhcp-range X must …` → `FILE: dhcp.range: X must …`, when a flag it names took its value from this file. */
  private relabel(err: UsageError): UsageError {
    const keyOf = new Map(Object.entries(this.schema).map(([key, { flag }]) => [flag, key]));
    const named = [...err.message.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]).filter((f) => keyOf.has(f));
    const fromFile = named.find((f) => this.cmd.getOptionValueSource(this.option(keyOf.get(f)!).attributeName()) === 'config');
    if (fromFile === undefined) return err;
    const key = keyOf.get(fromFile)!;
    let body = err.message.replace(/--[a-z][a-z-]*/g, (f) => keyOf.get(f) ?? f);
    // The key leads the message: it is said once, before it (not when the message is about two keys).
    if (body.startsWith(key) && !body.startsWith(`${key} and `)) body = body.slice(key.length).replace(/^:?\s+/, '');
    return this.error(key, body);
  }
}

const TYPE_WORDS: Record<KeyType, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  duration: 'a duration like "1h" or an integer of seconds',
  socket: 'a socket path, or true for the default',
};

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** A TOML value as an error names it: `"2" (a string)`, `a table`. */
function describe(v: unknown): string {
  if (typeof v === 'string') return `${JSON.stringify(v)} (a string)`;
  if (typeof v === 'number') return `${v} (${Number.isInteger(v) ? 'an integer' : 'a float'})`;
  if (typeof v === 'boolean') return `${v} (a boolean)`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  return 'a table';
}
