// An actor's stats counters: each component's own counters under its name (`nat.created`, `arp.requestsAnswered`).
export function prefixed(p: string, o: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) out[`${p}.${k}`] = v as number;
  return out;
}
