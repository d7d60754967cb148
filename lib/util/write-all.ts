import type { Buffer } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';

/**
 * Write every byte of `bufs` at `position`, or at the file's current position when it is null.
 * fs writes may be partial: what went out is dropped and the rest written again.
 */
export async function writeAll(fh: FileHandle, bufs: readonly Buffer[], position: number | null = null): Promise<void> {
  let pos = position;
  let list = bufs.filter((b) => b.length > 0);
  while (list.length > 0) {
    const total = list.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = list.length === 1
      ? await fh.write(list[0]!, 0, list[0]!.length, pos)
      : await fh.writev(list, pos ?? undefined);
    if (bytesWritten >= total) return;
    if (pos !== null) pos += bytesWritten;
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
