import { Buffer } from 'node:buffer';
import { encodeChangePush, type ChangePush } from '../protocol/storage-tracker.ts';
import type { Connection } from '../net/packet-server.ts';
import type { StorageRecord } from './cluster.ts';
import { connData, type TrackerContext } from './context.ts';
import { briefOf } from './handlers/common.ts';

/** A follower's answer: the flags byte, nothing set. */
const NO_CHANGE = Buffer.from([0]);

/**
 * The change-push body answering 83/84/89 (PROTOCOL.md §4.8). Only the leader sets flags: each
 * change counter (leader, the group's trunk server, the group's membership/statuses) is pushed
 * once per connection; a new connection starts at zero and so gets everything once. Followers
 * always answer the single byte 0.
 */
export function changePushFor(ctx: TrackerContext, conn: Connection, s: StorageRecord): Buffer {
  const { election } = ctx;
  if (!election.isLeader) return NO_CHANGE;
  const data = connData(conn);
  const seen = (data.pushed ??= { leader: 0, trunk: 0, members: 0 });
  const g = s.group;
  const push: ChangePush = {};
  if (seen.leader !== election.changeCount) {
    // The leader's first address as the tracker list has it (C: connections[0]); the id field
    // holds the leader's IP (a brief has no other place for it).
    const self = election.leader ?? null;
    const ip = self ? self.hosts[0]! : ctx.selfAddress(conn).ip;
    const port = self ? self.port : ctx.selfAddress(conn).port;
    push.leader = { status: 0, port, id: ip, ip };
    seen.leader = election.changeCount;
  }
  if (seen.trunk !== g.trunkChangeCount) {
    const trunk = g.trunkServerId ? g.find(g.trunkServerId) : undefined;
    push.trunkServer = trunk ? briefOf(trunk, conn.remoteIp) : { status: 0, port: 0, id: '', ip: '' };
    seen.trunk = g.trunkChangeCount;
  }
  if (seen.members !== g.changeCount) {
    push.members = g.sorted.map((m) => briefOf(m, conn.remoteIp));
    seen.members = g.changeCount;
  }
  return encodeChangePush(push);
}
