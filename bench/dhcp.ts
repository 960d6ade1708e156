// The DHCP server in-process: a closed loop of full DISCOVER/OFFER/REQUEST/ACK exchanges from a generator of distinct
// MACs, one at a time, against a DhcpServer whose leases are on a store branch (committed as an actor's merge would).
//   node --import tsx bench/dhcp.ts            (or: npm run bench -- dhcp)
import { performance } from 'node:perf_hooks';
import { Store } from '../store/index.js';
import { BootpOp, DhcpMessageType, DhcpPacket, DhcpRepr, type DhcpOption } from '../wire/dhcpv4.js';
import { parseIpv4 } from '../wire/ipv4.js';
import { leasesTable } from '../actors/dhcp/lease-table.js';
import { AddressPool } from '../actors/dhcp/address-pool.js';
import { DhcpServer } from '../actors/dhcp/dhcp-server.js';
import { median, runAlone, type BenchReport } from './report.js';

/** Clients per batch: each does DORA, then (untimed) all release, so the table stays this size. */
const BATCH = 4096;
/** Exchanges between commits, as an actor's merge interval would batch them. */
const COMMIT_EVERY = 256;
const ROUNDS = 5;
const ROUND_MS = 1000;
const SERVER = parseIpv4('10.201.0.1');

function message(type: number, mac: number, options: DhcpOption[] = [], ciaddr = 0): Uint8Array {
  const repr = new DhcpRepr({ op: BootpOp.Request, xid: mac >>> 0, clientMac: mac, ciaddr, options: [{ kind: 'message-type', value: type }, ...options, { kind: 'end' }] });
  const out = new Uint8Array(repr.bufferLen());
  repr.emit(DhcpPacket.newUnchecked(out));
  return out;
}

/** Leases granted per second of DORA, ROUNDS times; every exchange's ACK is checked. */
function doraRates(): { rates: number[]; counters: DhcpServer['counters'] } {
  const branch = new Store([leasesTable]).main.fork('dhcp-bench');
  let reply: Uint8Array = new Uint8Array(0);
  const server = new DhcpServer(branch.table(leasesTable), (p) => { reply = p; }, {
    address: SERVER, prefix: 16, pool: AddressPool.parse('10.201.1.0-10.201.254.255'),
  });
  const view = DhcpPacket.newUnchecked(new Uint8Array(0));
  let nextMac = 0x02_00_00_00_00_00;
  let now = 0;
  const batch = (timed: boolean): number => {
    const macs = Array.from({ length: BATCH }, () => nextMac++);
    const addrs: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < macs.length; i++) {
      server.receive(message(DhcpMessageType.Discover, macs[i]), now);
      const offered = view.reset(reply).yiaddr;
      server.receive(message(DhcpMessageType.Request, macs[i], [{ kind: 'server-id', address: SERVER }, { kind: 'requested-ip', address: offered }]), now);
      if (view.reset(reply).yiaddr !== offered) throw new Error(`no ACK for ${offered}`);
      addrs.push(offered);
      if (i % COMMIT_EVERY === COMMIT_EVERY - 1) branch.commit({ author: 'bench' });
      now++;
    }
    const ms = performance.now() - t0;
    for (let i = 0; i < macs.length; i++) server.receive(message(DhcpMessageType.Release, macs[i], [{ kind: 'server-id', address: SERVER }], addrs[i]), now);
    branch.commit({ author: 'bench' });
    return timed ? ms : 0;
  };
  batch(false); // JIT
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let ms = 0, leases = 0;
    while (ms < ROUND_MS) { ms += batch(true); leases += BATCH; }
    rates.push(leases / (ms / 1000));
  }
  return { rates, counters: server.counters };
}

export async function run(report: BenchReport): Promise<void> {
  const { rates, counters } = doraRates();
  if (counters.naks + counters.poolExhausted + counters.unknownLease !== 0) throw new Error(`unexpected refusals: ${JSON.stringify(counters)}`);
  report.add('dhcp.leases_per_s', median(rates), 'leases/s', undefined,
    `closed loop, one thread: a generator of distinct MACs does DISCOVER/OFFER/REQUEST/ACK one client at a time (messages built with DhcpRepr in the loop), `
    + `the server's leases on a store branch committed every ${COMMIT_EVERY} exchanges, ${BATCH} leases held then released (release untimed); median of ${ROUNDS} × ${ROUND_MS} ms`);
}

await runAlone(import.meta.url, run);
