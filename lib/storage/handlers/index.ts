import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Handler } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { activeTest } from './active-test.ts';
import { appendFile } from './append.ts';
import { deleteFile } from './delete.ts';
import { download } from './download.ts';
import { fetchOnePathBinlog } from './fetch-one-path-binlog.ts';
import { getMetadata } from './get-metadata.ts';
import { listFiles } from './list-files.ts';
import { modifyFile } from './modify.ts';
import { PEER_ONLY_COMMANDS, peerOnly } from './peer-only.ts';
import { queryFileInfo } from './query-file-info.ts';
import { regenerateAppenderName } from './regenerate.ts';
import { setMetadata } from './set-metadata.ts';
import { syncDelete } from './sync-delete.ts';
import { syncFile } from './sync-file.ts';
import { syncPair } from './sync-link.ts';
import { syncRange } from './sync-range.ts';
import { syncStatus } from './sync-status.ts';
import { reportServerId, syncWatermark } from './sync-session.ts';
import { truncateFile } from './truncate.ts';
import { TRUNK_HANDLERS } from './trunk-binlog.ts';
import { upload } from './upload.ts';
import { uploadSlave } from './upload-slave.ts';

// The storage's command table: one handler per command code (STYLE.md rule 2).

const TABLE: ReadonlyArray<[number, Handler<StorageContext>]> = [
  [CMD.UPLOAD_FILE, upload],
  [CMD.UPLOAD_APPENDER_FILE, upload],
  [CMD.DELETE_FILE, deleteFile],
  [CMD.SET_METADATA, setMetadata],
  [CMD.DOWNLOAD_FILE, download],
  [CMD.GET_METADATA, getMetadata],
  [CMD.QUERY_FILE_INFO, queryFileInfo],
  [CMD.ACTIVE_TEST, activeTest],
  // Appender and slave files (issue 4, §3.3, §3.9–§3.13).
  [CMD.UPLOAD_SLAVE_FILE, uploadSlave],
  [CMD.APPEND_FILE, appendFile],
  [CMD.MODIFY_FILE, modifyFile],
  [CMD.TRUNCATE_FILE, truncateFile],
  [CMD.REGENERATE_APPENDER_FILENAME, regenerateAppenderName],
  // fdfs extension: the live files of the group, for `fdfs ls` / `fdfs export` (lib/protocol/list-files.ts).
  [CMD.FDFS_LIST_FILES, listFiles],
  // Storage ↔ storage replication (issue 5, §5).
  [CMD.REPORT_SERVER_ID, reportServerId],
  [CMD.SYNC_CREATE_FILE, syncFile],
  [CMD.SYNC_UPDATE_FILE, syncFile],
  [CMD.SYNC_DELETE_FILE, syncDelete],
  [CMD.SYNC_APPEND_FILE, syncRange],
  [CMD.SYNC_MODIFY_FILE, syncRange],
  [CMD.SYNC_TRUNCATE_FILE, syncRange],
  [CMD.SYNC_CREATE_LINK, syncPair],
  [CMD.SYNC_RENAME_FILE, syncPair],
  [CMD.FDFS_SYNC_WATERMARK, syncWatermark],
  // Disk recovery of a peer (§5.8, §5.11).
  [CMD.FETCH_ONE_PATH_BINLOG, fetchOnePathBinlog],
  // fdfs extension: outgoing replication per peer, for `fdfs list` (lib/protocol/sync-status.ts).
  [CMD.FDFS_SYNC_STATUS, syncStatus],
  // Trunk storage, 27–33 (§11.6).
  ...TRUNK_HANDLERS,
];

/**
 * A field reader running past the end of a body (RangeError) means a malformed package: EINVAL,
 * which also makes the storage close the connection (§1.1).
 */
function guard(h: Handler<StorageContext>): Handler<StorageContext> {
  return async (req, ctx) => {
    try {
      return await h(req, ctx);
    } catch (err) {
      if (err instanceof RangeError) throw new FdfsError('EINVAL', err.message, { cause: err });
      throw err;
    }
  };
}

/**
 * Build the handler map. `before` runs ahead of every command (the server uses it to hold requests
 * that arrive while the start-up exchange with the trackers is still going on).
 */
export function storageHandlers(before?: () => Promise<void> | void): Map<number, Handler<StorageContext>> {
  const map = new Map<number, Handler<StorageContext>>();
  for (const [cmd, h] of TABLE) {
    const g = guard(PEER_ONLY_COMMANDS.has(cmd) ? peerOnly(h) : h);
    map.set(cmd, before ? async (req, ctx) => { await before(); return g(req, ctx); } : g);
  }
  return map;
}
