// dnsmasq's lease-file line, `<expiry epoch s> <mac> <ip> <hostname or *> <client-id or *>`, so tools and
// people who read /var/lib/misc/dnsmasq.leases read `netbranch leases` the same way.
import { ipv4ToString, tryParseIpv4 } from '../../wire/ipv4.js';
import { macToString, parseMac } from '../../wire/ethernet.js';
import { CLIENT_ID, HOSTNAME, type LeaseEntry } from './lease-table.js';

/** One lease's line; the expiry in whole seconds of the server's clock (epoch ms when it runs on real time). */
export function formatLeaseLine(ip: number, e: LeaseEntry): string {
  return `${Math.floor(e.expires / 1000)} ${macToString(e.mac)} ${ipv4ToString(ip)} ${e.hostname || '*'} ${e.clientId || '*'}`;
}

export interface LeaseLine {
  expiresS: number;
  mac: number;
  ip: number;
  hostname: string;
  clientId: string;
}

/** A line read back, or undefined when it is not one dnsmasq would write. */
export function parseLeaseLine(line: string): LeaseLine | undefined {
  const f = line.trim().split(/\s+/);
  if (f.length !== 5 || !/^\d+$/.test(f[0])) return undefined;
  const ip = tryParseIpv4(f[2]);
  const hostname = f[3] === '*' ? '' : f[3];
  const clientId = f[4] === '*' ? '' : f[4].toLowerCase();
  if (ip === undefined || !HOSTNAME.test(hostname) || !CLIENT_ID.test(clientId)) return undefined;
  try {
    return { expiresS: Number(f[0]), mac: parseMac(f[1]), ip, hostname, clientId };
  } catch {
    return undefined; // not a MAC
  }
}
