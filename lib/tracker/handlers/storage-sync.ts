import { CMD, GROUP_NAME_LEN, STORAGE_ID_LEN, STORAGE_STATUS as ST } from '../../protocol/codes.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { readFixed } from '../../protocol/fields.ts';
import { decodeSyncSource, encodeSyncSource } from '../../protocol/storage-tracker.ts';
import type { Request } from '../../net/packet-server.ts';
import { isAvailable } from '../cluster.ts';
import type { TrackerContext } from '../context.ts';
import { EMPTY, bodyOfLength, groupField, joinedStorage, requireGroup, type HandlerEntry } from './common.ts';

// Initial-sync coordination of a new member (PROTOCOL.md §4.9, §8.5).

const SYNC_BODY_LEN = STORAGE_ID_LEN + 8;

/**
 * 87 SYNC_DEST_REQ: alone in its group (no other available member) the caller goes ONLINE with no
 * source; otherwise the first writable peer by id becomes its source, until = now, and it waits
 * (WAIT_SYNC) for that peer to copy the old data.
 */
async function syncDestReq(req: Request, ctx: TrackerContext) {
  const s = joinedStorage(req);
  await bodyOfLength(req, 0, 'SYNC_DEST_REQ');
  const g = s.group;
  if (!g.members.some((m) => m !== s && isAvailable(m.status))) {
    if (ctx.cluster.setStatus(s, ST.ONLINE, 'no peer to sync from')) void ctx.store.save('servers');
    return EMPTY;
  }
  const src = g.writable.find((m) => m !== s);
  if (!src) throw new FdfsError('ENOENT', 'no writable peer to sync old files from', { subject: g.name });
  s.syncSrcId = src.id;
  s.syncUntil = ctx.now();
  ctx.cluster.setStatus(s, ST.WAIT_SYNC, `waits for ${src.id} to copy old files`);
  void ctx.store.save('servers');
  return encodeSyncSource({ srcId: s.syncSrcId, until: s.syncUntil });
}

/** 88 SYNC_NOTIFY: the storage tells (every tracker) which source it syncs from, if any. */
async function syncNotify(req: Request, ctx: TrackerContext) {
  const s = joinedStorage(req);
  const body = await bodyOfLength(req, SYNC_BODY_LEN, 'SYNC_NOTIFY');
  const { srcId, until } = decodeSyncSource(body)!;
  let changed = false;
  if (srcId === '') {
    if (s.status === ST.INIT || s.status === ST.WAIT_SYNC || s.status === ST.SYNCING) {
      changed = ctx.cluster.setStatus(s, ST.ONLINE, 'has no sync source');
    }
  } else {
    if (!s.syncSrcId) {
      const src = s.group.find(srcId);
      if (!src || !src.live) throw new FdfsError('ENOENT', `sync source ${srcId} is unknown or deleted`, { subject: s.group.name });
      s.syncSrcId = srcId;
      s.syncUntil = until;
      changed = true;
    }
    if (s.status === ST.INIT) changed = ctx.cluster.setStatus(s, ST.WAIT_SYNC, `syncs from ${srcId}`) || changed;
  }
  if (changed) void ctx.store.save('servers');
  return EMPTY;
}

/** 79 SYNC_DEST_QUERY: the caller's recorded source and until, or nothing. */
async function syncDestQuery(req: Request) {
  const s = joinedStorage(req);
  await bodyOfLength(req, 0, 'SYNC_DEST_QUERY');
  return s.syncSrcId ? encodeSyncSource({ srcId: s.syncSrcId, until: s.syncUntil }) : EMPTY;
}

/**
 * 86 SYNC_SRC_REQ (from any peer, no JOIN needed): who copies the old files to `dest`. The answer
 * lets the asker decide whether it is the one (§4.9); a source that is gone is forgotten.
 */
async function syncSrcReq(req: Request, ctx: TrackerContext) {
  const body = await bodyOfLength(req, GROUP_NAME_LEN + STORAGE_ID_LEN, 'SYNC_SRC_REQ');
  const g = requireGroup(ctx, groupField(body));
  const destId = readFixed(body, GROUP_NAME_LEN, STORAGE_ID_LEN);
  const dest = g.find(destId);
  if (!dest || dest.status === ST.INIT || !dest.live) {
    throw new FdfsError('ENOENT', `storage ${destId} is unknown, not initialised or deleted`, { subject: g.name });
  }
  if (!dest.syncSrcId) return EMPTY;
  const src = g.find(dest.syncSrcId);
  if (src && (isAvailable(src.status) || src.status === ST.RECOVERY)) {
    return encodeSyncSource({ srcId: dest.syncSrcId, until: dest.syncUntil });
  }
  dest.syncSrcId = '';
  dest.syncUntil = 0;
  void ctx.store.save('servers');
  return EMPTY;
}

export const syncHandlers: HandlerEntry[] = [
  [CMD.STORAGE_SYNC_DEST_REQ, syncDestReq],
  [CMD.STORAGE_SYNC_NOTIFY, syncNotify],
  [CMD.STORAGE_SYNC_DEST_QUERY, syncDestQuery],
  [CMD.STORAGE_SYNC_SRC_REQ, syncSrcReq],
];
