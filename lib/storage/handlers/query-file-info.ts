import type { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import { encodeFileInfoResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { checkGroup, decodeGroupAndName, locate, statFile } from './common.ts';

// QUERY_FILE_INFO (22), PROTOCOL.md §3.8.

/** header.status flags of the request. */
const FLAG_NO_CRC = 1;
/** The C name buffer is 132 bytes (§3.8). */
const MAX_NAME = 131;

export async function queryFileInfo(req: Request, ctx: StorageContext): Promise<Buffer> {
  const flags = req.header.status;
  const { group, logicName } = decodeGroupAndName(await req.body());
  checkGroup(ctx, group);
  const f = locate(ctx, logicName, MAX_NAME);
  // stat before decoding: 6.16.1 answers ENOENT, not EINVAL, for a short name that does not
  // exist (captures/README.md discrepancy 4).
  const lst = await statFile(ctx, f);
  const st = lst.type === 'link' ? await statFile(ctx, f, { follow: true }) : lst;
  if (st.type !== 'file') throw new FdfsError('EINVAL', 'not a regular file', { subject: logicName });
  const d = decodeFileName(logicName);
  if (!d) throw new FdfsError('EINVAL', 'file name cannot be decoded', { subject: logicName });
  // Appender and slave contents differ from what the name says; normal names carry the CRC.
  let crc = d.crc32;
  if (d.isAppender || d.isSlave) crc = flags & FLAG_NO_CRC ? 0 : await ctx.engine.crc32(f);
  return encodeFileInfoResponse({
    size: st.size,
    // §3.8: for a symlink, the link's own mtime.
    timestamp: lst.mtime,
    crc32: crc,
    sourceIp: ctx.sourceIpOf(d.source),
  }, ctx.params.ipAddrSize);
}
