import { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldReader } from '../../protocol/fields.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { checkAppenderNameLength, withAppender, writeIntoAppender } from './appender-common.ts';

// APPEND_FILE (24), PROTOCOL.md §3.9: i64 name_len, i64 bytes, name, content.

const FIXED_LEN = 16;

export async function appendFile(req: Request, ctx: StorageContext): Promise<Buffer> {
  const c = ctx.counters;
  if (req.length <= FIXED_LEN) throw new FdfsError('EINVAL', `append body of ${req.length} bytes is too short`);
  const r = new FieldReader(await req.read(FIXED_LEN));
  const nameLen = r.i64();
  const bytes = r.i64();
  checkAppenderNameLength(nameLen);
  if (bytes < 0 || bytes !== req.length - FIXED_LEN - nameLen) {
    throw new FdfsError('EINVAL', `append of ${bytes} bytes does not match package length ${req.length}`);
  }
  const logicName = (await req.read(nameLen)).toString('latin1');

  // Serialised per file: the next append starts where this one ended (no lost or mixed bytes).
  return withAppender(ctx, logicName, async (f) => {
    // §3.9: 0 bytes is a no-op with status 0. 6.16 echoes the request body here; its own client
    // then fails, so we answer with the empty body every client expects.
    if (bytes === 0) {
      return Buffer.alloc(0);
    }
    // Like the C server's clean-up: a cut-off append is taken back, the file keeps its old size.
    const { received, mtime } = await writeIntoAppender(req, ctx, f, f.size, f.size);
    try {
      // §3.9 / §7.2: `A <name> <old_size> <bytes>`, timestamp = the new mtime.
      await ctx.binlog.append({ timestamp: mtime, op: 'A', name: logicName, extra: `${f.size} ${bytes}` });
    } catch (err) {
      // Unlogged bytes would never reach the replicas: undo them and report the failure.
      await ctx.engine.truncate(f, f.size).catch(() => {});
      throw err;
    }
    req.contentBytes = received;
    c.sourceUpdated();
    return Buffer.alloc(0);
  });
}
