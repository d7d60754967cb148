import { Buffer } from 'node:buffer';
import { CMD } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeJoinLeader, decodePingLeader, encodeTrackerStatus, encodeTrunkServers, runningStatusOf } from '../../protocol/tracker-peer.ts';
import type { Request } from '../../net/packet-server.ts';
import { connData, type TrackerContext } from '../context.ts';
import type { TrackerPeer } from '../peers.ts';
import { EMPTY, bodyOfLength, einval, type HandlerEntry } from './common.ts';

// Tracker ↔ tracker election commands (PROTOCOL.md §8.6): 64, 58, 65, 66, 67, 68.

/** FDFS_MAX_IP_PORT_SIZE: the "ip:port" body of 66/67. */
const MAX_IP_PORT = 64;

/**
 * 64 GET_STATUS: is_leader, running time and restart interval rounded down to 300 s.
 * A tracker without groups is no election candidate: ENOENT.
 */
async function getStatus(req: Request, ctx: TrackerContext) {
  await bodyOfLength(req, 0, 'GET_STATUS');
  if (ctx.cluster.groups.size === 0) throw new FdfsError('ENOENT', 'this tracker knows no group yet');
  return encodeTrackerStatus(runningStatusOf(ctx.election.isLeader, ctx.now(), ctx.startTime, ctx.lastCheckTime));
}

/** 58 JOIN_LEADER: a follower announces itself once per connection (EEXIST on a second one). */
async function joinLeader(req: Request, ctx: TrackerContext) {
  const j = decodeJoinLeader(await bodyOfLength(req, 24, 'JOIN_LEADER'));
  if (!ctx.election.isLeader) throw new FdfsError('EOPNOTSUPP', 'I am not the leader', { subject: req.conn.address });
  const data = connData(req.conn);
  if (data.peer) throw new FdfsError('EEXIST', 'tracker already joined on this connection', { subject: req.conn.address });
  // The follower's source address may not be the one the storages list (a C tracker dialling us on
  // loopback leaves from 127.0.0.1): a port only one other tracker has names it as well.
  const samePort = ctx.peers.list.filter((p) => p.port === j.serverPort && p !== ctx.peers.self);
  const peer = ctx.peers.find(req.conn.remoteIp, j.serverPort) ?? (samePort.length === 1 ? samePort[0] : undefined);
  if (!peer) throw new FdfsError('ENOENT', `tracker ${req.conn.remoteIp}:${j.serverPort} is not in my tracker list`, { subject: req.conn.address });
  peer.upTime = j.upTime;
  peer.version = j.version;
  peer.lastHeartbeat = ctx.now();
  data.peer = peer;
  data.trunkSeen = -1;
  return EMPTY;
}

/** Sum of the groups' trunk change counters: changes whenever any group's trunk server does. */
function trunkVersion(ctx: TrackerContext): number {
  let n = 0;
  for (const g of ctx.cluster.groups.values()) n += g.trunkChangeCount;
  return n + ctx.cluster.groups.size * 1_000_000;
}

/**
 * 65 PING_LEADER: the follower's connection counters. Reply empty, or after a trunk server change
 * the trunk server of every group (GROUP + ID each).
 */
async function pingLeader(req: Request, ctx: TrackerContext) {
  const counters = decodePingLeader(await bodyOfLength(req, 12, 'PING_LEADER'));
  if (!ctx.election.isLeader) throw new FdfsError('EOPNOTSUPP', 'I am not the leader', { subject: req.conn.address });
  const data = connData(req.conn);
  if (!data.peer) throw einval('PING_LEADER before JOIN_LEADER', req.conn.address);
  data.peer.connections = counters;
  data.peer.lastHeartbeat = ctx.now();
  const version = trunkVersion(ctx);
  if (data.trunkSeen === version) return EMPTY;
  data.trunkSeen = version;
  return encodeTrunkServers(ctx.cluster.sortedGroups().map((g) => ({ group: g.name, trunkServerId: g.trunkServerId })));
}

async function namedTracker(req: Request, ctx: TrackerContext, what: string): Promise<TrackerPeer> {
  if (req.length === 0 || req.length > MAX_IP_PORT) throw einval(`${what}: body of ${req.length} bytes`, req.conn.address);
  const text = (await req.body()).toString('latin1').replace(/\0.*$/s, '');
  const peer = ctx.peers.findAddress(text);
  if (!peer) throw new FdfsError('ENOENT', `${what}: tracker ${text} is not in my tracker list`, { subject: req.conn.address });
  return peer;
}

/** 66 NOTIFY_NEXT_LEADER (§8.6): the election winner announces itself. */
async function notifyNextLeader(req: Request, ctx: TrackerContext) {
  ctx.election.onNotify(await namedTracker(req, ctx, 'NOTIFY_NEXT_LEADER'));
  return EMPTY;
}

/** 67 COMMIT_NEXT_LEADER: the announced winner is the leader from now on. */
async function commitNextLeader(req: Request, ctx: TrackerContext) {
  ctx.election.onCommit(await namedTracker(req, ctx, 'COMMIT_NEXT_LEADER'));
  return EMPTY;
}

/** 68 NOTIFY_RESELECT_LEADER: a storage sees two leaders; the leader steps down (EOPNOTSUPP if not one). */
async function reselectLeader(req: Request, ctx: TrackerContext) {
  await bodyOfLength(req, 0, 'NOTIFY_RESELECT_LEADER');
  ctx.election.onReselect(req.conn.address);
  return Buffer.alloc(0);
}

export const leaderHandlers: HandlerEntry[] = [
  [CMD.TRACKER_GET_STATUS, getStatus],
  [CMD.TRACKER_JOIN_LEADER, joinLeader],
  [CMD.TRACKER_PING_LEADER, pingLeader],
  [CMD.TRACKER_NOTIFY_NEXT_LEADER, notifyNextLeader],
  [CMD.TRACKER_COMMIT_NEXT_LEADER, commitNextLeader],
  [CMD.TRACKER_NOTIFY_RESELECT_LEADER, reselectLeader],
];
