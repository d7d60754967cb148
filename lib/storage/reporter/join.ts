import type { Buffer } from 'node:buffer';
import type { ClientConnection } from '../../net/client-connection.ts';
import { CMD, FDFS_VERSION, STORAGE_STATUS, storageStatusName } from '../../protocol/codes.ts';
import { ERRNO, FdfsError, toFdfsError } from '../../protocol/errno.ts';
import {
  decodeJoinResponse, decodeSyncSource, encodeJoinRequest, encodeSyncSource, type SyncSource,
} from '../../protocol/storage-tracker.ts';
import { isTrackerLeader, localIpOf, remoteIpOf, withTracker } from '../tracker-session.ts';
import { SetupError, type ReporterCore, type TrackerLink } from './core.ts';
import { checkMyStatus, setLeaderIndex } from './leader-status.ts';

// Joining one tracker (PROTOCOL.md §4.3) and the initial-sync step that follows (§4.9: 87 once,
// serialized across trackers; 88 on every connection).

/** C: the own entry of the leader's member list, else INIT, or −1 while some tracker never answered a JOIN. */
export function joinStatus(r: ReporterCore): number {
  const s = r.host.status;
  if (r.ownStatusKnown || (s !== STORAGE_STATUS.INIT && s !== STORAGE_STATUS.NONE)) return s;
  if (r.links.length > 1 && r.links.some((l) => l.joinResult === undefined)) return -1;
  return STORAGE_STATUS.INIT;
}

export async function join(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  const h = r.host;
  const body = encodeJoinRequest({
    group: r.group,
    port: h.port,
    storePathCount: h.storePathCount,
    subdirCountPerPath: h.subdirCountPerPath,
    uploadPriority: h.uploadPriority,
    joinTime: h.joinTime,
    upTime: h.upTime,
    version: FDFS_VERSION,
    initFlag: h.syncOldDone ? 0 : 1,
    status: joinStatus(r),
    storageId: r.useStorageId ? r.myId : '',
    currentTrackerIp: remoteIpOf(conn),
    trackers: r.links.map((l) => l.line),
  });
  let reply: Buffer;
  try {
    reply = await conn.request(CMD.STORAGE_JOIN, body, { maxResponse: 1024 });
  } catch (err) {
    const e = toFdfsError(err, link.line);
    link.joinResult = e.errno;
    throw new SetupError(e);
  }
  link.joinResult = 0;
  if (reply.length !== 1 + 16) {
    throw new SetupError(new FdfsError('EPROTO', `JOIN reply of ${reply.length} bytes, expected 17`, { subject: link.line }));
  }
  const { status, srcId } = decodeJoinResponse(reply);
  link.joined = true;
  link.trackerStatus = status;
  r.log('info', `joined tracker ${link.line} as ${r.myId || localIpOf(conn)}:${h.port}, status ${storageStatusName(status)}${srcId ? `, sync source ${srcId}` : ''}`);
  // Only the leader's view is ours (C keeps a follower's answer for the 59 check only).
  if (r.links.length === 1 || link.index === r.leaderIndex) {
    r.notifyHost('onOwnStatus', () => r.host.onOwnStatus(status));
  }
  checkMyStatus(r, link.index);
  r.emit('joined', link.line, status);
}

export async function initialSyncStep(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  if (!r.host.syncOldDone) {
    // Serialized across trackers: only the first loop asks for a sync source (§4.4).
    const run = r.syncStepLock.then(async () => {
      if (r.host.syncOldDone || r.stopping) return;
      let reply: Buffer;
      try {
        reply = await conn.request(CMD.STORAGE_SYNC_DEST_REQ, [], { maxResponse: 1024 });
      } catch (err) {
        const e = toFdfsError(err, link.line);
        // ENOENT: no writable source yet — typically members started together, the first one
        // not ACTIVE yet. It will be in a moment: ask again after the short retry delay.
        if (e.code === 'ENOENT') throw e;
        throw new SetupError(e);
      }
      if (reply.length !== 0 && reply.length !== 24) {
        throw new SetupError(new FdfsError('EPROTO', `SYNC_DEST_REQ reply of ${reply.length} bytes`, { subject: link.line }));
      }
      const src = decodeSyncSource(reply);
      r.syncSrc = src && src.srcId ? src : null;
      r.host.syncOldDone = true;
      r.log('info', r.syncSrc ? `initial sync source ${r.syncSrc.srcId}, until ${r.syncSrc.until}`
        : 'no initial sync needed (first storage of the group)');
      r.notifyHost('onSyncSource', () => r.host.onSyncSource(r.syncSrc ? { ...r.syncSrc } : null));
      await saveInitFlag(r);
    });
    r.syncStepLock = run.catch(() => {});
    await run;
    if (r.stopping) return;
  }
  await syncNotify(r, link, conn);
}

/** The sync source 88 announces: ours if we learnt one, else the host's .data_init_flag record. */
export function syncSourceOf(r: ReporterCore): SyncSource | null {
  if (r.syncSrc !== undefined) return r.syncSrc;
  const recorded = r.extras.syncSource;
  return recorded?.srcId ? recorded : null;
}

export async function syncNotify(r: ReporterCore, link: TrackerLink, conn: ClientConnection): Promise<void> {
  const src = syncSourceOf(r);
  const body = encodeSyncSource(src ?? { srcId: '', until: 0 });
  try {
    const reply = await conn.request(CMD.STORAGE_SYNC_NOTIFY, body, { maxResponse: 1024 });
    if (reply.length !== 0) throw new FdfsError('EPROTO', `SYNC_NOTIFY reply of ${reply.length} bytes, expected none`, { subject: link.line });
  } catch (err) {
    const e = toFdfsError(err, link.line);
    if (e.errno === ERRNO.ENOENT && src) {
      // §4.9: the source is unknown/deleted. C forgets it when the leader says so; the next
      // JOIN then notifies an empty source and the tracker lets us go ONLINE.
      if (await isLeader(r, link)) {
        r.log('warn', `tracker leader ${link.line} does not know sync source ${src.srcId}; forgetting it`);
        r.syncSrc = null;
        r.notifyHost('onSyncSource', () => r.host.onSyncSource(null));
        await saveInitFlag(r);
      }
    }
    throw new SetupError(e);
  }
}

export async function isLeader(r: ReporterCore, link: TrackerLink): Promise<boolean> {
  if (r.links.length === 1) return true;
  if (r.leaderIndex < 0) {
    // No change-push named a leader yet: ask them (64), as C's get_tracker_leader() does.
    for (const l of r.links) {
      try {
        if (await withTracker(l.endpoint, r.dial, isTrackerLeader)) { setLeaderIndex(r, l.index); break; }
      } catch { /* unreachable tracker: not the leader we can use */ }
    }
  }
  return link.index === r.leaderIndex;
}

export async function saveInitFlag(r: ReporterCore): Promise<void> {
  try {
    await r.host.saveInitFlag();
  } catch (err) {
    // C exits here; we keep serving: memory holds the right state and the next save retries.
    r.log('error', `cannot save the init flag: ${(err as Error).message}`);
  }
}
