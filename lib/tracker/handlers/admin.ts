import { CMD, GROUP_NAME_LEN, STORAGE_ID_LEN, STORAGE_STATUS as ST } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Request } from '../../net/packet-server.ts';
import type { TrackerContext } from '../context.ts';
import { formatChangelogLine } from '../persistence.ts';
import { EMPTY, bodyInRange, bodyOfLength, einval, groupField, requireGroup, textAfterGroup, type HandlerEntry } from './common.ts';

// Admin commands (PROTOCOL.md §2.7).

/**
 * 93 DELETE_STORAGE: only a storage that is not serving can be deleted. The changelog line lets
 * the other members forget it as a sync peer (§4.15); the reply waits until that line is durable.
 */
async function deleteStorage(req: Request, ctx: TrackerContext) {
  const body = await bodyInRange(req, GROUP_NAME_LEN + 1, GROUP_NAME_LEN + STORAGE_ID_LEN - 1, 'DELETE_STORAGE');
  const g = requireGroup(ctx, groupField(body));
  const id = textAfterGroup(body);
  if (id === '') throw einval('DELETE_STORAGE without a storage id');
  const s = g.find(id);
  if (!s || s.status === ST.IP_CHANGED) throw new FdfsError('ENOENT', `no storage ${id} in group ${g.name}`);
  if (s.status === ST.ONLINE || s.status === ST.ACTIVE || s.status === ST.RECOVERY) {
    throw new FdfsError('EBUSY', `storage ${id} is online; stop it first`, { subject: g.name });
  }
  if (s.status === ST.DELETED) throw new FdfsError('EALREADY', `storage ${id} is already deleted`, { subject: g.name });
  ctx.cluster.deleteStorage(s);
  ctx.log('info', `storage ${id} of group ${g.name} deleted (requested from ${req.conn.remoteIp})`);
  await ctx.store.appendChangelog(formatChangelogLine(ctx.now(), g.name, id, ST.DELETED));
  await ctx.store.save('servers', 'sync', 'groups');
  return EMPTY;
}

/**
 * 108 DELETE_GROUP: only an empty group. Deleted members do not count: they stay listed until
 * the next restart, and waiting for one to forget them would make the command useless.
 */
async function deleteGroup(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, GROUP_NAME_LEN, 'DELETE_GROUP');
  const g = requireGroup(ctx, groupField(body));
  const live = g.members.filter((m) => m.live).length;
  if (live > 0) throw new FdfsError('EBUSY', `group ${g.name} still has ${live} storage(s)`, { subject: g.name });
  ctx.cluster.removeGroup(g);
  ctx.log('info', `group ${g.name} deleted (requested from ${req.conn.remoteIp})`);
  await ctx.store.saveAll();
  return EMPTY;
}

export const adminHandlers: HandlerEntry[] = [
  [CMD.SERVER_DELETE_STORAGE, deleteStorage],
  [CMD.SERVER_DELETE_GROUP, deleteGroup],
];
