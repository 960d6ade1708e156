// Times as a person reads them: `in 4m 3s`, `12s ago`. One formatter for every command that prints a
// time from the tables (arp, get, watch, log, events); `--json` keeps the raw numbers. Times are ms on
// the tables' clock (hello's `now`: the epoch in a router, simulated ms in a sim), so "now" is passed in.

const UNITS: [name: string, seconds: number][] = [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]];

/** Whole seconds as at most two units, the larger first: `45s`, `4m 3s`, `2h`, `5d 1h`. */
export function formatDuration(seconds: number): string {
  let left = Math.max(0, Math.floor(seconds));
  if (left === 0) return '0s';
  const parts: string[] = [];
  for (const [name, size] of UNITS) {
    if (left < size) {
      if (parts.length) break; // the next unit is zero: `2h`, not `2h 0m`
      continue;
    }
    parts.push(`${Math.floor(left / size)}${name}`);
    left %= size;
    if (parts.length === 2 || left === 0) break;
  }
  return parts.join(' ');
}

/**
 * `t` relative to `now` (both ms on one clock): `in 41s` ahead (rounded up, so a deadline never reads
 * as passed early), `3s ago` behind (rounded down), `now` within the second just gone.
 */
export function formatRelative(t: number, now: number): string {
  const ms = t - now;
  if (ms > 0) return `in ${formatDuration(Math.ceil(ms / 1000))}`;
  const ago = Math.floor(-ms / 1000);
  return ago === 0 ? 'now' : `${formatDuration(ago)} ago`;
}

/** Field names that hold a time on the tables' clock (arp, nat, dnat, frag, leases, dhcp-client, dns, tcp rows). */
export const TIME_FIELDS: ReadonlySet<string> = new Set(['expires', 'created', 'lastSeen', 'firstSeen', 'deadline', 'renewAt', 'rebindAt']);

/** A field's value for people: a time field relative to `now` (0 is "none", e.g. a static entry's expiry), else as it is. */
export function formatField(name: string, value: unknown, now: number): string {
  if (TIME_FIELDS.has(name) && typeof value === 'number' && Number.isFinite(value) && value > 0) return formatRelative(value, now);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A row's fields as `name: value` pairs (times relative); a value that is not an object is shown as JSON. */
export function formatFields(value: unknown, now: number): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [JSON.stringify(value)];
  return Object.entries(value).map(([k, v]) => `${k}: ${formatField(k, v, now)}`);
}
