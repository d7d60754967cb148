import { Buffer } from 'node:buffer';

/**
 * Free buffers of one size, reused instead of allocated per chunk. A fresh large Buffer is fresh
 * memory from the kernel: page faults while the disk read fills it and, at hundreds of MB/s, major
 * garbage collections for the external memory. Measured on a 1 MiB download: a third of the
 * storage's CPU went to those two.
 *
 * A buffer may be given back only once nothing refers to it any more (for a socket write: its
 * callback ran without an error). A buffer that is never given back is simply collected.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(readonly size: number, private readonly keep: number) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** `buf` or any view of a buffer from take(); views of other memory are ignored. */
  give(buf: Uint8Array): void {
    const ab = buf.buffer;
    if (ab.byteLength !== this.size || this.free.length >= this.keep) return;
    this.free.push(buf.byteOffset === 0 && buf.length === this.size ? buf as Buffer : Buffer.from(ab, 0, this.size));
  }
}
