// A real Linux host behind a TAP: the TAP is opened here, moved into a network namespace this test makes,
// and the kernel there talks ARP and ICMP to a small responder written with the wire/ codecs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArpOperation, ArpPacket, ArpRepr } from '../wire/arp.js';
import { EtherType, EthernetPacket, EthernetRepr, macToString, parseMac } from '../wire/ethernet.js';
import { Icmpv4Packet, Icmpv4Repr, Icmpv4Type } from '../wire/icmpv4.js';
import { IpProtocol, Ipv4Packet, Ipv4Repr, parseIpv4 } from '../wire/ipv4.js';
import type { Link } from '../wire/link/link.js';
import { PcapWriter, tee } from '../wire/pcap.js';
import { TapError, TapLink } from '../wire/link/tap.js';

const skip =
  process.getuid?.() !== 0
    ? 'needs root: it creates TAP devices and network namespaces (CI runs as root)'
    : !existsSync('/dev/net/tun')
      ? '/dev/net/tun is missing (modprobe tun)'
      : false;
if (skip) process.stdout.write(`# skipping TAP tests: ${skip}\n`);

const HOST_IP = '192.0.2.1'; // the namespace's kernel (TEST-NET-1: never a real host)
const STACK_IP = '192.0.2.2'; // the userspace responder behind the TAP
const STACK_MAC = '02:4e:42:00:00:02';

// ---- what this file made, so teardown removes exactly that, even on a crash ----
const namespaces = new Set<string>();
const links = new Set<TapLink>();
function teardown(): void {
  for (const l of links) l.close(); // a TAP this process created disappears with its fd
  links.clear();
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  namespaces.clear();
}
process.on('exit', teardown);
after(teardown);

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr });
    });
  });
}

/** A namespace with IPv6 off (no router solicitations or MLD on the TAP), holding `tap` as HOST_IP/24. */
function namespaceBehind(tap: TapLink, tag: string): string {
  const ns = `nbt${process.pid}${tag}`;
  ip('netns', 'add', ns);
  namespaces.add(ns);
  const sysctl = (...kv: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', ...kv]);
  sysctl('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  ip('link', 'set', tap.name, 'netns', ns);
  sysctl(`net.ipv6.conf.${tap.name}.disable_ipv6=1`);
  ip('-n', ns, 'addr', 'add', `${HOST_IP}/24`, 'dev', tap.name);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'link', 'set', tap.name, 'up');
  return ns;
}

function openTap(tag: string): TapLink {
  // Opened down in the root namespace, so nothing is sent there before it moves.
  const tap = TapLink.open(`nbt${process.pid}${tag}`, { up: false });
  links.add(tap);
  return tap;
}

function close(tap: TapLink, ns: string): void {
  tap.close();
  links.delete(tap);
  ip('netns', 'del', ns);
  namespaces.delete(ns);
}

/** The reply a minimal host at STACK_IP/STACK_MAC gives to `frame`: ARP replies and ICMP echo replies, else null. */
function respond(frame: Uint8Array): Uint8Array | null {
  const me = { mac: parseMac(STACK_MAC), ip: parseIpv4(STACK_IP) };
  const eth = EthernetPacket.newChecked(frame);
  if (eth.ethertype === EtherType.Arp) {
    const arp = ArpRepr.parse(ArpPacket.newChecked(frame, 14));
    if (arp.operation !== ArpOperation.Request || arp.targetIp !== me.ip) return null;
    const out = new Uint8Array(14 + 28);
    new EthernetRepr({ dst: arp.senderMac, src: me.mac, ethertype: EtherType.Arp }).emit(EthernetPacket.newUnchecked(out));
    new ArpRepr({ operation: ArpOperation.Reply, senderMac: me.mac, senderIp: me.ip, targetMac: arp.senderMac, targetIp: arp.senderIp })
      .emit(ArpPacket.newUnchecked(out, 14));
    return out;
  }
  if (eth.ethertype === EtherType.Ipv4) {
    const ipv4 = Ipv4Packet.newChecked(frame, 14);
    if (ipv4.dst !== me.ip || ipv4.protocol !== IpProtocol.Icmp) return null;
    const icmp = Icmpv4Repr.parse(Icmpv4Packet.newChecked(frame, 14 + ipv4.headerLength, ipv4.payloadLength));
    if (icmp.type !== Icmpv4Type.EchoRequest) return null;
    const reply = Icmpv4Repr.echoReply(icmp.ident, icmp.seq, icmp.data);
    const out = new Uint8Array(14 + 20 + reply.bufferLen());
    new EthernetRepr({ dst: eth.src, src: me.mac, ethertype: EtherType.Ipv4 }).emit(EthernetPacket.newUnchecked(out));
    new Ipv4Repr({ src: me.ip, dst: ipv4.src, protocol: IpProtocol.Icmp, payloadLen: reply.bufferLen() }).emit(Ipv4Packet.newUnchecked(out, 14));
    reply.emit(Icmpv4Packet.newUnchecked(out, 34));
    return out;
  }
  return null;
}

/** Resolves with the first received frame `match` accepts (a copy), or rejects after `ms`. */
function nextFrame(link: Link, match: (f: Uint8Array) => boolean, ms: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      link.onFrames(null);
      reject(new Error(`no matching frame within ${ms} ms`));
    }, ms);
    link.onFrames((frames) => {
      for (const f of frames) {
        if (match(f)) {
          clearTimeout(timer);
          link.onFrames(null);
          resolve(f.slice());
          return;
        }
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the kernel's ARP request arrives on the TAP, and an ARP reply written to it lands in ip neigh as REACHABLE", { skip }, async () => {
  const tap = openTap('a');
  const ns = namespaceBehind(tap, 'a');
  try {
    const hostMac = JSON.parse(ip('-n', ns, '-j', 'link', 'show', tap.name))[0].address as string;
    const arrived = nextFrame(tap, (f) => f.length >= 42 && f[12] === 0x08 && f[13] === 0x06, 5000);
    const ping = run('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '3', STACK_IP], 10_000);
    const request = await arrived;
    assert.equal(request.length, 42, 'an ARP request is a 42-byte frame (TAPs do not pad)');
    const eth = EthernetPacket.newChecked(request);
    assert.equal(macToString(eth.dst), 'ff:ff:ff:ff:ff:ff');
    assert.equal(macToString(eth.src), hostMac);
    const arp = ArpRepr.parse(ArpPacket.newChecked(request, 14));
    assert.deepEqual([arp.operation, arp.senderIp, arp.targetIp], [ArpOperation.Request, parseIpv4(HOST_IP), parseIpv4(STACK_IP)]);

    const reply = respond(request);
    assert.ok(reply);
    assert.equal(tap.send(reply), true);
    let neigh = '';
    for (let i = 0; i < 100 && !/REACHABLE/.test(neigh); i++) {
      await sleep(20);
      neigh = ip('-n', ns, 'neigh', 'show', STACK_IP, 'dev', tap.name);
    }
    assert.match(neigh, new RegExp(`^${STACK_IP.replaceAll('.', '\\.')} lladdr ${STACK_MAC} REACHABLE`, 'm'));
    assert.equal(tap.counters.txFrames, 1);
    assert.ok(tap.counters.rxFrames >= 1);
    await ping; // unanswered echo: it gives up after 3 s
  } finally {
    close(tap, ns);
  }
});

test('ping -c 20 -i 0.05 from the namespace is answered by a userspace ARP + echo responder with 0% loss, and tee records it', { skip }, async () => {
  const tap = openTap('b');
  const ns = namespaceBehind(tap, 'b');
  const dir = mkdtempSync(join(tmpdir(), 'nb-tap-'));
  const pcapPath = join(dir, 'ping.pcap');
  const writer = PcapWriter.open(pcapPath);
  const link = tee(tap, writer);
  try {
    let answered = 0;
    link.onFrames((frames) => {
      for (const f of frames) {
        const reply = respond(f);
        if (reply !== null && link.send(reply)) answered++;
      }
    });
    const { code, out } = await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', '20', '-i', '0.05', '-W', '1', STACK_IP], 20_000);
    assert.equal(code, 0, out);
    assert.match(out, /20 packets transmitted, 20 received, 0% packet loss/);
    assert.ok(answered >= 21, `answered ${answered}: the ARP request and 20 echoes`);
    assert.equal(tap.counters.txDropped + tap.counters.errors, 0);
    link.onFrames(null);
    writer.close();
    const tcpdump = spawnSync('tcpdump', ['-r', pcapPath, '-n', 'icmp'], { encoding: 'utf8' });
    if (tcpdump.status === 0) {
      assert.equal(tcpdump.stdout.match(/ICMP echo request/g)?.length, 20, tcpdump.stdout);
      assert.equal(tcpdump.stdout.match(/ICMP echo reply/g)?.length, 20);
    } else {
      assert.ok(!process.env.CI, 'CI installs tcpdump');
      assert.ok(readFileSync(pcapPath).length > 24 + 40 * 16);
    }
  } finally {
    writer.close();
    rmSync(dir, { recursive: true, force: true });
    close(tap, ns);
  }
});

test('a TAP held by another fd is a device-busy TapError; queues of a multi-queue TAP open side by side', { skip }, () => {
  const tap = openTap('c');
  try {
    assert.throws(() => TapLink.open(tap.name, { up: false }), (e: unknown) => e instanceof TapError && e.reason === 'device-busy' && /EBUSY|busy/i.test(e.message));
  } finally {
    tap.close();
    links.delete(tap);
  }
  const q1 = TapLink.open(`nbt${process.pid}m`, { up: false, multiQueue: true });
  links.add(q1);
  const q2 = TapLink.open(q1.name, { up: false, multiQueue: true });
  links.add(q2);
  assert.throws(() => TapLink.open(q1.name, { up: false }), (e: unknown) => e instanceof TapError && e.reason === 'bad-name');
  for (const q of [q1, q2]) {
    q.close();
    links.delete(q);
  }
  assert.throws(() => TapLink.open('a-name-too-long-for-linux'), (e: unknown) => e instanceof TapError && e.reason === 'bad-name');
});

test('a TAP deleted under the reader (ip link del) stops reading and records the failure instead of spinning', { skip }, async () => {
  const tap = openTap('d');
  try {
    tap.onFrames(() => {});
    ip('link', 'del', tap.name);
    for (let i = 0; i < 50 && tap.failure === null; i++) await sleep(10);
    assert.notEqual(tap.failure, null);
    assert.equal(tap.counters.errors, 1);
    assert.equal(tap.send(new Uint8Array(60)), false);
  } finally {
    tap.close();
    links.delete(tap);
  }
});
