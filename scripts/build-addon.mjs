#!/usr/bin/env node
// Builds the native addons with node-gyp: build/Release/tap.node (TAP devices) and build/Release/sd_notify.node
// (systemd readiness, cli/sd-notify.ts). Run by `npm install`; never fails the install: everything but TAP
// devices works without them, opening a TAP then says why the addon is missing, and the router under systemd
// says once that it cannot notify.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
/** What binding.gyp's targets make. */
const ADDONS = ['tap.node', 'sd_notify.node'];

function warn(message) {
  process.stderr.write(`netbranch: native addons not built: ${message}\n` +
    'netbranch: everything except TapLink and sd_notify works without them; to build them later: node scripts/build-addon.mjs\n');
}

function nodeGypPath() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // npm tells lifecycle scripts where its own bundled node-gyp is.
    const bundled = process.env.npm_config_node_gyp;
    return bundled && existsSync(bundled) ? bundled : null;
  }
}

/** Headers installed beside this node binary (e.g. /usr/include/node), so node-gyp needs no download. */
function localNodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  const versionH = join(prefix, 'include', 'node', 'node_version.h');
  if (!existsSync(versionH)) return null;
  const text = readFileSync(versionH, 'utf8');
  const part = (n) => new RegExp(`#define NODE_${n}_VERSION (\\d+)`).exec(text)?.[1];
  return `v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === process.version ? prefix : null;
}

function main() {
  if (process.platform !== 'linux') return warn(`TAP devices need Linux (this is ${process.platform})`);
  if (process.env.NETBRANCH_SKIP_ADDON) return warn('NETBRANCH_SKIP_ADDON is set');
  const gyp = nodeGypPath();
  if (!gyp) return warn('node-gyp is not installed (npm install node-gyp)');
  const args = [gyp, 'rebuild'];
  const nodedir = localNodeDir();
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 300_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error || r.status !== 0) {
    const tail = output.trim().split('\n').slice(-15).join('\n');
    return warn(`node-gyp ${r.error ? r.error.message : `exited ${r.status}`}; a C++ compiler, make and python3 ` +
      `are needed (Debian: apt-get install build-essential python3)\n${tail}`);
  }
  const missing = ADDONS.filter((f) => !existsSync(join(root, 'build', 'Release', f)));
  if (missing.length) return warn(`node-gyp succeeded but ${missing.map((f) => `build/Release/${f}`).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing`);
  process.stdout.write(`netbranch: built ${ADDONS.map((f) => `build/Release/${f}`).join(' and ')} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

try {
  main();
} catch (err) {
  warn(err instanceof Error ? err.message : String(err));
}
process.exitCode = 0;
