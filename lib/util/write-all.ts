import type { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

// fs writes may be partial: what went out is dropped and the rest written again.

/** The part of `list` after its first `written` bytes. */
function dropWritten(list: readonly Buffer[], written: number): Buffer[] {
  let skip = written;
  const rest: Buffer[] = [];
  for (const b of list) {
    if (skip >= b.length) { skip -= b.length; continue; }
    rest.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return rest;
}

function byteCount(list: readonly Buffer[]): number {
  let n = 0;
  for (const b of list) n += b.length;
  return n;
}

/** Write every byte of `bufs` at `position`, or at the file's current position when it is null. */
export async function writeAll(fh: FileHandle, bufs: readonly Buffer[], position: number | null = null): Promise<void> {
  let pos = position;
  let list = bufs.filter((b) => b.length > 0);
  while (list.length > 0) {
    const total = byteCount(list);
    const { bytesWritten } = list.length === 1
      ? await fh.write(list[0]!, 0, list[0]!.length, pos)
      : await fh.writev(list, pos ?? undefined);
    if (bytesWritten >= total) return;
    if (pos !== null) pos += bytesWritten;
    list = dropWritten(list, bytesWritten);
  }
}

/** writeAll() for a file descriptor, synchronously (small contents of a few pieces). */
export function writeAllSync(fd: number, bufs: readonly Buffer[], position: number | null = null): void {
  let pos = position;
  let list = bufs.filter((b) => b.length > 0);
  while (list.length > 0) {
    const total = byteCount(list);
    const n = list.length === 1
      ? fsSync.writeSync(fd, list[0]!, 0, list[0]!.length, pos)
      : fsSync.writevSync(fd, list, pos ?? undefined);
    if (n >= total) return;
    if (pos !== null) pos += n;
    list = dropWritten(list, n);
  }
}
