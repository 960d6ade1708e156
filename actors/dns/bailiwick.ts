// Which records of an upstream answer belong to the question: owners on its CNAME chain (RFC 1034 §3.6.2), and
// for a negative answer an SOA of a zone above the chain. Anything else is what a cache-poisoning answer adds.
import type { DnsAnswerRecord } from './dns-cache.js';
import { asciiLower } from './dns-table.js';

export interface InBailiwick {
  answers: DnsAnswerRecord[];
  authorities: DnsAnswerRecord[];
  /** Records left out: owners off the chain, an SOA of an unrelated zone, an OPT outside the additional section. */
  dropped: number;
}

/** The question's name and every CNAME target reachable from it through the answer section, lowercased. */
export function cnameChain(qname: string, answers: readonly DnsAnswerRecord[]): Set<string> {
  const targets = new Map<string, string[]>();
  for (const r of answers) {
    if (r.type !== 'CNAME' || typeof r.data !== 'string') continue;
    const owner = asciiLower(r.name);
    const list = targets.get(owner);
    if (list === undefined) targets.set(owner, [asciiLower(r.data)]);
    else list.push(asciiLower(r.data));
  }
  // Breadth first, each name once: linear in the records even for a hostile chain of thousands.
  const chain = new Set([asciiLower(qname)]);
  for (const name of chain) for (const t of targets.get(name) ?? []) chain.add(t);
  return chain;
}

/** `zone` is `name` or one of its ancestors (the root is everyone's). */
function isAtOrAbove(zone: string, name: string): boolean {
  return zone === '.' || zone === name || name.endsWith(`.${zone}`);
}

/** The answer's records that belong to the question `qname`; authorities kept are SOAs only (the forwarder needs no more). */
export function inBailiwick(qname: string, answers: readonly DnsAnswerRecord[], authorities: readonly DnsAnswerRecord[]): InBailiwick {
  const chain = cnameChain(qname, answers);
  const keptAnswers = answers.filter((r) => r.type !== 'OPT' && chain.has(asciiLower(r.name)));
  const soas = authorities.filter((r) => r.type === 'SOA');
  const keptSoas = soas.filter((r) => {
    const zone = asciiLower(r.name);
    for (const name of chain) if (isAtOrAbove(zone, name)) return true;
    return false;
  });
  const dropped = (answers.length - keptAnswers.length) + (soas.length - keptSoas.length);
  return { answers: keptAnswers, authorities: keptSoas, dropped };
}
