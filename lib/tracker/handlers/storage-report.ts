import { CMD } from '../../protocol/codes.ts';
import { FieldReader } from '../../protocol/fields.ts';
import { STORAGE_STAT_LEN, decodeStorageStat } from '../../protocol/records.ts';
import { decodeDiskUsage, decodeSyncReport } from '../../protocol/storage-tracker.ts';
import type { Request } from '../../net/packet-server.ts';
import { changePushFor } from '../change-push.ts';
import { noteBeat } from '../link-watch.ts';
import type { TrackerContext } from '../context.ts';
import { loadBalanceGroupIndex, loadBalancePath } from '../selection.ts';
import { einval, joinedStorage, type HandlerEntry } from './common.ts';

/** §8.8: every 1000th heartbeat with statistics / SYNC_REPORT rewrites the servers / sync file. */
const SAVE_EVERY = 1000;

/**
 * 83 STORAGE_BEAT (§4.5): optional 348-byte counters, then last_heart_beat_time = now and the
 * storage becomes ACTIVE (§8.5). Answered with the change push (§4.8).
 */
async function beat(req: Request, ctx: TrackerContext) {
  const s = joinedStorage(req);
  if (req.length !== 0 && req.length !== STORAGE_STAT_LEN) throw einval(`BEAT body of ${req.length} bytes, expected 0 or ${STORAGE_STAT_LEN}`);
  const body = await req.body();
  const now = ctx.now();
  if (body.length === STORAGE_STAT_LEN) {
    const stat = decodeStorageStat(new FieldReader(body));
    // The storage leaves these two zero; they are the tracker's own figures.
    stat.last_synced_timestamp = s.stat.last_synced_timestamp;
    s.stat = stat;
    if (++ctx.counters.statBeats % SAVE_EVERY === 0) void ctx.store.save('servers');
  }
  s.stat.last_heart_beat_time = now;
  noteBeat(s);
  if (ctx.cluster.activate(s, 'heartbeat')) onActivated(ctx, s.group.name);
  return changePushFor(ctx, req.conn, s);
}

/**
 * 84 REPORT_DISK_USAGE (§4.6): per-path total/free MB. Updates the storage's figures, its write
 * path in store_path = 2 mode, the load-balance group, and activates the storage.
 */
async function diskUsage(req: Request, ctx: TrackerContext) {
  const s = joinedStorage(req);
  const g = s.group;
  // §4.6 says group store_path_count × 16; a member with fewer paths than a grown group reports
  // its own count, which we accept rather than cut its report loop.
  if (req.length !== g.storePathCount * 16 && req.length !== s.storePathCount * 16) {
    throw einval(`disk usage body of ${req.length} bytes, expected ${g.storePathCount} × 16`);
  }
  const paths = decodeDiskUsage(await req.body());
  s.paths = paths;
  s.totalMb = paths.reduce((a, p) => a + p.totalMb, 0);
  s.freeMb = paths.reduce((a, p) => a + p.freeMb, 0);
  s.diskReported = true;
  if (ctx.config.store_path === 2) s.currentWritePath = loadBalancePath(paths, s.currentWritePath);
  // A report is proof of life too: without this a storage activated by its first disk report
  // (sent before its first beat) could be taken offline by a liveness check in between.
  s.stat.last_heart_beat_time = ctx.now();
  if (ctx.cluster.activate(s, 'disk report')) onActivated(ctx, g.name);
  rebalance(ctx);
  return changePushFor(ctx, req.conn, s);
}

/** §8.1 load balance: the current group follows the disk (and trunk) reports. */
export function rebalance(ctx: TrackerContext): void {
  if (ctx.config.store_lookup !== 2) return;
  const i = loadBalanceGroupIndex(ctx.cluster.sortedGroups(), ctx.config.reserved_storage_space, ctx.config.use_trunk_file);
  if (i >= 0) ctx.cluster.currentWriteGroup = i;
}

function onActivated(ctx: TrackerContext, group: string): void {
  // §11.5: a member becoming ACTIVE and writable may give a group without one its trunk server.
  ctx.checkTrunkServer(group);
}

/** 89 SYNC_REPORT (§4.7, §7.3): per-source sync timestamps of the reporting storage. */
async function syncReport(req: Request, ctx: TrackerContext) {
  const s = joinedStorage(req);
  if (req.length % 20 !== 0) throw einval(`SYNC_REPORT body of ${req.length} bytes is not a multiple of 20`);
  const items = decodeSyncReport(await req.body());
  ctx.cluster.recordSyncReport(s, items, ctx.config.store_server);
  if (++ctx.counters.syncReports % SAVE_EVERY === 0) void ctx.store.save('sync');
  return changePushFor(ctx, req.conn, s);
}

export const reportHandlers: HandlerEntry[] = [
  [CMD.STORAGE_BEAT, beat],
  [CMD.STORAGE_REPORT_DISK_USAGE, diskUsage],
  [CMD.STORAGE_SYNC_REPORT, syncReport],
];
