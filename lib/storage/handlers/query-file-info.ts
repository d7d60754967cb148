import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import { Crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import { encodeFileInfoResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { checkGroup, decodeGroupAndName, fsError, locate } from './common.ts';

// QUERY_FILE_INFO (22), PROTOCOL.md §3.8.

/** header.status flags of the request. */
const FLAG_NO_CRC = 1;
/** The C name buffer is 132 bytes (§3.8). */
const MAX_NAME = 131;
const CRC_CHUNK = 512 * 1024;

async function fileCrc(p: string): Promise<number> {
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

export async function queryFileInfo(req: Request, ctx: StorageContext): Promise<Buffer> {
  const flags = req.header.status;
  const { group, logicName } = decodeGroupAndName(await req.body());
  checkGroup(ctx, group);
  const f = locate(ctx, logicName, MAX_NAME);
  // stat before decoding: 6.16.1 answers ENOENT, not EINVAL, for a short name that does not
  // exist (captures/README.md discrepancy 4).
  let st;
  let lst;
  try {
    lst = await fs.lstat(f.path);
    st = lst.isSymbolicLink() ? await fs.stat(f.path) : lst;
  } catch (err) {
    throw fsError(err, logicName);
  }
  if (!st.isFile()) throw new FdfsError('EINVAL', 'not a regular file', { subject: logicName });
  const d = decodeFileName(logicName);
  if (!d) throw new FdfsError('EINVAL', 'file name cannot be decoded', { subject: logicName });
  // Appender and slave contents differ from what the name says; normal names carry the CRC.
  let crc = d.crc32;
  if (d.isAppender || d.isSlave) crc = flags & FLAG_NO_CRC ? 0 : await fileCrc(f.path);
  return encodeFileInfoResponse({
    size: st.size,
    // §3.8: for a symlink, the link's own mtime.
    timestamp: Math.floor(lst.mtimeMs / 1000),
    crc32: crc,
    sourceIp: ctx.sourceIpOf(d.source),
  }, ctx.params.ipAddrSize);
}
