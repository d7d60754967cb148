import fs from 'node:fs/promises';
import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { SYNC_PAIR_FIXED_LEN, decodeSyncPair } from '../sync/codec.ts';
import { checkGroup, fsError, locate } from './common.ts';
import { logApplied, lstatOrNull, noteApplied, statOrNull, withFileLock } from './sync-common.ts';

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
      if (await lstatOrNull(first.path)) { noteApplied(req, ctx, r.timestamp); return; }
      if (!(await statOrNull(second.path))) { noteApplied(req, ctx, r.timestamp); return; }
      try {
        await fs.symlink(second.path, first.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') { noteApplied(req, ctx, r.timestamp); return; }
        throw fsError(err, r.first);
      }
      await logApplied(req, ctx, 'l', r.first, r.timestamp, extra);
      return;
    }
    // §5.6: (new, old). The new name already here means done; the old one missing makes the
    // sender send the new file whole.
    if (await lstatOrNull(first.path)) {
      noteApplied(req, ctx, r.timestamp);
      throw new FdfsError('EEXIST', 'renamed file already here', { subject: r.first });
    }
    if (!(await lstatOrNull(second.path))) throw new FdfsError('ENOENT', 'file to rename is not here', { subject: r.second });
    try {
      await fs.rename(second.path, first.path);
    } catch (err) {
      throw fsError(err, r.second);
    }
    // We answer with an empty body, not 6.16.1's echo of the request (captures/README.md #1).
    await logApplied(req, ctx, 'r', r.first, r.timestamp, extra);
  });
}
