import { CMD, GROUP_NAME_LEN, IP46_LEN, STORAGE_STATUS as ST } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { readFixed } from '../../protocol/fields.ts';
import type { Request } from '../../net/packet-server.ts';
import type { TrackerContext } from '../context.ts';
import { idForIp } from '../id-index.ts';
import { formatChangelogLine } from '../persistence.ts';
import { EMPTY, bodyOfLength, einval, groupField, requireGroup, type HandlerEntry } from './common.ts';

/**
 * 78 REPORT_IP_CHANGED (PROTOCOL.md §4.15), without storage ids only: a storage that came back
 * with a new address moves its record there; the old address stays behind as an IP_CHANGED
 * placeholder and a changelog line tells the peers to rename their mark files.
 */
async function reportIpChanged(req: Request, ctx: TrackerContext) {
  if (ctx.config.use_storage_id) throw new FdfsError('EOPNOTSUPP', 'storages are identified by id, not by IP');
  const body = await bodyOfLength(req, GROUP_NAME_LEN + 2 * IP46_LEN, 'REPORT_IP_CHANGED');
  const g = requireGroup(ctx, groupField(body));
  const oldIp = readFixed(body, GROUP_NAME_LEN, IP46_LEN);
  const newIp = readFixed(body, GROUP_NAME_LEN + IP46_LEN, IP46_LEN);
  if (newIp !== req.conn.remoteIp) throw einval(`new IP ${newIp} is not the connection's address ${req.conn.remoteIp}`);
  const old = g.find(idForIp(oldIp));
  if (!old || old.status === ST.DELETED) throw new FdfsError('ENOENT', `no storage ${oldIp} in group ${g.name}`);
  if (old.status === ST.IP_CHANGED) throw new FdfsError('EALREADY', `storage ${oldIp} already changed its IP`);
  if (old.status === ST.ONLINE || old.status === ST.ACTIVE || old.status === ST.RECOVERY) {
    throw new FdfsError('EBUSY', `storage ${oldIp} is online`);
  }
  const newId = idForIp(newIp);
  const existing = g.find(newId);
  if (existing?.live) throw new FdfsError('EEXIST', `storage ${newIp} is already a member of ${g.name}`);

  // Ids are the IPs here, so the moved record is a new one carrying the old one's state.
  const moved = existing ?? ctx.cluster.addStorage(g, newId, [newIp], old.port, old.status);
  ctx.cluster.setStatus(moved, old.status, `moved from ${oldIp}`);
  for (const k of ['version', 'joinTime', 'storePathCount', 'subdirCountPerPath', 'uploadPriority', 'totalMb', 'freeMb',
    'diskReported', 'currentWritePath', 'syncSrcId', 'syncUntil', 'changelogOffset'] as const) {
    (moved as unknown as Record<string, unknown>)[k] = old[k];
  }
  moved.paths = [...old.paths];
  moved.stat = structuredClone(old.stat);
  for (const m of g.members) if (m.syncSrcId === old.id) m.syncSrcId = newId;
  if (g.trunkServerId === old.id) { g.trunkServerId = newId; g.trunkChangeCount++; }
  ctx.cluster.setStatus(old, ST.IP_CHANGED, `IP changed to ${newIp}`);
  ctx.log('info', `storage ${oldIp} of group ${g.name} is now ${newIp}`);
  await ctx.store.appendChangelog(formatChangelogLine(ctx.now(), g.name, oldIp, ST.IP_CHANGED, newIp));
  await ctx.store.saveAll();
  return EMPTY;
}

export const ipChangedHandlers: HandlerEntry[] = [
  [CMD.STORAGE_REPORT_IP_CHANGED, reportIpChanged],
];
