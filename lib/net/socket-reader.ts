import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { FdfsError } from '../protocol/errno.ts';

/**
 * Pull-style reader over a socket: callers await exact byte counts or "whatever has arrived".
 * The socket is paused while more than `highWaterMark` bytes wait unread, so a slow consumer
 * (a disk write) bounds memory instead of buffering the whole body.
 */
export class SocketReader {
  private chunks: Buffer[] = [];
  private available = 0;
  private waiter: (() => void) | null = null;
  private ended = false;
  private failure: Error | null = null;
  private paused = false;
  /** Bytes a pending readExact needs: the pause threshold never drops below it. */
  private need = 0;
  private readonly highWaterMark: number;

  constructor(private readonly socket: Socket, opts: { highWaterMark?: number; subject?: string } = {}) {
    this.highWaterMark = opts.highWaterMark ?? 1024 * 1024;
    const subject = opts.subject;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.available += chunk.length;
      if (this.available >= Math.max(this.highWaterMark, this.need) && !this.paused) {
        this.paused = true;
        socket.pause();
      }
      this.wake();
    });
    socket.on('end', () => { this.ended = true; this.wake(); });
    socket.on('close', () => { this.ended = true; this.wake(); });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= err.code === 'ETIMEDOUT' || err instanceof FdfsError ? err
        : new FdfsError(err.code === 'ECONNRESET' ? 'ECONNRESET' : 'ENOTCONN', err.message, { subject, cause: err });
      this.wake();
    });
  }

  /** Bytes received and not yet consumed. */
  get buffered(): number { return this.available; }

  /**
   * The 8-byte big-endian integer at the front of what is buffered (a package header's length,
   * §1.1), or null when the first received piece is shorter than that.
   */
  peekLength(): number | null {
    const first = this.chunks[0];
    if (!first || first.length < 8) return null;
    return Number(first.readBigInt64BE(0));
  }

  /** True once the peer closed and every received byte was consumed. */
  get atEnd(): boolean { return this.ended && this.available === 0; }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w) { this.waiter = null; w(); }
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => { this.waiter = resolve; });
  }

  private closedError(): Error {
    return this.failure ?? new FdfsError('ENOTCONN', 'connection closed by peer');
  }

  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.chunks[0]!;
    if (first.length === n) {
      out = first;
      this.chunks.shift();
    } else if (first.length > n) {
      out = first.subarray(0, n);
      this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.available -= n;
    if (this.paused && this.available < this.highWaterMark / 2) {
      this.paused = false;
      this.socket.resume();
    }
    return out;
  }

  /** Exactly n bytes, or a rejection if the peer closes first. */
  async readExact(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    if (this.available < n) {
      // A read larger than the high-water mark must let the socket flow until it is satisfied.
      this.need = n;
      if (this.paused) { this.paused = false; this.socket.resume(); }
      try {
        while (this.available < n) {
          if (this.failure) throw this.failure;
          if (this.ended) throw this.closedError();
          await this.wait();
        }
      } finally {
        this.need = 0;
      }
    }
    return this.take(n);
  }

  /** Between 1 and max bytes: whatever is buffered, waiting only when nothing is. */
  async readSome(max: number): Promise<Buffer> {
    while (this.available === 0) {
      if (this.failure) throw this.failure;
      if (this.ended) throw this.closedError();
      await this.wait();
    }
    // The first chunk as it arrived (no copy), cut to max.
    return this.take(Math.min(max, this.chunks[0]!.length));
  }

  /**
   * Resolve true when at least one byte is buffered, false on a clean end with nothing
   * pending: lets a server tell "peer went away between requests" from "cut mid-request".
   */
  async waitForData(): Promise<boolean> {
    while (this.available === 0) {
      if (this.failure) throw this.failure;
      if (this.ended) return false;
      await this.wait();
    }
    return true;
  }

  /** Read and discard n bytes. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.readSome(Math.min(left, 1024 * 1024))).length;
  }
}

/** Write respecting backpressure; rejects if the socket closes before the data is flushed out. */
export function writeSocket(socket: Socket, data: Uint8Array, onFlushed?: (err?: Error | null) => void): Promise<void> | undefined {
  if (socket.destroyed) return Promise.reject(new FdfsError('ENOTCONN', 'connection closed'));
  if (socket.write(data, onFlushed)) return undefined;
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (err) reject(err); else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new FdfsError('ENOTCONN', 'connection closed while sending'));
    const onError = (e: Error) => done(new FdfsError('ECONNRESET', e.message, { cause: e }));
    socket.on('drain', onDrain);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
}
