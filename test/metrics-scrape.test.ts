// A real Prometheus (Debian's `prometheus`, which scripts/lab-tools.mjs installs for root runs) scrapes /metrics of a
// router on worker threads with a bearer token, and its query API shows the values; promtool lints the exposition.
// Loopback only: Prometheus listens on 127.0.0.1, stores into a temp dir, and is killed by its PID at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missing } from './support/services-lab.js';
import { rig, waitFor } from './support/router-rig.js';
import { freePort } from './support/free-port.js';

const noPrometheus = missing('prometheus') ? 'prometheus is not installed (scripts/lab-tools.mjs installs the Debian package when npm test runs as root)' : false;
const TOKEN = 'prometheus-scrape-token-0123456789';


/** Two jobs on the same target: one with the router's token, one with a token it does not know. */
function config(target: string): string {
  const job = (name: string, token: string) => `  - job_name: ${name}
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: ${token}
    static_configs:
      - targets: ['${target}']
`;
  return `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n${job('netbranch', TOKEN)}${job('stranger', 'a-token-this-router-never-issued')}`;
}

/** One instant query's result vector, through Prometheus's HTTP API. */
async function query(base: string, q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(body.status, 'success', JSON.stringify(body));
  return body.data!.result;
}

/** Polls `check` every 250 ms for at most `ms`; the last failure is the error. */
async function eventually<T>(what: string, ms: number, check: () => Promise<T>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) throw err;
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a real Prometheus scrapes /metrics with a bearer token and answers queries of it; a wrong token is a down target', { skip: noPrometheus, timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-prom-'));
  let prom: ChildProcess | null = null;
  let log = '';
  let r: Awaited<ReturnType<typeof rig>> | null = null;
  t.after(async () => {
    if (prom && prom.exitCode === null) {
      prom.kill('SIGTERM');
      const gone = new Promise((res) => prom!.once('exit', res));
      if (await Promise.race([gone.then(() => true), new Promise((res) => setTimeout(() => res(false), 5_000))]) === false) prom.kill('SIGKILL');
    }
    await r?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const port = await freePort();
  r = await rig('memory', { api: { unix: join(dir, 'api.sock'), http: { host: '127.0.0.1', port }, tokens: [{ name: 'prometheus', token: TOKEN, scopes: ['read:*'] }], role: 'router' } });
  for (let i = 0; i < 3; i++) r.send(44_000 + i, i);
  await waitFor('three echoes', () => r!.replies().length === 3);

  // promtool's lint: names, units, counters' _total, HELP on every family.
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);

  const webPort = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), config(`127.0.0.1:${port}`));
  prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${webPort}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  prom.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const base = `http://127.0.0.1:${webPort}`;

  const nat = await eventually('netbranch_table_entries{table="nat"} in Prometheus', 45_000, async () => {
    if (prom!.exitCode !== null) throw Object.assign(new Error(`prometheus exited ${prom!.exitCode}: ${log}`), { fatal: true });
    const v = await query(base, 'netbranch_table_entries');
    const row = v.find((s) => s.metric.table === 'nat');
    assert.ok(row && Number(row.value[1]) === 3, JSON.stringify(v));
    return v;
  });
  assert.ok(nat.every((s) => s.metric.job === 'netbranch' && s.metric.instance === `127.0.0.1:${port}`), 'only the token\'s job has samples');
  assert.deepEqual(nat.map((s) => s.metric.table).sort(), ['arp', 'dhcp-client', 'dnat', 'dns', 'frag', 'leases', 'nat']);

  // Each job keeps its own scrape offset: the stranger's first scrape may come a second later.
  await eventually('both jobs scraped', 10_000, async () => {
    const up = await query(base, 'up');
    assert.deepEqual(up.map((s) => [s.metric.job, s.value[1]]).sort(), [['netbranch', '1'], ['stranger', '0']]);
  });
  const targets = (await (await fetch(`${base}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { job: string }; lastError: string }[] } };
  const stranger = targets.data.activeTargets.find((t) => t.labels.job === 'stranger')!;
  assert.match(stranger.lastError, /401/);

  // The histogram and the counters work in PromQL as they would on a dashboard.
  const p99 = await query(base, 'histogram_quantile(0.99, sum by (le) (netbranch_merge_duration_seconds_bucket))');
  assert.equal(p99.length, 1);
  assert.ok(Number(p99[0].value[1]) > 0 && Number(p99[0].value[1]) <= 0.25, `merge p99 ${p99[0].value[1]} s`);
  const made = await query(base, 'sum(netbranch_nat_inserts_total{kind="masquerade"})');
  assert.equal(made[0].value[1], '3');
});
