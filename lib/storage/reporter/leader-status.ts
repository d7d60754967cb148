import { Buffer } from 'node:buffer';
import type { ClientConnection } from '../../net/client-connection.ts';
import { CMD, STORAGE_STATUS, storageStatusName } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { formatAddress } from '../../protocol/ip.ts';
import { STORAGE_BRIEF_LEN, type StorageBrief } from '../../protocol/records.ts';
import { decodeChangePush, type ChangePush } from '../../protocol/storage-tracker.ts';
import { isTrackerLeader, withTracker } from '../tracker-session.ts';
import { AVAILABLE, type ReporterCore, type TrackerLink } from './core.ts';

// What the trackers tell the storage and how it keeps them in agreement (PROTOCOL.md §4.8, §4.11,
// §8.6): change pushes, the leader, 59 CHANGE_STATUS to a follower whose view differs from the
// leader's, 68 NOTIFY_RESELECT_LEADER when two trackers both claim to lead.

export function onChangePush(r: ReporterCore, link: TrackerLink, body: Buffer): void {
  if (body.length === 0) return;
  if ((body.length - 1) % STORAGE_BRIEF_LEN !== 0) {
    throw new FdfsError('EPROTO', `change-push of ${body.length} bytes is not 1 + n × ${STORAGE_BRIEF_LEN}`, { subject: link.line });
  }
  let push: ChangePush;
  try {
    push = decodeChangePush(body);
  } catch (err) {
    throw new FdfsError('EPROTO', `change-push: ${(err as Error).message}`, { subject: link.line });
  }
  if (push.leader) onLeaderBrief(r, push.leader, link);
  if (push.trunkServer) r.emit('trunk-server', push.trunkServer, link.line);
  if (push.members) {
    const members = push.members;
    r.memberIds = members.filter((m) => m.status !== STORAGE_STATUS.DELETED && m.status !== STORAGE_STATUS.IP_CHANGED)
      .map((m) => m.id);
    r.notifyHost('onGroupMembers', () => r.host.onGroupMembers(members, link.line));
    const own = members.find((m) => m.id === r.myId);
    if (own) {
      link.trackerStatus = own.status;
      r.ownStatusKnown = true;
      r.notifyHost('onOwnStatus', () => r.host.onOwnStatus(own.status));
      if (own.status === STORAGE_STATUS.ACTIVE) markActive(r, link);
      checkAllStatuses(r);
    }
  }
}

export function onLeaderBrief(r: ReporterCore, brief: StorageBrief, link: TrackerLink): void {
  if (brief.ip === '') {
    if (r.leaderIndex >= 0) r.log('warn', `tracker ${link.line} reports no leader, mine was ${r.leaderAddress}`);
    setLeaderIndex(r, -1);
    return;
  }
  const index = r.links.findIndex((l) => l.endpoint.port === brief.port && l.endpoint.hosts.includes(brief.ip));
  if (index < 0) {
    r.log('warn', `tracker ${link.line} names leader ${formatAddress(brief.ip, brief.port)}, which is not in my tracker_server list`);
    return;
  }
  setLeaderIndex(r, index);
}

export function setLeaderIndex(r: ReporterCore, index: number): void {
  if (index === r.leaderIndex) return;
  const old = r.leaderIndex;
  if (old >= 0 && index >= 0) void checkTwoLeaders(r, old, index);
  r.leaderIndex = index;
  const link = r.links[index];
  r.leaderAddress = link ? link.line : null;
  if (link) r.log('info', `tracker leader is ${link.line}`);
  r.emit('leader', r.leaderAddress);
  checkAllStatuses(r);
}

/**
 * §8.6 (C set_tracker_leader): when a push names a new leader, ask the old one (64); if it still
 * says it leads, two trackers claim the role: 68 NOTIFY_RESELECT_LEADER to both, leader unknown.
 */
async function checkTwoLeaders(r: ReporterCore, oldIndex: number, newIndex: number): Promise<void> {
  const oldLink = r.links[oldIndex]!;
  const newLink = r.links[newIndex]!;
  let stillLeads = false;
  try {
    stillLeads = await withTracker(oldLink.endpoint, r.dial, isTrackerLeader);
  } catch {
    return; // unreachable or no groups: not a second leader
  }
  if (!stillLeads || r.stopping) return;
  r.log('warn', `two tracker leaders: ${oldLink.line} and ${newLink.line}; asking both to re-select`);
  await Promise.all([oldLink, newLink].map((l) =>
    withTracker(l.endpoint, r.dial, (conn) => conn.request(CMD.TRACKER_NOTIFY_RESELECT_LEADER, [], { maxResponse: 64 }))
      .catch((err: Error) => r.log('debug', `NOTIFY_RESELECT_LEADER to ${l.line}: ${err.message}`))));
  if (r.leaderIndex === newIndex) {
    r.leaderIndex = -1;
    r.leaderAddress = null;
    r.emit('leader', null);
  }
}

/** C tracker_check_my_status: a follower whose view differs from the leader's gets 59 (§4.11). */
export function checkMyStatus(r: ReporterCore, index: number): void {
  const leader = r.links[r.leaderIndex];
  const link = r.links[index]!;
  if (!leader || leader === link) return;
  const mine = link.trackerStatus;
  const lead = leader.trackerStatus;
  if (mine < 0 || lead < 0 || mine === lead) return;
  if (AVAILABLE.has(mine) && AVAILABLE.has(lead)) return;
  link.reportMyStatus = true;
  link.sleeper.wake();
}

export function checkAllStatuses(r: ReporterCore): void {
  for (const l of r.links) checkMyStatus(r, l.index);
}

export async function changeStatus(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  const leader = r.links[r.leaderIndex];
  if (!leader || leader === link || leader.trackerStatus < 0 || leader.trackerStatus === link.trackerStatus) return;
  r.log('info', `tracker ${link.line} sees this storage ${storageStatusName(link.trackerStatus)}, the leader ${storageStatusName(leader.trackerStatus)}: sending CHANGE_STATUS`);
  const reply = await conn.request(CMD.STORAGE_CHANGE_STATUS, Buffer.from([leader.trackerStatus & 0xff]), { maxResponse: 1024 });
  if (reply.length !== 0) throw new FdfsError('EPROTO', `CHANGE_STATUS reply of ${reply.length} bytes, expected none`, { subject: link.line });
}

export function markActive(r: ReporterCore, link: TrackerLink): void {
  if (r.activeSeen) return;
  r.activeSeen = true;
  r.log('info', `tracker ${link.line} lists this storage ACTIVE`);
  r.emit('active', link.line);
}
