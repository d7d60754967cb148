import { CMD } from '../../protocol/codes.ts';
import { crc32 } from '../../protocol/crc32.ts';
import { FdfsError } from '../../protocol/errno.ts';
import { decodeFileName } from '../../protocol/filename.ts';
import type { Request } from '../../net/packet-server.ts';
import type { StorageContext } from '../context.ts';
import { bufferSource } from '../engine/buffer-source.ts';
import { SMALL_FILE } from '../engine/engine.ts';
import { ioEvent } from '../io-events.ts';
import { SYNC_FILE_FIXED_LEN, decodeSyncFileHeader } from '../sync/codec.ts';
import { checkGroup, locate } from './common.ts';
import { contentOf } from './io.ts';
import { checkNameLength, discard, logApplied, withFileLock } from './sync-common.ts';

// SYNC_CREATE_FILE (16) and SYNC_UPDATE_FILE (18), PROTOCOL.md §5.2: a whole file from a peer.

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
  // Small contents are read whole and checked before anything else; a large one only when it
  // would replace a file (a new file's content is checked by its size).
  const small = h.fileSize <= SMALL_FILE ? await req.read(h.fileSize) : null;
  if (small && claimed) checkCrc(crc32(small), claimed.crc32, name);
  await withFileLock(ctx, f.path, async () => {
    const existing = await ctx.engine.stat(f, { quick: small !== null });
    if (!update && existing?.type === 'file' && existing.size === h.fileSize) {
      if (!small) await discard(req, h.fileSize);
      await logApplied(req, ctx, op, name, h.timestamp);
      throw new FdfsError('EEXIST', 'already here with the same size', { subject: name });
    }
    const checkLarge = !small && claimed !== null && existing !== null;
    const incoming = await ctx.engine.receive(small ? bufferSource(small) : contentOf(req), { to: 'name', file: f, mtime: h.timestamp }, {
      size: h.fileSize,
      crc: checkLarge,
      onBytes: (n) => ioEvent(ctx, 'sync-in', 'start', n),
    });
    try {
      if (checkLarge) checkCrc(incoming.crc32, claimed.crc32, name);
      await incoming.commitAs({ replace: true });
    } finally {
      await incoming.discard();
    }
    await logApplied(req, ctx, op, name, h.timestamp, undefined, h.fileSize);
  });
}
