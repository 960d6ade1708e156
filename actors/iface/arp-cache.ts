// The ARP cache on a store branch: lookups honour expiry, learning never overwrites a static entry,
// and a cap on entries keeps a flood of senders from filling memory. Time is always an argument.
import type { TableView } from '../../store/index.js';
import type { ArpEntry } from './arp-table.js';

export interface ArpCacheOptions {
  /** How long a dynamic entry lives after it was learned or refreshed (ms). */
  ttlMs?: number;
  /** Most entries the cache holds; past it new addresses are not learned (counted). */
  maxEntries?: number;
  /**
   * A refresh is written only when it extends the entry by more than this (ms): a sender heard on
   * every packet costs one store write per interval, not one per packet.
   */
  refreshSlackMs?: number;
}

export interface ArpCacheCounters {
  learned: number;
  refreshed: number;
  updatedMac: number;
  expired: number;
  staticKept: number;
  capDropped: number;
}

export class ArpCache {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly refreshSlackMs: number;
  readonly counters: ArpCacheCounters = { learned: 0, refreshed: 0, updatedMac: 0, expired: 0, staticKept: 0, capDropped: 0 };

  constructor(readonly table: TableView<number, ArpEntry>, opts: ArpCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 4096;
    this.refreshSlackMs = opts.refreshSlackMs ?? 1_000;
  }

  /** The MAC for `ip`, or undefined when unknown or expired. */
  lookup(ip: number, now: number): number | undefined {
    const e = this.table.get(ip);
    if (e === undefined) return undefined;
    if (e.kind === 'dynamic' && e.expires <= now) return undefined;
    return e.mac;
  }

  /** Learns or refreshes a dynamic entry; returns false when it was not stored (static, or cap). */
  learn(ip: number, mac: number, now: number): boolean {
    const e = this.table.get(ip);
    const expires = now + this.ttlMs;
    if (e !== undefined) {
      if (e.kind === 'static') {
        this.counters.staticKept++;
        return false;
      }
      if (e.mac === mac && expires - e.expires <= this.refreshSlackMs) return true; // coalesced
      if (e.mac !== mac) this.counters.updatedMac++;
      else this.counters.refreshed++;
      this.table.set(ip, { mac, expires, kind: 'dynamic' });
      return true;
    }
    if (this.table.sizeBound >= this.maxEntries) { // conservative between merges: overlay edits count too
      this.counters.capDropped++;
      return false;
    }
    this.counters.learned++;
    this.table.set(ip, { mac, expires, kind: 'dynamic' });
    return true;
  }

  /** Updates an entry only if one exists (what Linux does with ARP not addressed to it). */
  update(ip: number, mac: number, now: number): void {
    const e = this.table.get(ip);
    if (e !== undefined && e.kind === 'dynamic') this.learn(ip, mac, now);
  }

  setStatic(ip: number, mac: number): void {
    this.table.set(ip, { mac, expires: 0, kind: 'static' });
  }

  remove(ip: number): void {
    this.table.delete(ip);
  }

  /** Removes dynamic entries whose time is up; returns how many. */
  expire(now: number): number {
    const dead: number[] = [];
    for (const [ip, e] of this.table.entries()) if (e.kind === 'dynamic' && e.expires <= now) dead.push(ip);
    for (const ip of dead) this.table.delete(ip);
    this.counters.expired += dead.length;
    return dead.length;
  }

  get size(): number {
    return this.table.size;
  }
}
