import { STORAGE_ID_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { readFixed } from '../../protocol/fields.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { SYNC_CAPS_PROBE_STATUS, STORAGE_CAPS, SYNC_WATERMARK_LEN, decodeSyncWatermark, encodeSyncCaps } from '../sync/codec.ts';
import { setSyncSource, syncSourceOf } from './sync-common.ts';

// REPORT_SERVER_ID (9, PROTOCOL.md §5.1) and the fdfs extension FDFS_SYNC_WATERMARK (121): the two
// messages that say who is syncing to us on a connection and how far it got.

/** 9: the sending storage's id; later records on this connection count for it in 89 (§4.7). */
export async function reportServerId(req: Request, ctx: StorageContext): Promise<Buffer | void> {
  if (req.length !== STORAGE_ID_LEN) throw new FdfsError('EINVAL', `REPORT_SERVER_ID body of ${req.length} bytes, expected ${STORAGE_ID_LEN}`);
  // C keeps 15 characters (the 16th byte becomes the terminator) and refuses an empty id.
  const id = readFixed(await req.body(), 0, STORAGE_ID_LEN - 1);
  if (id === '') throw new FdfsError('EINVAL', 'REPORT_SERVER_ID with an empty server id');
  setSyncSource(req, id);
  ctx.sync?.hello(id);
  // An fdfs sender asks what we take beyond FastDFS (lib/storage/sync/codec.ts); C senders never ask.
  if (req.header.status === SYNC_CAPS_PROBE_STATUS) return encodeSyncCaps(STORAGE_CAPS);
}

/**
 * 121: the source has pushed every record of its binlog up to a point in time, so every file of
 * it older than the watermark is here. Only meaningful after 9 on the same connection.
 */
export async function syncWatermark(req: Request, ctx: StorageContext): Promise<void> {
  if (req.length !== SYNC_WATERMARK_LEN) throw new FdfsError('EINVAL', `SYNC_WATERMARK body of ${req.length} bytes, expected ${SYNC_WATERMARK_LEN}`);
  const ts = decodeSyncWatermark(await req.body());
  const source = syncSourceOf(req);
  if (!source) throw new FdfsError('EACCES', 'SYNC_WATERMARK before REPORT_SERVER_ID on this connection');
  if (ts > 0) ctx.sync?.watermark(source, ts);
}
