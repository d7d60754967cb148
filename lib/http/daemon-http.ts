import { RequestMetrics } from '../metrics/request-metrics.ts';
import type { Logger } from '../util/log.ts';
import { HttpServer, sendText, type HttpRoute } from './http-server.ts';

// The HTTP side of a daemon (http.server_port): /metrics (Prometheus text format, prom-client),
// /healthz (200 or 503 with a one-line reason) and, on a storage, the files.

export interface Health {
  ok: boolean;
  reason: string;
}

export interface DaemonHttpOptions {
  role: 'tracker' | 'storage';
  metrics: RequestMetrics;
  health: () => Health;
  files?: HttpRoute;
  log: Logger;
  timeoutSec: number;
}

export function createDaemonHttp(o: DaemonHttpOptions): HttpServer {
  const server = new HttpServer({
    role: o.role,
    log: o.log,
    timeoutSec: o.timeoutSec,
    routes: {
      '/metrics': async (ctx) => {
        ctx.route = 'metrics';
        const body = Buffer.from(await o.metrics.metrics());
        ctx.res.writeHead(200, { 'Content-Type': o.metrics.contentType, 'Content-Length': body.length });
        ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
      },
      '/healthz': (ctx) => {
        ctx.route = 'healthz';
        const h = o.health();
        sendText(ctx.res, h.ok ? 200 : 503, h.reason, { 'Cache-Control': 'no-store' });
      },
    },
    fallback: o.files,
  });
  o.metrics.watchHttp(server);
  return server;
}
