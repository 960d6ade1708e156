// NAT remap on a real address change (root): the router's outside address comes from dnsmasq in the server
// namespace; dnsmasq restarts with another range and an empty lease file, the router's renewal is NAKed, it
// rebinds to a new address and remaps its NAT. A ping (every 50 ms) and a UDP echo stream (every 10 ms) from
// the client keep going with at most 1 s of loss; a TCP connection open across the change is reset, as
// docs/router.md says (the server knows it by the old address).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { ServicesLab, noLab, missing, counter } from './support/services-lab.js';
import { remapAcrossChange, NEW_RANGE, OLD_RANGE, type RemapFigures } from './support/services-remap.js';

const tool = noLab ? null : missing('dnsmasq', 'ping', 'python3');
const skip = noLab || (tool ? `${tool} is not installed (node scripts/lab-tools.mjs test installs it)` : false);
if (skip) process.stdout.write(`# skipping router-remap-e2e: ${skip}\n`);

describe('netbranch router --outside TAP:dhcp: dnsmasq moves the address under running flows', { skip }, () => {
  const lab = new ServicesLab(`nbt15m${process.pid % 10000}`);
  let f: RemapFigures | null = null;
  let failure: Error | null = null;
  after(async () => {
    const keep = failure !== null;
    await lab.teardown(keep);
    if (keep) process.stdout.write(`# router-remap-e2e: kept ${lab.dir} for a look\n`);
  });

  it('the router leases from dnsmasq, renews, and after the restart with a new range rebinds to a new address', async () => {
    try {
      f = await remapAcrossChange(lab);
    } catch (err) {
      failure = err as Error;
      throw err;
    }
    process.stdout.write(`# remap: ${f.oldIp} -> ${f.newIp} ${f.remappedAt - f.changedAt} ms after dnsmasq restarted; ping ${JSON.stringify(f.ping)}; udp ${JSON.stringify(f.udp)}; tcp ${JSON.stringify(f.tcp)} (${f.tcpFailedAfterMs} ms after the remap)\n`);
    assert.ok(f.oldIp.startsWith('10.202.0.5'), `first lease in ${OLD_RANGE}: ${f.oldIp}`);
    assert.ok(f.newIp.startsWith('10.202.0.15'), `new lease in ${NEW_RANGE}: ${f.newIp}`);
    assert.ok(f.renewedBeforeChange, 'a renewal at T1 with the first dnsmasq kept the address');
    assert.match(f.dnsmasqLog, /DHCPNAK\(\S+\) 10\.202\.0\.5\d/, 'the second dnsmasq refused the old address');
    assert.match(f.dnsmasqLog, new RegExp(`DHCPACK\\(\\S+\\) ${f.newIp.replaceAll('.', '\\.')} `), 'and acknowledged the new one');
  });

  it('the router counted the remap and announced the new address', async () => {
    assert.ok(f, 'needs the change');
    const s = await lab.summary();
    assert.ok(counter(s, /dhcpc/, 'remaps') >= 1, JSON.stringify(s.actors.map((a) => a.counters)));
    assert.ok(counter(s, /dhcpc/, 'announcements') >= 1);
  });

  it('ping continues with at most 1 s of consecutive loss, and answers arrive after the change', () => {
    assert.ok(f, 'needs the change');
    assert.ok(f.ping.received > 0 && f.ping.sent - f.ping.received <= 1000 / 50 + 2, JSON.stringify(f.ping));
    assert.ok(f.ping.longestLossMs <= 1000, `longest loss ${f.ping.longestLossMs} ms`);
  });

  it('the UDP stream continues: its longest gap is at most 1 s and echoes arrive after the remap', () => {
    assert.ok(f, 'needs the change');
    assert.ok(f.udp.max_gap_ms <= 1000, JSON.stringify(f.udp));
    assert.ok(f.udp.last_rx_ms > f.remappedAt + 1000, `echoes 1 s after the remap: ${JSON.stringify(f.udp)}`);
  });

  it('a TCP connection open across the change is reset (docs/router.md: TCP cannot survive a new address)', () => {
    assert.ok(f, 'needs the change');
    assert.ok(f.tcp.echoed > 0, 'it worked before the change');
    // The next segment leaves from the new address, the server answers it with RST: the host sees a reset at once.
    assert.match(f.tcp.error ?? 'none', /ConnectionResetError|BrokenPipeError/, `its fate: ${JSON.stringify(f.tcp)}`);
    assert.ok(f.tcpFailedAfterMs !== null && f.tcpFailedAfterMs > -2000 && f.tcpFailedAfterMs < 5000, `it failed at the change: ${f.tcpFailedAfterMs} ms after the remap was seen`);
  });
});
