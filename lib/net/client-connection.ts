import { Buffer } from 'node:buffer';
import net from 'node:net';
import { decodeHeader, encodeHeader, type PacketHeader } from '../protocol/header.ts';
import { CMD, HEADER_LEN, commandName } from '../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../protocol/errno.ts';
import { formatAddress } from '../protocol/ip.ts';
import { SocketReader, writeSocket } from './socket-reader.ts';

export interface ConnectOptions {
  /** Seconds (client.conf connect_timeout, default 10). */
  connectTimeout?: number;
  /** Seconds without socket progress before an operation fails (network_timeout). */
  networkTimeout?: number;
  /** Source address: a storage dials out from its bind address, as FastDFS's client_bind does. */
  localAddress?: string;
  highWaterMark?: number;
}

export interface Response {
  header: PacketHeader;
  body: Buffer;
}

/**
 * One protocol connection as seen by the side that dials (client, storage→tracker,
 * storage→storage). Requests are strictly sequential: FastDFS has no request ids.
 */
export class ClientConnection {
  readonly reader: SocketReader;
  readonly address: string;
  /** False once an error left the connection at an unknown position in the stream. */
  usable = true;
  lastUsed = Date.now();
  private readonly networkTimeoutMs: number;

  private constructor(readonly socket: net.Socket, readonly host: string, readonly port: number, opts: ConnectOptions) {
    this.address = formatAddress(host, port);
    this.networkTimeoutMs = (opts.networkTimeout && opts.networkTimeout > 0 ? opts.networkTimeout : 30) * 1000;
    this.reader = new SocketReader(socket, { highWaterMark: opts.highWaterMark, subject: this.address });
    socket.on('close', () => { this.usable = false; });
    socket.on('timeout', () => {
      this.usable = false;
      const err = new FdfsError('ETIMEDOUT', `no progress for ${this.networkTimeoutMs / 1000} s`, { subject: this.address });
      this.reader.fail(err);
      socket.destroy(err);
    });
  }

  static connect(host: string, port: number, opts: ConnectOptions = {}): Promise<ClientConnection> {
    const connectMs = (opts.connectTimeout && opts.connectTimeout > 0 ? opts.connectTimeout : 10) * 1000;
    const address = formatAddress(host, port);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, localAddress: opts.localAddress || undefined, noDelay: true,
        highWaterMark: opts.highWaterMark ?? 256 * 1024 } as net.NetConnectOpts);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new FdfsError('ETIMEDOUT', `connect timed out after ${connectMs / 1000} s`, { subject: address }));
      }, connectMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.on('error', () => { /* surfaced by the reader */ });
        resolve(new ClientConnection(socket, host, port, opts));
      });
      const onError = (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') { reject(toFdfsError(e, address)); return; }
        const code = e.code && ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET'].includes(e.code) ? e.code : 'ECONNREFUSED';
        reject(new FdfsError(code as 'ECONNREFUSED', `cannot connect: ${e.message}`, { subject: address, cause: e }));
      };
      socket.once('error', onError);
    });
  }

  /** Arm the per-operation progress timer (§1.4: bounds each wait, not the whole transfer). */
  private arm(): void { this.socket.setTimeout(this.networkTimeoutMs); }
  private disarm(): void { this.socket.setTimeout(0); }

  write(data: Uint8Array): Promise<void> | undefined {
    return writeSocket(this.socket, data);
  }

  /** Send header + fixed fields; content, if any, follows with write(). */
  async sendHeader(cmd: number, length: number, parts: Buffer[] = [], status = 0): Promise<void> {
    this.arm();
    this.lastUsed = Date.now();
    // cork: header and fixed fields leave in one segment.
    this.socket.cork();
    const pending: Array<Promise<void> | undefined> = [this.write(encodeHeader(length, cmd, status))];
    for (const p of parts) if (p.length) pending.push(this.write(p));
    this.socket.uncork();
    // Promise.all: on a closed socket every write rejects, and each rejection needs a handler.
    await Promise.all(pending);
  }

  /**
   * Read a response header. A non-zero status throws FdfsError and marks the connection unusable:
   * §1.1 says never read a body after an error status (some paths send a length and no body).
   */
  async readHeader(subject?: string, cmd?: number): Promise<PacketHeader> {
    this.arm();
    let h: PacketHeader;
    try {
      h = decodeHeader(await this.reader.readExact(HEADER_LEN));
    } catch (err) {
      this.usable = false;
      throw err instanceof FdfsError ? err : new FdfsError('ENOTCONN', String(err), { subject: subject ?? this.address });
    }
    if (h.cmd !== CMD.RESP || h.length < 0) {
      this.usable = false;
      throw new FdfsError('EPROTO', `unexpected response cmd ${h.cmd} length ${h.length}`, { subject: subject ?? this.address });
    }
    if (h.status !== 0) {
      this.usable = false;
      // A server's status: `server` marks it remote, and the (command, errno) table words it.
      throw new FdfsError(h.status, undefined, {
        subject: subject ?? this.address, server: this.address, command: cmd === undefined ? undefined : commandName(cmd),
      });
    }
    return h;
  }

  /** Read a whole (small) response body. */
  async readBody(length: number, max = 16 * 1024 * 1024): Promise<Buffer> {
    if (length > max) {
      this.usable = false;
      throw new FdfsError('EPROTO', `response body of ${length} bytes exceeds ${max}`, { subject: this.address });
    }
    try {
      const b = await this.reader.readExact(length);
      this.disarm();
      return b;
    } catch (err) {
      this.usable = false;
      throw err;
    }
  }

  /** One request with a small body, one small response. */
  async request(cmd: number, body: Buffer | Buffer[] = [], opts: { status?: number; subject?: string; maxResponse?: number } = {}): Promise<Buffer> {
    const parts = Array.isArray(body) ? body : [body];
    let len = 0;
    for (const p of parts) len += p.length;
    try {
      await this.sendHeader(cmd, len, parts, opts.status ?? 0);
    } catch (err) {
      this.usable = false;
      throw err instanceof FdfsError ? err : new FdfsError('ENOTCONN', String(err), { subject: opts.subject ?? this.address });
    }
    const h = await this.readHeader(opts.subject, cmd);
    return this.readBody(h.length, opts.maxResponse);
  }

  /** QUIT (82) then close: what a storage does on its short tracker connections (§4). */
  async quit(): Promise<void> {
    if (this.usable && !this.socket.destroyed) {
      try { await this.write(encodeHeader(0, CMD.QUIT, 0)); } catch { /* closing anyway */ }
    }
    this.close();
  }

  close(): void {
    this.usable = false;
    this.disarm();
    this.socket.end();
    this.socket.destroySoon?.();
  }

  destroy(): void {
    this.usable = false;
    this.socket.destroy();
  }

  idle(): void {
    this.disarm();
    this.lastUsed = Date.now();
  }
}
