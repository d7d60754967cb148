import type { Buffer } from 'node:buffer';
import { encodeChangePush, type ChangePush } from '../protocol/storage-tracker.ts';
import type { Connection } from '../net/packet-server.ts';
import type { StorageRecord } from './cluster.ts';
import { connData, type TrackerContext } from './context.ts';
import { briefOf } from './handlers/common.ts';

/**
 * The change-push body answering 83/84/89 (PROTOCOL.md §4.8). We are the leader, so we set the
 * flags: each change counter (leader, the group's trunk server, the group's membership/statuses)
 * is pushed once per connection; a new connection starts at zero and so gets everything once.
 */
export function changePushFor(ctx: TrackerContext, conn: Connection, s: StorageRecord): Buffer {
  const data = connData(conn);
  const seen = (data.pushed ??= { leader: 0, trunk: 0, members: 0 });
  const g = s.group;
  const push: ChangePush = {};
  if (seen.leader !== ctx.cluster.leaderChangeCount) {
    const self = ctx.selfAddress(conn);
    // The id field holds the leader's IP (a brief has no other place for it).
    push.leader = { status: 0, port: self.port, id: self.ip, ip: self.ip };
    seen.leader = ctx.cluster.leaderChangeCount;
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
