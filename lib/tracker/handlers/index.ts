import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { TrunkCoordinator } from '../trunk.ts';
import type { TrackerContext } from '../context.ts';
import { adminHandlers } from './admin.ts';
import { changelogHandlers } from './changelog.ts';
import type { TrackerHandler } from './common.ts';
import { ipChangedHandlers } from './ip-changed.ts';
import { listHandlers } from './list.ts';
import { monitorHandlers } from './monitor.ts';
import { parameterHandlers } from './parameters.ts';
import { queryFetchHandlers } from './query-fetch.ts';
import { queryStoreHandlers } from './query-store.ts';
import { leaderHandlers } from './leader.ts';
import { joinHandlers } from './storage-join.ts';
import { lookupHandlers } from './storage-lookup.ts';
import { reportHandlers } from './storage-report.ts';
import { statusHandlers } from './storage-status.ts';
import { syncHandlers } from './storage-sync.ts';
import { sysFileHandlers } from './sys-files.ts';
import { trunkHandlers } from './trunk.ts';

/**
 * The tracker's command table (PROTOCOL.md §1.2, tracker-served commands), tracker-to-tracker
 * commands included (58, 61–68). QUIT and unknown codes are the connection loop's business.
 */
export function trackerHandlers(trunk: () => TrunkCoordinator): Map<number, TrackerHandler> {
  const table = new Map<number, TrackerHandler>();
  for (const entries of [
    joinHandlers, reportHandlers, syncHandlers, statusHandlers, lookupHandlers, parameterHandlers,
    changelogHandlers, ipChangedHandlers, trunkHandlers(trunk), queryStoreHandlers, queryFetchHandlers, listHandlers,
    adminHandlers, monitorHandlers, leaderHandlers, sysFileHandlers,
  ]) {
    for (const [code, handler] of entries) {
      if (table.has(code)) throw new Error(`tracker command ${code} registered twice`);
      table.set(code, guarded(handler));
    }
  }
  return table;
}

/**
 * A field read past the end of a body (RangeError from the codecs) is a malformed request, not a
 * server fault: answer EINVAL like the C tracker, never EIO.
 */
function guarded(handler: TrackerHandler): TrackerHandler {
  return async (req: Request, ctx: TrackerContext) => {
    try {
      return await handler(req, ctx);
    } catch (err) {
      if (err instanceof RangeError) throw new FdfsError('EINVAL', `malformed request: ${err.message}`, { subject: req.conn.address });
      throw err;
    }
  };
}
