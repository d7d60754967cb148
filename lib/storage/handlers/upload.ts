import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { CMD } from '../../protocol/codes.ts';
import { Crc32, crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { isValidExt } from '../../protocol/filename.ts';
import { UPLOAD_FIXED_LEN, decodeUploadRequest, encodeFileIdResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { nowSec } from './common.ts';
import { writeAll } from './io.ts';

// UPLOAD_FILE (11) and UPLOAD_APPENDER_FILE (23), PROTOCOL.md §3.1, §3.2.

/** Bytes gathered from the socket before one disk write. */
const WRITE_CHUNK = 256 * 1024;
/** §6.5: the storage regenerates a name at most this many times when it already exists. */
const NAME_TRIES = 10;

/**
 * Bodies up to this size are gathered in memory and written with synchronous calls: for small
 * files four thread-pool round trips cost more than the page-cache writes themselves (the
 * connection's buffer already bounds the memory, as FastDFS's buff_size does).
 */
const SMALL_FILE = 256 * 1024;

/** Name collision check (§6.5); a metadata-only syscall, done synchronously. */
function exists(p: string): boolean {
  try {
    fsSync.lstatSync(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Write a small upload to its temp file; returns the file's mtime (unix s). */
function writeSmall(tmp: string, content: Buffer): number {
  const fd = fsSync.openSync(tmp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < content.length) off += fsSync.writeSync(fd, content, off, content.length - off);
    return Math.floor(fsSync.fstatSync(fd).mtimeMs / 1000);
  } finally {
    fsSync.closeSync(fd);
  }
}

export async function upload(req: Request, ctx: StorageContext): Promise<Buffer> {
  const appender = req.cmd === CMD.UPLOAD_APPENDER_FILE;
  const c = ctx.counters;
  if (req.length < UPLOAD_FIXED_LEN) throw new FdfsError('EINVAL', `upload body of ${req.length} bytes is shorter than ${UPLOAD_FIXED_LEN}`);
  const u = decodeUploadRequest(await req.read(UPLOAD_FIXED_LEN));
  c.count('total_upload_count');
  // §3.1: the declared size must be exactly the content that follows.
  if (u.fileSize !== req.length - UPLOAD_FIXED_LEN) {
    throw new FdfsError('EINVAL', `file_size ${u.fileSize} does not match package length ${req.length} − ${UPLOAD_FIXED_LEN}`);
  }
  if (!isValidExt(u.ext)) throw new FdfsError('EINVAL', `invalid file extension ${JSON.stringify(u.ext)}`);
  if (!ctx.names.source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');

  const index = await ctx.storePaths.choose(u.storePathIndex, u.fileSize, ctx.params.reserve, ctx.params.pathMode);
  // §6.5: the temp file lives in its final sub-directory, so the last step is a rename.
  const { high, low } = ctx.names.pickSubdir(nowSec());
  const dir = ctx.storePaths.subdir(index, high, low);
  const tmp = path.join(dir, `.${randomBytes(8).toString('hex')}.tmp`);

  let received = 0;
  let mtime = 0;
  let crcValue = 0;
  if (u.fileSize <= SMALL_FILE) {
    // A cut-off body throws here, before anything touched the disk.
    const content = await req.read(u.fileSize);
    crcValue = crc32(content);
    c.count('total_file_open_count');
    c.count('total_file_write_count');
    try {
      mtime = writeSmall(tmp, content);
    } catch (err) {
      fsSync.rmSync(tmp, { force: true });
      throw new FdfsError('EAGAIN', `cannot write temp file in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    c.count('success_file_open_count');
    c.count('success_file_write_count');
    received = content.length;
    c.count('total_upload_bytes', received);
  } else {
    ({ received, mtime, crcValue } = await receiveLarge(req, ctx, tmp, dir));
  }

  let name = '';
  let finalPath = '';
  try {
    for (let attempt = 0; ; attempt++) {
      name = ctx.names.makeName({
        storePathIndex: index, high, low, timestamp: mtime, size: u.fileSize, crc32: crcValue, ext: u.ext,
        kind: appender ? 'appender' : 'normal',
      });
      finalPath = path.join(dir, name.slice(name.lastIndexOf('/') + 1));
      if (!ctx.claimedNames.has(name) && !exists(finalPath)) break;
      if (attempt + 1 >= NAME_TRIES) throw new FdfsError('EEXIST', `no unused file name after ${NAME_TRIES} tries`, { subject: name });
    }
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  ctx.claimedNames.add(name);
  try {
    fsSync.renameSync(tmp, finalPath);
    try {
      await ctx.binlog.append({ timestamp: mtime, op: 'C', name });
    } catch (err) {
      // Unacknowledged and unlogged: do not keep a file replication would never see.
      await fs.rm(finalPath, { force: true }).catch(() => {});
      throw err;
    }
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw err instanceof FdfsError ? err : new FdfsError('EIO', `cannot store ${name}: ${(err as Error).message}`, { subject: name, cause: err });
  } finally {
    ctx.claimedNames.delete(name);
  }
  c.count('success_upload_count');
  c.count('success_upload_bytes', received);
  c.sourceUpdated();
  ctx.log('debug', `stored ${ctx.groupName}/${name} (${received} bytes)`);
  return encodeFileIdResponse(ctx.groupName, name);
}

/** Stream a large body into the temp file with backpressure, computing its CRC32. */
async function receiveLarge(req: Request, ctx: StorageContext, tmp: string, dir: string): Promise<{ received: number; mtime: number; crcValue: number }> {
  const c = ctx.counters;
  c.count('total_file_open_count');
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(tmp, 'wx', 0o644);
  } catch (err) {
    throw new FdfsError('EAGAIN', `cannot create temp file in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  c.count('success_file_open_count');

  const crc = new Crc32();
  let received = 0;
  let sinceSync = 0;
  let mtime = 0;
  let stored = false;
  try {
    while (req.remaining > 0) {
      // Gather what already arrived (up to WRITE_CHUNK) into one write; awaiting the disk before
      // reading on lets the socket reader pause the peer when the disk is slower.
      const chunks = [await req.readSome(WRITE_CHUNK)];
      let n = chunks[0]!.length;
      while (req.remaining > 0 && n < WRITE_CHUNK && req.conn.reader.buffered > 0) {
        const more = await req.readSome(WRITE_CHUNK - n);
        chunks.push(more);
        n += more.length;
      }
      for (const b of chunks) crc.update(b);
      c.count('total_file_write_count');
      await writeAll(fh, chunks);
      c.count('success_file_write_count');
      received += n;
      sinceSync += n;
      if (ctx.fsyncAfterBytes > 0 && sinceSync >= ctx.fsyncAfterBytes) {
        sinceSync = 0;
        await fh.sync();
      }
    }
    // §6.2: the name carries the file's mtime at upload end; the binlog and 22 use the same value.
    mtime = Math.floor((await fh.stat()).mtimeMs / 1000);
    stored = true;
  } finally {
    await fh.close().catch(() => {});
    c.count('total_upload_bytes', received);
    // A failed or cut-off upload leaves nothing behind (no file, no binlog line).
    if (!stored) await fs.rm(tmp, { force: true }).catch(() => {});
  }

  return { received, mtime, crcValue: crc.digest() };
}
