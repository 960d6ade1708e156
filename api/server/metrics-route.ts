// GET /metrics: the stack's counters in Prometheus's text format, for a scraper with a bearer token
// (Prometheus: `authorization: {credentials: TOKEN}`). The data is the `stats` op's answer, asked through
// answerReadOnly, so the token is checked and the request counted where every other HTTP request is.
import type { StatsResult } from '../protocol.js';
import type { HttpRoute } from './http-view.js';
import type { LookupServer } from './lookup-server.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';

export function metricsRoute(api: LookupServer): HttpRoute {
  return {
    matches: (p) => p.length === 1 && p[0] === 'metrics',
    needsToken: true,
    async serve(ctx) {
      const stats = (await api.answerReadOnly({ id: 0, op: 'stats' }, ctx.token, ctx.now)) as StatsResult;
      const text = renderMetrics(stats);
      ctx.res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
      ctx.res.end(ctx.req.method === 'HEAD' ? undefined : text);
    },
  };
}
