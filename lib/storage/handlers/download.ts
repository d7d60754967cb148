import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { GROUP_NAME_LEN, CMD } from '../../protocol/codes.ts';
import { encodeHeader } from '../../protocol/header.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeDownloadRequest } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import { checkGroup, fsError, locate } from './common.ts';

// DOWNLOAD_FILE (14), PROTOCOL.md §3.4.

/** Disk read size; within the 256 KiB–1 MiB range that keeps loopback throughput up (STYLE.md). */
const READ_CHUNK = 512 * 1024;
/**
 * Files up to this size are read with synchronous calls: on a page-cached file open+fstat+read
 * take microseconds, far less than four hops through libuv's thread pool, and small files are
 * what FastDFS serves most. Bigger ones stream asynchronously.
 */
const SMALL_FILE = 256 * 1024;

const readAsync = promisify(fs.read);
const closeAsync = promisify(fs.close);

export async function download(req: Request, ctx: StorageContext): Promise<void> {
  const body = await req.body();
  if (body.length <= 16 + GROUP_NAME_LEN) throw new FdfsError('EINVAL', `download request of ${body.length} bytes has no file name`);
  const r = decodeDownloadRequest(body);
  checkGroup(ctx, r.group);
  const f = locate(ctx, r.logicName);
  if (r.offset < 0 || r.length < 0) throw new FdfsError('EINVAL', `negative offset ${r.offset} or length ${r.length}`, { subject: r.logicName });

  ioEvent(ctx, 'open', 'start');
  let fd: number;
  let size: number;
  try {
    fd = fs.openSync(f.path, 'r');
  } catch (err) {
    throw fsError(err, r.logicName);
  }
  let closed = false;
  const close = () => { if (!closed) { closed = true; try { fs.closeSync(fd); } catch { /* already gone */ } } };
  ioEvent(ctx, 'open', 'ok');
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new FdfsError('EINVAL', 'not a regular file', { subject: r.logicName });
    size = st.size;
    // §3.4: offset ≥ size is EINVAL — except that we let an empty file download as an empty body
    // (6.16 makes 0-byte files undownloadable; clients expect them to work).
    if (r.offset >= size && !(size === 0 && r.offset === 0)) {
      throw new FdfsError('EINVAL', `offset ${r.offset} is beyond the file size ${size}`, { subject: r.logicName });
    }
    const left0 = size - r.offset;
    const total = r.length === 0 ? left0 : Math.min(r.length, left0);

    if (total <= SMALL_FILE) {
      // Header and content leave in one write.
      const out = Buffer.allocUnsafe(10 + total);
      ioEvent(ctx, 'read', 'start');
      let got = 0;
      while (got < total) {
        const n = fs.readSync(fd, out, 10 + got, total - got, r.offset + got);
        if (n === 0) throw new FdfsError('EIO', `file shrank while being read (at ${r.offset + got} of ${size})`, { subject: r.logicName });
        got += n;
      }
      ioEvent(ctx, 'read', 'ok');
      close();
      encodeHeader(total, CMD.RESP, 0).copy(out, 0);
      req.responded = true;
      await req.conn.write(out);
      return;
    }

    await req.replyHeader(total);
    // Read the next chunk while the previous one is being sent: disk and socket overlap, and
    // awaiting the socket write keeps at most two chunks in memory.
    let pos = r.offset;
    let left = total;
    const readNext = async (): Promise<Buffer | null> => {
      if (left <= 0) return null;
      const want = Math.min(READ_CHUNK, left);
      const buf = Buffer.allocUnsafe(want);
      ioEvent(ctx, 'read', 'start');
      const { bytesRead } = await readAsync(fd, buf, 0, want, pos);
      if (bytesRead === 0) throw new FdfsError('EIO', `file shrank while being sent (at ${pos} of ${size})`, { subject: r.logicName });
      ioEvent(ctx, 'read', 'ok');
      pos += bytesRead;
      left -= bytesRead;
      return bytesRead === want ? buf : buf.subarray(0, bytesRead);
    };
    let next = readNext();
    for (;;) {
      const chunk = await next;
      if (!chunk) break;
      next = readNext();
      // A rejected read must not go unhandled while we wait on the socket.
      next.catch(() => {});
      await req.conn.write(chunk);
    }
    closed = true;
    await closeAsync(fd).catch(() => {});
  } finally {
    close();
  }
}
