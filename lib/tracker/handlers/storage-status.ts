import { isIP } from 'node:net';
import { CMD, GROUP_NAME_LEN, STORAGE_STATUS as ST, storageStatusName } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldReader } from '../../protocol/fields.ts';
import { STORAGE_BRIEF_LEN, decodeStorageBrief } from '../../protocol/records.ts';
import type { Request } from '../../net/packet-server.ts';
import { isAvailable, type GroupRecord } from '../cluster.ts';
import { connData, type TrackerContext } from '../context.ts';
import { idForIp } from '../id-index.ts';
import { EMPTY, bodyOfLength, einval, groupField, joinedStorage, requireGroup, type HandlerEntry } from './common.ts';

// Status reports (PROTOCOL.md §4.10, §4.11).

/**
 * 76 REPORT_STATUS: a source storage reports a peer's progress (SYNCING, then OFFLINE) or its own
 * RECOVERY. Known servers follow the merge rule; an unknown one is added unless the status says
 * it is deleted or serving.
 */
async function reportStatus(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, GROUP_NAME_LEN + STORAGE_BRIEF_LEN, 'REPORT_STATUS');
  const g = requireGroup(ctx, groupField(body));
  requireMemberOf(req, ctx, g);
  const r = new FieldReader(body);
  r.bytes(GROUP_NAME_LEN);
  const brief = decodeStorageBrief(r);
  const why = `reported by ${req.conn.remoteIp}`;
  const s = g.find(brief.id) ?? (brief.id === '' ? g.members.find((m) => m.ips.includes(brief.ip)) : undefined);
  if (s) {
    if (ctx.cluster.mergeStatus(s, brief.status, why)) void ctx.store.save('servers');
    return EMPTY;
  }
  const rejected: number[] = [ST.DELETED, ST.IP_CHANGED, ST.ONLINE, ST.ACTIVE];
  // Only a storage that could exist: an id of storage_ids.conf, or (without ids) the id of its IP.
  const plausible = ctx.ids ? ctx.ids.get(brief.id)?.group === g.name : isIP(brief.ip) !== 0 && idForIp(brief.ip) === brief.id;
  if (plausible && !rejected.includes(brief.status)) {
    // captures/README.md #10: the C storage sends port 0 here; the group's port is the best guess.
    ctx.cluster.addStorage(g, brief.id, ctx.ids?.get(brief.id)?.hosts.slice() ?? [brief.ip], brief.port || g.port, brief.status);
    ctx.log('info', `storage ${brief.id} added to group ${g.name} with status ${storageStatusName(brief.status)} (${why})`);
    void ctx.store.saveAll();
  }
  return EMPTY;
}

/**
 * Issue 15: one 76 from a socket that never joined added a stranger to group1 (both storages then
 * pushed it every file), and DELETED for a live member was applied. Only a storage of the group
 * reports statuses. A C storage sends 76 on a connection of its own without a JOIN (§4.10:
 * "connect, send, QUIT"), so membership is by the address it connects from: one of a member's
 * addresses, or one storage_ids.conf gives a storage of the group. EACCES as for a missing JOIN
 * (§1 errno table).
 */
function requireMemberOf(req: Request, ctx: TrackerContext, g: GroupRecord): void {
  const joined = connData(req.conn).storage;
  if (joined?.group === g) return;
  const ip = req.conn.remoteIp;
  if (g.members.some((m) => m.ips.includes(ip) && m.status !== ST.DELETED)) return;
  if (ctx.ids?.entries.some((e) => e.group === g.name && e.hosts.includes(ip))) return;
  throw new FdfsError('EACCES', `REPORT_STATUS from ${ip}, which is not a storage of group ${g.name}`, { subject: req.conn.address });
}

/**
 * 85 REPLICA_CHG: a storage passes on the statuses the leader pushed (§4.10). The leader ignores
 * it; a follower merges each known member's status by the 76 rules.
 */
async function replicaChange(req: Request, ctx: TrackerContext) {
  const s = joinedStorage(req);
  if (req.length % STORAGE_BRIEF_LEN !== 0 || req.length / STORAGE_BRIEF_LEN > 32) {
    throw einval(`REPLICA_CHG body of ${req.length} bytes is not 0..32 briefs of ${STORAGE_BRIEF_LEN}`);
  }
  const body = await req.body();
  if (ctx.election.isLeader) return EMPTY;
  let changed = false;
  const r = new FieldReader(body);
  for (let i = 0; i < body.length / STORAGE_BRIEF_LEN; i++) {
    const brief = decodeStorageBrief(r);
    const m = s.group.find(brief.id);
    if (m && ctx.cluster.mergeStatus(m, brief.status, 'REPLICA_CHG')) changed = true;
  }
  if (changed) void ctx.store.save('servers');
  return EMPTY;
}

/**
 * 59 CHANGE_STATUS (§4.11): no-op when equal or both "available"; ONLINE/ACTIVE are stored as
 * OFFLINE (serving is something this tracker decides from heartbeats, not from hearsay).
 */
async function changeStatus(req: Request, ctx: TrackerContext) {
  const s = joinedStorage(req);
  const body = await bodyOfLength(req, 1, 'CHANGE_STATUS');
  const status = body[0]!;
  if (status === s.status || (isAvailable(status) && isAvailable(s.status))) return EMPTY;
  if (status !== ST.INIT && status !== ST.WAIT_SYNC && status !== ST.SYNCING && status !== ST.IP_CHANGED
    && status !== ST.DELETED && !isAvailable(status) && status !== ST.RECOVERY) {
    throw new FdfsError('EINVAL', `invalid storage status ${status}`, { subject: s.id });
  }
  const stored = status === ST.ONLINE || status === ST.ACTIVE ? ST.OFFLINE : status;
  if (ctx.cluster.setStatus(s, stored, 'CHANGE_STATUS')) void ctx.store.save('servers');
  return EMPTY;
}

export const statusHandlers: HandlerEntry[] = [
  [CMD.STORAGE_REPORT_STATUS, reportStatus],
  [CMD.STORAGE_REPLICA_CHG, replicaChange],
  [CMD.STORAGE_CHANGE_STATUS, changeStatus],
];
