import { Buffer } from 'node:buffer';
import { FieldReader, FieldWriter, fixed } from './fields.ts';
import { EXT_NAME_LEN, GROUP_NAME_LEN, PREFIX_LEN } from './codes.ts';

// Client ↔ storage fixed request parts (PROTOCOL.md §3). Content bytes, where a command has
// them, follow the fixed part on the wire and are streamed, never built into these buffers.

// ---- 11 UPLOAD_FILE / 23 UPLOAD_APPENDER_FILE (§3.1) ----
export const UPLOAD_FIXED_LEN = 15;

export interface UploadRequest {
  storePathIndex: number;
  fileSize: number;
  ext: string;
}

export function encodeUploadRequest(u: UploadRequest): Buffer {
  return new FieldWriter(UPLOAD_FIXED_LEN).u8(u.storePathIndex & 0xff).i64(u.fileSize).str(u.ext, EXT_NAME_LEN).buf;
}

/** store_path_index is an i8: 0xFF (−1) lets the storage choose. */
export function decodeUploadRequest(fixedPart: Buffer): UploadRequest {
  const r = new FieldReader(fixedPart);
  return { storePathIndex: r.i8(), fileSize: r.i64(), ext: r.str(EXT_NAME_LEN) };
}

/** Response of 11/21/23/38/20: GROUP + remote file name. */
export function encodeFileIdResponse(group: string, logicName: string): Buffer {
  return Buffer.concat([fixed(group, GROUP_NAME_LEN), Buffer.from(logicName, 'latin1')]);
}

export function decodeFileIdResponse(body: Buffer): { group: string; logicName: string } {
  if (body.length <= GROUP_NAME_LEN) throw new RangeError(`file id response of ${body.length} bytes`);
  const r = new FieldReader(body);
  return { group: r.str(GROUP_NAME_LEN), logicName: r.text() };
}

// ---- 21 UPLOAD_SLAVE_FILE (§3.3) ----
export const SLAVE_FIXED_LEN = 38;

export interface SlaveUploadRequest {
  masterLength: number;
  fileSize: number;
  prefix: string;
  ext: string;
}

export function encodeSlaveRequest(master: string, fileSize: number, prefix: string, ext: string): Buffer {
  const m = Buffer.from(master, 'latin1');
  return Buffer.concat([
    new FieldWriter(SLAVE_FIXED_LEN).i64(m.length).i64(fileSize).str(prefix, PREFIX_LEN).str(ext, EXT_NAME_LEN).buf,
    m,
  ]);
}

export function decodeSlaveRequest(fixedPart: Buffer): SlaveUploadRequest {
  const r = new FieldReader(fixedPart);
  return { masterLength: r.i64(), fileSize: r.i64(), prefix: r.str(PREFIX_LEN), ext: r.str(EXT_NAME_LEN) };
}

// ---- 14 DOWNLOAD_FILE (§3.4) ----
export function encodeDownloadRequest(offset: number, length: number, group: string, logicName: string): Buffer {
  const n = Buffer.from(logicName, 'latin1');
  return Buffer.concat([new FieldWriter(32).i64(offset).i64(length).str(group, GROUP_NAME_LEN).buf, n]);
}

export function decodeDownloadRequest(body: Buffer): { offset: number; length: number; group: string; logicName: string } {
  const r = new FieldReader(body);
  return { offset: r.i64(), length: r.i64(), group: r.str(GROUP_NAME_LEN), logicName: r.text() };
}

// ---- 12 DELETE, 15 GET_METADATA, 22 QUERY_FILE_INFO: GROUP + name (same as tracker 102) ----

// ---- 13 SET_METADATA (§3.6) ----
export const META_FLAG = { OVERWRITE: 0x4f, MERGE: 0x4d } as const;

export function encodeSetMetadataRequest(group: string, logicName: string, flag: 'O' | 'M', blob: Buffer): Buffer {
  const n = Buffer.from(logicName, 'latin1');
  return Buffer.concat([
    new FieldWriter(33).i64(n.length).i64(blob.length).u8(flag.charCodeAt(0)).str(group, GROUP_NAME_LEN).buf,
    n, blob,
  ]);
}

export function decodeSetMetadataRequest(body: Buffer): { logicName: string; flag: number; group: string; blob: Buffer } {
  const r = new FieldReader(body);
  const nameLen = r.i64();
  const metaLen = r.i64();
  const flag = r.u8();
  const group = r.str(GROUP_NAME_LEN);
  if (nameLen < 1 || nameLen > 127 || metaLen < 0 || 33 + nameLen + metaLen !== body.length) {
    throw new RangeError(`set-metadata lengths name ${nameLen} meta ${metaLen} do not match body ${body.length}`);
  }
  return { logicName: r.text(nameLen), flag, group, blob: r.bytes(metaLen) };
}

// ---- 22 QUERY_FILE_INFO response (§3.8): 24 + IPS bytes ----
export interface FileInfoResponse {
  size: number;
  timestamp: number;
  crc32: number;
  sourceIp: string;
}

export function encodeFileInfoResponse(f: FileInfoResponse, ips: number): Buffer {
  // The CRC travels sign-extended (§3.8).
  return new FieldWriter(24 + ips).i64(f.size).i64(f.timestamp).i64(f.crc32 | 0).str(f.sourceIp, ips).buf;
}

export function decodeFileInfoResponse(body: Buffer): FileInfoResponse {
  if (body.length !== 40 && body.length !== 70) throw new RangeError(`file info response of ${body.length} bytes`);
  const r = new FieldReader(body);
  const size = r.i64();
  const timestamp = r.i64();
  const crc = Number(r.i64big() & 0xffffffffn);
  return { size, timestamp, crc32: crc, sourceIp: r.str(body.length - 24) };
}

// ---- 24 APPEND_FILE (§3.9), 34 MODIFY_FILE (§3.10), 36 TRUNCATE_FILE (§3.11) ----
export function encodeAppendRequest(logicName: string, bytes: number): Buffer {
  const n = Buffer.from(logicName, 'latin1');
  return Buffer.concat([new FieldWriter(16).i64(n.length).i64(bytes).buf, n]);
}

export function encodeModifyRequest(logicName: string, offset: number, bytes: number): Buffer {
  const n = Buffer.from(logicName, 'latin1');
  return Buffer.concat([new FieldWriter(24).i64(n.length).i64(offset).i64(bytes).buf, n]);
}

export function encodeTruncateRequest(logicName: string, newSize: number): Buffer {
  const n = Buffer.from(logicName, 'latin1');
  return Buffer.concat([new FieldWriter(16).i64(n.length).i64(newSize).buf, n]);
}
