import type { Buffer } from 'node:buffer';
import { MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { LOGIC_PATH_LEN, isValidExt, slaveFileName } from '../../protocol/filename.ts';
import { SLAVE_FIXED_LEN, decodeSlaveRequest, encodeFileIdResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import type { CommittedFile, FileRef, IncomingFile } from '../engine/engine.ts';
import { locate, nowSec, statFile } from './common.ts';
import { contentOf } from './io.ts';
import { logCreated } from './new-file.ts';

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
  await statFile(ctx, master).catch((e: FdfsError) => {
    throw e.code === 'ENOENT' ? new FdfsError('ENOENT', 'master file does not exist', { subject: masterName }) : e;
  });
  // §6.6 naming; EINVAL for a prefix of `-m` without extension or a too short master name.
  const slaveName = slaveFileName(masterName, u.prefix, u.ext);
  const slave = locate(ctx, slaveName);

  return ctx.fileLocks.run(slave.path, async () => {
    if (await ctx.engine.stat(slave)) throw new FdfsError('EEXIST', 'slave file already exists', { subject: slaveName });
    const useLink = ctx.params.storeSlaveFileUseLink;
    if (useLink && !ctx.names.source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');
    // The content waits where no reader sees it until it is complete: a cut-off upload leaves nothing.
    // §11.2: a slave never goes into a trunk, nor does the content a linked slave points at.
    const src = contentOf(req);
    const opts = { size: u.fileSize, onBytes: (n: number) => ioEvent(ctx, 'body', 'start', n, req.cmd) };
    const content = useLink
      ? await ctx.engine.receive(src, { to: 'new', storePathIndex: index, startTime: nowSec(), packable: false, subdir: ctx.names.pickSubdir(nowSec()) }, opts)
      : await ctx.engine.receive(src, { to: 'name', file: slave }, opts);
    try {
      if (useLink) await storeAsLink(ctx, content, u.ext, slaveName, slave);
      else await storeInPlace(ctx, content, slaveName, slave);
    } finally {
      await content.discard();
    }
    req.contentBytes = content.size;
    c.sourceUpdated();
    ctx.log('debug', `stored slave ${ctx.groupName}/${slaveName} (${content.size} bytes${useLink ? ', linked' : ''})`);
    return encodeFileIdResponse(ctx.groupName, slaveName);
  });
}

/** The content under the slave name itself; binlog `C <slave>` (§3.3). */
async function storeInPlace(ctx: StorageContext, content: IncomingFile, slaveName: string, slave: FileRef): Promise<void> {
  // Not replacing: a replica that arrived meanwhile wins.
  await content.commitAs({ replace: false }).catch((e: FdfsError) => {
    throw e.code === 'EEXIST' ? new FdfsError('EEXIST', 'slave file already exists', { subject: slaveName, cause: e }) : e;
  });
  await logCreated(ctx, slave, content.mtime);
}

/**
 * store_slave_file_use_link (§3.3): the content under a fresh normal name (`C <generated>`), the
 * slave name a symlink to it. 6.16.1 logs the link as `L  <generated>` (the slave name lost, a line
 * its own sync reader rejects); we write the intended `L <slave> <generated>` (§7.2).
 */
async function storeAsLink(ctx: StorageContext, content: IncomingFile, ext: string, slaveName: string, slave: FileRef): Promise<void> {
  const stored: CommittedFile = await content.commit({ kind: 'normal', ext });
  try {
    await ctx.engine.link(slave, stored.file);
  } catch (err) {
    await ctx.engine.remove(stored.file, { origin: 'client' }).catch(() => {});
    if ((err as FdfsError).code === 'EEXIST') throw new FdfsError('EEXIST', 'slave file already exists', { subject: slaveName, cause: err });
    throw err;
  }
  try {
    await ctx.binlog.append({ timestamp: stored.timestamp, op: 'C', name: stored.name });
    await ctx.binlog.append({ timestamp: nowSec(), op: 'L', name: slaveName, extra: stored.name });
  } catch (err) {
    await ctx.engine.remove(slave, { origin: 'client' }).catch(() => {});
    await ctx.engine.remove(stored.file, { origin: 'client' }).catch(() => {});
    throw err;
  }
  ioEvent(ctx, 'link', 'start');
  ioEvent(ctx, 'link', 'ok');
}
