#!/usr/bin/env node
// Builds the TAP addon (build/Release/tap.node) with node-gyp. Run by `npm install`; never fails the install:
// everything but TAP devices works without the addon, and opening a TAP then says why it is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function warn(message) {
  process.stderr.write(`netbranch: TAP addon not built: ${message}\n` +
    'netbranch: everything except TapLink works without it; to build it later: node scripts/build-addon.mjs\n');
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
  if (!existsSync(join(root, 'build', 'Release', 'tap.node'))) return warn('node-gyp succeeded but build/Release/tap.node is missing');
  process.stdout.write(`netbranch: built build/Release/tap.node in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

try {
  main();
} catch (err) {
  warn(err instanceof Error ? err.message : String(err));
}
process.exitCode = 0;
