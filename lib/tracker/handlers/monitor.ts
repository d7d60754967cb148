import { Buffer } from 'node:buffer';
import { CMD, FDFS_VERSION, STORAGE_ID_LEN, VERSION_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { FieldWriter } from '../../protocol/fields.ts';
import { formatAddress, ipType } from '../../protocol/ip.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageRecord } from '../cluster.ts';
import type { TrackerContext } from '../context.ts';
import { groupDiskOk, reservedMbOf } from '../selection.ts';
import { EMPTY, addressFor, bodyOfLength, type HandlerEntry } from './common.ts';

// Monitoring and tracker status (PROTOCOL.md §2.8, §8.6, §1.4).

const HOST_LEN = 52;
const GROUP_FIELD_LEN = 17;

/**
 * 95 GET_LEADER: "ip:port" of the leader every tracker agrees on (§8.6), the address of the
 * requester's network type for a dual-address tracker; ENOENT while no leader is known.
 */
async function getLeader(req: Request, ctx: TrackerContext) {
  await bodyOfLength(req, 0, 'GET_LEADER');
  const leader = ctx.election.leader;
  if (!leader) throw new FdfsError('ENOENT', 'no tracker leader known yet');
  const ip = leader.hosts.length === 1 ? leader.hosts[0]! : leader.hosts.find((h) => ipType(h) === ipType(req.conn.remoteIp)) ?? leader.hosts[0]!;
  return Buffer.from(formatAddress(ip, leader.port), 'latin1');
}

/**
 * 96 TRACKER_CLUSTER_STAT (leader only): one 90-byte record per tracker of the list. A follower
 * is active while its last ping is at most 3 s old.
 */
async function trackerClusterStat(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, 3, 'TRACKER_CLUSTER_STAT');
  const [filterBy, isActive, isLeader] = [body[0]!, body[1]!, body[2]!];
  const { election, peers } = ctx;
  if (!election.isLeader) throw new FdfsError('EOPNOTSUPP', 'only the tracker leader answers TRACKER_CLUSTER_STAT', { subject: req.conn.address });
  const now = ctx.now();
  const rows = [];
  for (const p of peers.list) {
    const leader = p === election.leader;
    const active = leader || now - p.lastHeartbeat <= 3;
    if (filterBy & 2 && (leader ? 1 : 0) !== isLeader) continue;
    if (filterBy & 1 && (active ? 1 : 0) !== isActive) continue;
    rows.push({ p, leader, active });
  }
  const w = new FieldWriter(1 + rows.length * 90);
  w.u8(rows.length);
  const own = ctx.connectionStats();
  for (const { p, leader, active } of rows) {
    const self = p === peers.self;
    const conn = self ? { alloc: own.alloc, current: own.current, max: own.max } : p.connections;
    w.str(formatAddress(p.hosts[0]!, p.port), HOST_LEN).u8(leader ? 1 : 0).u8(active ? 1 : 0)
      .i32(conn.alloc).i32(conn.current).i32(conn.max)
      // up_time is the absolute start time (captures/README.md); the leader has no heartbeat to report.
      .str(self ? FDFS_VERSION : p.version, VERSION_LEN).i64(self ? ctx.startTime : p.upTime).i64(leader ? 0 : p.lastHeartbeat);
  }
  return w.buf;
}

/** 97 STORAGE_CLUSTER_STAT: 106-byte records of every storage, filtered by trunk flag / status. */
async function storageClusterStat(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, 4, 'STORAGE_CLUSTER_STAT');
  const [filterBy, opType, status, isTrunk] = [body[0]!, body[1]!, body[2]!, body[3]!];
  const picked: StorageRecord[] = [];
  for (const g of ctx.cluster.sortedGroups()) {
    for (const s of g.sorted) {
      const trunk = g.trunkServerId === s.id ? 1 : 0;
      if (filterBy & 1 && trunk !== (isTrunk ? 1 : 0)) continue;
      if (filterBy & 2) {
        const equal = s.status === status;
        if (opType === 0x21 /* '!' */ ? equal : !equal) continue;
      }
      picked.push(s);
    }
  }
  const w = new FieldWriter(6 + picked.length * 106);
  w.u8(ctx.config.use_storage_id ? 1 : 0).u8(ctx.config.use_trunk_file ? 1 : 0).i32(picked.length);
  for (const s of picked) {
    w.str(s.id, STORAGE_ID_LEN).str(formatAddress(addressFor(s, req.conn.remoteIp), s.port), HOST_LEN)
      .u8(s.group.trunkServerId === s.id ? 1 : 0).u8(s.status)
      .i32(s.stat.connection.alloc_count).i32(s.stat.connection.current_count).i32(s.stat.connection.max_count)
      .str(s.version, VERSION_LEN).i64(s.upTime).i64(s.lastHeartBeatTime);
  }
  return w.buf;
}

/** 98 STORAGE_VOLUMN_STAT: 59-byte space records per group, filtered by availability. */
async function volumeStat(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, 4, 'STORAGE_VOLUMN_STAT');
  const [filterBy, wantDisk, wantTrunk, wantSpace] = [body[0]!, body[1]!, body[2]!, body[3]!];
  const reserved = ctx.config.reserved_storage_space;
  const rows = [];
  for (const g of ctx.cluster.sortedGroups()) {
    const disk = groupDiskOk(g, reserved) ? 1 : 0;
    const trunk = ctx.config.use_trunk_file && g.trunkFreeMb > 0 ? 1 : 0;
    const space = disk || trunk ? 1 : 0;
    if (filterBy & 1 && disk !== (wantDisk ? 1 : 0)) continue;
    if (filterBy & 2 && trunk !== (wantTrunk ? 1 : 0)) continue;
    if (filterBy & 4 && space !== (wantSpace ? 1 : 0)) continue;
    const reservedMb = reservedMbOf(g.totalMb, reserved);
    rows.push({ g, disk, trunk, reservedMb });
  }
  const w = new FieldWriter(5 + rows.length * 59);
  w.u8(ctx.config.use_trunk_file ? 1 : 0).i32(rows.length);
  for (const { g, disk, trunk, reservedMb } of rows) {
    w.str(g.name, GROUP_FIELD_LEN).i64(g.totalMb).i64(g.freeMb).i64(reservedMb)
      .i64(disk ? Math.max(0, g.freeMb - reservedMb) : 0).i64(trunk ? g.trunkFreeMb : 0).u8(disk).u8(trunk);
  }
  return w.buf;
}

/** 111 ACTIVE_TEST (§1.4): empty both ways. */
async function activeTest(req: Request) {
  await bodyOfLength(req, 0, 'ACTIVE_TEST');
  return EMPTY;
}

export const monitorHandlers: HandlerEntry[] = [
  [CMD.SERVER_GET_LEADER, getLeader],
  [CMD.SERVER_TRACKER_CLUSTER_STAT, trackerClusterStat],
  [CMD.SERVER_STORAGE_CLUSTER_STAT, storageClusterStat],
  [CMD.SERVER_STORAGE_VOLUMN_STAT, volumeStat],
  [CMD.ACTIVE_TEST, activeTest],
];
