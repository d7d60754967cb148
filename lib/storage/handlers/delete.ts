import fs from 'node:fs/promises';
import path from 'node:path';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { META_SUFFIX } from '../metadata-store.ts';
import { checkGroup, decodeGroupAndName, fsError, locate, logicNameOfPath, lstatFile, nowSec } from './common.ts';

// DELETE_FILE (12), PROTOCOL.md §3.5.

export async function deleteFile(req: Request, ctx: StorageContext): Promise<void> {
  const { group, logicName } = decodeGroupAndName(await req.body());
  const c = ctx.counters;
  checkGroup(ctx, group);
  const f = locate(ctx, logicName);
  const st = await lstatFile(f);
  const now = nowSec();
  if (st.isSymbolicLink()) {
    // §3.5: a slave stored as a link also loses its target, logged first.
    const raw = await fs.readlink(f.path);
    const target = path.resolve(path.dirname(f.path), raw);
    const targetName = logicNameOfPath(ctx, target);
    if (targetName) {
      try {
        await fs.unlink(target);
        await ctx.binlog.append({ timestamp: now, op: 'D', name: targetName });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, targetName);
      }
    }
  } else if (!st.isFile()) {
    throw new FdfsError('EINVAL', 'not a regular file', { subject: logicName });
  }
  try {
    await fs.unlink(f.path);
  } catch (err) {
    throw fsError(err, logicName);
  }
  await ctx.binlog.append({ timestamp: now, op: 'D', name: logicName });
  if (await ctx.meta.remove(f.path)) {
    await ctx.binlog.append({ timestamp: now, op: 'D', name: logicName + META_SUFFIX });
  }
  c.sourceUpdated(now);
}
