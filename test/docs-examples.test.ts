// Every shell example in README.md and docs/*.md runs verbatim (the rules: test/support/doc-examples.ts).
// Each session of examples runs in a sandbox of its own (test/support/doc-sandbox.sh): this test's network
// namespace, a private mount namespace (tmpfs /tmp and /run, overlays on /etc, /var and the checkout) and a
// pid namespace, bounded in time; servers an example starts are waited for and stopped with SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { docFiles, isShell, parseDoc, readDoc, stripComment, type DocBlock } from './support/doc-examples.js';
import { commandEnd, sessionsOf, type Session } from './support/doc-session.js';
import { openSandbox, runSession, type Sandbox } from './support/doc-sandbox.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = docFiles(ROOT).map((doc) => ({ doc, blocks: readDoc(ROOT, doc) }));

const one = (text: string) => parseDoc('x.md', text);
const session = (text: string): Session => sessionsOf(one(text))[0];

describe('reading the examples', () => {
  test('an sh block is an example; its directive, its place and its lines are read', () => {
    const [b] = one('intro\n<!-- doc-test: root; session r; serve "npx netbranch router" until ready; timeout 90 -->\n\n```sh\nnpx netbranch router --inside a:10.0.0.1/24\n```\n');
    assert.equal(b.line, 5);
    assert.deepEqual(b.lines, ['npx netbranch router --inside a:10.0.0.1/24']);
    assert.deepEqual(b.directive, { root: true, session: 'r', serve: [{ prefix: 'npx netbranch router', until: 'ready' }], timeoutS: 90 });
    assert.deepEqual(b.problems, []);
  });

  test('what breaks the rules is named with its line: sudo, placeholders, prompts, synopses, bare netbranch, untagged shell', () => {
    const blocks = one('```sh\nsudo ip link\nkill -USR1 <pid>\n$ npx netbranch arp\nnpx netbranch host [--workers 2]\nnetbranch nat\nnpx netbranch arp   # fine: <pid> in a comment\n```\n\n```\nnpx netbranch demo\n```\n<!-- doc-test: bogus -->\n```console\n$ git log\n```\n');
    const found = blocks.flatMap((b) => b.problems.map((p) => p.replace(/:.*$/s, '')));
    assert.deepEqual(found, ['line 2 uses sudo', 'line 3 has a <placeholder>', 'line 4 has a `$ ` prompt', 'line 5 has synopsis brackets ([--flag])', 'line 6 runs `netbranch` bare',
      'an untagged shell example', "doc-test directive not understood"]);
  });

  test('a command runs on over lines inside quotes and after a backslash; comments do not count', () => {
    const lines = ['node -e "', "  import x from './y.ts';", '  run();" &', 'ls \\', '  -l   # a # comment', 'echo "#not a comment"'];
    assert.deepEqual([commandEnd(lines, 0), commandEnd(lines, 3), commandEnd(lines, 5)], [3, 5, 6]);
    assert.equal(stripComment('npx a --b "c # d" # e'), 'npx a --b "c # d"');
  });

  test('blocks that name one session run together; others alone; skipped and broken ones not at all', () => {
    const s = sessionsOf(one('<!-- doc-test: session a -->\n```sh\necho 1\n```\n```sh\necho 2\n```\n<!-- doc-test: session a; root -->\n```sh\necho 3\n```\n<!-- doc-test: skip "no" -->\n```sh\necho 4\n```\n```sh\nsudo echo 5\n```\n'));
    assert.deepEqual(s.map((x) => [x.title, x.blocks.map((b) => b.lines[0]), x.root]), [['x.md:3', ['echo 1', 'echo 3'], true], ['x.md:6', ['echo 2'], false]]);
  });

  test('a skipped example is still checked: the files, test files and bench suites it names exist', () => {
    const [b] = one('<!-- doc-test: skip "npm test runs it" -->\n```sh\nnode --import tsx --test test/store-*.test.ts test/nope-*.test.ts # test/in-a-comment.ts\nnpm run bench -- store && npm run bench -- nope\n```\n');
    assert.equal(b.directive.skip, 'npm test runs it');
    assert.deepEqual(namedPathsMissing(b), ['test/nope-*.test.ts', 'bench/nope.ts']);
  });
});

test('every example in README.md and docs/*.md follows the rules (test/support/doc-examples.ts)', () => {
  const problems = DOCS.flatMap(({ blocks }) => blocks.flatMap((b) => b.problems.map((p) => `${b.doc}:${b.line}: ${p}`)));
  assert.deepEqual(problems, []);
});

test('.ci/run runs exactly the README\'s set-up commands, so CI proves the README', () => {
  const setup = DOCS[0].blocks.find((b) => isShell(b) && b.lines.some((l) => l.startsWith('npm install')));
  assert.ok(setup, 'README.md has no set-up block starting with npm install');
  const readme = setup.lines.map((l) => stripComment(l).trim()).filter(Boolean);
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8').split('\n').map((l) => stripComment(l).trim())
    .filter((l) => l && !/^(set|cd|echo) /.test(l)); // the shell's own options, its directory and headings
  assert.deepEqual(ci, readme);
});

/** Files and test files a skipped example names (test/x.test.ts, bench/y.ts, `npm run bench -- z`) exist. */
function namedPathsMissing(b: DocBlock): string[] {
  const code = b.lines.map((l) => stripComment(l)).join('\n');
  const paths = [...code.matchAll(/(?:^|\s)((?:test|bench|cli|docs|scripts|wire|store|actors|api)\/[\w./*-]+)/g)].map((m) => m[1]);
  const suites = [...code.matchAll(/npm run bench -- ([\w-]+)/g)].map((m) => `bench/${m[1]}.ts`);
  const exists = (p: string) => p.includes('*')
    ? readdirSync(join(ROOT, p.slice(0, p.lastIndexOf('/')))).some((f) => new RegExp(`^${p.slice(p.lastIndexOf('/') + 1).replace(/\./g, '\\.').replace(/\*/g, '.*')}$`).test(f))
    : existsSync(join(ROOT, p));
  return [...paths, ...suites].filter((p) => !exists(p));
}

describe('the examples, run verbatim in a sandbox', () => {
  let box: Sandbox | string = 'not opened';
  before(() => { box = openSandbox(); if (typeof box === 'string') process.stdout.write(`# skipping every doc example: ${box}\n`); });
  after(() => { if (typeof box !== 'string') box.close(); });

  const runnable = DOCS.flatMap(({ blocks }) => sessionsOf(blocks));
  const rootOnly = runnable.filter((s) => s.root);
  const notRoot = process.getuid?.() !== 0;
  if (notRoot && rootOnly.length) {
    process.stdout.write(`# skipping the ${rootOnly.length} doc examples that need root (${rootOnly.map((s) => s.title).join(', ')}): they make TAP devices and namespaces; run npm test as root\n`);
  }

  for (const s of notRoot ? runnable.filter((x) => !x.root) : runnable) {
    test(`${s.title}: ${s.blocks.flatMap((b) => b.lines).find((l) => l.trim() && !l.trim().startsWith('#'))?.trim().slice(0, 70)}`, { timeout: (s.timeoutS + 40) * 1000 }, async (t) => {
      if (typeof box === 'string') { t.skip(box); return; }
      const r = await runSession(box, s, ROOT);
      assert.ok(r.ok, `${r.failures.join('\n')}\n--- the session's last output:\n${r.log.split('\n').slice(-30).join('\n')}`);
    });
  }

  for (const b of DOCS.flatMap(({ blocks }) => blocks.filter((x) => isShell(x) && x.directive.skip))) {
    test(`${b.doc}:${b.line} is not run (${b.directive.skip}); the files it names exist`, () => {
      assert.deepEqual(namedPathsMissing(b), []);
    });
  }
});

describe('the sandbox itself', { skip: process.getuid?.() !== 0 && 'the sandbox checks run as root (CI does)' }, () => {
  let box: Sandbox | string = 'not opened';
  before(() => { box = openSandbox(); });
  after(() => { if (typeof box !== 'string') box.close(); });
  const tag = `nbdoc-probe-${process.pid}`;
  const run = async (text: string, slackS?: number) => {
    assert.equal(typeof box, 'object', String(box));
    return runSession(box as Sandbox, session(text), ROOT, slackS);
  };

  test('what an example writes in /tmp, /etc, /var, /run or the checkout stays in the sandbox', async () => {
    const r = await run(`\`\`\`sh\nmkdir -p /tmp/${tag} /etc/${tag} /var/lib/${tag} /run/${tag} && touch ${tag}.txt && ls ${tag}.txt /etc/${tag}\n\`\`\`\n`);
    assert.ok(r.ok, r.failures.join('\n') + r.log);
    for (const p of [`/tmp/${tag}`, `/etc/${tag}`, `/var/lib/${tag}`, `/run/${tag}`, join(ROOT, `${tag}.txt`)]) assert.equal(existsSync(p), false, p);
  });

  test('a server is waited for until ready, the next lines run against it, and it is stopped with SIGTERM at the end', async () => {
    const server = `bash -c 'trap "echo got-term; exit 0" TERM; sleep 1; echo "{\\"event\\":\\"ready\\"}"; while :; do sleep 0.1; done'`;
    const r = await run(`<!-- doc-test: serve "bash -c" until ready -->\n\`\`\`sh\n${server}\necho follow-up\n\`\`\`\n`);
    assert.ok(r.ok, r.failures.join('\n') + r.log);
    const at = (s: string) => r.log.indexOf(s);
    assert.ok(at('"event":"ready"') >= 0 && at('"event":"ready"') < at('follow-up') && at('follow-up') < at('got-term'), r.log);
  });

  test('a failing line is reported at its place in the doc, and a server that never gets ready is one line', async () => {
    const r = await run('```sh\ntrue\nfalse   # fails\necho never\n```\n');
    assert.equal(r.ok, false);
    assert.match(r.failures.join('\n'), /^x\.md:3 `false   # fails` failed \(exit 1\)$/m);
    assert.doesNotMatch(r.log, /never/);
    const r2 = await run('<!-- doc-test: serve "sleep" until /tmp/never -->\n```sh\nsleep 0.2 &\n```\n');
    assert.match(r2.failures.join('\n'), /server 'sleep' exited \(0\) before it was ready \(\/tmp\/never\)/);
  });

  test('a process an example leaves running fails the session and dies with the sandbox; so does everything at the time bound', async () => {
    const r = await run(`\`\`\`sh\nsleep 600.${process.pid}1 &\n\`\`\`\n`);
    assert.equal(r.ok, false);
    assert.match(r.failures.join('\n'), /left running: \d+ sleep 600/);
    const r2 = await run(`<!-- doc-test: timeout 3 -->\n\`\`\`sh\nsleep 600.${process.pid}2 &\nsleep 600.${process.pid}3\n\`\`\`\n`, 0);
    assert.match(r2.failures.join('\n'), /timed out after 3 s in the block at x\.md:3/);
    const alive = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`600.${process.pid}`); } catch { return false; }
    });
    for (let i = 0; i < 50 && alive(); i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(alive(), false, 'a sleep the examples started outlived its sandbox');
  });
});
