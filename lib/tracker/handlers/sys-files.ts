import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldWriter } from '../../protocol/fields.ts';
import { SYS_FILE_CHUNK, decodeSysFileRequest } from '../../protocol/tracker-peer.ts';
import type { Request } from '../../net/packet-server.ts';
import { SYS_FILES } from '../bootstrap.ts';
import type { TrackerContext } from '../context.ts';
import { EMPTY, bodyOfLength, einval, type HandlerEntry } from './common.ts';

// A new tracker copies our data files (PROTOCOL.md §8.7): 61 START, 63 per piece, 62 END.

/**
 * 61: rewrite files 0–2 from memory, then hold our writes until 62 or until this connection
 * closes. §8.7 records that a second 61 meanwhile hangs a 6.16 worker thread; we answer EBUSY.
 */
async function start(req: Request, ctx: TrackerContext) {
  await bodyOfLength(req, 0, 'GET_SYS_FILES_START');
  if (ctx.cluster.groups.size === 0) throw new FdfsError('ENOENT', 'this tracker knows no group yet');
  await ctx.copyLock.acquire(req.conn, ctx.store);
  ctx.log('info', `tracker ${req.conn.address} copies the system files`);
  return EMPTY;
}

/** 62: release the lock (no error when not held). */
async function end(req: Request, ctx: TrackerContext) {
  await bodyOfLength(req, 0, 'GET_SYS_FILES_END');
  ctx.copyLock.release(req.conn);
  return EMPTY;
}

/** 63: `i64 file_size` + up to 8173 bytes of file `index` from `offset`. */
async function oneFile(req: Request, ctx: TrackerContext) {
  if (req.length !== 9) throw einval(`GET_ONE_SYS_FILE: body of ${req.length} bytes, expected 9`, req.conn.address);
  const { index, offset } = decodeSysFileRequest(await req.body());
  const name = SYS_FILES[index];
  if (name === undefined) throw einval(`GET_ONE_SYS_FILE: file index ${index}`, req.conn.address);
  if (offset < 0) throw einval(`GET_ONE_SYS_FILE: offset ${offset}`, req.conn.address);
  let fh;
  try {
    fh = await open(join(ctx.store.dataDir, name), 'r');
  } catch (err) {
    // The changelog may not exist yet: an empty file.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && index === 3) {
      if (offset > 0) throw einval(`GET_ONE_SYS_FILE: offset ${offset} beyond 0`, req.conn.address);
      return new FieldWriter(8).i64(0).buf;
    }
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    if (offset > size) throw einval(`GET_ONE_SYS_FILE: offset ${offset} beyond ${size}`, req.conn.address);
    const len = Math.min(SYS_FILE_CHUNK, size - offset);
    const out = new FieldWriter(8 + len).i64(size);
    const { bytesRead } = await fh.read(out.buf, 8, len, offset);
    return out.buf.subarray(0, 8 + bytesRead);
  } finally {
    await fh.close();
  }
}

export const sysFileHandlers: HandlerEntry[] = [
  [CMD.TRACKER_GET_SYS_FILES_START, start],
  [CMD.TRACKER_GET_SYS_FILES_END, end],
  [CMD.TRACKER_GET_ONE_SYS_FILE, oneFile],
];

