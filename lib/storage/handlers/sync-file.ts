import type { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { CMD } from '../../protocol/codes.ts';
import { crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { ioEvent } from '../io-events.ts';
import { SYNC_FILE_FIXED_LEN, decodeSyncFileHeader } from '../sync/codec.ts';
import { checkGroup, locate } from './common.ts';
import { fileCrc32 } from './io.ts';
import {
  checkNameLength, discard, logApplied, lstatOrNull, receiveInto, tempPathFor, withFileLock,
} from './sync-common.ts';

// SYNC_CREATE_FILE (16) and SYNC_UPDATE_FILE (18), PROTOCOL.md §5.2: a whole file from a peer.

/**
 * Contents up to this size are read whole from the socket, then written with synchronous calls:
 * for small files the thread-pool round trips of open/write/utimes/close/rename cost more than the
 * page-cache work itself (the upload handler does the same).
 */
const SMALL_FILE = 256 * 1024;

/** Write `data` to `tmp` with mtime `ts`, then rename it to `dest`; nothing is left behind on failure. */
function placeSmall(tmp: string, dest: string, data: Buffer, ts: number): void {
  const fd = fsSync.openSync(tmp, 'wx', 0o644);
  let placed = false;
  try {
    try {
      let off = 0;
      while (off < data.length) off += fsSync.writeSync(fd, data, off, data.length - off);
      fsSync.futimesSync(fd, ts, ts);
    } finally {
      fsSync.closeSync(fd);
    }
    fsSync.renameSync(tmp, dest);
    placed = true;
  } finally {
    if (!placed) fsSync.rmSync(tmp, { force: true });
  }
}

/** Size and CRC32 a normal file's name carries (§6.3); null for names that carry neither. */
function claimedByName(name: string): { size: number; crc32: number } | null {
  const d = decodeFileName(name);
  return d && d.type === 'normal' && !d.isTrunk ? { size: d.nameSize, crc32: d.crc32 >>> 0 } : null;
}

function checkCrc(actual: number, claimed: number, name: string): void {
  if (actual >>> 0 !== claimed) {
    throw new FdfsError('EINVAL', `content CRC32 ${(actual >>> 0).toString(16)} differs from the name's ${claimed.toString(16)}`, { subject: name });
  }
}

/**
 * The content goes to `data/.cp<seq>.tmp`, gets the source timestamp as mtime, and is renamed into
 * place, so a reader never sees a half-received file (not even after a kill -9: start-up removes
 * the temp files). Logged `c`/`u` with the source timestamp. A CREATE of a file we already hold
 * with the same size, and any request sent without content (header.status ≠ 0), are answered
 * EEXIST after logging.
 */
export async function syncFile(req: Request, ctx: StorageContext): Promise<void> {
  const update = req.cmd === CMD.SYNC_UPDATE_FILE;
  const op = update ? 'u' : 'c';
  const withContent = req.header.status === 0;
  if (req.length < SYNC_FILE_FIXED_LEN) throw new FdfsError('EINVAL', `sync file body of ${req.length} bytes is too short`);
  const h = decodeSyncFileHeader(await req.read(SYNC_FILE_FIXED_LEN));
  checkNameLength(h.nameLength);
  if (!Number.isSafeInteger(h.fileSize) || h.fileSize < 0) throw new FdfsError('EINVAL', `file_size ${h.fileSize} is invalid`);
  const expected = SYNC_FILE_FIXED_LEN + h.nameLength + (withContent ? h.fileSize : 0);
  if (req.length !== expected) {
    throw new FdfsError('EINVAL', `package length ${req.length} does not match filename_len ${h.nameLength} and file_size ${h.fileSize}`);
  }
  const name = (await req.read(h.nameLength)).toString('latin1');
  checkGroup(ctx, h.group);
  const f = locate(ctx, name);

  if (!withContent) {
    // §5.2: the sender found the same size here with QUERY_FILE_INFO; only the record is new.
    await logApplied(req, ctx, op, name, h.timestamp);
    throw new FdfsError('EEXIST', 'already here (no content sent)', { subject: name });
  }

  // Issue 15: content that contradicts its name never lands (a peer's bug, or a stranger
  // overwriting a file under an ID that says 17 bytes with 23 other bytes).
  const claimed = claimedByName(name);
  if (claimed && h.fileSize % 2 ** 32 !== claimed.size % 2 ** 32) {
    throw new FdfsError('EINVAL', `content of ${h.fileSize} bytes for a name that says ${claimed.size}`, { subject: name });
  }
  const small = h.fileSize <= SMALL_FILE ? await req.read(h.fileSize) : null;
  if (small && claimed) checkCrc(crc32(small), claimed.crc32, name);
  await withFileLock(ctx, f.path, async () => {
    if (!update) {
      const st = small ? fsSync.lstatSync(f.path, { throwIfNoEntry: false }) : await lstatOrNull(f.path);
      if (st?.isFile() && st.size === h.fileSize) {
        if (!small) await discard(req, h.fileSize);
        await logApplied(req, ctx, op, name, h.timestamp);
        throw new FdfsError('EEXIST', 'already here with the same size', { subject: name });
      }
    }
    const tmp = tempPathFor(ctx, f.parsed.storePathIndex);
    if (small) {
      ioEvent(ctx, 'sync-in', 'start', small.length);
      ioEvent(ctx, 'open', 'start');
      ioEvent(ctx, 'write', 'start');
      try {
        placeSmall(tmp, f.path, small, h.timestamp);
      } catch (err) {
        throw new FdfsError('EIO', `cannot store ${name}: ${(err as Error).message}`, { subject: name, cause: err });
      }
      ioEvent(ctx, 'open', 'ok');
      ioEvent(ctx, 'write', 'ok');
      await logApplied(req, ctx, op, name, h.timestamp, undefined, h.fileSize);
      return;
    }
    ioEvent(ctx, 'open', 'start');
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(tmp, 'wx', 0o644);
    } catch (err) {
      throw new FdfsError('EAGAIN', `cannot create ${tmp}: ${(err as Error).message}`, { subject: name, cause: err });
    }
    ioEvent(ctx, 'open', 'ok');
    let placed = false;
    try {
      try {
        await receiveInto(req, ctx, fh, h.fileSize, null);
        await fh.utimes(h.timestamp, h.timestamp);
      } finally {
        await fh.close().catch(() => {});
      }
      // Large contents are CRC-checked when they would replace a file (one more read of what was
      // just written); a new file's content is checked by its size.
      if (claimed && await lstatOrNull(f.path)) checkCrc(await fileCrc32(tmp), claimed.crc32, name);
      await fs.rename(tmp, f.path);
      placed = true;
    } finally {
      if (!placed) await fs.rm(tmp, { force: true }).catch(() => {});
    }
    await logApplied(req, ctx, op, name, h.timestamp, undefined, h.fileSize);
  });
}

