import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { META_SUFFIX } from '../metadata-store.ts';
import { checkGroup, decodeGroupAndName, locate, nowSec, statFile } from './common.ts';

// DELETE_FILE (12), PROTOCOL.md §3.5.

export async function deleteFile(req: Request, ctx: StorageContext): Promise<void> {
  const { group, logicName } = decodeGroupAndName(await req.body());
  const c = ctx.counters;
  checkGroup(ctx, group);
  const f = locate(ctx, logicName);
  const st = await statFile(ctx, f);
  const now = nowSec();
  if (st.type === 'link') {
    // §3.5: a slave stored as a link also loses its target, logged first.
    const target = await ctx.engine.readLink(f);
    if (target && await ctx.engine.remove(target, { origin: 'client' })) {
      await ctx.binlog.append({ timestamp: now, op: 'D', name: target.logicName });
    }
  } else if (st.type !== 'file') {
    throw new FdfsError('EINVAL', 'not a regular file', { subject: logicName });
  }
  if (!(await ctx.engine.remove(f, { origin: 'client' }))) throw new FdfsError('ENOENT', 'no such file', { subject: logicName });
  await ctx.binlog.append({ timestamp: now, op: 'D', name: logicName });
  if (await ctx.meta.remove(f.path)) {
    await ctx.binlog.append({ timestamp: now, op: 'D', name: logicName + META_SUFFIX });
  }
  c.sourceUpdated(now);
}
