import { FdfsError } from '../../protocol/errno.ts';
import { META_FLAG, decodeSetMetadataRequest } from '../../protocol/storage-requests.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { META_SUFFIX } from '../metadata-store.ts';
import { checkGroup, locate, nowSec, statFile } from './common.ts';

// SET_METADATA (13), PROTOCOL.md §3.6.

const FIXED_LEN = 33;

export async function setMetadata(req: Request, ctx: StorageContext): Promise<void> {
  // §3.6: the whole request, blob included, must fit in buff_size (req.body() refuses with EINVAL).
  const body = await req.body();
  if (body.length < FIXED_LEN) throw new FdfsError('EINVAL', `set-metadata request of ${body.length} bytes is too short`);
  const c = ctx.counters;
  let r;
  try {
    r = decodeSetMetadataRequest(body);
  } catch (err) {
    throw new FdfsError('EINVAL', (err as Error).message);
  }
  if (r.flag !== META_FLAG.OVERWRITE && r.flag !== META_FLAG.MERGE) {
    throw new FdfsError('EINVAL', `metadata flag 0x${r.flag.toString(16)} is neither 'O' nor 'M'`, { subject: r.logicName });
  }
  checkGroup(ctx, r.group);
  const f = locate(ctx, r.logicName);
  const st = await statFile(ctx, f, { follow: true });
  if (st.type !== 'file') throw new FdfsError('EINVAL', 'not a regular file', { subject: r.logicName });
  const change = await ctx.meta.set(f.path, r.flag === META_FLAG.OVERWRITE ? 'O' : 'M', r.blob);
  const now = nowSec();
  if (change) await ctx.binlog.append({ timestamp: now, op: change, name: r.logicName + META_SUFFIX });
  if (change) c.sourceUpdated(now);
}
