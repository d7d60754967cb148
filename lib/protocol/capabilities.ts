import { Buffer } from 'node:buffer';

// fdfs extension: what an fdfs storage takes beyond FastDFS 6.x, asked for by setting
// header.status = SYNC_CAPS_PROBE_STATUS on a request every FastDFS storage knows: REPORT_SERVER_ID
// (9) on a sync connection, ACTIVE_TEST (111) from a client. A C storage ignores the status of a
// request and answers as always (status 0, empty body, nothing logged), so fdfs extensions are
// only ever sent to peers that said they take them (issue 16: C logs and drops unknown commands).

/**
 * header.status of a REPORT_SERVER_ID whose sender wants to know what the receiver takes beyond
 * FastDFS 6.x. A C storage ignores the status of a request (storage_service.c reads only the
 * 16-byte body) and answers as always: status 0, no body, nothing logged. An fdfs receiver that
 * sees this status answers status 0 with the capability body below. Only an fdfs sender sets it,
 * so a C sender (which expects an empty answer to 9) never gets a body.
 */
export const SYNC_CAPS_PROBE_STATUS = 0x66;

/** What an fdfs receiver announces in its answer to the probe. */
export const SYNC_CAP = {
  /** Several sync requests may be in flight on one connection (sync_pipeline_window). */
  PIPELINE: 1,
  /** It takes FDFS_SYNC_WATERMARK (121). */
  WATERMARK: 2,
  /** It answers FDFS_SYNC_STATUS (122): a client asks with ACTIVE_TEST (111) first. */
  SYNC_STATUS: 4,
} as const;

/** What an fdfs storage of this version answers to the probe, on 9 and on 111 alike. */
export const STORAGE_CAPS = SYNC_CAP.PIPELINE | SYNC_CAP.WATERMARK | SYNC_CAP.SYNC_STATUS;

/** Body: "fdfs" then u32 capability bits. */
export const SYNC_CAPS_LEN = 8;
const SYNC_CAPS_MAGIC = 'fdfs';

export function encodeSyncCaps(flags: number): Buffer {
  const b = Buffer.alloc(SYNC_CAPS_LEN);
  b.write(SYNC_CAPS_MAGIC, 0, 'latin1');
  b.writeUInt32BE(flags >>> 0, 4);
  return b;
}

/** Capability bits of an answer to 9 or 111; 0 for the empty answer of a C storage (or an older fdfs). */
export function decodeSyncCaps(body: Buffer): number {
  if (body.length < SYNC_CAPS_LEN || body.toString('latin1', 0, 4) !== SYNC_CAPS_MAGIC) return 0;
  return body.readUInt32BE(4);
}
