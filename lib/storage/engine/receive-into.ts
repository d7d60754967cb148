import type { Buffer } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import type { Crc32 } from '../../protocol/crc32.ts';
import { writeAll } from '../../util/write-all.ts';
import type { ContentSource, IoListener } from './engine.ts';

// The one loop that moves content from a socket to a file (uploads, appends, modifies and every
// sync form of them used to carry their own copy).

/** Bytes gathered from the source before one disk write. */
const WRITE_CHUNK = 256 * 1024;

export interface ReceiveIntoOptions {
  /** Updated with every byte before it is written. */
  crc?: Crc32;
  /** After each disk write, with its byte count. */
  onBytes?: (n: number) => void;
  io?: IoListener;
  /** fsync_after_written_bytes (0 = never). */
  fsyncAfterBytes?: number;
}

/**
 * Copy `length` bytes of `src` into `fh` from `position`. Each disk write is awaited before more is
 * read, so a slow disk pauses the peer and memory stays bounded by WRITE_CHUNK; what already
 * arrived is gathered into one (vectored) write without copying. Returns the bytes written.
 */
export async function receiveInto(src: ContentSource, fh: FileHandle, position: number, length: number,
  opts: ReceiveIntoOptions = {}): Promise<number> {
  const { crc, onBytes, io } = opts;
  const fsyncAfter = opts.fsyncAfterBytes ?? 0;
  let received = 0;
  let sinceSync = 0;
  while (received < length) {
    const chunks: Buffer[] = [await src.readSome(Math.min(WRITE_CHUNK, length - received))];
    let n = chunks[0]!.length;
    while (received + n < length && n < WRITE_CHUNK && src.buffered > 0) {
      const more = await src.readSome(Math.min(WRITE_CHUNK - n, length - received - n));
      chunks.push(more);
      n += more.length;
    }
    if (crc) for (const b of chunks) crc.update(b);
    io?.('write', 'start');
    await writeAll(fh, chunks, position + received);
    io?.('write', 'ok');
    received += n;
    onBytes?.(n);
    sinceSync += n;
    if (fsyncAfter > 0 && sinceSync >= fsyncAfter) {
      sinceSync = 0;
      await fh.sync();
    }
  }
  return received;
}
