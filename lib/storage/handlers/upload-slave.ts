import type { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import { MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { LOGIC_PATH_LEN, isValidExt, slaveFileName } from '../../protocol/filename.ts';
import { SLAVE_FIXED_LEN, decodeSlaveRequest, encodeFileIdResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import { fsError, locate, lstatFile, nowSec } from './common.ts';
import { exists } from './io.ts';
import { claimName, logCreated, receiveToTemp, type ReceivedFile } from './new-file.ts';

// UPLOAD_SLAVE_FILE (21), PROTOCOL.md §3.3 and §6.6: content stored under a name derived from its
// master's (`<master stem><prefix>[.ext]`), in the master's store path and sub-directory.
// With store_slave_file_use_link the content gets a fresh normal name and the slave name is a
// symbolic link to it.

const PREFIX_RE = /^[A-Za-z0-9._-]{1,16}$/;

export async function uploadSlave(req: Request, ctx: StorageContext): Promise<Buffer> {
  const c = ctx.counters;
  if (req.length <= SLAVE_FIXED_LEN) throw new FdfsError('EINVAL', `slave upload body of ${req.length} bytes is too short`);
  const u = decodeSlaveRequest(await req.read(SLAVE_FIXED_LEN));
  // The checks of the C server, in its order.
  if (u.masterLength <= LOGIC_PATH_LEN || u.masterLength > MAX_FILENAME_LEN) {
    throw new FdfsError('EINVAL', `master file name length ${u.masterLength} outside ${LOGIC_PATH_LEN + 1}..${MAX_FILENAME_LEN}`);
  }
  if (u.fileSize < 0 || u.fileSize !== req.length - SLAVE_FIXED_LEN - u.masterLength) {
    throw new FdfsError('EINVAL', `file_size ${u.fileSize} does not match package length ${req.length}`);
  }
  if (u.prefix === '') throw new FdfsError('EINVAL', 'slave prefix is empty');
  if (!PREFIX_RE.test(u.prefix)) throw new FdfsError('EINVAL', `invalid slave prefix ${JSON.stringify(u.prefix)} (1..16 of A-Z a-z 0-9 . _ -)`);
  if (!isValidExt(u.ext)) throw new FdfsError('EINVAL', `invalid file extension ${JSON.stringify(u.ext)}`);
  const masterName = (await req.read(u.masterLength)).toString('latin1');
  const master = locate(ctx, masterName);
  const index = master.parsed.storePathIndex;
  // The slave lives beside its master: the master's path must keep its reserve after the upload.
  if (!(await ctx.storePaths.hasRoom(index, u.fileSize, ctx.params.reserve))) {
    throw new FdfsError('ENOSPC', `store path ${index} has no room for ${u.fileSize} bytes above the reserved space (${ctx.params.reserve.text})`, { subject: masterName });
  }
  await lstatFile(master).catch((e: FdfsError) => {
    throw e.code === 'ENOENT' ? new FdfsError('ENOENT', 'master file does not exist', { subject: masterName }) : e;
  });
  // §6.6 naming; EINVAL for a prefix of `-m` without extension or a too short master name.
  const slaveName = slaveFileName(masterName, u.prefix, u.ext);
  const slave = locate(ctx, slaveName);

  return ctx.fileLocks.run(slave.path, async () => {
    if (await exists(slave.path)) throw new FdfsError('EEXIST', 'slave file already exists', { subject: slaveName });
    const useLink = ctx.params.storeSlaveFileUseLink;
    if (useLink && !ctx.names.source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');
    // The content goes to a temp file in its final directory first: a cut-off upload leaves nothing.
    const where = useLink ? ctx.names.pickSubdir(nowSec()) : { high: slave.parsed.high, low: slave.parsed.low };
    const content = await receiveToTemp(req, ctx, ctx.storePaths.subdir(index, where.high, where.low));
    try {
      if (useLink) await storeAsLink(ctx, content, index, where, u.ext, u.fileSize, slaveName, slave.path);
      else await storeInPlace(ctx, content, slaveName, slave.path);
    } finally {
      await fs.rm(content.path, { force: true }).catch(() => {});
    }
    req.contentBytes = content.received;
    c.sourceUpdated();
    ctx.log('debug', `stored slave ${ctx.groupName}/${slaveName} (${content.received} bytes${useLink ? ', linked' : ''})`);
    return encodeFileIdResponse(ctx.groupName, slaveName);
  });
}

/** The content under the slave name itself; binlog `C <slave>` (§3.3). */
async function storeInPlace(ctx: StorageContext, content: ReceivedFile, slaveName: string, slavePath: string): Promise<void> {
  // link() refuses to replace an existing file, unlike rename(): a replica that arrived meanwhile wins.
  try {
    await fs.link(content.path, slavePath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FdfsError('EEXIST', 'slave file already exists', { subject: slaveName });
    throw fsError(err, slaveName);
  }
  await logCreated(ctx, slaveName, slavePath, content.mtime);
}

/**
 * store_slave_file_use_link (§3.3): the content under a fresh normal name (`C <generated>`), the
 * slave name a symlink to it. 6.16.1 logs the link as `L  <generated>` (the slave name lost, a line
 * its own sync reader rejects); we write the intended `L <slave> <generated>` (§7.2).
 */
async function storeAsLink(ctx: StorageContext, content: ReceivedFile, index: number, where: { high: number; low: number }, ext: string,
  size: number, slaveName: string, slavePath: string): Promise<void> {
  const mtime = content.mtime;
  const claim = claimName(ctx, {
    storePathIndex: index, high: where.high, low: where.low, timestamp: mtime, size, crc32: content.crc32, ext, kind: 'normal',
  });
  try {
    try {
      await fs.link(content.path, claim.path);
    } catch (err) {
      throw fsError(err, claim.name);
    }
    try {
      // An absolute target, as the C server makes it; delete (§3.5) maps it back to a logic name.
      await fs.symlink(claim.path, slavePath);
    } catch (err) {
      await fs.rm(claim.path, { force: true }).catch(() => {});
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new FdfsError('EEXIST', 'slave file already exists', { subject: slaveName });
      throw fsError(err, slaveName);
    }
    try {
      await ctx.binlog.append({ timestamp: mtime, op: 'C', name: claim.name });
      await ctx.binlog.append({ timestamp: nowSec(), op: 'L', name: slaveName, extra: claim.name });
    } catch (err) {
      await fs.rm(slavePath, { force: true }).catch(() => {});
      await fs.rm(claim.path, { force: true }).catch(() => {});
      throw err;
    }
    ioEvent(ctx, 'link', 'start');
    ioEvent(ctx, 'link', 'ok');
  } finally {
    claim.release();
  }
}
