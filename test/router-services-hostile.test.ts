// Hostile DHCP and DNS packets at the router's inside address (root, Scapy in the client namespace): a cut
// BOOTP header, options cut short or overflowing their length, no cookie, no message type, an overload option;
// DNS with a cut header, a name past 255 bytes, compression-pointer loops, a response sent as a query, no
// question, seeded random bytes, and the same over TCP. Each is a counted drop (or an answer), never a crash:
// afterwards the router still answers dig and hands a lease to udhcpc.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { ServicesLab, PY, ip, noLab, missing, poll, counter, udhcpcScript, type Summary } from './support/services-lab.js';
import { dig, startDnsmasq } from './support/services-dns.js';

const tool = noLab ? null : missing('udhcpc', 'dnsmasq', 'dig', 'python3');
const skip = noLab || (tool ? `${tool} is not installed (node scripts/lab-tools.mjs test installs it)` : false);
if (skip) process.stdout.write(`# skipping router-services-hostile: ${skip}\n`);

const ROUTER = '10.201.0.1';
const SEED = Number(process.env.NB_SEED ?? Date.now() % 100_000);

// The packets. Each DHCP message goes out as a broadcast frame from 0.0.0.0:68, each DNS one from a fresh port.
const HOSTILE = `
import sys, json, random, socket, struct
from scapy.all import sendp, Ether, IP, UDP, Raw, conf, get_if_hwaddr
conf.verb = 0
dev, router, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
mac = get_if_hwaddr(dev); chaddr = bytes.fromhex(mac.replace(':', ''))
def bootp(xid, cookie=True, opts=b''):
    fixed = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', 1, 1, 6, 0, xid, 0, 0x8000, b'\\0'*4, b'\\0'*4, b'\\0'*4, b'\\0'*4, chaddr + b'\\0'*10, b'\\0'*64, b'\\0'*128)
    return fixed + (b'\\x63\\x82\\x53\\x63' if cookie else b'') + opts
DISCOVER = b'\\x35\\x01\\x01'
dhcp = {
    'truncated_header': bootp(1)[:100],
    'option_cut_short': bootp(2, opts=DISCOVER + b'\\x0c\\x32abc'),
    'option_overflow': bootp(3, opts=DISCOVER + b'\\x37\\xff\\x01\\x03\\x06\\xff'),
    'no_cookie': bootp(4, cookie=False, opts=DISCOVER + b'\\xff'),
    'no_message_type': bootp(5, opts=b'\\x0c\\x03abc\\xff'),
    'type_len_wrong': bootp(6, opts=b'\\x35\\x03\\x01\\x01\\x01\\xff'),
    'overload': bootp(7, opts=DISCOVER + b'\\x34\\x01\\x03\\xff'),
    'bad_hardware': bootp(8, opts=DISCOVER + b'\\xff')[:1] + b'\\x06' + bootp(8, opts=DISCOVER + b'\\xff')[2:],
}
for name, p in dhcp.items():
    sendp(Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255') / UDP(sport=68, dport=67) / Raw(p), iface=dev)
def header(id, flags=0x0100, qd=1): return struct.pack('!HHHHHH', id, flags, qd, 0, 0, 0)
long_name = b''.join(b'\\x3f' + b'a' * 63 for _ in range(5)) + b'\\0'
dns = {
    'header_cut': header(1)[:5],
    'name_past_255': header(2) + long_name + b'\\0\\x01\\0\\x01',
    'pointer_to_itself': header(3) + b'\\xc0\\x0c\\0\\x01\\0\\x01',
    'pointer_pair_loop': header(4) + b'\\x01a\\xc0\\x0e\\xc0\\x0c\\0\\x01\\0\\x01',
    'pointer_past_end': header(5) + b'\\xc0\\xff\\0\\x01\\0\\x01',
    'label_past_end': header(6) + b'\\x3fabc',
    'response_as_query': header(7, flags=0x8180) + b'\\x01a\\x04test\\0\\0\\x01\\0\\x01',
    'no_question': header(8, qd=0),
}
for i in range(40):
    dns['random_%d' % i] = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 80)))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(0.3)
answered = {}
for name, p in dns.items():
    u.sendto(p, (router, 53))
    try: answered[name] = u.recv(4096)[3] & 15
    except OSError: pass
tcp = {}
for name in ('pointer_to_itself', 'name_past_255', 'pointer_pair_loop'):
    try:
        c = socket.create_connection((router, 53), timeout=3); c.settimeout(2)
        c.sendall(struct.pack('!H', len(dns[name])) + dns[name])
        try: tcp[name] = len(c.recv(4096))
        except OSError as e: tcp[name] = type(e).__name__
        c.close()
    except OSError as e: tcp[name] = 'connect:' + type(e).__name__
# A stream that announces 65535 bytes and sends 10: the router must not wait on it forever or choke.
try:
    c = socket.create_connection((router, 53), timeout=3); c.sendall(b'\\xff\\xff' + b'x' * 10); c.close()
except OSError: pass
print(json.dumps({'dhcp': list(dhcp), 'dns': len(dns), 'answered_rcodes': answered, 'tcp': tcp}), flush=True)
`;

describe('netbranch router: hostile DHCP and DNS packets at the inside address', { skip }, () => {
  const lab = new ServicesLab(`nbt15h${process.pid % 10000}`);
  let client = '';
  let before0: Summary;
  let after1: Summary;

  before(async () => {
    await lab.startRouter(['--inside', `${lab.tapIn}:${ROUTER}/24`, '--outside', `${lab.tapOut}:10.202.0.1/24`,
      '--dhcp-range', '10.201.0.100-10.201.0.110', '--lease', '1h', '--dns-upstream', '10.202.0.2', '--workers', '2']);
    client = lab.addNamespace('c');
    const server = lab.addNamespace('s');
    lab.moveInto(lab.tapIn, client, ['10.201.0.2/24'], ROUTER);
    lab.moveInto(lab.tapOut, server, ['10.202.0.2/24']);
    await startDnsmasq(lab, server, 'upstream', '10.202.0.2', ['--address=/ok.example.test/10.202.0.9']);
    process.stdout.write(`# hostile: NB_SEED=${SEED}\n`);
  });
  after(async () => {
    const keep = process.exitCode !== undefined && process.exitCode !== 0;
    await lab.teardown(keep);
    if (keep) process.stdout.write(`# router-services-hostile: kept ${lab.dir} for a look\n`);
  });

  it('the hostile packets go out and the router is still running', async () => {
    before0 = await lab.summary();
    const r = await lab.run(client, PY, ['-c', HOSTILE, lab.tapIn, ROUTER, String(SEED)], 60_000);
    assert.equal(r.code, 0, r.stderr);
    process.stdout.write(`# hostile sent: ${r.stdout.trim()}\n`);
    const sent = JSON.parse(r.stdout.trim().split('\n').pop()!) as { answered_rcodes: Record<string, number> };
    // No question: FORMERR (1), answered, not dropped.
    assert.equal(sent.answered_rcodes.no_question, 1, JSON.stringify(sent));
    for (const k of ['name_past_255', 'pointer_to_itself', 'pointer_pair_loop', 'header_cut', 'response_as_query']) {
      assert.ok(!(k in sent.answered_rcodes) || sent.answered_rcodes[k] !== 0, `${k} was not answered NOERROR`);
    }
    assert.equal(lab.router!.child.exitCode, null, `the router exited: ${lab.router!.err().slice(-2000)}`);
  });

  it('each DHCP kind is a counted drop', async () => {
    after1 = (await poll(async () => {
      const s = await lab.summary();
      return counter(s, /\.dhcp\./, 'truncated') > counter(before0, /\.dhcp\./, 'truncated') ? s : undefined;
    }, 5_000, 500)) ?? await lab.summary();
    const moved = (n: string) => counter(after1, /\.dhcp\./, n) - counter(before0, /\.dhcp\./, n);
    const got = Object.fromEntries(['truncated', 'badOptions', 'badCookie', 'noMessageType', 'badHardware', 'overloadIgnored'].map((n) => [n, moved(n)]));
    process.stdout.write(`# dhcp drops: ${JSON.stringify(got)}\n`);
    assert.ok(got.truncated >= 1, 'the cut header');
    assert.ok(got.badOptions >= 2, 'the option cut short and the overflowing one');
    assert.ok(got.badCookie >= 1);
    assert.ok(got.noMessageType >= 2, 'no option 53, and option 53 of length 3');
    assert.ok(got.badHardware >= 1);
    assert.ok(got.overloadIgnored >= 1, 'the overload option is counted and the DISCOVER served');
  });

  it('each DNS kind is a counted drop or an error answer', () => {
    const moved = (n: string) => counter(after1, /dns/, n) - counter(before0, /dns/, n);
    const got = Object.fromEntries(['malformedQueries', 'notQueries', 'formErr', 'queries'].map((n) => [n, moved(n)]));
    process.stdout.write(`# dns drops: ${JSON.stringify(got)}\n`);
    assert.ok(got.malformedQueries >= 6, 'cut header, long name, three pointer cases, cut label (UDP; TCP adds more)');
    assert.ok(got.notQueries >= 1, 'the response sent as a query');
    assert.ok(got.formErr >= 1, 'no question');
  });

  it('afterwards dig is answered and udhcpc gets a lease', async () => {
    const d = await dig(lab, client, [`@${ROUTER}`, 'ok.example.test', 'A']);
    assert.deepEqual(d.answers.map((r) => r.data), ['10.202.0.9'], d.raw);
    const t = await dig(lab, client, ['+tcp', `@${ROUTER}`, 'ok.example.test', 'A']);
    assert.deepEqual(t.answers.map((r) => r.data), ['10.202.0.9'], t.raw);
    const ns = lab.addNamespace('1');
    ip('-n', client, 'link', 'add', 'link', lab.tapIn, 'name', 'mv1', 'address', '02:15:00:00:02:01', 'type', 'macvlan', 'mode', 'bridge');
    ip('-n', client, 'link', 'set', 'mv1', 'netns', ns);
    ip('-n', ns, 'link', 'set', 'mv1', 'up');
    const { script, log } = udhcpcScript(lab.dir, 'after', false);
    const r = await lab.run(ns, 'udhcpc', ['-f', '-q', '-n', '-i', 'mv1', '-s', script, '-t', '5', '-T', '2'], 30_000);
    const events = existsSync(log) ? readFileSync(log, 'utf8') : '';
    assert.match(events, /^bound ip=10\.201\.0\.1(0\d|10) /m, `${events}\n${r.stderr}`);
    assert.equal(lab.router!.child.exitCode, null);
  });
});
