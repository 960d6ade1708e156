// The router's DNS cache against real peers (root): `dig @10.201.0.1` from the client namespace, dnsmasq in the
// server namespace as the upstream (its query log counts what reached it). First answer from upstream, the
// second from the cache; a 2 s TTL expires; NXDOMAIN with an SOA (a second dnsmasq, authoritative for
// neg.test) is cached; dig over TCP; Scapy's spoofed answers (wrong id, wrong question, wrong port) dropped.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ServicesLab, PY, noLab, missing, poll, sleep, counter, countersOf, waitOutput } from './support/services-lab.js';
import { dig, startDnsmasq, SPOOFER, type Dnsmasq } from './support/services-dns.js';

const tool = noLab ? null : missing('dig', 'dnsmasq', 'python3');
const skip = noLab || (tool ? `${tool} is not installed (node scripts/lab-tools.mjs test installs it)` : false);
if (skip) process.stdout.write(`# skipping router-dns-e2e: ${skip}\n`);

const ROUTER = '10.201.0.1';

describe('netbranch router: the DNS cache on the inside address, dnsmasq upstream', { skip }, () => {
  const lab = new ServicesLab(`nbt15n${process.pid % 10000}`);
  let client = '';
  let server = '';
  let up: Dnsmasq;
  let auth: Dnsmasq;

  before(async () => {
    await lab.startRouter(['--inside', `${lab.tapIn}:${ROUTER}/24`, '--outside', `${lab.tapOut}:10.202.0.1/24`,
      '--dhcp-range', '10.201.0.100-10.201.0.110', '--dns-upstream', '10.202.0.2', '--workers', '2']);
    client = lab.addNamespace('c');
    server = lab.addNamespace('s');
    lab.moveInto(lab.tapIn, client, ['10.201.0.2/24'], ROUTER);
    lab.moveInto(lab.tapOut, server, ['10.202.0.2/24', '10.202.0.3/24']);
    // The zone neg.test, authoritative (NXDOMAIN carries its SOA: MINIMUM 30 s), on .3; the upstream forwards to it.
    auth = await startDnsmasq(lab, server, 'auth', '10.202.0.3', ['--auth-server=ns1.neg.test,10.202.0.3', '--auth-zone=neg.test',
      '--auth-soa=1,hostmaster.neg.test,1200,120,1209600', '--auth-ttl=30', '--host-record=x.neg.test,10.202.0.11']);
    // The upstream: no cache of its own (every query reaches its log), a 2 s name, hour-long names, a black hole.
    up = await startDnsmasq(lab, server, 'upstream', '10.202.0.2', ['--cache-size=0', '--local-ttl=2', '--address=/short.example.test/10.202.0.9',
      '--host-record=long.example.test,10.202.0.10,3600', '--host-record=tcp.example.test,10.202.0.12,3600',
      '--server=/neg.test/10.202.0.3', '--server=/spoof.test/10.202.0.4']);
  });
  after(async () => {
    const keep = process.exitCode !== undefined && process.exitCode !== 0;
    await lab.teardown(keep);
    if (keep) process.stdout.write(`# router-dns-e2e: kept ${lab.dir} for a look\n`);
  });

  /**
   * The upstream's count for `name` once its log has settled (dnsmasq writes it as it goes); the wait also lets the
   * merges (100 ms apart) carry one actor's cached answer to the other, where the next query may land.
   */
  async function upstreamCount(name: string): Promise<number> {
    await sleep(600);
    return up.count(name);
  }

  it('the first answer comes from upstream, the second from the cache: upstream logs one query', async () => {
    const first = await dig(lab, client, [`@${ROUTER}`, 'long.example.test', 'A']);
    assert.equal(first.status, 'NOERROR', first.raw);
    assert.deepEqual(first.answers.map((r) => r.data), ['10.202.0.10'], first.raw);
    assert.equal(await upstreamCount('long.example.test'), 1);
    const second = await dig(lab, client, [`@${ROUTER}`, 'long.example.test', 'A']);
    assert.deepEqual(second.answers.map((r) => r.data), ['10.202.0.10'], second.raw);
    assert.ok(second.answers[0].ttl <= first.answers[0].ttl && second.answers[0].ttl > 3500, `the TTL counts down from 3600: ${first.answers[0].ttl} then ${second.answers[0].ttl}`);
    assert.equal(await upstreamCount('long.example.test'), 1, 'the second answer did not reach upstream');
  });

  it('a 2 s TTL expires: after 3 s the question goes upstream again', async () => {
    const first = await dig(lab, client, [`@${ROUTER}`, 'short.example.test', 'A']);
    assert.deepEqual(first.answers.map((r) => r.data), ['10.202.0.9'], first.raw);
    assert.ok(first.answers[0].ttl <= 2, first.raw);
    const before = await upstreamCount('short.example.test');
    assert.ok(before >= 1);
    await sleep(3000);
    const again = await dig(lab, client, [`@${ROUTER}`, 'short.example.test', 'A']);
    assert.deepEqual(again.answers.map((r) => r.data), ['10.202.0.9'], again.raw);
    assert.equal(await upstreamCount('short.example.test'), before + 1, 'expired: asked upstream once more');
  });

  it('NXDOMAIN is cached for the SOA\'s time (RFC 2308) and sent back with the SOA', async () => {
    const first = await dig(lab, client, [`@${ROUTER}`, 'nope.neg.test', 'A']);
    assert.equal(first.status, 'NXDOMAIN', first.raw);
    assert.equal(first.authority[0]?.type, 'SOA', first.raw);
    assert.equal(await upstreamCount('nope.neg.test'), 1);
    const second = await dig(lab, client, [`@${ROUTER}`, 'nope.neg.test', 'A']);
    assert.equal(second.status, 'NXDOMAIN', second.raw);
    assert.equal(second.authority[0]?.type, 'SOA', `the cached negative answer carries its SOA: ${second.raw}`);
    assert.ok(second.authority[0].ttl <= 30, second.raw);
    assert.equal(await upstreamCount('nope.neg.test'), 1, 'the second NXDOMAIN came from the cache');
    assert.ok(auth.count('nope.neg.test') >= 1, 'the authoritative server was asked through the upstream');
  });

  it('dig +tcp is answered over TCP (through upstream), and the answer serves UDP from the cache after', async () => {
    const t = await dig(lab, client, ['+tcp', `@${ROUTER}`, 'tcp.example.test', 'A']);
    assert.equal(t.status, 'NOERROR', t.raw);
    assert.match(t.raw, /\(TCP\)/, 'dig used TCP');
    assert.deepEqual(t.answers.map((r) => r.data), ['10.202.0.12']);
    // The UDP query may land on the other packet actor: it sees the first actor's answer after the merges that
    // carry it (100 ms apart), so wait a few.
    await sleep(600);
    const u = await dig(lab, client, [`@${ROUTER}`, 'tcp.example.test', 'A']);
    assert.deepEqual(u.answers.map((r) => r.data), ['10.202.0.12']);
    assert.equal(await upstreamCount('tcp.example.test'), 1);
    const c = await dig(lab, client, ['+tcp', `@${ROUTER}`, 'long.example.test', 'A']);
    assert.deepEqual(c.answers.map((r) => r.data), ['10.202.0.10'], 'a cache hit over TCP');
    assert.equal(await upstreamCount('long.example.test'), 1);
  });

  it('spoofed answers (wrong id, wrong question, wrong source port) are dropped and counted; the true one is taken, its out-of-bailiwick record cut', async () => {
    const before = await lab.summary();
    const spoof = lab.spawn(PY, ['-c', SPOOFER, lab.tapOut, 'www.spoof.test', '10.202.0.2', '10.202.0.77'], { ns: server });
    await waitOutput(spoof, /sniffing/, 20_000, 'the Scapy spoofer');
    const d = await dig(lab, client, ['+timeout=10', `@${ROUTER}`, 'www.spoof.test', 'A']);
    const seen = await spoof.exited;
    assert.equal(seen.code, 0, `spoofer: ${seen.stdout} ${seen.stderr}`);
    assert.equal(d.status, 'NOERROR', `${d.raw}\nspoofer: ${seen.stdout}`);
    assert.deepEqual(d.answers.map((r) => `${r.name} ${r.data}`), ['www.spoof.test. 10.202.0.77'], 'only the true answer, without 6.6.6.6');
    const after = await poll(async () => {
      const s = await lab.summary();
      return counter(s, /dns/i, 'wrongQuestion') > counter(before, /dns/i, 'wrongQuestion') ? s : undefined;
    }, 5_000, 500);
    assert.ok(after, 'wrongQuestion moved');
    const moved = (n: string) => counter(after, /dns/i, n) - counter(before, /dns/i, n);
    process.stdout.write(`# dns drops: unknownId +${moved('unknownId')}, wrongQuestion +${moved('wrongQuestion')}, outOfBailiwick +${moved('outOfBailiwick')}\n`);
    assert.ok(moved('unknownId') >= 1, 'the wrong id was counted');
    assert.ok(moved('outOfBailiwick') >= 1, 'the evil.example.com record was cut');
  });

  it('the router stops cleanly (exit 0)', async () => {
    const s = await lab.summary();
    process.stdout.write(`# dns counters: ${JSON.stringify(countersOf(s, /^(dns\.|local\.badChecksum|link\.inside\.csumPartialRx)/))}\n`);
    const e = await lab.stopRouter();
    assert.equal(e?.code, 0, e?.stderr.slice(-2000));
  });
});
