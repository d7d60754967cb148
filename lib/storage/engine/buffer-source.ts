import type { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import type { ContentSource } from './engine.ts';

// Content already in memory as an engine content source: a small body a handler read whole to
// check it first (sync-file.ts), and the conformance tests. No copies: read(n) hands out views.

export function bufferSource(buf: Buffer): ContentSource {
  let pos = 0;
  const take = (n: number): Buffer => {
    const b = buf.subarray(pos, pos + n);
    pos += b.length;
    return b;
  };
  return {
    get remaining() { return buf.length - pos; },
    get buffered() { return buf.length - pos; },
    read: async (n) => {
      if (n > buf.length - pos) throw new FdfsError('ECONNRESET', `content ended after ${buf.length} bytes, ${n - (buf.length - pos)} short`);
      return pos === 0 && n === buf.length ? (pos = n, buf) : take(n);
    },
    readSome: async (max) => {
      if (pos >= buf.length) throw new FdfsError('ECONNRESET', `content ended after ${buf.length} bytes`);
      return take(Math.min(max, buf.length - pos));
    },
  };
}
