import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { SYNC_DELETE_FIXED_LEN, decodeSyncDelete } from '../sync/codec.ts';
import { checkGroup, locate } from './common.ts';
import { logApplied, withFileLock } from './sync-common.ts';

// SYNC_DELETE_FILE (17), PROTOCOL.md §5.3.

/** Remove the file (or link) a peer deleted; logged `d`. ENOENT when it is not here (the sender counts that as done). */
export async function syncDelete(req: Request, ctx: StorageContext): Promise<void> {
  const body = await req.body();
  if (body.length <= SYNC_DELETE_FIXED_LEN) throw new FdfsError('EINVAL', `SYNC_DELETE_FILE body of ${body.length} bytes has no file name`);
  const r = decodeSyncDelete(body);
  checkGroup(ctx, r.group);
  const f = locate(ctx, r.name);
  await withFileLock(ctx, f.path, async () => {
    const st = await ctx.engine.stat(f);
    if (!st) throw new FdfsError('ENOENT', 'no such file', { subject: r.name });
    if (st.type === 'dir') throw new FdfsError('EISDIR', 'not a file', { subject: r.name });
    // PROTOCOL.md §11.11: a trunk slot is zeroed, not handed back (the allocator learns it from 30).
    if (!(await ctx.engine.remove(f, { origin: 'sync' }))) throw new FdfsError('ENOENT', 'no such file', { subject: r.name });
    await logApplied(req, ctx, 'd', r.name, r.timestamp);
  });
}
