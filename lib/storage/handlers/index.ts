import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Handler } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { activeTest } from './active-test.ts';
import { deleteFile } from './delete.ts';
import { download } from './download.ts';
import { getMetadata } from './get-metadata.ts';
import { queryFileInfo } from './query-file-info.ts';
import { setMetadata } from './set-metadata.ts';
import { upload } from './upload.ts';

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
    const g = guard(h);
    map.set(cmd, before ? async (req, ctx) => { await before(); return g(req, ctx); } : g);
  }
  return map;
}
