import { CMD, GROUP_NAME_LEN, STORAGE_STATUS as ST } from '../../protocol/codes.ts';
import { FdfsError, toFdfsError } from '../../protocol/errno.ts';
import { fixed } from '../../protocol/fields.ts';
import { RW_MODE, decodeGroupStats, decodeStorageStatRecords } from '../../protocol/records.ts';
import { encodeListStorageRequest } from '../../protocol/storage-tracker.ts';
import {
  getStorageStatus, reportStatusToTrackers, trackerLine, withTracker, type TrackerDialOptions, type TrackerEndpoint,
} from '../tracker-session.ts';

// The tracker questions of a disk recovery (PROTOCOL.md §5.11 preparation steps 2 and 3): how the
// trackers see us, which peer to copy from, and the RECOVERY report.

export interface RecoverySelf {
  group: string;
  /** Our address as the trackers see it (first answer of 60). */
  ip: string;
  port: number;
  /** Storage id ('' or the IP when ids are off). */
  id: string;
  storePathCount: number;
}

export interface PeerAddress { id: string; host: string; port: number }

export type StatusAnswer =
  | { kind: 'status'; status: number }
  /** Every tracker answered ENOENT: the cluster does not know us, nothing to recover from. */
  | { kind: 'unknown' }
  /** Some tracker could not be asked; the round is to be repeated. */
  | { kind: 'retry'; error: FdfsError };

/**
 * §5.11 step 2a: 71 GET_STATUS on every tracker, the highest status wins. `lenient` accepts the
 * answers of the trackers that did answer (a tracker down for long must not block a recovery
 * forever; C repeats the round until every tracker answers).
 */
export async function askOwnStatus(trackers: readonly TrackerEndpoint[], dial: TrackerDialOptions, self: RecoverySelf,
  lenient = false): Promise<StatusAnswer> {
  let best = -1;
  let failure: FdfsError | null = null;
  for (const t of trackers) {
    try {
      const brief = await withTracker(t, dial, (conn) => getStorageStatus(conn, self.group, self.ip, self.port));
      best = Math.max(best, brief.status);
    } catch (err) {
      const e = toFdfsError(err, trackerLine(t));
      if (e.code !== 'ENOENT') failure = e;
    }
  }
  if (failure && (!lenient || best < 0)) return { kind: 'retry', error: failure };
  if (best < 0) return { kind: 'unknown' };
  return { kind: 'status', status: best };
}

/** The status some tracker still serves us with (ONLINE/ACTIVE), or null when none does. */
export async function servingStatus(trackers: readonly TrackerEndpoint[], dial: TrackerDialOptions, self: RecoverySelf): Promise<number | null> {
  for (const t of trackers) {
    try {
      const brief = await withTracker(t, dial, (conn) => getStorageStatus(conn, self.group, self.ip, self.port));
      if (brief.status === ST.ACTIVE || brief.status === ST.ONLINE) return brief.status;
    } catch { /* unreachable or unknown: it sends nobody here */ }
  }
  return null;
}

/** Whether a status means "this storage held data the group knows about" (§5.11 step 2a). */
export function worthRecovering(status: number): boolean {
  return status !== ST.INIT && status !== ST.IP_CHANGED && status !== ST.DELETED;
}

export type SourceAnswer =
  | { kind: 'peer'; peer: PeerAddress }
  /** The group has no other member, or fewer store paths than we do: no recovery. */
  | { kind: 'none'; reason: string }
  | { kind: 'wait'; reason: string };

let rotate = 0;

/**
 * §5.11 step 2b through one tracker (round robin over them): 90 LIST_ONE_GROUP, then 92
 * LIST_STORAGE, the first other ACTIVE readable member from a rotating start.
 */
export async function findSourcePeer(trackers: readonly TrackerEndpoint[], dial: TrackerDialOptions, self: RecoverySelf): Promise<SourceAnswer> {
  const t = trackers[rotate++ % trackers.length]!;
  try {
    return await withTracker(t, dial, async (conn) => {
      const g = decodeGroupStats(await conn.request(CMD.SERVER_LIST_ONE_GROUP, fixed(self.group, GROUP_NAME_LEN), { maxResponse: 4096 }))[0];
      if (!g) return { kind: 'wait', reason: `${trackerLine(t)} returned no group record` } as const;
      if (g.storage_count <= 1) return { kind: 'none', reason: `group ${self.group} has no other member` } as const;
      if (g.store_path_count < self.storePathCount) {
        return { kind: 'none', reason: `group ${self.group} has ${g.store_path_count} store paths, we have ${self.storePathCount}` } as const;
      }
      if (g.readable_server_count <= 0) return { kind: 'wait', reason: `group ${self.group} has no readable member` } as const;
      const list = decodeStorageStatRecords(await conn.request(CMD.SERVER_LIST_STORAGE, encodeListStorageRequest(self.group), { maxResponse: 1 << 20 }));
      const start = rotate;
      for (let k = 0; k < list.length; k++) {
        const s = list[(start + k) % list.length]!;
        const me = self.id ? s.id === self.id : s.ip_addr === self.ip && s.storage_port === self.port;
        if (me || s.status !== ST.ACTIVE || (s.rw_mode & RW_MODE.READ) === 0) continue;
        return { kind: 'peer', peer: { id: s.id, host: s.ip_addr, port: s.storage_port } } as const;
      }
      return { kind: 'wait', reason: `no other ACTIVE readable member in group ${self.group}` } as const;
    });
  } catch (err) {
    return { kind: 'wait', reason: toFdfsError(err, trackerLine(t)).message };
  }
}

/** §5.11 step 3 / restore step 4: 76 with our own brief; true when a tracker accepted it. */
export async function reportOwnStatus(trackers: readonly TrackerEndpoint[], dial: TrackerDialOptions, self: RecoverySelf,
  status: number): Promise<boolean> {
  const outcomes = await reportStatusToTrackers(trackers, self.group, { status, port: self.port, id: self.id || self.ip, ip: self.ip }, dial);
  return outcomes.some((o) => !o.error);
}
