// A SYN flood from Scapy (spoofed sources inside the namespace's subnet, bounded count) against our endpoint on a
// TAP, while a kernel client keeps an established connection to the same listener transferring.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noTap } from './support/cli.js';
import { PYTHON, STACK_IP, STACK_MAC, TcpLab, noPython } from './support/tcp-lab.js';

const SCAPY = '/usr/lib/python3/dist-packages/scapy';
const skip = noTap || noPython || (!existsSync(SCAPY) && 'python3-scapy is missing (npm test installs it as root through scripts/lab-tools.mjs)');
if (skip) process.stdout.write(`# skipping the SYN flood test: ${skip}\n`);

const lab = new TcpLab('nbt14e');
after(lab.teardown);

const SYNS = 20_000;
const PORT = 5003;
const HALF_OPEN = 64;
const MiB = 1024 * 1024;
const SEED = Number(process.env.NB_SYNFLOOD_SEED ?? 1414);

/** Scapy, in the namespace: SYNS SYNs from random sources in 192.0.2.3-254, written straight to the TAP. */
const FLOOD = `
import random, sys
from scapy.all import Ether, IP, TCP, conf
count, iface, mac, dst, port, seed = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
rnd = random.Random(seed)
sock = conf.L2socket(iface=iface)
for i in range(count):
    src = "192.0.2.%d" % rnd.randint(3, 254)
    sock.send(Ether(dst=mac) / IP(src=src, dst=dst) / TCP(sport=rnd.randint(1024, 65535), dport=port, flags="S", seq=rnd.getrandbits(32)))
sock.close()
print('{"sent": %d}' % count)
`;

test(`a Scapy flood of ${SYNS} spoofed SYNs does not stop an established connection transferring; the half-open bound holds`, { skip }, async () => {
  const ns = lab.namespace('f');
  const dir = mkdtempSync(join(tmpdir(), 'nb-synflood-'));
  try {
    const mark = join(dir, 'flood-started');
    const stop = join(dir, 'flood-done');
    process.stdout.write(`# flood seed ${SEED} (NB_SYNFLOOD_SEED overrides)\n`);
    const peer = lab.peer(ns, ['serve-sink', '--port', String(PORT), '--max-half-open', String(HALF_OPEN), '--timeout-ms', '280000']);
    const client = lab.kernel(ns, ['connect', STACK_IP, String(PORT), '--seed', '15', '--mark-file', mark, '--until-file', stop, '--timeout', '260']);
    await client.line('connected', 60_000);
    writeFileSync(mark, '');
    const flood = lab.inNamespace(ns, [PYTHON, '-c', FLOOD, String(SYNS), ns, STACK_MAC, STACK_IP, String(PORT), String(SEED)]);
    const f = await flood.result(240_000);
    assert.equal(f.code, 0, flood.stderr);
    assert.equal(f.json.sent, SYNS);
    writeFileSync(stop, '');
    const k = await client.result(60_000);
    assert.equal(k.code, 0, client.stderr);
    const p = await peer.result(60_000);
    assert.equal(p.code, 0, JSON.stringify(p.json).slice(0, 2000));

    const [flow] = p.json.flows;
    assert.equal(flow.receivedBytes, k.json.sentBytes);
    assert.equal(flow.receivedSha256, k.json.sentSha256, 'every byte of the established connection arrived, in order');
    const duringFlood = k.json.sentBytes - k.json.sentAtMark;
    assert.ok(duringFlood > MiB, `the established connection kept moving during the flood: ${duringFlood} bytes`);
    const tcp = p.json.tcp;
    assert.ok(p.json.syn.synsIn > SYNS / 2, `the flood reached our stack: ${p.json.syn.synsIn} SYNs`);
    assert.ok(p.json.halfOpenPeak <= HALF_OPEN, `half-open connections stayed within the bound: peak ${p.json.halfOpenPeak}`);
    assert.ok(tcp.halfOpenFull > 0, `the half-open table filled and said so: ${JSON.stringify(tcp)}`);
    assert.ok(tcp.synCookiesSent + tcp.synDropped > 0, `SYNs past the bound were answered with cookies or dropped: ${JSON.stringify(tcp)}`);
    process.stdout.write(`# flood: ${p.json.syn.synsIn} SYNs seen, halfOpenFull ${tcp.halfOpenFull}, cookies ${tcp.synCookiesSent}, dropped ${tcp.synDropped}; ${duringFlood} bytes moved during it\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
