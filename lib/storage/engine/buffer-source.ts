import type { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import type { ContentSource } from './engine.ts';

// Content already in memory as an engine content source: a small body a handler read whole to
// check it first (sync-file.ts), and the conformance tests. No copies: reads hand out views.

class BufferContent implements ContentSource {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get remaining(): number { return this.buf.length - this.pos; }
  get buffered(): number { return this.buf.length - this.pos; }

  async read(n: number): Promise<Buffer> {
    const left = this.buf.length - this.pos;
    if (n > left) throw new FdfsError('ECONNRESET', `content ended after ${this.buf.length} bytes, ${n - left} short`);
    if (this.pos === 0 && n === this.buf.length) {
      this.pos = n;
      return this.buf;
    }
    return this.take(n);
  }

  async readSome(max: number): Promise<Buffer> {
    if (this.pos >= this.buf.length) throw new FdfsError('ECONNRESET', `content ended after ${this.buf.length} bytes`);
    return this.take(Math.min(max, this.buf.length - this.pos));
  }

  private take(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += b.length;
    return b;
  }
}

export function bufferSource(buf: Buffer): ContentSource {
  return new BufferContent(buf);
}
