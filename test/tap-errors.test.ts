// What opening a TAP says when it cannot work; runs anywhere (no root needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TapError, TapLink, tapSupport } from '../wire/link/tap.js';

test('without a built addon, opening a TAP throws an addon-missing TapError that names the fix', () => {
  // A copy of wire/link/tap.ts in a tree with no build/ directory beside it.
  const dir = mkdtempSync(join(tmpdir(), 'nb-noaddon-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    cpSync(fileURLToPath(new URL('../wire', import.meta.url)), join(dir, 'wire'), { recursive: true });
    const probe = `import { TapLink, TapError } from ${JSON.stringify(join(dir, 'wire', 'link', 'tap.ts'))};
      try { TapLink.open('nbnoaddon0'); console.log('opened'); } catch (e) { console.log(JSON.stringify({ tap: e instanceof TapError, reason: e.reason, message: e.message })); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { tap: boolean; reason: string; message: string };
    assert.equal(out.tap, true);
    assert.equal(out.reason, process.platform === 'linux' ? 'addon-missing' : 'unsupported-platform');
    if (process.platform === 'linux') assert.match(out.message, /not built.*scripts\/build-addon\.mjs/s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tapSupport explains itself when a TAP cannot be opened here, and a TapError is an Error with a reason', () => {
  const s = tapSupport();
  if (!s.ok) {
    assert.ok(s.error instanceof TapError);
    assert.ok(s.error instanceof Error);
    assert.match(s.error.message, /Fix:/, 'every refusal names a fix');
  } else {
    assert.equal(process.platform, 'linux');
  }
  const e = new TapError('permission', 'x', 'EPERM');
  assert.deepEqual([e.name, e.reason, e.code], ['TapError', 'permission', 'EPERM']);
});

const notRoot = process.getuid?.() === 0 ? false : 'needs root to drop to an unprivileged user (as that user, the tapSupport test covers it)';

test('an unprivileged process gets a permission TapError naming root, CAP_NET_ADMIN or a pre-made device', { skip: notRoot || !existsSync('/usr/bin/setpriv') && 'setpriv (util-linux) is missing' }, () => {
  const probe = `import { TapLink } from ${JSON.stringify(fileURLToPath(new URL('../wire/link/tap.ts', import.meta.url)))};
    try { TapLink.open('nbperm${process.pid}'); console.log('opened'); } catch (e) { console.log(JSON.stringify({ reason: e.reason, message: e.message })); }`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', probe], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, HOME: tmpdir() },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { reason: string; message: string };
  assert.equal(out.reason, 'permission');
  assert.match(out.message, /root.*CAP_NET_ADMIN.*ip tuntap add/s);
});

test("opening a device that is not a TAP says what it is and never suggests deleting it (it is not ours)", { skip: notRoot || (tapSupport().ok ? false : 'TAPs cannot be opened here') }, () => {
  const err = (() => { try { TapLink.open('lo'); } catch (e) { return e; } return null; })();
  assert.ok(err instanceof TapError, String(err));
  assert.equal(err.reason, 'bad-name');
  assert.match(err.message, /^'lo' is the loopback device, not a TAP this process can open \(.*\)\. Fix: pick another name for the TAP\.$/);
  assert.doesNotMatch(err.message, /ip link del|delete/);
});
