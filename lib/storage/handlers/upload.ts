import type { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import { CMD } from '../../protocol/codes.ts';
import { crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { isNameSafeExt } from '../../protocol/filename.ts';
import { UPLOAD_FIXED_LEN, decodeUploadRequest, encodeFileIdResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import { nowSec } from './common.ts';
import { claimName, logCreated, receiveToTemp, tempPathIn, type ClaimedName } from './new-file.ts';

// UPLOAD_FILE (11) and UPLOAD_APPENDER_FILE (23), PROTOCOL.md §3.1, §3.2.

/**
 * Bodies up to this size are gathered in memory and written with synchronous calls: for small
 * files four thread-pool round trips cost more than the page-cache writes themselves (the
 * connection's buffer already bounds the memory, as FastDFS's buff_size does).
 */
const SMALL_FILE = 256 * 1024;

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
  // §3.1: the declared size must be exactly the content that follows.
  if (u.fileSize !== req.length - UPLOAD_FIXED_LEN) {
    throw new FdfsError('EINVAL', `file_size ${u.fileSize} does not match package length ${req.length} − ${UPLOAD_FIXED_LEN}`);
  }
  // Checked before anything is received: a name with '..' (ext `.md`) could never be read,
  // deleted or replicated, so nothing is stored and no binlog line written.
  if (!isNameSafeExt(u.ext)) throw new FdfsError('EINVAL', `invalid file extension ${JSON.stringify(u.ext)}: would make an invalid file name`);
  if (!ctx.names.source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');

  const index = await ctx.storePaths.choose(u.storePathIndex, u.fileSize, ctx.params.reserve, ctx.params.pathMode);
  // §6.5: the temp file lives in its final sub-directory, so the last step is a rename.
  const { high, low } = ctx.names.pickSubdir(nowSec());
  const dir = ctx.storePaths.subdir(index, high, low);

  let tmp: string;
  let received = 0;
  let mtime = 0;
  let crcValue = 0;
  if (u.fileSize <= SMALL_FILE) {
    tmp = tempPathIn(dir);
    // A cut-off body throws here, before anything touched the disk.
    const content = await req.read(u.fileSize);
    crcValue = crc32(content);
    ioEvent(ctx, 'open', 'start');
    ioEvent(ctx, 'write', 'start');
    try {
      mtime = writeSmall(tmp, content);
    } catch (err) {
      fsSync.rmSync(tmp, { force: true });
      throw new FdfsError('EAGAIN', `cannot write temp file in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    ioEvent(ctx, 'open', 'ok');
    ioEvent(ctx, 'write', 'ok');
    received = content.length;
    ioEvent(ctx, 'body', 'start', received, req.cmd);
  } else {
    ({ path: tmp, received, mtime, crc32: crcValue } = await receiveToTemp(req, ctx, dir));
  }

  let claim: ClaimedName;
  try {
    claim = claimName(ctx, {
      storePathIndex: index, high, low, timestamp: mtime, size: u.fileSize, crc32: crcValue, ext: u.ext,
      kind: appender ? 'appender' : 'normal',
    });
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  const name = claim.name;
  try {
    fsSync.renameSync(tmp, claim.path);
    await logCreated(ctx, name, claim.path, mtime);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw err instanceof FdfsError ? err : new FdfsError('EIO', `cannot store ${name}: ${(err as Error).message}`, { subject: name, cause: err });
  } finally {
    claim.release();
  }
  req.contentBytes = received;
  c.sourceUpdated();
  ctx.log('debug', `stored ${ctx.groupName}/${name} (${received} bytes)`);
  return encodeFileIdResponse(ctx.groupName, name);
}
