import { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import type { Socket } from 'node:net';
import { FdfsError } from '../../protocol/errno.ts';
import { BufferPool } from '../../util/buffer-pool.ts';
import { SMALL_FILE } from '../engine/engine.ts';

// The content a sync request carries (PROTOCOL.md §5.2, §5.4), from the moment its record is
// dispatched until its last byte is on the socket: the one place the sender reads file content.
// Trunk-stored names reach it as a range of their trunk file (local-files.ts).
//
// A file is read once: a small one into its own buffer when the record is dispatched, a large one
// only when its request is written, in chunks through two buffers reused from a pool.

/** File content to send after a request's fixed part: bytes in hand, or a range read when sent. */
export type Content = { data: Buffer; length: number } | { path: string; offset: number; length: number };

export interface Snapshot {
  size: number;
  content: Content;
}

/**
 * Content up to this size is read when its record is dispatched: the size announced is then the
 * size sent even when an appender file changes meanwhile, and a page-cache read this small costs
 * less done synchronously than through the thread pool. Larger files are read when sent.
 */
export const SNAPSHOT_MAX = SMALL_FILE;

/** Disk read size for large content (STYLE.md: 256 KiB – 1 MiB keeps loopback throughput up). */
export const READ_CHUNK = 256 * 1024;

function missing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/** Reads [offset, offset + length) of an open file into `buf`; returns the bytes read (fewer at its end). */
function readFully(fd: number, buf: Buffer, length: number, offset: number): number {
  let n = 0;
  while (n < length) {
    const r = fsSync.readSync(fd, buf, n, length - n, offset + n);
    if (r === 0) break;
    n += r;
  }
  return n;
}

/**
 * Bytes [offset, offset + length) of a regular file (length undefined: to its end), or null when
 * it is missing, not a regular file, or (for a range) shorter than the range.
 */
export function snapshot(p: string, offset = 0, length?: number): Snapshot | null {
  let fd: number;
  try {
    fd = fsSync.openSync(p, 'r');
  } catch (err) {
    if (missing(err)) return null;
    throw err;
  }
  try {
    if (length === undefined) {
      // The size first, so a small file is read straight into a buffer of its own (no copy) and a
      // large one is not read at all until its request is written.
      const st = fsSync.fstatSync(fd);
      if (!st.isFile()) return null;
      if (st.size > SNAPSHOT_MAX) return { size: st.size, content: { path: p, offset: 0, length: st.size } };
      const data = Buffer.allocUnsafe(st.size);
      // A file that shrank since the fstat is sent as read: the size announced is the size sent.
      const n = readFully(fd, data, st.size, 0);
      const bytes = n === st.size ? data : data.subarray(0, n);
      return { size: n, content: { data: bytes, length: n } };
    }
    if (length > SNAPSHOT_MAX) {
      const st = fsSync.fstatSync(fd);
      if (!st.isFile()) return null;
      return offset + length > st.size ? null : { size: length, content: { path: p, offset, length } };
    }
    const buf = Buffer.allocUnsafe(length);
    if (readFully(fd, buf, length, offset) < length) return null;
    return { size: length, content: { data: buf, length } };
  } catch (err) {
    // A directory under a file's name: nothing we can send.
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') return null;
    throw err;
  } finally {
    fsSync.closeSync(fd);
  }
}

// ---------------------------------------------------------------- sending

/** Free READ_CHUNK buffers; a few are kept, enough for the peer connections of a busy storage. */
const pool = new BufferPool(READ_CHUNK, 8);

/**
 * Hands `chunk` to the socket; resolves once the socket is done with it (written to the kernel),
 * so the buffer behind it may be reused. Waiting for that is also the backpressure: at most two
 * chunks of one file are queued on the socket.
 */
function writeChunk(socket: Socket, chunk: Buffer): Promise<void> {
  if (socket.destroyed) return Promise.reject(new FdfsError('ENOTCONN', 'connection closed while sending'));
  return new Promise((resolve, reject) => {
    const onClose = () => finish(new FdfsError('ENOTCONN', 'connection closed while sending'));
    const finish = (err?: Error | null) => {
      socket.off('close', onClose);
      if (err) reject(err instanceof FdfsError ? err : new FdfsError('ECONNRESET', err.message, { cause: err }));
      else resolve();
    };
    socket.on('close', onClose);
    socket.write(chunk, finish);
  });
}

/** Reads a range of a file into pooled buffers, two at a time, each reused once the socket let go of it. */
async function readRange(socket: Socket, p: string, offset: number, length: number): Promise<void> {
  const fh = await fs.open(p, 'r');
  const bufs = [pool.take(), pool.take()];
  const flushed: Array<Promise<void> | null> = [null, null];
  let clean = false;
  try {
    let pos = offset;
    let left = length;
    for (let i = 0; left > 0; i ^= 1) {
      await flushed[i];
      const buf = bufs[i]!;
      const want = Math.min(READ_CHUNK, left);
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      // The file shrank under us: the package cannot be completed, only the connection cut.
      if (bytesRead === 0) throw new FdfsError('EIO', `file shrank while being sent (${left} bytes missing)`, { subject: p });
      pos += bytesRead;
      left -= bytesRead;
      const w = writeChunk(socket, buf.subarray(0, bytesRead));
      w.catch(() => {});
      flushed[i] = w;
    }
    await Promise.all(flushed);
    clean = true;
  } finally {
    await fh.close().catch(() => {});
    // A buffer the socket may still hold after a failure is left to the collector.
    if (clean) for (const b of bufs) pool.give(b);
  }
}

/**
 * Writes a file range after its request's fixed part (bytes in hand go out with the header, see
 * sync-channel.ts). Rejects with EIO when the file shrank: the request cannot be completed then.
 */
export async function sendFileRange(socket: Socket, range: { path: string; offset: number; length: number }): Promise<void> {
  if (range.length > 0) await readRange(socket, range.path, range.offset, range.length);
}
