import { Buffer } from 'node:buffer';
import { CMD, GROUP_NAME_LEN, STORAGE_ID_LEN } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { fixed } from '../../protocol/fields.ts';
import { decodeSyncSource, type SyncSource } from '../../protocol/storage-tracker.ts';
import type { StorageBrief } from '../../protocol/records.ts';
import { tryTrackers } from '../../net/tracker-calls.ts';
import { reportStatusToTrackers, withTracker, type TrackerDialOptions, type TrackerEndpoint } from '../tracker-session.ts';

// The two tracker requests a sync reader makes itself, each on a short connection closed with
// QUIT (PROTOCOL.md §4.9, §4.10).

/**
 * 86 SYNC_SRC_REQ: who copies the old files to `destId` and up to when (null: nobody). Trackers
 * are asked in order until one answers; ENOENT (dest unknown, INIT or deleted) is an answer too.
 */
export async function askSyncSource(trackers: readonly TrackerEndpoint[], dial: TrackerDialOptions, group: string,
  destId: string): Promise<SyncSource | null> {
  const body = Buffer.concat([fixed(group, GROUP_NAME_LEN), fixed(destId, STORAGE_ID_LEN)]);
  const { value } = await tryTrackers(trackers, async (t) => {
    const reply = await withTracker(t, dial, (conn) => conn.request(CMD.STORAGE_SYNC_SRC_REQ, body, { maxResponse: 1024 }));
    if (reply.length !== 0 && reply.length !== STORAGE_ID_LEN + 8) {
      throw new FdfsError('EPROTO', `SYNC_SRC_REQ reply of ${reply.length} bytes`);
    }
    const src = decodeSyncSource(reply);
    return src && src.srcId ? src : null;
  }, { moveOn: (e) => e.code !== 'ENOENT' });
  return value;
}

/**
 * 76 REPORT_STATUS about a peer to every tracker. The brief carries port 0, as 6.16.1 sends it
 * (captures/README.md #10). True when at least one tracker accepted.
 */
export async function reportPeerStatus(trackers: readonly TrackerEndpoint[], dial: TrackerDialOptions, group: string,
  peer: { id: string; ip: string }, status: number): Promise<boolean> {
  const brief: StorageBrief = { status, port: 0, id: peer.id, ip: peer.ip };
  const outcomes = await reportStatusToTrackers(trackers, group, brief, dial);
  return outcomes.some((o) => !o.error);
}
