import type { Buffer } from 'node:buffer';
import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { isNameSafeExt } from '../../protocol/filename.ts';
import { UPLOAD_FIXED_LEN, decodeUploadRequest, encodeFileIdResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import { nowSec } from './common.ts';
import { contentOf } from './io.ts';
import { logCreated } from './new-file.ts';
import type { ReservedSpace } from '../../config/values.ts';

const NO_RESERVE: ReservedSpace = { kind: 'mb', mb: 0, text: '0' };

// UPLOAD_FILE (11) and UPLOAD_APPENDER_FILE (23), PROTOCOL.md §3.1, §3.2: decode ⇒ engine
// (receive, then commit under a name the engine builds) ⇒ binlog `C` ⇒ reply.

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

  // §11.2: an upload going into a trunk slot skips the reserve check (the tracker's store-path
  // choice counted trunk free space already); it still needs a usable store path.
  const packed = !appender && ctx.engine.packs?.(u.fileSize) === true;
  const index = packed
    ? await ctx.storePaths.choose(u.storePathIndex, 0, NO_RESERVE, ctx.params.pathMode)
    : await ctx.storePaths.choose(u.storePathIndex, u.fileSize, ctx.params.reserve, ctx.params.pathMode);
  const incoming = await ctx.engine.receive(contentOf(req), { to: 'new', storePathIndex: index, startTime: nowSec(), packable: !appender }, {
    size: u.fileSize,
    onBytes: (n) => ioEvent(ctx, 'body', 'start', n, req.cmd),
  });
  const received = incoming.size;
  const stored = await incoming.commit({ kind: appender ? 'appender' : 'normal', ext: u.ext });
  const name = stored.name;
  await logCreated(ctx, stored.file, stored.timestamp);
  req.contentBytes = received;
  c.sourceUpdated();
  ctx.log('debug', `stored ${ctx.groupName}/${name} (${received} bytes)`);
  return encodeFileIdResponse(ctx.groupName, name);
}
