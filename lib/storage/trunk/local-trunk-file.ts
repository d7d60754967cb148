import fsSync from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { FdfsError } from '../../protocol/errno.ts';
import type { StorePaths } from '../store-paths.ts';
import type { TrunkSlot } from './types.ts';

// The trunk file a slot lives in, and making sure it exists before a member writes into it
// (PROTOCOL.md §11.3, `trunk_check_and_init_file_ex`). The trunk server role has its own copy for
// creating new trunk files (lib/storage/trunk/trunk-file.ts); the data path only needs these two
// functions, kept in one place so the two can be merged into one module.

/** §11.3: `<store_pathN>/data/HH/HH/<id>`, the id zero-padded to 6 digits (longer ids are not cut). */
export function trunkFilePath(storePaths: StorePaths, slot: TrunkSlot): string {
  return path.join(storePaths.subdir(slot.storePathIndex, slot.subPathHigh, slot.subPathLow), String(slot.trunkId).padStart(6, '0'));
}

/** §11.3: a short trunk file modified this recently is being created by someone else: wait for it. */
const FRESH_MS = 10_000;
const POLL_MS = 5;

function statOrNull(file: string): fsSync.Stats | null {
  try {
    return fsSync.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function ioError(err: unknown, what: string, file: string): FdfsError {
  if (err instanceof FdfsError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const name = code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'ENOENT' ? code : 'EIO';
  return new FdfsError(name, `${what} ${file}: ${(err as Error).message}`, { subject: file, cause: err });
}

/**
 * §11.3: creates the trunk file at full size (sparse, `ftruncate`) when it is missing; extends one
 * that is too short unless it was modified in the last 10 s, in which case another writer is creating
 * it and we wait (5 ms polls, bounded). A larger file is left alone. The create is synchronous, so
 * within this process no writer ever sees a file between its creation and its ftruncate.
 */
export async function ensureTrunkFile(file: string, trunkFileSize: number): Promise<void> {
  const deadline = Date.now() + FRESH_MS;
  for (;;) {
    let st: fsSync.Stats | null;
    try {
      st = statOrNull(file);
      if (st && st.size >= trunkFileSize) return;
      if (!st) {
        const fd = fsSync.openSync(file, 'wx', 0o644);
        try {
          fsSync.ftruncateSync(fd, trunkFileSize);
        } finally {
          fsSync.closeSync(fd);
        }
        return;
      }
      if (Date.now() - st.mtimeMs >= FRESH_MS || Date.now() >= deadline) {
        fsSync.truncateSync(file, trunkFileSize);
        return;
      }
    } catch (err) {
      // Created by another process between our stat and our open: wait for it like a short file.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(err, 'cannot create trunk file', file);
    }
    await delay(POLL_MS);
  }
}
