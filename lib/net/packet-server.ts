import { Buffer } from 'node:buffer';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { decodeHeader, encodeHeader, type PacketHeader } from '../protocol/header.ts';
import { CMD, HEADER_LEN, commandName } from '../protocol/codes.ts';
import { ERRNO, FdfsError, errnoOf, errnoName } from '../protocol/errno.ts';
import { normalizeIp, formatAddress } from '../protocol/ip.ts';
import { SocketReader, writeSocket } from './socket-reader.ts';
import { listenOn } from './listen-check.ts';
import { connectionChannel, requestChannel, requestStartChannel, type RequestEvent } from '../util/events.ts';

/**
 * The connection loop shared by tracker and storage: frame packets, dispatch by command code,
 * send the status. Each command's behaviour lives in its own handler (one table per daemon).
 */

export interface Handler<S = unknown> {
  (req: Request, server: S): Promise<Buffer | Buffer[] | void> | Buffer | Buffer[] | void;
}

export interface PacketServerOptions<S> {
  /** 'tracker' or 'storage': the role of every event published (lib/util/events.ts). */
  name: string;
  handlers: Map<number, Handler<S>>;
  state: S;
  /** Seconds; §1.4 network_timeout (≤ 0 ⇒ 60). */
  networkTimeout: number;
  /** Largest body read whole into memory for commands without streamed content (buff_size). */
  maxBodyLength: number;
  /** Storage daemons close after a header-only EINVAL response (§1.1); trackers do not. */
  closeOnEinval: boolean;
  maxConnections?: number;
  /** allow_hosts matcher: false ⇒ close right after accept, nothing sent (§1.4). */
  allowHost?: (ip: string) => boolean;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;
  /** Socket buffer size; 64 KiB halves loopback throughput (STYLE.md rule 4). */
  highWaterMark?: number;
}

export class Request {
  /** Body bytes still unread. Handlers that stream content consume them through readBody*. */
  remaining: number;
  responded = false;
  /** Set by a handler that wants the connection closed after its response (e.g. QUIT). */
  closeAfter = false;
  /** What the request was about (file id, storage id), for the request event. */
  subject?: string;
  /** Content bytes stored or sent, for the request event (the StorageStat byte counters). */
  contentBytes?: number;

  constructor(readonly header: PacketHeader, readonly conn: Connection) {
    this.remaining = header.length;
  }

  get cmd(): number { return this.header.cmd; }
  get length(): number { return this.header.length; }

  /** The whole body, refused with EINVAL above maxBodyLength (§1.1 buffer limit). */
  async body(max = this.conn.server.options.maxBodyLength): Promise<Buffer> {
    if (this.remaining > max) throw new FdfsError('EINVAL', `package body ${this.remaining} bytes exceeds the buffer of ${max} for ${commandName(this.cmd)}`);
    return this.read(this.remaining);
  }

  async read(n: number): Promise<Buffer> {
    if (n > this.remaining) throw new FdfsError('EINVAL', `request body too short for ${commandName(this.cmd)}`);
    const b = await this.conn.reader.readExact(n);
    this.remaining -= n;
    return b;
  }

  /** Up to max bytes of the body as they arrive; for streaming content to disk. */
  async readSome(max: number): Promise<Buffer> {
    const b = await this.conn.reader.readSome(Math.min(max, this.remaining));
    this.remaining -= b.length;
    return b;
  }

  /** Send a status-0 response whose body is given whole. */
  async reply(body?: Buffer | Buffer[]): Promise<void> {
    const parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
    let len = 0;
    for (const p of parts) len += p.length;
    this.responded = true;
    // One write for header and body: one segment, one wake-up at the peer instead of two.
    await this.conn.write(Buffer.concat([encodeHeader(len, CMD.RESP, 0), ...parts], HEADER_LEN + len));
  }

  /** Start a response whose body the handler streams itself with conn.write(). */
  async replyHeader(length: number, status = 0): Promise<void> {
    this.responded = true;
    await this.conn.write(encodeHeader(length, CMD.RESP, status));
  }
}

export class Connection {
  readonly reader: SocketReader;
  readonly remoteIp: string;
  readonly remotePort: number;
  readonly localIp: string;
  requests = 0;
  closed = false;
  /** Per-connection state of a daemon (e.g. the storage record a JOIN bound it to). */
  data: Record<string, unknown> = {};
  /** True while waiting for the next request header. */
  idle = true;
  /** Set on shutdown: finish the request in flight, then close. */
  closeWhenIdle = false;
  /** Bytes written to the socket so far (request events report the difference). */
  bytesOut = 0;
  /** The request being served (its body may still be arriving). */
  private current: Request | null = null;

  /**
   * True while the package being received is not all here yet: the peer may be waiting for an
   * ACK before it sends the rest (lib/net/quick-ack.ts). A package that arrived whole is answered,
   * and the answer carries the ACK.
   */
  awaitingBytes(): boolean {
    const buffered = this.reader.buffered;
    if (!this.idle && this.current) return this.current.remaining > buffered;
    const length = this.reader.peekLength();
    return length === null || length < 0 || buffered < HEADER_LEN + length;
  }

  constructor(readonly socket: net.Socket, readonly server: PacketServer<any>) {
    this.remoteIp = normalizeIp(socket.remoteAddress);
    this.remotePort = socket.remotePort ?? 0;
    this.localIp = normalizeIp(socket.localAddress);
    this.reader = new SocketReader(socket, { highWaterMark: server.options.highWaterMark, subject: this.address });
  }

  /** ip:port of the peer, built once: every request event and log line names it. */
  get address(): string { return this.addressText ??= formatAddress(this.remoteIp, this.remotePort); }
  private addressText: string | undefined;

  /**
   * §1.4: a response the peer does not read is cut after network_timeout. The socket's idle
   * timer alone takes twice that (Node skips one expiry while a write is still queued), so a
   * write waiting for 'drain' gets its own deadline. `onFlushed` runs once the socket is done with
   * `data` (its error argument set when the write failed), e.g. to reuse the buffer.
   */
  write(data: Uint8Array, onFlushed?: (err?: Error | null) => void): Promise<void> | undefined {
    this.bytesOut += data.length;
    const pending = writeSocket(this.socket, data, onFlushed);
    if (!pending) return undefined;
    const ms = this.server.timeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.server.log('debug', `${this.address}: peer stopped reading for ${ms / 1000} s, closing`);
        this.destroy();
        reject(new FdfsError('ETIMEDOUT', `peer stopped reading for ${ms / 1000} s`, { subject: this.address }));
      }, ms);
      pending.then(() => { clearTimeout(timer); resolve(); }, (err: unknown) => { clearTimeout(timer); reject(err); });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    this.socket.destroySoon?.();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  /** §1.4: an idle connection that has carried a request is never closed for idleness. */
  onTimeout(): void {
    if (this.idle && this.requests > 0 && this.reader.buffered === 0) return;
    this.server.log('debug', `${this.address}: network timeout, closing`);
    this.destroy();
  }

  async serve(): Promise<void> {
    const opts = this.server.options;
    while (!this.closed) {
      this.idle = true;
      if (this.closeWhenIdle) { this.close(); break; }
      if (!(await this.reader.waitForData())) break;
      this.idle = false;
      const started = performance.now();
      const outBefore = this.bytesOut;
      const header = decodeHeader(await this.reader.readExact(HEADER_LEN));
      const req = new Request(header, this);
      this.current = req;
      if (header.length < 0) {
        // A length we cannot even represent: nothing after it can be framed.
        await this.respondError(req, ERRNO.EINVAL);
        this.destroy();
        break;
      }
      if (header.cmd === CMD.QUIT) { this.close(); break; }
      const handler = opts.handlers.get(header.cmd);
      let status = 0;
      if (!handler) {
        this.server.log('warn', `${this.address}: unknown command ${header.cmd}`);
        status = ERRNO.EINVAL;
      } else {
        if (requestStartChannel.hasSubscribers) requestStartChannel.publish({ source: this.server, role: opts.name, command: header.cmd, peer: this.address });
        try {
          const out = await handler(req, opts.state);
          if (!req.responded && !this.closed) {
            // PROTOCOL.md §1.1: pkg_len covers the whole package, and C reads all of it before it
            // answers (§3.11: TRUNCATE does not even cross-check it). A client that declares more
            // than its fields (a Java client's truncate) must not get its answer early and then
            // lose the start of its next request to the skip below.
            if (req.remaining > 0 && req.remaining <= opts.maxBodyLength) await req.read(req.remaining);
            await req.reply(out ?? undefined);
          }
        } catch (err) {
          status = errnoOf(err);
          if (status === 0) status = ERRNO.EIO;
          req.subject ??= (err as FdfsError).subject;
          const level = status === ERRNO.ENOENT || status === ERRNO.EEXIST ? 'debug' : 'info';
          this.server.log(level, `${this.address}: ${commandName(header.cmd)} failed: ${(err as Error).message ?? err}`);
          if (req.responded) {
            // A streamed response already started: the only honest signal left is closing (§3.4).
            this.publish(req, status, started, outBefore);
            this.destroy();
            break;
          }
        }
      }
      if (status !== 0 && !this.closed) {
        const closing = status === ERRNO.EINVAL && opts.closeOnEinval;
        if (!closing && req.remaining > 0 && req.remaining <= opts.maxBodyLength) {
          // Same rule for a refusal the connection survives: the whole package first.
          try { await req.read(req.remaining); } catch { this.publish(req, status, started, outBefore); break; }
        }
        await this.respondError(req, status);
      }
      this.publish(req, status, started, outBefore);
      if (this.closed) break;
      if (status === ERRNO.EINVAL && opts.closeOnEinval) { this.close(); break; }
      if (req.remaining > 0) {
        // Skip what the handler did not read so the next header is framed right; a large
        // unread body (refused upload) is cheaper to cut off than to drain.
        if (req.remaining > opts.maxBodyLength) { this.close(); break; }
        try { await req.read(req.remaining); } catch { break; }
      }
      if (req.closeAfter) { this.close(); break; }
      this.requests++;
    }
  }

  /** One event per request (lib/util/events.ts): counters, metrics and logs read it. */
  private publish(req: Request, status: number, started: number, outBefore: number): void {
    if (!requestChannel.hasSubscribers) return;
    const e: RequestEvent = {
      source: this.server,
      role: this.server.options.name as RequestEvent['role'],
      command: req.cmd,
      commandName: commandName(req.cmd),
      status,
      bytesIn: HEADER_LEN + req.length,
      bytesOut: this.bytesOut - outBefore,
      durationMs: performance.now() - started,
      peer: this.address,
      subject: req.subject,
      contentBytes: req.contentBytes,
    };
    requestChannel.publish(e);
  }

  private async respondError(req: Request, status: number): Promise<void> {
    req.responded = true;
    try { await this.write(encodeHeader(0, CMD.RESP, status)); } catch { /* peer gone */ }
  }
}

export class PacketServer<S> extends EventEmitter {
  readonly server: net.Server;
  readonly connections = new Set<Connection>();
  private stopping = false;

  constructor(readonly options: PacketServerOptions<S>) {
    super();
    this.server = net.createServer({ noDelay: true, highWaterMark: options.highWaterMark ?? 256 * 1024 } as net.ServerOpts, (s) => this.accept(s));
    this.server.on('error', (e) => this.emit('error', e));
  }

  /** §1.4 network_timeout in ms (≤ 0 ⇒ 60 s). */
  get timeoutMs(): number {
    return (this.options.networkTimeout > 0 ? this.options.networkTimeout : 60) * 1000;
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string): void {
    this.options.log?.(level, msg);
  }

  private accept(socket: net.Socket): void {
    const ip = normalizeIp(socket.remoteAddress);
    if (this.stopping) { socket.destroy(); return; }
    if (this.options.allowHost && !this.options.allowHost(ip)) { socket.destroy(); return; }
    const max = this.options.maxConnections ?? 0;
    if (max > 0 && this.connections.size >= max) {
      this.log('warn', `connection from ${ip} refused: max_connections ${max} reached`);
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new Connection(socket, this);
    this.connections.add(conn);
    socket.setTimeout(this.timeoutMs, () => conn.onTimeout());
    socket.on('error', () => { /* reported through the reader */ });
    socket.on('close', () => {
      conn.closed = true;
      this.connections.delete(conn);
      if (connectionChannel.hasSubscribers) connectionChannel.publish({ source: this, role: this.options.name, kind: 'close', peer: conn.address, open: this.connections.size });
      this.emit('connection-closed', conn);
    });
    this.emit('connection', conn);
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ source: this, role: this.options.name, kind: 'open', peer: conn.address, open: this.connections.size });
    conn.serve().catch((err) => {
      this.log('debug', `${conn.address}: ${(err as Error).message}`);
      conn.destroy();
    });
  }

  listen(port: number, host?: string): Promise<net.AddressInfo> {
    return listenOn(this.server, port, host);
  }

  /** Stop accepting, let requests in flight finish (bounded), then close everything. */
  async close(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    const deadline = Date.now() + graceMs;
    // Idle connections go at once; busy ones finish their request within the grace period, so
    // an upload being received when SIGTERM arrives is still stored and acknowledged.
    for (const c of this.connections) {
      c.closeWhenIdle = true;
      if (c.idle && c.reader.buffered === 0) c.close();
    }
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const c of this.connections) c.destroy();
    await closed;
  }
}

export { errnoName };
