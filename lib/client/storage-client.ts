import { Buffer } from 'node:buffer';
import type { ClientConnection } from '../net/client-connection.ts';
import { CMD, HEADER_LEN } from '../protocol/codes.ts';
import { FdfsError } from '../protocol/errno.ts';
import {
  decodeFileIdResponse, decodeFileInfoResponse, encodeAppendRequest, encodeDownloadRequest, encodeModifyRequest,
  encodeSetMetadataRequest, encodeSlaveRequest, encodeTruncateRequest, encodeUploadRequest, type FileInfoResponse,
} from '../protocol/storage-requests.ts';
import { encodeFileRequest } from '../protocol/tracker-queries.ts';
import { withSubject } from './pool.ts';

// Client ↔ storage operations (PROTOCOL.md §3), one function per command, each on a connection
// the caller took from the pool. File content is streamed after the fixed fields, never
// assembled in memory.

/** File content of a known size; `chunks()` is called at most once, when the bytes are due. */
export interface Content {
  size: number;
  chunks(): Uint8Array | AsyncIterable<Uint8Array | string>;
}

export interface FileIdReply {
  group: string;
  logicName: string;
}

/** Replies that are a file ID (11, 21, 23, 38) are short; anything longer is not FastDFS. */
const MAX_SMALL_REPLY = 64 * 1024;

async function pump(conn: ClientConnection, content: Content): Promise<void> {
  // Nothing to send: do not even open the source (a file stream would hold a descriptor).
  if (content.size === 0) return;
  const src = content.chunks();
  if (src instanceof Uint8Array) {
    if (src.length !== content.size) throw new FdfsError('EINVAL', `content is ${src.length} bytes, announced ${content.size}`);
    const p = conn.write(src);
    if (p) await p;
    return;
  }
  let left = content.size;
  for await (const c of src) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    if (chunk.length > left) throw new FdfsError('EINVAL', `content longer than the announced ${content.size} bytes`);
    left -= chunk.length;
    // Awaiting the drain of each write is the backpressure: the source is not read further
    // until the socket took what it has.
    const p = conn.write(chunk);
    if (p) await p;
    // Stop as soon as the announced size went out: a stream that never ends (stdin) must not hang us.
    if (left === 0) break;
  }
  if (left > 0) throw new FdfsError('EIO', `content ended ${left} bytes short of the announced ${content.size}`);
}

/**
 * Header, fixed fields, then the content. If sending fails the storage may already have refused
 * the request (and closed, §1.1): when its status is buffered, that is the error to report.
 */
async function send(conn: ClientConnection, cmd: number, fixedParts: Buffer[], content: Content | undefined, subject: string, status = 0): Promise<void> {
  let len = content?.size ?? 0;
  for (const p of fixedParts) len += p.length;
  try {
    await conn.sendHeader(cmd, len, fixedParts, status);
    if (content) await pump(conn, content);
  } catch (err) {
    conn.usable = false;
    if (conn.reader.buffered >= HEADER_LEN) await conn.readHeader(subject, cmd);
    throw withSubject(err, subject);
  }
}

/** Status check and a whole small reply body. */
async function reply(conn: ClientConnection, cmd: number, subject: string, max = MAX_SMALL_REPLY): Promise<Buffer> {
  const h = await conn.readHeader(subject, cmd);
  return conn.readBody(h.length, max);
}

function fileIdReply(body: Buffer, subject: string): FileIdReply {
  try {
    return decodeFileIdResponse(body);
  } catch (err) {
    throw new FdfsError('EPROTO', `malformed file id reply: ${(err as Error).message}`, { subject });
  }
}

/** Request body of 12, 15, 22: GROUP + logic name (the same layout as the tracker's 102). */
function nameBody(group: string, logicName: string): Buffer {
  return encodeFileRequest(group, logicName);
}

// ---- 11 UPLOAD_FILE / 23 UPLOAD_APPENDER_FILE (§3.1, §3.2) ----

export interface UploadParams {
  appender?: boolean;
  /** From the tracker's 101/104 reply; −1 lets the storage choose. */
  storePathIndex: number;
  ext: string;
  content: Content;
}

export async function uploadFile(conn: ClientConnection, p: UploadParams): Promise<FileIdReply> {
  const cmd = p.appender ? CMD.UPLOAD_APPENDER_FILE : CMD.UPLOAD_FILE;
  const fixedPart = encodeUploadRequest({ storePathIndex: p.storePathIndex, fileSize: p.content.size, ext: p.ext });
  await send(conn, cmd, [fixedPart], p.content, conn.address);
  return fileIdReply(await reply(conn, cmd, conn.address), conn.address);
}

// ---- 21 UPLOAD_SLAVE_FILE (§3.3) ----

export async function uploadSlaveFile(conn: ClientConnection, masterLogicName: string, prefix: string, ext: string, content: Content, subject: string): Promise<FileIdReply> {
  const fixedPart = encodeSlaveRequest(masterLogicName, content.size, prefix, ext);
  await send(conn, CMD.UPLOAD_SLAVE_FILE, [fixedPart], content, subject);
  return fileIdReply(await reply(conn, CMD.UPLOAD_SLAVE_FILE, subject), subject);
}

// ---- 14 DOWNLOAD_FILE (§3.4) ----

/**
 * Send the request and read the response header; the caller then reads exactly the returned
 * number of content bytes from conn.reader. A non-zero status throws before any body is read
 * (§1.1: some error replies announce a length and send nothing).
 */
export async function startDownload(conn: ClientConnection, group: string, logicName: string, offset: number, length: number, subject: string): Promise<number> {
  await send(conn, CMD.DOWNLOAD_FILE, [encodeDownloadRequest(offset, length, group, logicName)], undefined, subject);
  const h = await conn.readHeader(subject, CMD.DOWNLOAD_FILE);
  return h.length;
}

// ---- 12 DELETE_FILE (§3.5) ----

export async function deleteFile(conn: ClientConnection, group: string, logicName: string, subject: string): Promise<void> {
  await send(conn, CMD.DELETE_FILE, [nameBody(group, logicName)], undefined, subject);
  await reply(conn, CMD.DELETE_FILE, subject);
}

// ---- 13 SET_METADATA (§3.6), 15 GET_METADATA (§3.7) ----

export async function setMetadata(conn: ClientConnection, group: string, logicName: string, flag: 'O' | 'M', blob: Buffer, subject: string): Promise<void> {
  await send(conn, CMD.SET_METADATA, [encodeSetMetadataRequest(group, logicName, flag, blob)], undefined, subject);
  await reply(conn, CMD.SET_METADATA, subject);
}

export async function getMetadata(conn: ClientConnection, group: string, logicName: string, subject: string): Promise<Buffer> {
  await send(conn, CMD.GET_METADATA, [nameBody(group, logicName)], undefined, subject);
  return reply(conn, CMD.GET_METADATA, subject, 16 * 1024 * 1024);
}

// ---- 22 QUERY_FILE_INFO (§3.8) ----

export const FILE_INFO_FLAG = { NO_CRC: 1, SILENT: 2 } as const;

export async function queryFileInfo(conn: ClientConnection, group: string, logicName: string, subject: string, flags = 0): Promise<FileInfoResponse> {
  // The flags travel in the request header's status byte.
  await send(conn, CMD.QUERY_FILE_INFO, [nameBody(group, logicName)], undefined, subject, flags);
  const body = await reply(conn, CMD.QUERY_FILE_INFO, subject);
  try {
    return decodeFileInfoResponse(body);
  } catch (err) {
    throw new FdfsError('EPROTO', `malformed file info reply: ${(err as Error).message}`, { subject });
  }
}

// ---- 24 APPEND, 34 MODIFY, 36 TRUNCATE (§3.9–§3.11) ----

/**
 * A 6.16 storage answers a no-op append/modify/truncate with status 0 and the request body echoed
 * back (§3.9 quirk); the C client calls that EINVAL. Status 0 is success here, whatever follows.
 */
async function emptyReply(conn: ClientConnection, cmd: number, subject: string): Promise<void> {
  await reply(conn, cmd, subject, 16 * 1024 * 1024);
}

export async function appendFile(conn: ClientConnection, logicName: string, content: Content, subject: string): Promise<void> {
  await send(conn, CMD.APPEND_FILE, [encodeAppendRequest(logicName, content.size)], content, subject);
  await emptyReply(conn, CMD.APPEND_FILE, subject);
}

export async function modifyFile(conn: ClientConnection, logicName: string, offset: number, content: Content, subject: string): Promise<void> {
  await send(conn, CMD.MODIFY_FILE, [encodeModifyRequest(logicName, offset, content.size)], content, subject);
  await emptyReply(conn, CMD.MODIFY_FILE, subject);
}

export async function truncateFile(conn: ClientConnection, logicName: string, newSize: number, subject: string): Promise<void> {
  await send(conn, CMD.TRUNCATE_FILE, [encodeTruncateRequest(logicName, newSize)], undefined, subject);
  await emptyReply(conn, CMD.TRUNCATE_FILE, subject);
}

// ---- 38 REGENERATE_APPENDER_FILENAME (§3.13) ----

export async function regenerateAppenderName(conn: ClientConnection, logicName: string, subject: string): Promise<FileIdReply> {
  // The body is the bare logic name: no group, no length prefix.
  await send(conn, CMD.REGENERATE_APPENDER_FILENAME, [Buffer.from(logicName, 'latin1')], undefined, subject);
  return fileIdReply(await reply(conn, CMD.REGENERATE_APPENDER_FILENAME, subject), subject);
}
