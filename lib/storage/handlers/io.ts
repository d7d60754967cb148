import { Buffer } from 'node:buffer';
import fs, { type FileHandle } from 'node:fs/promises';
import { Crc32 } from '../../protocol/crc32.ts';
import type { Request } from '../../net/packet-server.ts';
import { writeAll } from '../../util/write-all.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';

// Small file I/O helpers shared by the handlers that move content. writeAll itself lives in
// lib/util, as the client's batch download writes the same way.

export { writeAll };

/** Bytes gathered from the socket before one disk write. */
const WRITE_CHUNK = 256 * 1024;
const CRC_CHUNK = 512 * 1024;

export interface ReceiveOptions {
  /** Updated with every byte before it is written. */
  crc?: Crc32;
  /** Publish each write as request body bytes (IoEvent `body`) as it completes, so a cut-off body counts what arrived. */
  countBody?: boolean;
}

/**
 * Stream the rest of the request body (`req.remaining` bytes) into `fh` from `pos`. Each disk write
 * is awaited before more is read, so a slow disk pauses the peer (the socket reader applies
 * backpressure) and memory stays bounded by WRITE_CHUNK. Returns the number of bytes written.
 */
export async function receiveInto(req: Request, ctx: StorageContext, fh: FileHandle, pos: number, opts: ReceiveOptions = {}): Promise<number> {
  let received = 0;
  let sinceSync = 0;
  while (req.remaining > 0) {
    // Gather what already arrived (up to WRITE_CHUNK) into one write.
    const chunks = [await req.readSome(WRITE_CHUNK)];
    let n = chunks[0]!.length;
    while (req.remaining > 0 && n < WRITE_CHUNK && req.conn.reader.buffered > 0) {
      const more = await req.readSome(WRITE_CHUNK - n);
      chunks.push(more);
      n += more.length;
    }
    if (opts.crc) for (const b of chunks) opts.crc.update(b);
    ioEvent(ctx, 'write', 'start');
    await writeAll(fh, chunks, pos + received);
    ioEvent(ctx, 'write', 'ok');
    if (opts.countBody) ioEvent(ctx, 'body', 'start', n, req.cmd);
    received += n;
    sinceSync += n;
    if (ctx.fsyncAfterBytes > 0 && sinceSync >= ctx.fsyncAfterBytes) {
      sinceSync = 0;
      await fh.sync();
    }
  }
  return received;
}

/** CRC-32 of a whole stored file (§3.8, §3.13). */
export async function fileCrc32(p: string): Promise<number> {
  const fh = await fs.open(p, 'r');
  try {
    const crc = new Crc32();
    const buf = Buffer.allocUnsafe(CRC_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CRC_CHUNK, null);
      if (bytesRead === 0) break;
      crc.update(buf.subarray(0, bytesRead));
    }
    return crc.digest();
  } finally {
    await fh.close();
  }
}

/** Whether anything (a dangling symlink too) has this path. */
export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
