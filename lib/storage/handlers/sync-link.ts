import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { SYNC_PAIR_FIXED_LEN, decodeSyncPair } from '../sync/codec.ts';
import { checkGroup, locate } from './common.ts';
import { logApplied, noteApplied, withFileLock } from './sync-common.ts';

// SYNC_CREATE_LINK (19, PROTOCOL.md §5.5) and SYNC_RENAME_FILE (40, §5.6): the two sync requests
// naming two files.

export async function syncPair(req: Request, ctx: StorageContext): Promise<void> {
  const body = await req.body();
  if (body.length <= SYNC_PAIR_FIXED_LEN) throw new FdfsError('EINVAL', `body of ${body.length} bytes has no file names`);
  const r = decodeSyncPair(body);
  checkGroup(ctx, r.group);
  const first = locate(ctx, r.first);
  const second = locate(ctx, r.second);
  const extra = r.second;
  await withFileLock(ctx, [first.path, second.path], async () => {
    if (req.cmd === CMD.SYNC_CREATE_LINK) {
      // §5.5: an existing link name or a missing target is not an error. We write the intended
      // `l <link> <target>` record, not 6.16.1's nameless one.
      if (await ctx.engine.stat(first)) { noteApplied(req, ctx, r.timestamp); return; }
      if (!(await ctx.engine.stat(second, { follow: true }))) { noteApplied(req, ctx, r.timestamp); return; }
      try {
        await ctx.engine.link(first, second);
      } catch (err) {
        if ((err as FdfsError).code === 'EEXIST') { noteApplied(req, ctx, r.timestamp); return; }
        throw err;
      }
      await logApplied(req, ctx, 'l', r.first, r.timestamp, extra);
      return;
    }
    // §5.6: (new, old). The new name already here means done; the old one missing makes the
    // sender send the new file whole.
    if (await ctx.engine.stat(first)) {
      noteApplied(req, ctx, r.timestamp);
      throw new FdfsError('EEXIST', 'renamed file already here', { subject: r.first });
    }
    if (!(await ctx.engine.stat(second))) throw new FdfsError('ENOENT', 'file to rename is not here', { subject: r.second });
    await ctx.engine.rename(second, first);
    // We answer with an empty body, not 6.16.1's echo of the request (captures/README.md #1).
    await logApplied(req, ctx, 'r', r.first, r.timestamp, extra);
  });
}
