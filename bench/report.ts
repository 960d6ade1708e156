// Collects benchmark figures as flat keys, prints them as a table and writes bench/results/latest.json.
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

export interface Figure {
  value: number | null;
  unit: string;
  goal?: string;
  /** true / false when the figure has a goal; null when it is report-only or was not measured. */
  met?: boolean | null;
  note?: string;
}

export class BenchReport {
  readonly figures = new Map<string, Figure>();

  /** Records one figure; `goal` is a predicate text like '<= 1.3' checked against the value. */
  add(key: string, value: number | null, unit: string, goal?: string, note?: string): void {
    const met = goal === undefined || value === null ? null : checkGoal(value, goal);
    this.figures.set(key, { value: value === null ? null : round(value), unit, goal, met, note });
    const g = goal ? `  goal ${goal} ${met === null ? '' : met ? 'met' : 'NOT met'}` : '';
    process.stdout.write(`  ${key.padEnd(34)} ${String(value === null ? 'n/a' : round(value)).padStart(12)} ${unit}${g}${note ? `  (${note})` : ''}\n`);
  }

  /** Merges these figures into the JSON file, keeping keys from suites that did not run this time. */
  write(path: string): void {
    const previous: Record<string, unknown> = existsSync(path) ? safeParse(readFileSync(path, 'utf8')) : {};
    const out: Record<string, unknown> = { ...previous };
    for (const [k, f] of this.figures) {
      out[k] = f.value;
      out[`${k}.unit`] = f.unit;
      if (f.goal) { out[`${k}.goal`] = f.goal; out[`${k}.met`] = f.met; }
      if (f.note) out[`${k}.note`] = f.note;
    }
    out['meta.date'] = new Date().toISOString();
    out['meta.node'] = process.version;
    out['meta.cpus'] = os.cpus().length;
    out['meta.loadavg'] = os.loadavg().map((x) => round(x)).join(' ');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(out, Object.keys(out).sort(), 2) + '\n');
  }
}

function safeParse(text: string): Record<string, unknown> {
  try { return JSON.parse(text) as Record<string, unknown>; } catch { return {}; }
}

function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  return a >= 100 ? Math.round(x * 10) / 10 : a >= 1 ? Math.round(x * 1000) / 1000 : Math.round(x * 1e5) / 1e5;
}

function checkGoal(value: number, goal: string): boolean {
  const m = /^\s*(<=|>=|<|>)\s*([0-9.eE+-]+)/.exec(goal);
  if (!m) return false;
  const target = Number(m[2]);
  switch (m[1]) {
    case '<=': return value <= target;
    case '>=': return value >= target;
    case '<': return value < target;
    default: return value > target;
  }
}

/** Median of a list of samples; the machine is shared and noisy, so figures take medians of repeats. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** The p-th percentile (0..100) of samples, linear interpolation. */
export function percentile(xs: ArrayLike<number>, p: number): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const k = ((s.length - 1) * p) / 100;
  const f = Math.floor(k);
  const c = Math.min(f + 1, s.length - 1);
  return s[f] + (s[c] - s[f]) * (k - f);
}

/** Math.max of a long list (spreading 200,000 arguments overflows the stack). */
export function maxOf(xs: number[]): number {
  return xs.reduce((m, x) => (x > m ? x : m), -Infinity);
}

/**
 * Runs `run` alone when its module is the script node started (`node --import tsx bench/nat.ts`);
 * `exit` for suites whose threads or handles would otherwise keep the process alive.
 */
export async function runAlone(moduleUrl: string, run: (report: BenchReport) => Promise<void>, exit = false): Promise<void> {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  await run(new BenchReport());
  if (exit) process.exit(0);
}
