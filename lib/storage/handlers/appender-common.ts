import { Buffer } from 'node:buffer';
import { randomInt } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { MAX_FILENAME_LEN } from '../../protocol/codes.ts';
import { Crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { buildLogicName, decodeFileName, makeSizeField, EXT7_LEN } from '../../protocol/filename.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { fsError, locate, type LocatedFile } from './common.ts';

// What the commands that change an appender file in place share (APPEND 24, MODIFY 34,
// TRUNCATE 36, REGENERATE 38; PROTOCOL.md §3.9–§3.13), and the streaming of content into an open
// file at a position (also used by the slave upload, §3.3).

/** `Mxx/HH/HH/` + 27 + 6 + 1: the C check `FDFS_LOGIC_FILE_PATH_LEN + BASE64 + EXT_MAX + 1`. */
export const MIN_APPENDER_NAME_LEN = 44;
/** Bytes gathered from the socket before one disk write (as upload.ts). */
export const WRITE_CHUNK = 256 * 1024;
const CRC_CHUNK = 512 * 1024;
/** §6.5: a new name is regenerated at most this many times when it already exists. */
const NAME_TRIES = 10;

/** §3.9: appender name length 44..127, else EINVAL. */
export function checkAppenderNameLength(len: number): void {
  if (!Number.isSafeInteger(len) || len < MIN_APPENDER_NAME_LEN || len > MAX_FILENAME_LEN) {
    throw new FdfsError('EINVAL', `appender file name length ${len} outside ${MIN_APPENDER_NAME_LEN}..${MAX_FILENAME_LEN}`);
  }
}

export interface AppenderFile extends LocatedFile {
  size: number;
}

/**
 * §3.9 "the file must exist (ENOENT) and be a regular file whose name carries the appender flag
 * (EINVAL otherwise)". lstat, as the C server: a symlinked slave is not a regular file.
 * Call with the file's lock held, so the size is current.
 */
export async function statAppender(ctx: StorageContext, logicName: string): Promise<AppenderFile> {
  const f = locate(ctx, logicName);
  let st;
  try {
    st = await fs.lstat(f.path);
  } catch (err) {
    throw fsError(err, logicName);
  }
  if (!st.isFile()) throw new FdfsError('EINVAL', 'not a regular file', { subject: logicName });
  if (!decodeFileName(logicName)?.isAppender) {
    throw new FdfsError('EINVAL', 'not an appender file (only files uploaded as appender can be changed)', { subject: logicName });
  }
  return { ...f, size: st.size };
}

/** Write every byte of `bufs` at `pos` (positional writes may be partial). */
export async function writeAllAt(fh: fs.FileHandle, bufs: Buffer[], pos: number): Promise<void> {
  let list = bufs.filter((b) => b.length > 0);
  while (list.length > 0) {
    const total = list.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = list.length === 1
      ? await fh.write(list[0]!, 0, list[0]!.length, pos)
      : await fh.writev(list, pos);
    if (bytesWritten >= total) return;
    pos += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of list) {
      if (skip >= b.length) { skip -= b.length; continue; }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    list = rest;
  }
}

/**
 * Stream the rest of the request body (`req.remaining` bytes) into `fh` from `pos`. Each disk write
 * is awaited before more is read, so a slow disk pauses the peer (the socket reader applies
 * backpressure) and memory stays bounded by WRITE_CHUNK. Returns the number of bytes written.
 */
export async function receiveInto(req: Request, ctx: StorageContext, fh: fs.FileHandle, pos: number, crc?: Crc32): Promise<number> {
  const c = ctx.counters;
  let received = 0;
  let sinceSync = 0;
  while (req.remaining > 0) {
    const chunks = [await req.readSome(WRITE_CHUNK)];
    let n = chunks[0]!.length;
    while (req.remaining > 0 && n < WRITE_CHUNK && req.conn.reader.buffered > 0) {
      const more = await req.readSome(WRITE_CHUNK - n);
      chunks.push(more);
      n += more.length;
    }
    if (crc) for (const b of chunks) crc.update(b);
    c.count('total_file_write_count');
    await writeAllAt(fh, chunks, pos + received);
    c.count('success_file_write_count');
    received += n;
    sinceSync += n;
    if (ctx.fsyncAfterBytes > 0 && sinceSync >= ctx.fsyncAfterBytes) {
      sinceSync = 0;
      await fh.sync();
    }
  }
  return received;
}

/** CRC-32 of a whole stored file (§3.8, §3.13). */
export async function fileCrc32(p: string): Promise<number> {
  const fh = await fs.open(p, 'r');
  try {
    const crc = new Crc32();
    const buf = Buffer.allocUnsafe(CRC_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CRC_CHUNK, null);
      if (bytesRead === 0) break;
      crc.update(buf.subarray(0, bytesRead));
    }
    return crc.digest();
  } finally {
    await fh.close();
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export interface NormalNameRequest {
  storePathIndex: number;
  high: number;
  low: number;
  timestamp: number;
  size: number;
  crc32: number;
  /** The 7-char tail to keep (§3.13), or an extension to build one from (§6.5). */
  ext7?: string;
  ext?: string;
}

/**
 * A fresh normal file name in `Mxx/HH/HH/` that exists neither on disk nor among the names being
 * finalised right now, claimed in ctx.claimedNames until `release()` (§6.5: at most 10 tries).
 */
export async function claimNormalName(ctx: StorageContext, r: NormalNameRequest): Promise<{ name: string; path: string; release: () => void }> {
  const source = ctx.names.source;
  if (!source) throw new FdfsError('EAGAIN', 'storage not ready: own address not known yet');
  const dir = ctx.storePaths.subdir(r.storePathIndex, r.high, r.low);
  for (let attempt = 0; attempt < NAME_TRIES; attempt++) {
    let name: string;
    if (r.ext7 !== undefined) {
      if (r.ext7.length !== EXT7_LEN) throw new FdfsError('EINVAL', `extension tail ${JSON.stringify(r.ext7)} is not ${EXT7_LEN} characters`);
      name = buildLogicName({
        storePathIndex: r.storePathIndex, high: r.high, low: r.low, ext7: r.ext7,
        header: { source, timestamp: r.timestamp, sizeField: makeSizeField('normal', r.size, randomInt(0, 0x800000)), crc32: r.crc32 },
      });
    } else {
      name = ctx.names.makeName({ ...r, ext: r.ext ?? '', kind: 'normal' });
    }
    const p = path.join(dir, name.slice(name.lastIndexOf('/') + 1));
    if (ctx.claimedNames.has(name) || (await exists(p)) || ctx.claimedNames.has(name)) continue;
    ctx.claimedNames.add(name);
    return { name, path: p, release: () => { ctx.claimedNames.delete(name); } };
  }
  throw new FdfsError('EEXIST', `no unused file name after ${NAME_TRIES} tries`);
}
