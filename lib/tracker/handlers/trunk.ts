import { Buffer } from 'node:buffer';
import { CMD, GROUP_NAME_LEN, STORAGE_ID_LEN, STORAGE_STATUS as ST } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldWriter } from '../../protocol/fields.ts';
import type { Request } from '../../net/packet-server.ts';
import type { TrackerContext } from '../context.ts';
import type { TrunkCoordinator } from '../trunk.ts';
import { rebalance } from './storage-report.ts';
import { bodyInRange, bodyOfLength, einval, groupField, joinedStorage, requireGroup, textAfterGroup, type HandlerEntry } from './common.ts';

// Trunk reports (PROTOCOL.md §4.14) and SET_TRUNK_SERVER (§2.7).

/** 72 FETCH_TRUNK_FID: the group's current trunk file id. */
async function fetchTrunkFid(req: Request) {
  const s = joinedStorage(req);
  await bodyOfLength(req, 0, 'FETCH_TRUNK_FID');
  return new FieldWriter(4).i32(s.group.currentTrunkFileId).buf;
}

function requireTrunkServer(req: Request) {
  const s = joinedStorage(req);
  // §11.5: a report from a storage that is not (or no longer) the trunk server makes it reconnect.
  if (s.group.trunkServerId !== s.id) throw einval(`storage ${s.id} is not the trunk server of ${s.group.name}`);
  return s;
}

/** 73 REPORT_TRUNK_FID: the trunk server's file id; only ever raises the group's. */
async function reportTrunkFid(req: Request, ctx: TrackerContext) {
  const s = requireTrunkServer(req);
  const body = await bodyOfLength(req, 4, 'REPORT_TRUNK_FID');
  const id = body.readInt32BE(0);
  if (id > s.group.currentTrunkFileId) {
    s.group.currentTrunkFileId = id;
    void ctx.store.save('groups');
  }
  return undefined;
}

/** 74 REPORT_TRUNK_FREE: free trunk space (MB) of the group. */
async function reportTrunkFree(req: Request, ctx: TrackerContext) {
  const s = requireTrunkServer(req);
  const body = await bodyOfLength(req, 8, 'REPORT_TRUNK_FREE');
  s.group.trunkFreeMb = Number(body.readBigInt64BE(0));
  rebalance(ctx);
  return undefined;
}

/**
 * 94 SET_TRUNK_SERVER (leader only, use_trunk_file only): keep an ACTIVE trunk server or choose
 * one; with an id, move the role to that member. Reply: the id plus one NUL byte.
 */
function setTrunkServer(trunk: () => TrunkCoordinator) {
  return async (req: Request, ctx: TrackerContext) => {
    if (!ctx.config.use_trunk_file) throw new FdfsError('EOPNOTSUPP', 'use_trunk_file is off');
    // §2.7: leader only; the client then asks the next tracker.
    if (!ctx.election.isLeader) throw new FdfsError('EOPNOTSUPP', 'only the tracker leader sets the trunk server');
    const body = await bodyInRange(req, GROUP_NAME_LEN, GROUP_NAME_LEN + STORAGE_ID_LEN - 1, 'SET_TRUNK_SERVER');
    const g = requireGroup(ctx, groupField(body));
    const id = textAfterGroup(body);
    const current = g.trunkServerId ? g.find(g.trunkServerId) : undefined;
    let target;
    if (id === '') {
      if (current && current.status === ST.ACTIVE) return reply(current.id);
      target = g.writable[0];
      if (!target) throw new FdfsError('ENOENT', `group ${g.name} has no writable storage`);
    } else {
      if (current?.id === id) throw new FdfsError('EALREADY', `${id} is already the trunk server`);
      if (current && current.status === ST.ACTIVE) throw new FdfsError('EEXIST', `trunk server ${current.id} is active`);
      target = g.find(id);
      if (!target) throw new FdfsError('ENOENT', `no storage ${id} in group ${g.name}`);
      if (target.status !== ST.ACTIVE) throw new FdfsError('ENONET', `storage ${id} is not active`);
      if (!target.writable) throw new FdfsError('EACCES', `storage ${id} is not writable`);
    }
    if (!(await trunk().set(g, target))) throw new FdfsError('EAGAIN', `cannot make ${target.id} trunk server now`);
    return reply(target.id);
  };
}

function reply(id: string): Buffer {
  return Buffer.from(`${id}\0`, 'latin1');
}

export function trunkHandlers(trunk: () => TrunkCoordinator): HandlerEntry[] {
  return [
    [CMD.STORAGE_FETCH_TRUNK_FID, fetchTrunkFid],
    [CMD.STORAGE_REPORT_TRUNK_FID, reportTrunkFid],
    [CMD.STORAGE_REPORT_TRUNK_FREE, reportTrunkFree],
    [CMD.SERVER_SET_TRUNK_SERVER, setTrunkServer(trunk)],
  ];
}
