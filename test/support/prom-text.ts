// A strict reader of Prometheus's text exposition format 0.0.4, for tests of /metrics. Written here rather than
// taken from npm: the parsers there (parse-prometheus-text-format and the like) are unmaintained for years and
// lenient, while a test wants every rule checked: names, escapes, values, one HELP and TYPE per family before its
// samples, a family's samples together, no series twice.

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample { name: string; labels: Record<string, string>; value: number }
export interface PromFamily { name: string; type: PromType; help?: string; samples: PromSample[] }

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Partial<Record<PromType, string[]>> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

export class PromTextError extends Error {}

/** The families of an exposition, in order; throws PromTextError naming the line on any breach of the format. */
export function parsePromText(text: string): Map<string, PromFamily> {
  if (text !== '' && !text.endsWith('\n')) throw new PromTextError('the exposition must end with a newline');
  const r = new Reader();
  text.split('\n').slice(0, -1).forEach((line, i) => r.line(line, (why) => { throw new PromTextError(`line ${i + 1}: ${why}: ${line}`); }));
  return r.families;
}

type Fail = (why: string) => never;

class Reader {
  readonly families = new Map<string, PromFamily>();
  private readonly typed = new Set<string>();
  private readonly series = new Set<string>();
  private current: PromFamily | null = null;

  line(line: string, fail: Fail): void {
    if (line.trim() === '') return;
    if (line.startsWith('#')) return this.comment(line, fail);
    const s = sample(line, fail);
    const fam = familyOf(s.name, this.families);
    if (fam !== this.current && fam.samples.length > 0) fail(`samples of ${fam.name} are not together`);
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    if (this.series.has(key)) fail('the same series twice');
    this.series.add(key);
    fam.samples.push(s);
    this.current = fam;
  }

  /** HELP or TYPE (other comments are ignored), before the family's samples, once each. */
  private comment(line: string, fail: Fail): void {
    const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (!m) return;
    const [, kind, name, rest = ''] = m;
    if (!METRIC.test(name)) fail('bad metric name');
    let fam = this.families.get(name);
    if (fam && fam.samples.length > 0) fail(`${kind} after ${name}'s samples`);
    if (!fam) this.families.set(name, (fam = { name, type: 'untyped', samples: [] }));
    if (kind === 'HELP') {
      if (fam.help !== undefined) fail('a second HELP');
      fam.help = unescape(rest, false, fail);
    } else {
      if (this.typed.has(name)) fail('a second TYPE');
      if (!TYPES.has(rest)) fail(`unknown type '${rest}'`);
      fam.type = rest as PromType;
      this.typed.add(name);
    }
    this.current = fam;
  }
}

/** The family a sample belongs to: its own name's, or a histogram's or summary's through a suffix. */
function familyOf(name: string, families: Map<string, PromFamily>): PromFamily {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = families.get(name.slice(0, -suffix.length));
    if (base && SUFFIXES[base.type]?.includes(suffix)) return base;
  }
  let fam = families.get(name);
  if (!fam) families.set(name, (fam = { name, type: 'untyped', samples: [] }));
  return fam;
}

function sample(line: string, fail: Fail): PromSample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$/.exec(line);
  if (!m) return fail('not a sample line');
  const labels = m[2] ? labelSet(m[2].slice(1, -1), fail) : {};
  return { name: m[1], labels, value: value(m[3], fail) };
}

/** `a="x",b="y\"z"` (a trailing comma allowed) → {a: 'x', b: 'y"z'}. */
function labelSet(body: string, fail: Fail): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([^=\s]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (!m) fail('bad label set');
    const [, name, raw] = m!;
    if (!LABEL.test(name) || name.startsWith('__')) fail(`bad label name '${name}'`);
    if (Object.hasOwn(out, name)) fail(`label ${name} twice`);
    out[name] = unescape(raw, true, fail);
    at = re.lastIndex;
  }
  return out;
}

/** Label values escape `\\`, `\"` and `\n`; HELP text `\\` and `\n`. */
function unescape(s: string, quotes: boolean, fail: Fail): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === '\\' ? '\\' : c === 'n' ? '\n' : c === '"' && quotes ? '"' : fail(`bad escape \\${c}`)));
}

function value(s: string, fail: Fail): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) fail(`bad value '${s}'`);
  return Number(s);
}

/** The samples of `family` (or of one of its suffixes) whose labels include `labels`. */
export function samplesOf(families: Map<string, PromFamily>, family: string, labels: Record<string, string> = {}, name = family): PromSample[] {
  const f = families.get(family);
  if (!f) return [];
  return f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one value of a series; throws when there is none or more than one. */
export function valueOf(families: Map<string, PromFamily>, family: string, labels: Record<string, string> = {}): number {
  const s = samplesOf(families, family, labels);
  if (s.length !== 1) throw new Error(`${family}${JSON.stringify(labels)}: ${s.length} samples`);
  return s[0].value;
}
