import http from 'node:http';
import type net from 'node:net';
import { normalizeIp, formatAddress } from '../protocol/ip.ts';
import { httpChannel, type HttpEvent } from '../util/events.ts';
import type { Logger } from '../util/log.ts';
import { listenOn } from '../net/listen-check.ts';

// The HTTP listener both daemons share (node:http): /metrics, /healthz, and for the storage the
// files. Each request ends with one event on the fdfs:http channel (lib/util/events.ts).

export interface HttpContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** Path without the query, as sent (still percent-encoded). */
  path: string;
  query: URLSearchParams;
  peer: string;
  /** Filled by the route for the event. */
  route: string;
  subject?: string;
  via?: HttpEvent['via'];
}

export type HttpRoute = (ctx: HttpContext) => Promise<void> | void;

export interface HttpServerOptions {
  role: 'tracker' | 'storage';
  /** Fixed routes by exact path (/metrics, /healthz). */
  routes: Record<string, HttpRoute>;
  /** Everything else (the storage's files); default 404. */
  fallback?: HttpRoute;
  log: Logger;
  /** Seconds without progress before a connection is dropped (network_timeout). */
  timeoutSec: number;
  /** Bytes per response write; also the socket high-water mark. */
  highWaterMark?: number;
}

/** A one-line plain-text answer (errors, health). */
export function sendText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

export class HttpServer {
  readonly server: http.Server;
  private port = 0;

  constructor(private readonly opts: HttpServerOptions) {
    this.server = http.createServer({ highWaterMark: opts.highWaterMark ?? 256 * 1024, keepAlive: true } as http.ServerOptions, (req, res) => { void this.handle(req, res); });
    // A reader that stops reading holds a socket, not memory: writes wait on 'drain' (pipeline),
    // and a connection without progress for network_timeout seconds is dropped.
    this.server.timeout = Math.max(1, opts.timeoutSec) * 1000;
    this.server.keepAliveTimeout = 5000;
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 0;
    this.server.on('clientError', (_err, socket: net.Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  get listenPort(): number { return this.port; }

  async listen(port: number, host?: string): Promise<net.AddressInfo> {
    const a = await listenOn(this.server, port, host);
    this.server.on('error', (e) => this.opts.log('error', `HTTP listener: ${e.message}`));
    this.port = a.port;
    return a;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      // Downloads in flight get a moment; then sockets go (a slow reader must not hold shutdown).
      setTimeout(() => this.server.closeAllConnections(), 2000).unref();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const ctx: HttpContext = {
      req, res,
      path: q < 0 ? raw : raw.slice(0, q),
      query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
      peer: formatAddress(normalizeIp(req.socket.remoteAddress), req.socket.remotePort ?? 0),
      route: 'other',
    };
    // Headers included; with keep-alive, the socket's total minus its total at the start.
    const socket = req.socket;
    const outBefore = socket.bytesWritten;
    res.once('close', () => {
      if (!httpChannel.hasSubscribers) return;
      const e: HttpEvent = {
        source: this, role: this.opts.role, method: req.method ?? '', route: ctx.route,
        status: res.statusCode, bytesOut: socket.bytesWritten - outBefore, durationMs: performance.now() - started, peer: ctx.peer,
        subject: ctx.subject, via: ctx.via,
      };
      httpChannel.publish(e);
    });
    try {
      const route = this.opts.routes[ctx.path];
      if (route) await route(ctx);
      else if (this.opts.fallback) await this.opts.fallback(ctx);
      else sendText(res, 404, 'not found');
    } catch (err) {
      this.opts.log('warn', `HTTP ${req.method} ${raw.slice(0, 200)} from ${ctx.peer}: ${(err as Error).message}`);
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    }
  }
}
