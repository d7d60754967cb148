import type { Buffer } from 'node:buffer';
import { GROUP_NAME_LEN, STORAGE_ID_LEN } from './codes.ts';
import { FdfsError } from './errno.ts';
import { FieldReader, FieldWriter } from './fields.ts';

// FDFS_SYNC_STATUS (122) — an fdfs extension, not part of FastDFS. The tracker's 92 records tell
// how many seconds a member is behind (§2.6), not how much of a source's binlog is still to be
// pushed; this command asks one storage about its own sync readers (PROTOCOL.md §5.9, §5.10):
// for each peer, how far its mark is from the end of the binlog. Code 122 is unused by FastDFS
// 6.16 (§1.2); a C storage answers an unknown command with EINVAL (and closes the connection),
// which a client reads as "not available".
//
// Request body (16 bytes):
//
//   | off | size | field                                                                  |
//   |-----|------|------------------------------------------------------------------------|
//   | 0   | 16   | GROUP (must be the storage's own group, else EINVAL)                  |
//
// Response body (8 + 41·count bytes):
//
//   | off | size | field                                                                  |
//   |-----|------|------------------------------------------------------------------------|
//   | 0   | 8    | i64 count: number of peer entries that follow                          |
//
// then per peer (41 bytes):
//
//   | off | size | field                                                                  |
//   |-----|------|------------------------------------------------------------------------|
//   | 0   | 16   | ID str peer id (server id, or IP without storage ids)                  |
//   | 16  | 1    | u8 peer status as this storage knows it (§4.0 values)                  |
//   | 17  | 8    | i64 records_behind: binlog records between the peer's mark and the     |
//   |     |      | end of the binlog that the reader pushes (§5.7: upper-case records,    |
//   |     |      | plus lower-case ones during an old-data copy). Counted over at most    |
//   |     |      | 64 MiB of binlog past the mark: a count at that cap is a lower bound   |
//   | 25  | 8    | i64 bytes_behind: binlog bytes between the mark and the end (across    |
//   |     |      | binlog files when the mark is in an older one)                         |
//   | 33  | 8    | i64 last_pushed_timestamp: source timestamp of the last record pushed  |
//   |     |      | to the peer since this storage started, 0 if none                      |

export const SYNC_STATUS_REQUEST_LEN = GROUP_NAME_LEN;
export const SYNC_STATUS_ENTRY_LEN = STORAGE_ID_LEN + 1 + 8 + 8 + 8;
/** A storage has at most a few dozen peers; anything past this is not our reply. */
export const SYNC_STATUS_MAX_PEERS = 4096;

export interface PeerSyncStatus {
  peerId: string;
  /** The peer's status as the storage knows it (§4.0). */
  status: number;
  recordsBehind: number;
  bytesBehind: number;
  /** Source timestamp of the last record pushed, 0 if none. */
  lastPushedTimestamp: number;
}

export function encodeSyncStatusRequest(group: string): Buffer {
  return new FieldWriter(SYNC_STATUS_REQUEST_LEN).str(group, GROUP_NAME_LEN).buf;
}

export function decodeSyncStatusRequest(body: Buffer): string {
  if (body.length !== SYNC_STATUS_REQUEST_LEN) throw new FdfsError('EINVAL', `sync-status request of ${body.length} bytes, expected ${SYNC_STATUS_REQUEST_LEN}`);
  return new FieldReader(body).str(GROUP_NAME_LEN);
}

export function encodeSyncStatusResponse(peers: readonly PeerSyncStatus[]): Buffer {
  const w = new FieldWriter(8 + SYNC_STATUS_ENTRY_LEN * peers.length).i64(peers.length);
  for (const p of peers) {
    w.str(p.peerId, STORAGE_ID_LEN).u8(p.status).i64(Math.max(0, p.recordsBehind)).i64(Math.max(0, p.bytesBehind))
      .i64(Math.max(0, p.lastPushedTimestamp));
  }
  return w.buf;
}

export function decodeSyncStatusResponse(body: Buffer): PeerSyncStatus[] {
  if (body.length < 8) throw new FdfsError('EPROTO', `sync-status response of ${body.length} bytes is too short`);
  const r = new FieldReader(body);
  const count = r.i64();
  if (count < 0 || count > SYNC_STATUS_MAX_PEERS || body.length !== 8 + count * SYNC_STATUS_ENTRY_LEN) {
    throw new FdfsError('EPROTO', `sync-status response of ${body.length} bytes for ${count} peers (expect 8 + ${SYNC_STATUS_ENTRY_LEN} each)`);
  }
  const out: PeerSyncStatus[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ peerId: r.str(STORAGE_ID_LEN), status: r.u8(), recordsBehind: r.i64(), bytesBehind: r.i64(), lastPushedTimestamp: r.i64() });
  }
  return out;
}
