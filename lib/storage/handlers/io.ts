import { Buffer } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';

// Small file I/O helpers shared by the handlers that move content.

/** Write every byte of `bufs` at the current position (fs writes may be partial). */
export async function writeAll(fh: FileHandle, bufs: Buffer[]): Promise<void> {
  let list = bufs.filter((b) => b.length > 0);
  while (list.length > 0) {
    const total = list.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = list.length === 1 ? await fh.write(list[0]!) : await fh.writev(list);
    if (bytesWritten >= total) return;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of list) {
      if (skip >= b.length) { skip -= b.length; continue; }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    list = rest;
  }
}
