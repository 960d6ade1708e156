// The dynamic range (`--dhcp-range 10.201.0.100-10.201.0.200`) and the walk that finds the next free address.
// A cursor moves round the range, so addresses are handed out in turn and a just-released one is not reused
// at once (a client that forgot its release still answers ARP for a while).
import { parseIpv4, ipv4ToString } from '../../wire/ipv4.js';

export class AddressPool {
  private cursor = 0;

  constructor(readonly first: number, readonly last: number) {
    if (!(first >>> 0 === first && last >>> 0 === last && first <= last)) {
      throw new RangeError(`DHCP range ${ipv4ToString(first)}-${ipv4ToString(last)}: the first address must not be after the last`);
    }
  }

  /** `10.201.0.100-10.201.0.200`; a malformed range is a RangeError naming it. */
  static parse(text: string): AddressPool {
    const m = /^([\d.]+)\s*-\s*([\d.]+)$/.exec(text.trim());
    if (!m) throw new RangeError(`DHCP range '${text}': expected FIRST-LAST, like 10.201.0.100-10.201.0.200`);
    return new AddressPool(parseIpv4(m[1]), parseIpv4(m[2]));
  }

  get size(): number { return this.last - this.first + 1; }

  has(ip: number): boolean { return ip >= this.first && ip <= this.last; }

  /** The next address from the cursor that `usable` accepts, and the cursor moves past it; undefined when none does. */
  next(usable: (ip: number) => boolean): number | undefined {
    const n = this.size;
    for (let i = 0; i < n; i++) {
      const at = (this.cursor + i) % n;
      const ip = this.first + at;
      if (usable(ip)) {
        this.cursor = (at + 1) % n;
        return ip;
      }
    }
    return undefined;
  }

  toString(): string { return `${ipv4ToString(this.first)}-${ipv4ToString(this.last)}`; }
}
