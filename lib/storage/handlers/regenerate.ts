import type { Buffer } from 'node:buffer';
import { MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { EXT7_LEN } from '../../protocol/filename.ts';
import { encodeFileIdResponse } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { MIN_APPENDER_NAME_LEN, withAppender } from './appender-common.ts';
import { nowSec } from './common.ts';

// REGENERATE_APPENDER_FILENAME (38), PROTOCOL.md §3.13: the body is the bare appender logic name.
// The file becomes a normal file: new name with timestamp now, the current size and the CRC-32
// of the whole content, same store path, sub-directories and 7-char extension tail.
// Like 6.16, only the data file is renamed: a `-m` metadata file stays with the old name.

export async function regenerateAppenderName(req: Request, ctx: StorageContext): Promise<Buffer> {
  if (req.length < MIN_APPENDER_NAME_LEN || req.length > MAX_FILENAME_LEN) {
    throw new FdfsError('EINVAL', `appender file name of ${req.length} bytes outside ${MIN_APPENDER_NAME_LEN}..${MAX_FILENAME_LEN}`);
  }
  const oldName = (await req.body()).toString('latin1');
  return withAppender(ctx, oldName, async (f) => {
    const crc = await ctx.engine.crc32(f);
    const now = nowSec();
    const claim = ctx.engine.claimName({
      storePathIndex: f.parsed.storePathIndex, high: f.parsed.high, low: f.parsed.low,
      timestamp: now, size: f.size, crc32: crc, ext7: oldName.slice(-EXT7_LEN), kind: 'normal',
    });
    try {
      await ctx.engine.rename(f, claim.file);
      try {
        // §7.2: `R <new> <old>`, timestamp = now.
        await ctx.binlog.append({ timestamp: now, op: 'R', name: claim.name, extra: oldName });
      } catch (err) {
        // Unlogged, the rename would never reach the replicas: put the file back.
        await ctx.engine.rename(claim.file, f).catch(() => {});
        throw err;
      }
    } finally {
      claim.release();
    }
    ctx.counters.sourceUpdated(now);
    ctx.log('debug', `renamed appender ${oldName} to ${claim.name}`);
    return encodeFileIdResponse(ctx.groupName, claim.name);
  });
}
