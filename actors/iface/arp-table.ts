// The `arp` table: IPv4 → { mac, expires, kind }, and its merge. Static beats dynamic, a later expiry
// wins, equal expiries are broken on the MAC; an expiry-removal loses to a concurrent refresh.
import { table, keys, values, option, custom, type Merge } from '../../store/index.js';

export type ArpKind = 'dynamic' | 'static';

export interface ArpEntry {
  /** 48-bit MAC as a number (wire/ethernet.ts's form). */
  mac: number;
  /** When a dynamic entry stops being valid, ms on the stack's clock; 0 for static entries. */
  expires: number;
  kind: ArpKind;
}

/** A total order on entries; the merge keeps the larger, so it is commutative and associative. */
export function compareArpEntries(a: ArpEntry, b: ArpEntry): number {
  if (a.kind !== b.kind) return a.kind === 'static' ? 1 : -1;
  if (a.expires !== b.expires) return a.expires > b.expires ? 1 : -1;
  return a.mac === b.mac ? 0 : a.mac > b.mac ? 1 : -1;
}

export const mergeArpEntry: Merge<ArpEntry> = custom((_old, a, b) => (compareArpEntries(a, b) >= 0 ? a : b));

export const arpTable = table<number, ArpEntry>({
  name: 'arp',
  key: keys.ipv4num,
  value: values.record({ mac: values.macNumber, expires: values.uint, kind: values.oneOf('dynamic', 'static') }),
  // 'keep': a deletion (expiry) wins only where the other side left the entry unchanged.
  merge: option(mergeArpEntry, { onDeleteModify: 'keep' }),
  equal: (a, b) => a === b || (a !== undefined && b !== undefined && a.mac === b.mac && a.expires === b.expires && a.kind === b.kind),
});
