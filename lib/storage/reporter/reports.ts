import type { Buffer } from 'node:buffer';
import type { ClientConnection } from '../../net/client-connection.ts';
import { CMD, STORAGE_STATUS } from '../../protocol/codes.ts';
import { toFdfsError } from '../../protocol/errno.ts';
import { encodeStorageStat } from '../../protocol/records.ts';
import { encodeDiskUsage, encodeSyncReport } from '../../protocol/storage-tracker.ts';
import { getStorageStatus, localIpOf } from '../tracker-session.ts';
import { MAX_PUSH_LEN, TRANSPORT_ERRNOS, type ReporterCore, type TrackerLink } from './core.ts';
import { markActive, onChangePush } from './leader-status.ts';

// The periodic reports on a joined connection (PROTOCOL.md §4.4–4.7, §4.12, §4.15): 83 BEAT,
// 84 REPORT_DISK_USAGE, 89 SYNC_REPORT, 77 CHANGELOG_REQ, and 71 until a tracker says ACTIVE.

export async function beat(r: ReporterCore, link: TrackerLink, conn: ClientConnection, lastStat: Buffer | null, forced: boolean): Promise<Buffer> {
  // The storage leaves last_synced_timestamp and last_heart_beat_time zero (§4.5).
  const stat = encodeStorageStat({ ...r.host.stats(), last_synced_timestamp: 0, last_heart_beat_time: 0 });
  const send = forced || lastStat === null || !stat.equals(lastStat);
  const reply = await conn.request(CMD.STORAGE_BEAT, send ? stat : [], { maxResponse: MAX_PUSH_LEN });
  onChangePush(r, link, reply);
  return stat;
}

export async function diskReport(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  let body: Buffer;
  try {
    body = encodeDiskUsage(await r.host.diskUsage());
  } catch (err) {
    // A failing statfs is local; dropping the tracker connection would not help. Retried next period.
    r.log('warn', `cannot measure the store paths: ${(err as Error).message}`);
    return;
  }
  const reply = await conn.request(CMD.STORAGE_REPORT_DISK_USAGE, body, { maxResponse: MAX_PUSH_LEN });
  onChangePush(r, link, reply);
}

export async function syncReport(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  // One entry per known group member, ourselves included with 0 (what 6.16.1 sends, captures
  // README discrepancy 9), plus any peer the sync code reported before a member list arrived.
  const ids = [...r.memberIds];
  for (const id of r.syncTimestamps.keys()) if (!ids.includes(id)) ids.push(id);
  if (ids.length === 0) return;
  const items = ids.map((peerId) => ({ peerId, timestamp: Math.min(r.syncTimestamps.get(peerId) ?? 0, 0x7fffffff) }));
  const reply = await conn.request(CMD.STORAGE_SYNC_REPORT, encodeSyncReport(items), { maxResponse: MAX_PUSH_LEN });
  onChangePush(r, link, reply);
}

export async function changelog(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  const text = (await conn.request(CMD.STORAGE_CHANGELOG_REQ, [], { maxResponse: 64 * 1024 })).toString('latin1');
  if (text.length > 0) r.emit('changelog', text, link.line);
}

/**
 * Ask this tracker how it sees us (71) until one says ACTIVE. Only the leader pushes member
 * lists, and a C leader elected after our first beat pushes them one heart_beat_interval later,
 * so waiting for a push alone could take 30 s.
 */
export async function checkActive(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  const ip = link.myIps?.[0] ?? r.myIps[0] ?? localIpOf(conn);
  try {
    const brief = await getStorageStatus(conn, r.group, ip, r.host.port);
    if (brief.status === STORAGE_STATUS.ACTIVE) markActive(r, link);
  } catch (err) {
    const e = toFdfsError(err, link.line);
    if (TRANSPORT_ERRNOS.has(e.errno) || conn.socket.destroyed) throw e;
    // A status reply (e.g. ENOENT before the tracker knows us): the tracker keeps the
    // connection open after error replies (captures README), so the stream is still framed.
    conn.usable = true;
    r.log('debug', `GET_STATUS on ${link.line}: ${e.message}`);
  }
}
