// The examples in README.md and docs/*.md, as test/docs-examples.test.ts runs them. A fenced block tagged `sh`
// is a runnable example: every line runs verbatim, as root, from the checkout, after `npm install`. Other
// tags are not run (`console`: a transcript with output; `ts`, `json`, `python`, … : code or data). An HTML
// comment right before a block steers the test, statements separated by `;`:
//   <!-- doc-test: root; session router; serve "npx netbranch router" until ready; timeout 90 -->
//   root                      needs root (TAP devices, namespaces); skipped, with a line, when not root
//   session NAME              blocks of one file with one NAME run in one sandbox, in order (a second terminal)
//   serve "PREFIX" until X    the command starting with PREFIX is a server: started in the background, waited
//                             for (X: `ready`, the JSON ready line on its output, or an absolute path that
//                             appears), and stopped with SIGTERM when the session ends
//   timeout SECONDS           the bound for this block (default 60)
//   file PATH                 (a non-sh block) this content is a file the reader saves at PATH (mode 0600)
//   skip "REASON"             not run; the test prints REASON, and still checks that the paths it names exist
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Serve { prefix: string; until: string }

export interface Directive {
  skip?: string;
  root: boolean;
  session?: string;
  serve: Serve[];
  timeoutS: number;
  file?: string;
}

export interface DocBlock {
  /** 'README.md', 'docs/router.md' */
  doc: string;
  /** 1-based line of the block's first content line in the doc. */
  line: number;
  lang: string;
  lines: string[];
  directive: Directive;
  /** Why the block breaks the rules (empty: it follows them). */
  problems: string[];
}

export const DEFAULT_TIMEOUT_S = 60;
const SHELL_TAGS = new Set(['sh', 'bash', 'shell']);
/** First words that make an untagged block a shell example in disguise. */
const SHELL_WORDS = new Set(['npx', 'npm', 'node', 'sudo', 'netbranch', 'ip', 'git', 'curl', 'kill', 'cd', 'mkdir', 'ping', 'tcpdump', 'python3', 'bash', 'printf', 'echo', 'export']);

/** README.md and docs/*.md under `root`, as paths relative to it. */
export function docFiles(root: string): string[] {
  return ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
}

export const isShell = (b: DocBlock): boolean => SHELL_TAGS.has(b.lang);

/** Every fenced block of one markdown text, with its directive and the rules it breaks. */
export function parseDoc(doc: string, text: string): DocBlock[] {
  const src = text.split('\n');
  const blocks: DocBlock[] = [];
  let pending: string | null = null; // the directive comment just above, if any
  for (let i = 0; i < src.length; i++) {
    const comment = /^<!--\s*doc-test:(.*?)-->\s*$/.exec(src[i]);
    if (comment) { pending = comment[1]; continue; }
    const fence = /^(`{3,})\s*([\w-]*)/.exec(src[i]);
    if (!fence) { if (src[i].trim() !== '') pending = null; continue; }
    const end = src.findIndex((l, j) => j > i && l.startsWith(fence[1]) && l.trim() === fence[1]);
    const close = end < 0 ? src.length : end;
    const problems: string[] = end < 0 ? ['the fence is never closed'] : [];
    const directive = parseDirective(pending ?? '', problems);
    const block: DocBlock = { doc, line: i + 2, lang: fence[2], lines: src.slice(i + 1, close), directive, problems };
    lint(block);
    blocks.push(block);
    pending = null;
    i = close;
  }
  return blocks;
}

export function readDoc(root: string, doc: string): DocBlock[] {
  return parseDoc(doc, readFileSync(join(root, doc), 'utf8'));
}

/** `skip "a reason"; root` → statements of tokens; a quoted token keeps its spaces. */
function statements(text: string): string[][] {
  const out: string[][] = [[]];
  for (const m of text.matchAll(/"([^"]*)"|(;)|([^\s;"]+)/g)) {
    if (m[2]) out.push([]);
    else out[out.length - 1].push(m[1] ?? m[3]);
  }
  return out.filter((s) => s.length);
}

export function parseDirective(text: string, problems: string[]): Directive {
  const d: Directive = { root: false, serve: [], timeoutS: DEFAULT_TIMEOUT_S };
  for (const [key, ...args] of statements(text)) {
    if (key === 'root' && args.length === 0) d.root = true;
    else if (key === 'skip' && args.length === 1) d.skip = args[0];
    else if (key === 'session' && args.length === 1) d.session = args[0];
    else if (key === 'file' && args.length === 1 && args[0].startsWith('/')) d.file = args[0];
    else if (key === 'timeout' && args.length === 1 && Number(args[0]) > 0) d.timeoutS = Number(args[0]);
    else if (key === 'serve' && args.length === 3 && args[1] === 'until' && (args[2] === 'ready' || args[2].startsWith('/'))) d.serve.push({ prefix: args[0], until: args[2] });
    else problems.push(`doc-test directive not understood: '${[key, ...args].join(' ')}' (root; skip "why"; session NAME; serve "PREFIX" until ready|/PATH; timeout S; file /PATH)`);
  }
  return d;
}

/** Where a line's shell comment starts (-1: none), and the quote still open at its end, given the one open at its start. */
export function scanLine(line: string, open = ''): { comment: number; open: string } {
  let quote = open;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) { if (c === quote) quote = ''; else if (c === '\\' && quote === '"') i++; continue; }
    if (c === '\\') i++;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return { comment: i, open: '' };
  }
  return { comment: -1, open: quote };
}

/** A line without its shell comment (a `#` that starts a word outside quotes). */
export function stripComment(line: string, open = ''): string {
  const { comment } = scanLine(line, open);
  return comment < 0 ? line : line.slice(0, comment).trimEnd();
}

const RULES: [RegExp, string][] = [
  [/(^|[\s;&|(])sudo\s/, 'uses sudo: examples run as root (a fresh Debian root has no sudo); say "as root" in the text instead'],
  [/<[A-Za-z_][\w .-]*>/, 'has a <placeholder>: show a value that works, or how to get it'],
  [/…|\.\.\./, 'has an ellipsis: show the whole command'],
  [/^\s*\$\s/, 'has a `$ ` prompt: a runnable example is the commands alone (a transcript with output is a ```console block)'],
  [/\s\[--/, 'has synopsis brackets ([--flag]): show a command that runs, and the synopsis in the text'],
  [/(^\s*|[;&|(]\s*)netbranch\s/, 'runs `netbranch` bare: after npm install it is `npx netbranch` (not on PATH)'],
];

function lint(b: DocBlock): void {
  if (!isShell(b)) {
    const first = b.lines.find((l) => l.trim() !== '' && !l.trim().startsWith('#'))?.trim().split(/\s/)[0] ?? '';
    if (b.lang === '' && SHELL_WORDS.has(first)) b.problems.push('an untagged shell example: tag it ```sh (this test runs it) or ```console (a transcript, not run)');
    if (b.directive.serve.length || b.directive.session || b.directive.root) b.problems.push('serve/session/root apply to ```sh blocks only');
    return;
  }
  if (b.directive.skip) return;
  b.lines.forEach((l, k) => {
    const code = stripComment(l);
    for (const [re, why] of RULES) if (re.test(code)) b.problems.push(`line ${b.line + k} ${why}: ${l.trim()}`);
  });
  for (const s of b.directive.serve) {
    if (!b.lines.some((l) => l.trim().startsWith(s.prefix))) b.problems.push(`serve "${s.prefix}": no line of the block starts with it`);
  }
}
