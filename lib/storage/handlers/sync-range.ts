import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { SYNC_RANGE_FIXED_LEN, decodeSyncRangeHeader } from '../sync/codec.ts';
import { ioEvent } from '../io-events.ts';
import { checkGroup, locate } from './common.ts';
import { contentOf } from './io.ts';
import { checkNameLength, discard, logApplied, noteApplied, withFileLock } from './sync-common.ts';

// SYNC_APPEND_FILE (25), SYNC_MODIFY_FILE (35), SYNC_TRUNCATE_FILE (37), PROTOCOL.md §5.4:
// in-place changes of an appender file, applied only when the local file is where the source's
// was; otherwise EEXIST ("already ahead") or ENOENT (the sender then re-sends the whole file).

export async function syncRange(req: Request, ctx: StorageContext): Promise<void> {
  const truncate = req.cmd === CMD.SYNC_TRUNCATE_FILE;
  const append = req.cmd === CMD.SYNC_APPEND_FILE;
  if (req.length < SYNC_RANGE_FIXED_LEN) throw new FdfsError('EINVAL', `sync body of ${req.length} bytes is too short`);
  const h = decodeSyncRangeHeader(await req.read(SYNC_RANGE_FIXED_LEN));
  checkNameLength(h.nameLength);
  if (h.first < 0 || h.second < 0) throw new FdfsError('EINVAL', `negative offset/size ${h.first} ${h.second}`);
  const contentLength = truncate ? 0 : h.second;
  // A truncate carries no content; like the C server we do not insist on its exact length.
  if (truncate ? req.length < SYNC_RANGE_FIXED_LEN + h.nameLength : req.length !== SYNC_RANGE_FIXED_LEN + h.nameLength + contentLength) {
    throw new FdfsError('EINVAL', `package length ${req.length} does not match filename_len ${h.nameLength} and length ${contentLength}`);
  }
  const name = (await req.read(h.nameLength)).toString('latin1');
  checkGroup(ctx, h.group);
  const f = locate(ctx, name);
  const extra = `${h.first} ${h.second}`;

  await withFileLock(ctx, f.path, async () => {
    const st = await ctx.engine.stat(f, { follow: true });
    if (!st) {
      await discard(req, contentLength);
      throw new FdfsError('ENOENT', 'no such file (resync needed)', { subject: name });
    }
    if (st.type !== 'file') {
      await discard(req, contentLength);
      noteApplied(req, ctx, h.timestamp);
      throw new FdfsError('EEXIST', 'not a regular file', { subject: name });
    }
    if (truncate) {
      const [oldSize, newSize] = [h.first, h.second];
      if (st.size !== oldSize) {
        noteApplied(req, ctx, h.timestamp);
        throw new FdfsError('EEXIST', `size ${st.size} is not the old size ${oldSize}`, { subject: name });
      }
      await ctx.engine.truncate(f, newSize, { mtime: h.timestamp });
      await logApplied(req, ctx, 't', name, h.timestamp, extra);
      return;
    }
    const [offset, length] = [h.first, h.second];
    const applies = append ? st.size === offset : st.size >= offset;
    if (!applies) {
      await discard(req, length);
      if (st.size >= offset + length) {
        noteApplied(req, ctx, h.timestamp);
        throw new FdfsError('EEXIST', `size ${st.size} is already past ${offset} + ${length}`, { subject: name });
      }
      throw new FdfsError('ENOENT', `size ${st.size} does not fit offset ${offset} (resync needed)`, { subject: name });
    }
    // An append cut short is undone, so the file is never longer than what some source state had.
    await ctx.engine.writeAt(f, contentOf(req), offset, length, {
      mtime: h.timestamp,
      restoreSize: append ? offset : undefined,
      onBytes: (n) => ioEvent(ctx, 'sync-in', 'start', n),
    });
    await logApplied(req, ctx, append ? 'a' : 'm', name, h.timestamp, extra, length);
  });
}
