import { Buffer } from 'node:buffer';
import { ClientConnection } from '../../net/client-connection.ts';
import { CMD, HEADER_LEN, commandName } from '../../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../../protocol/errno.ts';
import { decodeHeader, encodeHeader } from '../../protocol/header.ts';
import { sendFileRange, type Content } from './content-snapshot.ts';

// One sync connection to a peer storage (PROTOCOL.md §5), pipelined when the peer takes it:
// requests are written in order without waiting for the previous answer, and answers are matched
// in order (FastDFS has no request ids; the receiver serves one request at a time per connection,
// so order is kept). This hides the round trip per record that would otherwise bound replication
// of small files. A C storage must get one request at a time (window 1): its edge-triggered event
// loop leaves a request that arrived before its previous answer went out unread until more bytes
// arrive (docs/replication.md "C peers").

export interface SyncReply {
  status: number;
  body: Buffer;
}

/** A status-0 answer may carry a body (6.16.1 echoes SYNC_RENAME requests, captures/README.md #1). */
const MAX_REPLY_BODY = 64 * 1024;

interface Waiter {
  cmd: number;
  resolve: (r: SyncReply) => void;
  reject: (e: FdfsError) => void;
}

export interface ChannelOptions {
  connectTimeout: number;
  networkTimeout: number;
  localAddress?: string;
  /** Requests in flight at most (setWindow() changes it once the peer said what it takes). */
  window: number;
  /** Content bytes handed to the socket (the owner publishes them: total_sync_out_bytes). */
  onBytesOut?: (n: number) => void;
}

export class SyncChannel {
  private readonly waiters: Waiter[] = [];
  private writeTail: Promise<void> = Promise.resolve();
  private failure: FdfsError | null = null;
  private reading = false;
  private spaceWaiters: Array<() => void> = [];
  /** When the last request was written (ACTIVE_TEST pacing, §5.10). */
  lastActivity = Date.now();

  private constructor(readonly conn: ClientConnection, private readonly opts: ChannelOptions) {
    this.opts = { ...opts };
    conn.socket.on('close', () => this.fail(new FdfsError('ENOTCONN', 'sync connection closed', { subject: conn.address })));
  }

  static async open(host: string, port: number, opts: ChannelOptions): Promise<SyncChannel> {
    const conn = await ClientConnection.connect(host, port, {
      connectTimeout: opts.connectTimeout, networkTimeout: opts.networkTimeout, localAddress: opts.localAddress,
    });
    return new SyncChannel(conn, opts);
  }

  get address(): string { return this.conn.address; }
  get broken(): FdfsError | null { return this.failure; }
  get inFlight(): number { return this.waiters.length; }
  get window(): number { return this.opts.window; }

  /** Requests allowed in flight from now on (at least 1). */
  setWindow(n: number): void {
    this.opts.window = Math.max(1, n);
    this.wakeSpace();
  }

  /** Resolves when another request may be queued without exceeding the window. */
  async room(): Promise<void> {
    while (!this.failure && this.waiters.length >= this.opts.window) {
      await new Promise<void>((r) => this.spaceWaiters.push(r));
    }
    if (this.failure) throw this.failure;
  }

  /** Resolves when every request sent so far has been answered (or the channel failed). */
  async drain(): Promise<void> {
    while (!this.failure && this.waiters.length > 0) {
      await new Promise<void>((r) => this.spaceWaiters.push(r));
    }
  }

  /**
   * Queue one request. `sent` resolves once its bytes are handed to the socket (requests are
   * written strictly in call order); `reply` resolves with the status and body of its answer.
   * Transport failures reject both and break the channel.
   */
  request(cmd: number, fixedPart: Buffer, opts: { status?: number; content?: Content } = {}): { sent: Promise<void>; reply: Promise<SyncReply> } {
    if (this.failure) {
      const f = Promise.reject(this.failure);
      f.catch(() => {});
      return { sent: f, reply: f };
    }
    const reply = new Promise<SyncReply>((resolve, reject) => this.waiters.push({ cmd, resolve, reject }));
    reply.catch(() => {});
    const contentLength = opts.content?.length ?? 0;
    const sent = this.writeTail.then(async () => {
      if (this.failure) throw this.failure;
      try {
        await this.writeRequest(cmd, fixedPart, opts.status ?? 0, opts.content);
      } catch (err) {
        const e = toFdfsError(err, this.address);
        this.fail(e);
        throw e;
      }
    });
    sent.catch(() => {});
    this.writeTail = sent.catch(() => {});
    this.lastActivity = Date.now();
    if (contentLength > 0) this.opts.onBytesOut?.(contentLength);
    this.pump();
    return { sent, reply };
  }

  /** Send one request and wait for its answer. */
  call(cmd: number, fixedPart: Buffer, opts: { status?: number; content?: Content } = {}): Promise<SyncReply> {
    return this.request(cmd, fixedPart, opts).reply;
  }

  close(): void {
    this.fail(new FdfsError('ENOTCONN', 'sync connection closed', { subject: this.address }));
    this.conn.close();
  }

  destroy(): void {
    this.fail(new FdfsError('ENOTCONN', 'sync connection closed', { subject: this.address }));
    this.conn.destroy();
  }

  private async writeRequest(cmd: number, fixedPart: Buffer, status: number, content?: Content): Promise<void> {
    const socket = this.conn.socket;
    const length = fixedPart.length + (content?.length ?? 0);
    if (this.waiters.length > 0) socket.setTimeout(this.opts.networkTimeout * 1000);
    socket.cork();
    const pending = [this.conn.write(encodeHeader(length, cmd, status)), this.conn.write(fixedPart)];
    // Content in hand goes out with its header in one write; a file range follows, read in chunks.
    if (content && 'data' in content && content.length > 0) pending.push(this.conn.write(content.data));
    socket.uncork();
    // Promise.all: on a closed socket every write rejects, and each rejection needs a handler.
    await Promise.all(pending);
    if (content && 'path' in content) await sendFileRange(socket, content);
  }

  /** Read answers while requests are waiting for them. */
  private pump(): void {
    if (this.reading || this.failure) return;
    this.reading = true;
    void (async () => {
      const socket = this.conn.socket;
      try {
        while (this.waiters.length > 0 && !this.failure) {
          socket.setTimeout(this.opts.networkTimeout * 1000);
          const h = decodeHeader(await this.conn.reader.readExact(HEADER_LEN));
          const w = this.waiters[0]!;
          if (h.cmd !== CMD.RESP || h.length < 0) {
            throw new FdfsError('EPROTO', `unexpected answer cmd ${h.cmd} length ${h.length} to ${commandName(w.cmd)}`, { subject: this.address });
          }
          if (h.length > MAX_REPLY_BODY) {
            throw new FdfsError('EPROTO', `${h.length}-byte answer to ${commandName(w.cmd)}`, { subject: this.address });
          }
          // Error answers normally have no body; read any to stay framed (§1.1 allows none here).
          const body = await this.conn.reader.readExact(h.length);
          this.waiters.shift();
          w.resolve({ status: h.status, body });
          this.wakeSpace();
        }
        if (this.waiters.length === 0) socket.setTimeout(0);
      } catch (err) {
        this.fail(toFdfsError(err, this.address));
      } finally {
        this.reading = false;
      }
      if (this.waiters.length > 0 && !this.failure) this.pump();
    })();
  }

  private wakeSpace(): void {
    const list = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const r of list) r();
  }

  private fail(e: FdfsError): void {
    if (this.failure) return;
    this.failure = e;
    const list = this.waiters.splice(0);
    for (const w of list) w.reject(this.failure);
    this.wakeSpace();
    this.conn.destroy();
  }
}
