import { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldReader } from '../../protocol/fields.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { checkAppenderNameLength, withAppender, writeIntoAppender } from './appender-common.ts';

// MODIFY_FILE (34), PROTOCOL.md §3.10: i64 name_len, i64 offset, i64 bytes, name, content.
// Overwrites an appender file in place from `offset` (≤ its size); may extend it.

const FIXED_LEN = 24;

export async function modifyFile(req: Request, ctx: StorageContext): Promise<Buffer> {
  const c = ctx.counters;
  if (req.length <= FIXED_LEN) throw new FdfsError('EINVAL', `modify body of ${req.length} bytes is too short`);
  const r = new FieldReader(await req.read(FIXED_LEN));
  const nameLen = r.i64();
  const offset = r.i64();
  const bytes = r.i64();
  // The C checks, in its order: name length, offset ≥ 0, bytes = what follows the name.
  checkAppenderNameLength(nameLen);
  if (offset < 0) throw new FdfsError('EINVAL', `negative offset ${offset}`);
  if (bytes < 0 || bytes !== req.length - FIXED_LEN - nameLen) {
    throw new FdfsError('EINVAL', `modify of ${bytes} bytes does not match package length ${req.length}`);
  }
  const logicName = (await req.read(nameLen)).toString('latin1');

  return withAppender(ctx, logicName, async (f) => {
    // §3.10: an offset past the end would leave a hole; 6.16 answers EINVAL (errors.json,
    // raw-storage-modify-beyond-size) and, being a header-only EINVAL, closes the connection.
    if (offset > f.size) {
      throw new FdfsError('EINVAL', `offset ${offset} is beyond the end of the file (size ${f.size})`, { subject: logicName });
    }
    // 0 bytes: a no-op with status 0 (without the 6.16 request echo, §3.10).
    if (bytes === 0) {
      return Buffer.alloc(0);
    }
    // Overwritten bytes cannot be taken back, but a cut-off modify that grew the file at least
    // does not leave a longer file than before.
    // The bytes written before the cut are not known here, so the file's own size decides.
    const { received, mtime } = await writeIntoAppender(req, ctx, f, offset, f.size);
    // §7.2: `M <name> <offset> <bytes>`, timestamp = the new mtime.
    await ctx.binlog.append({ timestamp: mtime, op: 'M', name: logicName, extra: `${offset} ${bytes}` });
    req.contentBytes = received;
    c.sourceUpdated();
    return Buffer.alloc(0);
  });
}
