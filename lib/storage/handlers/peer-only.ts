import { CMD, commandName } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Handler } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';

// Storage-to-storage commands (PROTOCOL.md §5) are taken only from storages of our group. FastDFS
// has no authentication, and a C storage takes them from anyone who can connect (issue 15: one
// unauthenticated SYNC_CREATE_FILE replaced a file on both members). The check is by address,
// because that is all a C peer offers: it sends REPORT_SERVER_ID (9) on its first sync connection
// but not on the parallel ones (captures/storage-sync.json, connection 2 opens with 16), and an
// id in 9 is only a claim. A member connects from the address it joined the trackers with (or
// one storage_ids.conf lists for it), so C peers keep working unchanged.

/** The commands only a peer storage sends. */
export const PEER_ONLY_COMMANDS: ReadonlySet<number> = new Set([
  CMD.REPORT_SERVER_ID, CMD.SYNC_CREATE_FILE, CMD.SYNC_DELETE_FILE, CMD.SYNC_UPDATE_FILE, CMD.SYNC_CREATE_LINK,
  CMD.SYNC_APPEND_FILE, CMD.FETCH_ONE_PATH_BINLOG, CMD.SYNC_MODIFY_FILE, CMD.SYNC_TRUNCATE_FILE, CMD.SYNC_RENAME_FILE,
  CMD.FDFS_SYNC_WATERMARK,
]);

/** Wrap a peer-only handler: EACCES (§1 errno table: "permission denied") for a stranger. */
export function peerOnly(h: Handler<StorageContext>): Handler<StorageContext> {
  return async (req, ctx) => {
    const ip = req.conn.remoteIp;
    if (ctx.isGroupMember && !(await ctx.isGroupMember(ip))) {
      throw new FdfsError('EACCES', `${commandName(req.cmd)} from ${ip}, which is not a storage of group ${ctx.groupName}`, { subject: req.conn.address });
    }
    return h(req, ctx);
  };
}
