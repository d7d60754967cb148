import { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldReader } from '../../protocol/fields.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { checkAppenderNameLength, withAppender } from './appender-common.ts';

// TRUNCATE_FILE (36), PROTOCOL.md §3.11: i64 name_len, i64 new_size, name (no content).

const FIXED_LEN = 16;

export async function truncateFile(req: Request, ctx: StorageContext): Promise<Buffer> {
  const c = ctx.counters;
  if (req.length <= FIXED_LEN) throw new FdfsError('EINVAL', `truncate body of ${req.length} bytes is too short`);
  const r = new FieldReader(await req.read(FIXED_LEN));
  const nameLen = r.i64();
  const newSize = r.i64();
  checkAppenderNameLength(nameLen);
  if (newSize < 0) throw new FdfsError('EINVAL', `negative file size ${newSize}`);
  // §3.11: the C server does not cross-check pkg_len; the name must be there, anything after it
  // is skipped by the connection loop.
  if (req.remaining < nameLen) throw new FdfsError('EINVAL', `truncate body of ${req.length} bytes has no ${nameLen}-byte name`);
  const logicName = (await req.read(nameLen)).toString('latin1');

  return withAppender(ctx, logicName, async (f) => {
    // Same size: a no-op with status 0 (6.16 echoes the request here, §3.11; we do not).
    if (newSize === f.size) {
      return Buffer.alloc(0);
    }
    // §3.11: a larger size is allowed, the file grows with zeros (6.16 only logs a warning).
    const mtime = await ctx.engine.truncate(f, newSize);
    // §7.2: `T <name> <old_size> <new_size>`, timestamp = the new mtime.
    await ctx.binlog.append({ timestamp: mtime, op: 'T', name: logicName, extra: `${f.size} ${newSize}` });
    c.sourceUpdated();
    return Buffer.alloc(0);
  });
}
