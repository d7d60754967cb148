import type { Buffer } from 'node:buffer';
import type { Request } from '../../net/packet-server.ts';
import { decodeSyncStatusRequest, encodeSyncStatusResponse } from '../../protocol/sync-status.ts';
import type { StorageContext } from '../context.ts';
import { checkGroup } from './common.ts';

// FDFS_SYNC_STATUS (122), an fdfs extension (codec and layout: lib/protocol/sync-status.ts): how
// far each peer is behind this storage's binlog. A group other than ours is EINVAL.

export async function syncStatus(req: Request, ctx: StorageContext): Promise<Buffer> {
  const group = decodeSyncStatusRequest(await req.body());
  checkGroup(ctx, group);
  const peers = ctx.syncStatus ? await ctx.syncStatus() : [];
  return encodeSyncStatusResponse(peers);
}
