// DNS peers for the services tests: dnsmasq as the upstream (its query log counted per name), dig's output
// read into sections, and the Scapy spoofer that answers the router's upstream query before dnsmasq would.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServicesLab, Child } from './services-lab.js';
import { poll } from './services-lab.js';

export interface Rr { name: string; ttl: number; type: string; data: string }
export interface Dig { status: string; flags: string; answers: Rr[]; authority: Rr[]; raw: string }

/** `dig ARGS` in `ns`, parsed (status, header flags, answer and authority records). */
export async function dig(lab: ServicesLab, ns: string, args: string[]): Promise<Dig> {
  const r = await lab.run(ns, 'dig', ['+tries=1', '+timeout=5', ...args], 20_000);
  const raw = r.stdout + r.stderr;
  const status = /status: ([A-Z]+)/.exec(raw)?.[1] ?? `no answer (dig exit ${r.code})`;
  const flags = /;; flags: ([a-z ]+);/.exec(raw)?.[1] ?? '';
  return { status, flags, answers: section(raw, 'ANSWER'), authority: section(raw, 'AUTHORITY'), raw };
}

function section(raw: string, name: string): Rr[] {
  const at = raw.indexOf(`;; ${name} SECTION:`);
  if (at < 0) return [];
  const out: Rr[] = [];
  for (const line of raw.slice(at).split('\n').slice(1)) {
    if (!line.trim()) break;
    const [n, ttl, , type, ...data] = line.split(/\s+/);
    out.push({ name: n, ttl: Number(ttl), type, data: data.join(' ') });
  }
  return out;
}

/** dnsmasq serving DNS only on `listen`, its queries logged to a file; `count(name)` reads how many it got. */
export interface Dnsmasq { child: Child; log: string; count(name: string): number }

/** `logQueries: false` for a cache under load (a log line per query would be the twin's handicap). */
export async function startDnsmasq(lab: ServicesLab, ns: string, name: string, listen: string, opts: string[], logQueries = true): Promise<Dnsmasq> {
  const log = join(lab.dir, `${name}.log`);
  const child = lab.spawn('dnsmasq', ['--no-daemon', '--keep-in-foreground', '--pid-file=', '--conf-file=/dev/null', '--no-resolv', '--no-hosts',
    '--bind-interfaces', `--listen-address=${listen}`, '--port=53', ...(logQueries ? ['--log-queries'] : []), `--log-facility=${log}`, ...opts], { ns });
  // --no-daemon echoes the log to stderr too; the file is the fallback.
  const started = () => /started, version/.test(child.err()) || (existsSync(log) && readFileSync(log, 'utf8').includes('started, version'));
  if (!(await poll(() => (started() ? true : undefined), 10_000, 50))) throw new Error(`dnsmasq ${name} did not start: ${child.err()}`);
  return {
    child, log,
    count: (q: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.includes(`]: query[A] ${q} from `) || l.includes(`]: auth[A] ${q} from `)).length : 0),
  };
}

/**
 * Scapy in the server namespace: sniffs the router's upstream query for QNAME on DEV, then sends, from the
 * upstream's address, a reply with a wrong id, one with a wrong question, one from a wrong source port, and
 * last the true answer (ANSWER_IP, plus an out-of-bailiwick record). Prints "sniffing", then JSON of what it saw.
 */
export const SPOOFER = `
import sys, json
from scapy.all import sniff, send, IP, UDP, DNS, DNSQR, DNSRR, conf
conf.verb = 0
dev, qname, upstream, answer_ip = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
want = (qname.rstrip('.') + '.').encode()
def is_query(p):
    return UDP in p and p[UDP].dport == 53 and DNS in p and p[DNS].qr == 0 and p[DNS].qd is not None and p[DNS].qd.qname.lower() == want
got = sniff(iface=dev, lfilter=is_query, count=1, timeout=20, started_callback=lambda: print('sniffing', flush=True))
if not got:
    print(json.dumps({'error': 'no query seen'}), flush=True); sys.exit(1)
q = got[0]
ip = IP(src=upstream, dst=q[IP].src)
ok_udp = UDP(sport=53, dport=q[UDP].sport)
qd = q[DNS].qd
evil = DNSRR(rrname=qd.qname, type='A', ttl=300, rdata='6.6.6.6')
send(ip / ok_udp / DNS(id=(q[DNS].id + 1) % 65536, qr=1, rd=1, ra=1, qd=qd, an=evil))
send(ip / ok_udp / DNS(id=q[DNS].id, qr=1, rd=1, ra=1, qd=DNSQR(qname='evil.' + qname, qtype='A'), an=DNSRR(rrname='evil.' + qname, type='A', rdata='6.6.6.6')))
send(ip / UDP(sport=5353, dport=q[UDP].sport) / DNS(id=q[DNS].id, qr=1, rd=1, ra=1, qd=qd, an=evil))
good = DNSRR(rrname=qd.qname, type='A', ttl=300, rdata=answer_ip) / DNSRR(rrname='evil.example.com.', type='A', ttl=300, rdata='6.6.6.6')
send(ip / ok_udp / DNS(id=q[DNS].id, qr=1, rd=1, ra=1, qd=qd, an=good, ancount=2))
print(json.dumps({'id': q[DNS].id, 'sport': q[UDP].sport, 'src': q[IP].src}), flush=True)
`;
