import { STORAGE_STATUS as ST } from '../../protocol/codes.ts';
import type { BinlogRecord } from '../binlog.ts';
import type { SyncMark } from './mark-file.ts';

// Who gets what (PROTOCOL.md §5.7, §5.10): the peer statuses a reader pushes to, the binlog
// records a peer needs, and which of a peer's connections carries a record.

/** Statuses a reader pushes to (§5.10 step 4). */
export function pushable(status: number): boolean {
  // Deviation from C (which waits for ACTIVE, or SYNCING when it is the source): records also go
  // to a peer that is ONLINE/OFFLINE/WAIT_SYNC but reachable. That is harmless (the receiver rules
  // make every push idempotent) and lets a restarted or new member catch up before the trackers
  // list it ACTIVE, instead of up to one heartbeat later.
  return status === ST.ACTIVE || status === ST.SYNCING || status === ST.WAIT_SYNC || status === ST.ONLINE || status === ST.OFFLINE;
}

function isUpper(op: string): boolean {
  return op >= 'A' && op <= 'Z';
}

/** §5.7: whether a peer at mark `m` gets record `r`. */
export function wouldPush(r: BinlogRecord, m: Readonly<SyncMark>): boolean {
  if (isUpper(r.op)) return true;
  // Replicas (lower case) only while copying old data to a new member, up to its `until`.
  return 'cdulr'.includes(r.op) && m.needSyncOld && !m.syncOldDone && r.timestamp <= m.untilTimestamp;
}

/** Records with two names: everything before must be done, and they before anything after (§5.10). */
export function conflicting(r: BinlogRecord): boolean {
  return r.op === 'L' || r.op === 'l' || r.op === 'R';
}

/** Which of `lanes` connections carries a record: all records about one file go on the same one, in order. */
export function laneOf(name: string, lanes: number): number {
  if (lanes <= 1) return 0;
  // A metadata file goes with its data file.
  const key = name.endsWith('-m') ? name.slice(0, -2) : name;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}
