import type { Buffer } from 'node:buffer';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { checkGroup, decodeGroupAndName, locate, statFile } from './common.ts';

// GET_METADATA (15), PROTOCOL.md §3.7: the raw bytes of the `-m` file.

export async function getMetadata(req: Request, ctx: StorageContext): Promise<Buffer> {
  const { group, logicName } = decodeGroupAndName(await req.body());
  checkGroup(ctx, group);
  const f = locate(ctx, logicName);
  await statFile(ctx, f, { follow: true });
  const blob = await ctx.meta.read(f.path);
  if (blob === null) throw new FdfsError('ENOENT', 'file has no metadata', { subject: logicName });
  return blob;
}
