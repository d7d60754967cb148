import { CMD, STORAGE_STATUS as ST, storageStatusName } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeJoinRequest, encodeJoinResponse, type JoinRequest } from '../../protocol/storage-tracker.ts';
import { formatAddress } from '../../protocol/ip.ts';
import { RW_MODE } from '../../protocol/records.ts';
import { isValidGroupName } from '../../config/values.ts';
import type { Request } from '../../net/packet-server.ts';
import type { GroupRecord } from '../cluster.ts';
import { connData, type TrackerContext } from '../context.ts';
import { idForIp, rwModeOf } from '../id-index.ts';
import { einval, type HandlerEntry } from './common.ts';

/**
 * 81 STORAGE_JOIN (PROTOCOL.md §4.3): identify the storage, create group/record when new, apply the
 * rejoin status rules and bind the connection to the record (its closing takes the storage
 * offline, §8.5).
 */
async function join(req: Request, ctx: TrackerContext) {
  const body = await req.body();
  let j: JoinRequest;
  try {
    j = decodeJoinRequest(body);
  } catch (err) {
    throw einval(`malformed JOIN: ${(err as Error).message}`, req.conn.address);
  }
  if (!isValidGroupName(j.group)) throw einval(`invalid group name "${j.group}"`, req.conn.address);
  if (j.port <= 0 || j.port > 65535) throw einval(`invalid storage port ${j.port}`, req.conn.address);
  if (j.storePathCount < 1 || j.storePathCount > 256) throw einval(`invalid store_path_count ${j.storePathCount}`, req.conn.address);
  if (j.subdirCountPerPath < 1 || j.subdirCountPerPath > 256) throw einval(`invalid subdir_count_per_path ${j.subdirCountPerPath}`, req.conn.address);

  // §8.6: the trackers learn each other from the storages' tracker lists; §8.7: an empty tracker
  // first copies the system files from the best of them (EAGAIN when that fails).
  const grew = ctx.peers.learn(j.trackers, j.currentTrackerIp || req.conn.localIp);
  await ctx.bootstrap.beforeJoin(ctx.peers.list.filter((p) => p !== ctx.peers.self));
  if (grew) ctx.election.peersChanged();

  const peerIp = req.conn.remoteIp;
  let id: string;
  let ips: string[];
  let rwMode: number = RW_MODE.BOTH;
  if (ctx.ids) {
    const entry = ctx.config.trust_storage_server_id && j.storageId !== ''
      ? ctx.ids.get(j.storageId)
      : ctx.ids.find(j.group, peerIp, j.port);
    if (!entry) {
      throw new FdfsError('ENOENT', `no storage id for ${j.storageId || formatAddress(peerIp, j.port)} in group ${j.group}`, { subject: req.conn.address });
    }
    if (entry.group !== j.group) throw einval(`storage id ${entry.id} belongs to group ${entry.group}, not ${j.group}`, req.conn.address);
    id = entry.id;
    ips = [...entry.hosts];
    rwMode = rwModeOf(entry.rw);
  } else {
    id = idForIp(peerIp);
    ips = [peerIp];
  }

  const { cluster } = ctx;
  let g = cluster.getGroup(j.group);
  let groupChanged = false;
  if (!g) {
    g = cluster.addGroup(j.group, j.port, j.storePathCount, j.subdirCountPerPath);
    groupChanged = true;
  } else {
    groupChanged = checkGroupWide(ctx, g, id, j);
  }

  let s = g.find(id);
  let created = false;
  if (!s) {
    // §4.3: a storage that says it finished its initial sync must bring a status we can adopt.
    if (j.initFlag === 0 && (j.status < 0 || j.status === ST.DELETED || j.status === ST.IP_CHANGED || j.status === ST.NONE)) {
      throw new FdfsError('EFAULT', `unknown storage ${id} joins with status ${storageStatusName(j.status)}`, { subject: req.conn.address });
    }
    const status = j.initFlag !== 0 ? ST.INIT : j.status === ST.ACTIVE ? ST.ONLINE : j.status;
    s = cluster.addStorage(g, id, ips, j.port, status);
    created = true;
    ctx.log('info', `storage ${formatAddress(peerIp, j.port)} (id ${id}) joined group ${g.name} for the first time, status ${storageStatusName(status)}`);
  } else if (s.status === ST.DELETED || s.status === ST.IP_CHANGED) {
    cluster.setStatus(s, ST.INIT, 'rejoined after deletion');
  }
  if (s.status === ST.OFFLINE || s.status === ST.RECOVERY) cluster.setStatus(s, ST.ONLINE, 'joined');
  // §4.3: a storage starting over reads the changelog from now on, not the history it is part of.
  if (s.status === ST.INIT) s.changelogOffset = ctx.store.changelogSize;

  s.ips = ips;
  s.port = j.port;
  s.rwMode = rwMode;
  s.version = j.version;
  s.joinTime = j.joinTime;
  s.upTime = j.upTime;
  s.uploadPriority = j.uploadPriority;
  s.storePathCount = j.storePathCount;
  s.subdirCountPerPath = j.subdirCountPerPath;
  if (s.currentWritePath >= j.storePathCount) s.currentWritePath = 0;

  const data = connData(req.conn);
  s.connection = req.conn;
  data.storage = s;
  data.pushed = { leader: 0, trunk: 0, members: 0 };

  if (created) void ctx.store.saveAll();
  else if (groupChanged) void ctx.store.save('groups');
  return encodeJoinResponse(s.status, s.syncSrcId);
}

/**
 * §4.3 group-wide checks: port and subdir_count_per_path must match the group's unless every
 * other live member agrees with the new value; store_path_count may grow, and shrink only when all
 * other members agree. With ids in file names members may differ in port (group port −1).
 * Returns whether the group record changed.
 */
function checkGroupWide(ctx: TrackerContext, g: GroupRecord, id: string, j: JoinRequest): boolean {
  const others = g.members.filter((m) => m.id !== id && m.live);
  let changed = false;
  if (j.port !== g.port) {
    if (others.every((m) => m.port === j.port || m.port === 0)) {
      g.port = j.port;
      changed = true;
    } else if (ctx.config.use_storage_id && ctx.config.id_type_in_filename === 'id') {
      if (g.port !== -1) { g.port = -1; changed = true; }
    } else {
      throw einval(`storage port ${j.port} differs from group ${g.name}'s port ${g.port}`, formatAddress(j.currentTrackerIp, j.port));
    }
  }
  if (j.subdirCountPerPath !== g.subdirCountPerPath) {
    if (!others.every((m) => m.subdirCountPerPath === j.subdirCountPerPath || m.subdirCountPerPath === 0)) {
      throw einval(`subdir_count_per_path ${j.subdirCountPerPath} differs from group ${g.name}'s ${g.subdirCountPerPath}`);
    }
    g.subdirCountPerPath = j.subdirCountPerPath;
    changed = true;
  }
  if (j.storePathCount > g.storePathCount) {
    g.storePathCount = j.storePathCount;
    changed = true;
  } else if (j.storePathCount < g.storePathCount) {
    if (!others.every((m) => m.storePathCount === j.storePathCount || m.storePathCount === 0)) {
      throw einval(`store_path_count ${j.storePathCount} is smaller than group ${g.name}'s ${g.storePathCount}`);
    }
    g.storePathCount = j.storePathCount;
    changed = true;
  }
  return changed;
}

export const joinHandlers: HandlerEntry[] = [
  [CMD.STORAGE_JOIN, join],
];
