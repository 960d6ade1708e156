// The `dnat` table: port-forward rules, keyed by the outside port they take (`tcp:8080`), each
// sending new connections to that port on to an inside host and port. Operators write it; the
// router reads it. Merge: a total order on rules (later `created` wins, ties broken on the inside
// address and port), so two concurrent edits settle the same way whichever merges first; a
// deletion loses to a concurrent change of the rule, as an ARP expiry loses to a refresh.
import { table, values, option, custom, CodecError, type KeyCodec, type Merge, type TableView, type ValueCodec } from '../../store/index.js';
import type { NatEntry } from './nat-table.js';
import { onLink, type NetInterface } from '../iface/net-interface.js';

export type DnatProto = 'tcp' | 'udp';

export interface DnatRule {
  proto: DnatProto;
  /** The outside port the rule takes (the key's port). */
  port: number;
  /** Where new connections to `port` go: an address on the inside network, and a port there. */
  insideIp: number;
  insidePort: number;
  /** When the rule was written, ms: the later of two concurrent versions wins. */
  created: number;
}

/** A rule's key: `tcp:8080`, the protocol and the outside port; also its path segment (`dnat/tcp:8080`). */
export function dnatKey(proto: DnatProto, port: number): string {
  return `${proto}:${port}`;
}

const KEY = /^(tcp|udp):([1-9]\d{0,4})$/;

/** Rule keys: `tcp:8080` / `udp:5353`, port 1–65535 written without leading zeros, so each rule has one path. */
export const dnatRuleKey: KeyCodec<string> = {
  name: 'dnat-rule',
  encode: (k: string) => k,
  decode(s: unknown): string {
    const m = typeof s === 'string' ? KEY.exec(s) : null;
    if (m === null || Number(m[2]) > 65535) {
      throw new CodecError(String(s), 'dnat-rule', `not a port-forward key like tcp:8080 or udp:5353 (port 1-65535): ${JSON.stringify(s)}`);
    }
    return s as string;
  },
};

/** A TCP/UDP port, 1–65535. */
const port: ValueCodec<number> = {
  name: 'port',
  decode(x: unknown, p?: string): number {
    if (typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= 65535) return x;
    throw new CodecError(p ?? '', 'port', `expected a port 1-65535, got ${JSON.stringify(x)}`);
  },
};

/** A total order on rules; the merge keeps the larger, so it is commutative and associative. */
export function compareDnatRules(a: DnatRule, b: DnatRule): number {
  if (a.created !== b.created) return a.created > b.created ? 1 : -1;
  if (a.insideIp !== b.insideIp) return a.insideIp > b.insideIp ? 1 : -1;
  if (a.insidePort !== b.insidePort) return a.insidePort > b.insidePort ? 1 : -1;
  // proto and port come from the key, so both sides agree; compared anyway to keep the order total.
  if (a.proto !== b.proto) return a.proto > b.proto ? 1 : -1;
  return a.port === b.port ? 0 : a.port > b.port ? 1 : -1;
}

export const mergeDnatRule: Merge<DnatRule> = custom((_old, a, b) => (compareDnatRules(a, b) >= 0 ? a : b));

export const dnatTable = table<string, DnatRule>({
  name: 'dnat',
  key: dnatRuleKey,
  value: values.record({ proto: values.oneOf('tcp', 'udp'), port, insideIp: values.ipv4num, insidePort: port, created: values.uint }),
  // 'keep': deleting a rule wins only where the other side left it unchanged.
  merge: option(mergeDnatRule, { onDeleteModify: 'keep' }),
  equal: (a, b) => a === b || (a !== undefined && b !== undefined && compareDnatRules(a, b) === 0),
});

/**
 * Why the router cannot use a rule, or undefined when it can: the value must agree with its key,
 * and the inside address must be a host of the inside network other than the router itself.
 */
export function dnatRuleProblem(key: string, r: DnatRule, inside: NetInterface): string | undefined {
  if (key !== dnatKey(r.proto, r.port)) return `the rule says ${dnatKey(r.proto, r.port)} but is stored as ${key}`;
  if (!onLink(inside, r.insideIp)) return 'the inside address is not on the inside network';
  if (r.insideIp === inside.ip) return 'the inside address is the router\'s own';
  const mask = inside.prefix >= 32 ? 0 : 0xffff_ffff >>> inside.prefix;
  const host = (r.insideIp & mask) >>> 0;
  if (inside.prefix <= 30 && (host === 0 || host === mask)) return 'the inside address is the network or broadcast address';
  if (!(r.insidePort >= 1 && r.insidePort <= 65535)) return 'the inside port is not 1-65535';
  return undefined;
}

/** What the forwarding check reads of a flow and of a rule: numbers as stored, or the API's readable forms. */
export interface FlowEnds { proto: unknown; outPort: unknown; insideIp: unknown; insidePort: unknown }
export interface RuleEnds { proto: unknown; port: unknown; insideIp: unknown; insidePort: unknown }

/**
 * Whether a flow was made by `rule`, the rule at its outside port: its inside end is that rule's
 * target (masquerade never hands out a rule's port, so no other flow looks like this). The `nat`
 * record has no field for it: old data and other threads' codecs stay as they are.
 */
export function forwardedBy(flow: FlowEnds, rule: RuleEnds | undefined): boolean {
  return flow.proto !== 'icmp' && rule !== undefined && rule.insideIp === flow.insideIp && rule.insidePort === flow.insidePort
    && rule.proto === flow.proto && rule.port === flow.outPort;
}

/** Whether a stored flow was made by a port-forward rule of the `dnat` table. */
export function isForwardedFlow(e: NatEntry, rules: TableView<string, DnatRule>): boolean {
  if (e.proto === 'icmp' || rules.sizeBound === 0) return false;
  return forwardedBy(e, rules.get(dnatKey(e.proto, e.outPort)));
}
