// `npm run bench`: runs every suite (or those named: `npm run bench -- store wire`) and writes bench/results/latest.json.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BenchReport } from './report.js';

type Suite = (report: BenchReport) => Promise<void>;

const suites: Record<string, () => Promise<Suite>> = {
  store: async () => (await import('./store.js')).run,
  wire: async () => (await import('./wire.js')).run,
  tap: async () => (await import('./tap.js')).run,
  actors: async () => (await import('./actors.js')).run,
  stress: async () => (await import('./stress.js')).run,
  arp: async () => (await import('./arp.js')).run,
  nat: async () => (await import('./nat.js')).run,
  forward: async () => (await import('./forward.js')).run,
  'router-e2e': async () => (await import('./router-e2e.js')).run,
  'router-idle': async () => (await import('./router-idle.js')).run,
  tcp: async () => (await import('./tcp.js')).run,
  frag: async () => (await import('./frag.js')).run,
  dhcp: async () => (await import('./dhcp.js')).run,
  dns: async () => (await import('./dns.js')).run,
  'nat-remap': async () => (await import('./nat-remap.js')).run,
  git: async () => (await import('./git.js')).run,
  api: async () => (await import('./api.js')).run,
  metrics: async () => (await import('./metrics.js')).run,
  web: async () => (await import('./web.js')).run,
  ha: async () => (await import('./ha.js')).run,
  'ha-sync': async () => (await import('./ha-sync.js')).run,
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const w of wanted) {
  if (!(w in suites)) {
    process.stderr.write(`bench: unknown suite '${w}'; suites: ${Object.keys(suites).join(', ')}\n`);
    process.exit(2);
  }
}
const report = new BenchReport();
const out = fileURLToPath(new URL('./results/latest.json', import.meta.url));
// What this machine lacked for the benchmarks (prebench installs it as root), so a figure not measured here reads as such.
const tools = fileURLToPath(new URL('../scripts/lab-tools.mjs', import.meta.url));
const missing = (JSON.parse(spawnSync(process.execPath, [tools, 'bench', '--missing'], { encoding: 'utf8' }).stdout || '[]') as { probe: string }[]).map((m) => m.probe);
report.add('bench.tools_missing', missing.length, 'tools', undefined, missing.length ? `${missing.join(' ')}: the suites that need them report "not measured"` : 'none');
for (const [name, load] of Object.entries(suites)) {
  if (wanted.length && !wanted.includes(name)) continue;
  process.stdout.write(`\n== ${name}\n`);
  const run = await load();
  await run(report);
  report.write(out); // after each suite, so a later failure keeps what was measured
}
process.stdout.write(`\nwrote ${out}\n`);
