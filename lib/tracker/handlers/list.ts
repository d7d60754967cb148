import type { Buffer } from 'node:buffer';
import { CMD, GROUP_NAME_LEN, STORAGE_ID_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { encodeGroupStat, encodeStorageStatRecord, type GroupStat } from '../../protocol/records.ts';
import type { Request } from '../../net/packet-server.ts';
import type { GroupRecord, StorageRecord } from '../cluster.ts';
import type { TrackerContext } from '../context.ts';
import { reservedMbOf } from '../selection.ts';
import { addressFor, bodyInRange, bodyOfLength, groupField, requireGroup, textAfterGroup, type HandlerEntry } from './common.ts';

// Listing (PROTOCOL.md §2.5, §2.6): what fdfs_monitor shows.

export function groupStatOf(ctx: TrackerContext, g: GroupRecord): GroupStat {
  return {
    group_name: g.name,
    total_mb: g.totalMb,
    free_mb: g.freeMb,
    reserved_mb: reservedMbOf(g.totalMb, ctx.config.reserved_storage_space),
    trunk_free_mb: g.trunkFreeMb,
    storage_count: g.members.length,
    storage_port: g.port,
    readable_server_count: g.readable.length,
    writable_server_count: g.writable.length,
    current_write_server: g.currentWriteServer,
    store_path_count: g.storePathCount,
    subdir_count_per_path: g.subdirCountPerPath,
    current_trunk_file_id: ctx.config.use_trunk_file ? g.currentTrunkFileId : -1,
  };
}

function storageRecordOf(ctx: TrackerContext, s: StorageRecord, requesterIp: string): Buffer {
  return encodeStorageStatRecord({
    status: s.status,
    rw_mode: s.rwMode,
    id: s.id,
    ip_addr: addressFor(s, requesterIp),
    src_id: s.syncSrcId,
    version: s.version,
    join_time: s.joinTime,
    up_time: s.upTime,
    total_mb: s.totalMb,
    free_mb: s.freeMb,
    reserved_mb: s.live ? reservedMbOf(s.totalMb, ctx.config.reserved_storage_space) : 0,
    upload_priority: s.uploadPriority,
    store_path_count: s.storePathCount,
    subdir_count_per_path: s.subdirCountPerPath,
    current_write_path: s.currentWritePath,
    storage_port: s.port,
    stat: s.stat,
    if_trunk_server: s.group.trunkServerId === s.id && s.id !== '',
  }, ctx.ips);
}

/** 90 LIST_ONE_GROUP. */
async function listOneGroup(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, GROUP_NAME_LEN, 'LIST_ONE_GROUP');
  return encodeGroupStat(groupStatOf(ctx, requireGroup(ctx, groupField(body))));
}

/** 91 LIST_ALL_GROUPS, sorted by name. */
async function listAllGroups(req: Request, ctx: TrackerContext) {
  await bodyOfLength(req, 0, 'LIST_ALL_GROUPS');
  return ctx.cluster.sortedGroups().map((g) => encodeGroupStat(groupStatOf(ctx, g)));
}

/** 92 LIST_STORAGE: every member sorted by id, or the one named after the group. */
async function listStorage(req: Request, ctx: TrackerContext) {
  const body = await bodyInRange(req, GROUP_NAME_LEN, GROUP_NAME_LEN + STORAGE_ID_LEN - 1, 'LIST_STORAGE');
  const g = requireGroup(ctx, groupField(body));
  const id = textAfterGroup(body);
  let members = g.sorted;
  if (id !== '') {
    members = members.filter((m) => m.id === id);
    if (members.length === 0) throw new FdfsError('ENOENT', `no storage ${id} in group ${g.name}`);
  }
  return members.map((m) => storageRecordOf(ctx, m, req.conn.remoteIp));
}

export const listHandlers: HandlerEntry[] = [
  [CMD.SERVER_LIST_ONE_GROUP, listOneGroup],
  [CMD.SERVER_LIST_ALL_GROUPS, listAllGroups],
  [CMD.SERVER_LIST_STORAGE, listStorage],
];
