import { Buffer } from 'node:buffer';
import { GROUP_NAME_LEN, STORAGE_ID_LEN } from '../../protocol/codes.ts';
import { FieldReader, FieldWriter, fixed } from '../../protocol/fields.ts';

// Storage ↔ storage sync requests (PROTOCOL.md §5.1–§5.6). Pure: bytes in, values out. The
// fixed part of each request comes first; names and content follow it on the wire. Readers take
// the GROUP field up to its first NUL: C senders leave stale bytes after it (captures/README.md
// discrepancy 2).

/** §5.2 header.status of a SYNC_CREATE_FILE without content ("the peer already has it"). */
export const SYNC_NO_CONTENT_STATUS = 17;

// ---- 9 REPORT_SERVER_ID (§5.1) ----

export function encodeReportServerId(id: string): Buffer {
  return fixed(id, STORAGE_ID_LEN);
}

// ---- 16 SYNC_CREATE_FILE / 18 SYNC_UPDATE_FILE (§5.2) ----

export const SYNC_FILE_FIXED_LEN = 8 + 8 + 4 + GROUP_NAME_LEN;

export interface SyncFileHeader {
  nameLength: number;
  fileSize: number;
  timestamp: number;
  group: string;
}

export function encodeSyncFile(group: string, name: string, fileSize: number, timestamp: number): Buffer {
  const n = Buffer.from(name, 'latin1');
  const w = new FieldWriter(SYNC_FILE_FIXED_LEN + n.length);
  w.i64(n.length).i64(fileSize).i32(timestamp).str(group, GROUP_NAME_LEN).bytes(n);
  return w.buf;
}

export function decodeSyncFileHeader(b: Buffer): SyncFileHeader {
  const r = new FieldReader(b);
  return { nameLength: r.i64(), fileSize: r.i64(), timestamp: r.i32(), group: r.str(GROUP_NAME_LEN) };
}

// ---- 17 SYNC_DELETE_FILE (§5.3) ----

export const SYNC_DELETE_FIXED_LEN = 4 + GROUP_NAME_LEN;

export function encodeSyncDelete(group: string, name: string, timestamp: number): Buffer {
  const n = Buffer.from(name, 'latin1');
  return new FieldWriter(SYNC_DELETE_FIXED_LEN + n.length).i32(timestamp).str(group, GROUP_NAME_LEN).bytes(n).buf;
}

export function decodeSyncDelete(b: Buffer): { timestamp: number; group: string; name: string } {
  const r = new FieldReader(b);
  return { timestamp: r.i32(), group: r.str(GROUP_NAME_LEN), name: r.text() };
}

// ---- 25 SYNC_APPEND_FILE / 35 SYNC_MODIFY_FILE / 37 SYNC_TRUNCATE_FILE (§5.4) ----

export const SYNC_RANGE_FIXED_LEN = 8 + 8 + 8 + 4 + GROUP_NAME_LEN;

/** 25/35: (offset, length of the content that follows); 37: (old size, new size), no content. */
export interface SyncRangeHeader {
  nameLength: number;
  first: number;
  second: number;
  timestamp: number;
  group: string;
}

export function encodeSyncRange(group: string, name: string, first: number, second: number, timestamp: number): Buffer {
  const n = Buffer.from(name, 'latin1');
  const w = new FieldWriter(SYNC_RANGE_FIXED_LEN + n.length);
  w.i64(n.length).i64(first).i64(second).i32(timestamp).str(group, GROUP_NAME_LEN).bytes(n);
  return w.buf;
}

export function decodeSyncRangeHeader(b: Buffer): SyncRangeHeader {
  const r = new FieldReader(b);
  return { nameLength: r.i64(), first: r.i64(), second: r.i64(), timestamp: r.i32(), group: r.str(GROUP_NAME_LEN) };
}

// ---- 19 SYNC_CREATE_LINK / 40 SYNC_RENAME_FILE (§5.5, §5.6) ----

export const SYNC_PAIR_FIXED_LEN = 8 + 8 + 4 + GROUP_NAME_LEN;

/** 19: (link, target); 40: (new name, old name). */
export interface SyncPair {
  timestamp: number;
  group: string;
  first: string;
  second: string;
}

export function encodeSyncPair(group: string, first: string, second: string, timestamp: number): Buffer {
  const a = Buffer.from(first, 'latin1');
  const b = Buffer.from(second, 'latin1');
  const w = new FieldWriter(SYNC_PAIR_FIXED_LEN + a.length + b.length);
  w.i64(a.length).i64(b.length).i32(timestamp).str(group, GROUP_NAME_LEN).bytes(a).bytes(b);
  return w.buf;
}

/** Throws RangeError when the two lengths do not add up to the body (EINVAL for the caller). */
export function decodeSyncPair(body: Buffer): SyncPair {
  const r = new FieldReader(body);
  const firstLen = r.i64();
  const secondLen = r.i64();
  const timestamp = r.i32();
  const group = r.str(GROUP_NAME_LEN);
  if (firstLen <= 0 || secondLen <= 0 || firstLen + secondLen !== r.remaining) {
    throw new RangeError(`name lengths ${firstLen} + ${secondLen} do not match the ${r.remaining} bytes after the fixed part`);
  }
  return { timestamp, group, first: r.text(firstLen), second: r.text(secondLen) };
}

// ---- fdfs extension: FDFS_SYNC_WATERMARK (121) ----

/**
 * Body: i32 watermark. Sent by an fdfs source on a sync connection that reported its id (9) once
 * it has pushed its whole binlog: every file of the source whose timestamp is below the watermark
 * is now held by the receiver. C storages do not know the command (they answer EINVAL and close);
 * the sender then stops using it with that peer.
 */
export const SYNC_WATERMARK_LEN = 4;

export function encodeSyncWatermark(timestamp: number): Buffer {
  return new FieldWriter(SYNC_WATERMARK_LEN).i32(timestamp).buf;
}

export function decodeSyncWatermark(b: Buffer): number {
  return new FieldReader(b).i32();
}

// ---- fdfs extension: capabilities (lib/protocol/capabilities.ts) ----

export { SYNC_CAPS_PROBE_STATUS, SYNC_CAP, SYNC_CAPS_LEN, STORAGE_CAPS, encodeSyncCaps, decodeSyncCaps } from '../../protocol/capabilities.ts';
