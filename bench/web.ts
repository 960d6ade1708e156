// The live web page's update latency (api/server/web/): a new NAT flow's first datagram → its row drawn on the page
// in headless Chromium. As root, with test/web-page.test.ts's lab: `netbranch router --http` with its TAPs in
// namespaces, a UDP echo behind it, Debian's chromium driven over CDP by playwright-core.
//   npm run bench -- web        (or: node --import tsx bench/web.ts)
import { type BenchReport, percentile, runAlone } from './report.js';
import { missing, noLab, sleep } from '../test/support/services-lab.js';
import { Chromium, noBrowser, WebLab, WebPage } from '../test/support/browser.js';

const FLOWS = Number(process.env.NB_WEB_FLOWS ?? 9);
const KEY = 'web.update_latency_ms';
const GOAL = '<= 1000';

export async function run(report: BenchReport): Promise<void> {
  const tool = noLab ? null : missing('python3');
  const why = noLab || noBrowser || (tool ? `${tool} is not installed` : false);
  if (why) return report.add(KEY, null, 'ms', GOAL, `not measured: ${why}`);
  const lab = new WebLab(`nbwb${process.pid % 10000}`);
  let browser: Chromium | null = null;
  try {
    await lab.start();
    const first = await lab.flow(42_000); // the client's first packet also resolves ARP: not one of the samples
    browser = await Chromium.start();
    const web = new WebPage(await browser.page());
    await web.signIn(lab.url, lab.token);
    await web.rowSeen(first.key);
    const ms: number[] = [];
    for (let i = 0; i < FLOWS; i++) {
      const f = await lab.flow(42_001 + i);
      ms.push(await web.rowSeen(f.key, 10_000) - f.sentAt);
      await sleep(150 + ((i * 97) % 300)); // the next flow lands at another point of the 100 ms merge cycles
    }
    if (web.errors.length) throw new Error(`the page logged errors: ${web.errors.join('; ')}`);
    const f = (p: number) => percentile(ms, p).toFixed(0);
    report.add(KEY, percentile(ms, 50), 'ms', GOAL,
      `p50 of ${FLOWS} new UDP flows, each from its first datagram (sent in the client namespace) to its row drawn on the page in headless Chromium: the packet actor's merge, the lookup actor's next merge (both every 100 ms), the event stream, the page's render; p90 ${f(90)} ms, max ${f(100)} ms`);
  } catch (e) {
    report.add(KEY, null, 'ms', GOAL, `not measured: ${(e as Error).message.slice(0, 300)}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await lab.teardown();
  }
}

await runAlone(import.meta.url, run, true);
