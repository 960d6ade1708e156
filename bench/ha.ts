// The failover pair (issue 17, docs/ha.md): a router killed with SIGKILL and its standby taking over, in the lab
// of test/support/ha-lab.ts (namespaces, two `netbranch router` processes from dist/, a git http-backend on
// loopback). Per round: 20 long-lived TCP connections and a 50 pps ping through the master, more than 2 × the sync
// interval waited, the master killed. Median of ROUNDS rounds. Root only; otherwise reported as not measured.
//   npm run bench -- ha        (or: node --import tsx bench/ha.ts)
import { type BenchReport, median, runAlone } from './report.js';
import { failoverRound, HaLab, noHaLab, TIMING, type FailoverFigures } from '../test/support/ha-lab.js';

const ROUNDS = Number(process.env.NB_HA_ROUNDS ?? 3);
const LOSS_GOAL = '<= 3000';
const SURVIVAL_GOAL = '>= 100';

/** ROUNDS failovers on one lab (a fresh pair and repository each); the rounds that failed, by message. */
async function rounds(): Promise<{ done: FailoverFigures[]; failed: string[] }> {
  const lab = new HaLab(`nbhb${process.pid % 100000}`);
  const done: FailoverFigures[] = [];
  const failed: string[] = [];
  try {
    await lab.build();
    for (let i = 0; i < ROUNDS; i++) {
      try { done.push(await failoverRound(lab, TIMING)); } catch (e) {
        failed.push((e as Error).message.slice(0, 300));
        for (const r of ['a', 'b'] as const) await lab.stopRouter(r, 'SIGKILL');
      }
    }
  } finally {
    await lab.teardown();
  }
  return { done, failed };
}

export async function run(report: BenchReport): Promise<void> {
  if (noHaLab) {
    report.add('ha.failover_loss_ms', null, 'ms', LOSS_GOAL, `not measured: ${noHaLab}`);
    report.add('ha.tcp_survival_pct', null, '%', SURVIVAL_GOAL, `not measured: ${noHaLab}`);
    return;
  }
  const { done, failed } = await rounds();
  const why = failed.length ? `; ${failed.length} round(s) failed: ${failed.join(' | ')}` : '';
  if (done.length === 0) {
    report.add('ha.failover_loss_ms', null, 'ms', LOSS_GOAL, `not measured${why}`);
    report.add('ha.tcp_survival_pct', null, '%', SURVIVAL_GOAL, `not measured${why}`);
    return;
  }
  const flags = `--sync-interval ${TIMING.syncIntervalMs} --advert-interval ${TIMING.advertIntervalMs}`;
  const list = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
  report.add('ha.failover_loss_ms', median(done.map((f) => f.ping.lossMs)), 'ms', LOSS_GOAL,
    `ping every 20 ms client → master → server, master killed with SIGKILL: missing replies × 20 ms, median of ${done.length} rounds (${list(done.map((f) => f.ping.lossMs))}); the backup reported master ${list(done.map((f) => f.takeoverMs))} ms after the kill; ping resumed in ${done.filter((f) => f.ping.resumed).length}/${done.length}; ${flags}${why}`);
  report.add('ha.tcp_survival_pct', median(done.map((f) => f.survivalPct)), '%', SURVIVAL_GOAL,
    `of 20 long-lived TCP connections older than 2 × the sync interval (each on an outside port not its own: an idle holder from another inside address took that, so only the synced table can give the standby the binding), those still echoing after the failover with no reset or error, median of ${done.length} rounds (${done.map((f) => `${f.survived}/${f.eligible}`).join(', ')}); bindings b held at the kill (after 2.5 × the sync interval): ${done.map((f) => `${f.bindings.heldAtKill}/${f.bindings.translated}`).join(', ')}, and kept after it, same port: ${done.map((f) => `${f.bindings.kept}/${f.bindings.translated}`).join(', ')}; all echoing again ${list(done.map((f) => f.recoveredMs ?? NaN))} ms after the kill; new connections through the new master: ${done.map((f) => `${f.fresh.ok}/${f.fresh.opened}`).join(', ')}; ${flags}${why}`);
}

await runAlone(import.meta.url, run);
