// The random edits a stress branch makes: half counter increments, half ARP learns, refreshes, expiries
// and static entries chosen by what the branch's own view holds for the address.
import type { ReplicaTable } from '../../store/index.js';
import type { ArpEntry } from '../iface/arp-table.js';

/** A dynamic entry's lifetime, and how far the simulated clock moves per op. */
export const ARP_TTL_MS = 60_000;
export const TICK_MS = 500;
/** The first stressed address, 10.0.0.1; branch edits use `keys` consecutive addresses from here. */
export const FIRST_IP = 0x0a00_0001;
/** The small MAC set learns pick from, so branches often learn the same MAC for an address. */
export const MACS: readonly number[] = [0x02_00_00_00_00_01, 0x02_00_00_00_00_02, 0x02_00_00_00_00_03, 0x02_00_00_00_00_04];

export type OpKind = 'increment' | 'learn' | 'refresh' | 'expire' | 'static-set' | 'static-delete';
export const OP_KINDS: readonly OpKind[] = ['increment', 'learn', 'refresh', 'expire', 'static-set', 'static-delete'];

/** Mixes the run seed with the branch number (so branches draw different streams). */
export function branchSeed(seed: number, branch: number): number {
  let h = (seed ^ 0x9e37_79b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) >>> 0;
  h = (h + Math.imul(branch + 1, 0xc2b2_ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0x27d4_eb2d) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** One branch's edits on its own views of the two tables, drawn from its random stream. */
export class StressEdits {
  readonly opCounts = Object.fromEntries(OP_KINDS.map((k) => [k, 0])) as Record<OpKind, number>;
  /** Total amount added to each counter key. */
  readonly increments: Record<string, number> = {};

  constructor(
    private readonly arp: ReplicaTable<number, ArpEntry>,
    private readonly counters: ReplicaTable<string, number>,
    private readonly rand: () => number,
    private readonly space: { keys: number; counters: number },
  ) {}

  /** One edit at `now`: a counter increment or an ARP edit, even odds. */
  edit(now: number): void {
    if (this.rand() < 0.5) this.increment();
    else this.editArp(now);
  }

  private increment(): void {
    const k = `c${Math.floor(this.rand() * this.space.counters)}`;
    const by = 1 + Math.floor(this.rand() * 3);
    this.counters.set(k, (this.counters.get(k) ?? 0) + by);
    this.increments[k] = (this.increments[k] ?? 0) + by;
    this.opCounts.increment++;
  }

  private editArp(now: number): void {
    const ip = FIRST_IP + Math.floor(this.rand() * this.space.keys);
    const cur = this.arp.get(ip);
    const r = this.rand();
    const mac = MACS[Math.floor(this.rand() * MACS.length)];
    if (cur === undefined) {
      if (r < 0.1) this.setStatic(ip, mac);
      else this.learn(ip, mac, now);
    } else if (cur.kind === 'static') {
      if (r < 0.5) this.remove(ip, 'static-delete');
      else this.setStatic(ip, mac);
    } else if (cur.expires <= now) {
      if (r < 0.8) this.remove(ip, 'expire');
      else this.learn(ip, mac, now);
    } else if (r < 0.6) {
      this.arp.set(ip, { mac: cur.mac, expires: Math.max(now + ARP_TTL_MS, cur.expires + 1), kind: 'dynamic' });
      this.opCounts.refresh++;
    } else if (r < 0.93) {
      this.learn(ip, mac, now);
    } else {
      this.setStatic(ip, mac);
    }
  }

  private learn(ip: number, mac: number, now: number): void {
    this.arp.set(ip, { mac, expires: now + ARP_TTL_MS, kind: 'dynamic' });
    this.opCounts.learn++;
  }

  private setStatic(ip: number, mac: number): void {
    this.arp.set(ip, { mac, expires: 0, kind: 'static' });
    this.opCounts['static-set']++;
  }

  private remove(ip: number, kind: 'expire' | 'static-delete'): void {
    this.arp.delete(ip);
    this.opCounts[kind]++;
  }
}
