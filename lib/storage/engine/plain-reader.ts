import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { FdfsError } from '../../protocol/errno.ts';
import { READ_CHUNK, takeChunk, type ContentReader, type IoListener } from './engine.ts';

// Reading a plain stored file: small ranges with one synchronous read, large ones as a stream
// that reads the next chunk while the consumer sends this one.

const readAsync = promisify(fs.read);
const closeAsync = promisify(fs.close);

export class PlainReader implements ContentReader {
  private closed = false;

  constructor(private readonly fd: number, readonly size: number, readonly mtime: number,
    private readonly logicName: string, private readonly io?: IoListener) {}

  readSync(into: Buffer, at: number, position: number, length: number): void {
    this.io?.('read', 'start');
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.fd, into, at + got, length - got, position + got);
      if (n === 0) throw new FdfsError('EIO', `file shrank while being read (at ${position + got} of ${this.size})`, { subject: this.logicName });
      got += n;
    }
    this.io?.('read', 'ok');
  }

  stream(position: number, length: number): AsyncIterable<Buffer> {
    return new RangeIterator(this, position, length);
  }

  /** One chunk at `pos`, in a pooled buffer (the socket may still hold the previous one). */
  async readChunk(pos: number, want: number): Promise<Buffer> {
    const buf = takeChunk();
    this.io?.('read', 'start');
    const { bytesRead } = await readAsync(this.fd, buf, 0, want, pos);
    if (bytesRead === 0) throw new FdfsError('EIO', `file shrank while being sent (at ${pos} of ${this.size})`, { subject: this.logicName });
    this.io?.('read', 'ok');
    return buf.subarray(0, bytesRead);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.closeSync(this.fd); } catch { /* already gone */ }
  }

  /** Close off the event loop (the end of a stream). */
  async closeAsync(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeAsync(this.fd).catch(() => {});
  }
}

/**
 * Read-ahead by one: next() hands out the chunk read before and starts reading the one after, so
 * the disk works while the consumer awaits its socket write; at most two chunks are alive.
 */
class RangeIterator implements AsyncIterableIterator<Buffer> {
  private pending: Promise<Buffer> | null = null;

  constructor(private readonly reader: PlainReader, private pos: number, private left: number) {
    this.pending = this.readNext();
  }

  private readNext(): Promise<Buffer> | null {
    if (this.left <= 0) return null;
    const want = Math.min(READ_CHUNK, this.left);
    const p = this.reader.readChunk(this.pos, want).then((b) => {
      this.pos += b.length;
      this.left -= b.length;
      return b;
    });
    // A rejected read must not go unhandled while the consumer waits on its socket.
    p.catch(() => {});
    return p;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    const current = this.pending;
    if (!current) {
      await this.reader.closeAsync();
      return { done: true, value: undefined };
    }
    let chunk: Buffer;
    try {
      chunk = await current;
    } catch (err) {
      this.pending = null;
      this.reader.close();
      throw err;
    }
    this.pending = this.readNext();
    return { done: false, value: chunk };
  }

  async return(): Promise<IteratorResult<Buffer>> {
    this.pending = null;
    this.reader.close();
    return { done: true, value: undefined };
  }
}
