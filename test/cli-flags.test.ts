// Bad flags are one line on stderr and exit 2, checked before anything is printed or opened: a
// banner before the error, a flag that silently does nothing, or a router on its network's
// broadcast address are all refused here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noTap, runCli } from './support/cli.js';

const id = process.pid % 100_000;
const inside = `nbfi${id}:10.164.1.1/24`;
const outside = `nbfo${id}:10.164.2.1/24`;

/** Exit 2, nothing on stdout, one line on stderr matching `line`. */
function assertRefused(args: string[], line: RegExp): void {
  const r = runCli(args, 20_000);
  assert.equal(r.stdout, '', `${args.join(' ')}: printed before refusing`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr.trimEnd(), line, args.join(' '));
  assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
}

test('demo --seed x: the error, and no banner before it', () => {
  assertRefused(['demo', '--seed', 'x'], /^netbranch: --seed must be an integer from 0 to 4294967295, got 'x'$/);
});

test('every command checks its flags before it prints anything', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-flags-'));
  try {
    assertRefused(['sim', '--seed', 'x'], /^netbranch: --seed must be an integer/);
    assertRefused(['sim', '--nodes', '3', '--api-node', '5', '--api', `unix:${join(dir, 'api.sock')}`], /^netbranch: --api-node must be a node from 0 to 2, got 5$/);
    assertRefused(['demo', '--store', 'nowhere'], /^netbranch: --store must be memory or git:DIR/);
    assertRefused(['store-demo', '--seed', 'x'], /^netbranch: --seed must be an integer/);
    assertRefused(['stress', '--ops', 'x'], /--ops must be an integer/);
    assertRefused(['watch', 'arp', '--count', 'x'], /^netbranch: --count must be an integer/);
    assertRefused(['host', '--tap', `nbfh${id}:10.199.79.1/24`, '--workers', '0'], /^netbranch: --workers must be an integer from 1 to 64/);
    assertRefused(['router', '--inside', inside, '--outside', outside, '--max-flows', 'many'], /^netbranch: --max-flows must be an integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--flush-interval and --git-history without --store git:DIR: one line, exit 2 (router and sim)', () => {
  const needsGit = (flag: string) => new RegExp(`^netbranch: ${flag} needs --store git:DIR: it tunes the git store, and this run has none$`);
  assertRefused(['router', '--inside', inside, '--outside', outside, '--flush-interval', '500'], needsGit('--flush-interval'));
  assertRefused(['router', '--inside', inside, '--outside', outside, '--store', 'hashtable', '--flush-interval', '500'], needsGit('--flush-interval'));
  assertRefused(['router', '--inside', inside, '--outside', outside, '--git-history', '10'], needsGit('--git-history'));
  assertRefused(['sim', '--seconds', '1', '--flush-interval', '500'], needsGit('--flush-interval'));
  assertRefused(['sim', '--seconds', '1', '--git-history', '10'], needsGit('--git-history'));
});

test("the router and host refuse a network's network or broadcast address as their own", () => {
  assertRefused(['router', '--inside', `nbfi${id}:10.164.1.0/24`, '--outside', outside],
    /^netbranch: --inside: 10\.164\.1\.0 is the network address of 10\.164\.1\.0\/24, not a host address \(e\.g\. 10\.164\.1\.1\/24\)$/);
  assertRefused(['router', '--inside', inside, '--outside', `nbfo${id}:10.164.2.255/24`],
    /^netbranch: --outside: 10\.164\.2\.255 is the broadcast address of 10\.164\.2\.0\/24/);
  assertRefused(['router', '--inside', `nbfi${id}:10.164.0.127/25`, '--outside', outside], /^netbranch: --inside: 10\.164\.0\.127 is the broadcast address of 10\.164\.0\.0\/25/);
  assertRefused(['host', '--tap', `nbfh${id}:10.199.79.0/24`], /^netbranch: --tap: 10\.199\.79\.0 is the network address/);
});

test('host --tap lo: one line naming the flag and what lo is, never a suggestion to delete it', { skip: noTap }, () => {
  const r = runCli(['host', '--tap', 'lo:10.199.80.1/24'], 20_000);
  assert.equal(r.stdout, '');
  assert.doesNotMatch(r.stderr, /ip link del|delete/);
  assert.match(r.stderr.trimEnd(), /^netbranch: --tap: 'lo' is the loopback device, not a TAP this process can open \(.*\)\. Fix: pick another name for the TAP\.$/);
  assert.equal(r.status, 2);
});

test('the pair flags: --peer needs git and an HTTP URL, each tuning flag needs its own, --vrrp a static outside', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-flags-'));
  const git = ['--store', `git:${join(dir, 'store')}`];
  try {
    const r = ['router', '--inside', inside, '--outside', outside];
    assertRefused([...r, '--peer', 'http://127.0.0.1:1/t.git'], /^netbranch: --peer needs --store git:DIR/);
    assertRefused([...r, ...git, '--peer', 'git://127.0.0.1/t.git'], /^netbranch: --peer git:\/\/127\.0\.0\.1\/t\.git: only git's smart HTTP is spoken/);
    assertRefused([...r, ...git, '--peer', 'not a url'], /^netbranch: --peer must be a URL like git\+http:\/\/HOST:PORT\/REPO, got 'not a url'$/);
    assertRefused([...r, ...git, '--peer', 'git+http://127.0.0.1:1/t.git', '--router-name', 'a/b'], /^netbranch: --router-name must be 1-63 letters/);
    assertRefused([...r, ...git, '--peer', 'git+http://127.0.0.1:1/t.git', '--sync-interval', '5'], /^netbranch: --sync-interval must be a number from 100 to 3600000, got '5'$/);
    assertRefused([...r, '--router-name', 'a'], /^netbranch: --router-name needs --peer$/);
    assertRefused([...r, '--sync-interval', '500'], /^netbranch: --sync-interval needs --peer$/);
    assertRefused([...r, '--priority', '200'], /^netbranch: --priority needs --vrrp$/);
    assertRefused([...r, '--advert-interval', '500'], /^netbranch: --advert-interval needs --vrrp$/);
    assertRefused([...r, '--vrrp', '256'], /^netbranch: --vrrp must be an integer from 1 to 255, got '256'$/);
    assertRefused([...r, '--vrrp', '7', '--priority', '255'], /^netbranch: --priority must be an integer from 1 to 254, got '255'$/);
    assertRefused(['router', '--inside', inside, '--outside', `nbfo${id}:dhcp`, '--vrrp', '7'], /^netbranch: --vrrp needs a static --outside address/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--check names the pair: the peer branch and the VRRP router', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-flags-'));
  try {
    const res = runCli(['router', '--inside', inside, '--outside', outside, '--store', `git:${join(dir, 'store')}`,
      '--peer', 'git+http://127.0.0.1:1/t.git', '--router-name', 'left', '--vrrp', '7', '--priority', '200', '--check'], 20_000);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /peer http:\/\/127\.0\.0\.1:1\/t\.git as routers\/left, vrrp 7 priority 200/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
