import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoOf, FdfsError } from '../../protocol/errno.ts';
import type { StorePaths } from '../store-paths.ts';
import type { TrunkSlot } from './types.ts';

// Where a trunk file lives and making sure it exists at full size (PROTOCOL.md §11.3). Used by the
// trunk server when it creates a trunk file and by every member that writes into one (upload on a
// non-trunk storage, replicated file, recovery).

/** The part of a slot that names its trunk file. */
export type TrunkFileRef = Pick<TrunkSlot, 'storePathIndex' | 'subPathHigh' | 'subPathLow' | 'trunkId'>;

/** §11.3: the id in decimal, zero-padded to 6 digits; longer ids are not cut. */
export function trunkFileName(trunkId: number): string {
  return String(trunkId).padStart(6, '0');
}

/** `<store_pathN>/data/HH/HH/<id>` (`trunk_get_full_filename_ex`). */
export function trunkFilePath(storePaths: StorePaths, ref: TrunkFileRef): string {
  return storePaths.filePath(ref.storePathIndex, ref.subPathHigh, ref.subPathLow, trunkFileName(ref.trunkId));
}

/** §11.3: a smaller file modified this recently is being created by someone else: wait for it. */
const CREATING_WINDOW_MS = 10_000;
const POLL_MS = 5;

export type EnsureResult = 'created' | 'extended' | 'exists';

/**
 * Make sure the trunk file at `file` exists and is at least `trunkFileSize` bytes (§11.3): a missing
 * file is created sparse (ftruncate, no content); a smaller one modified in the last 10 s is waited
 * for (5 ms polls), an older smaller one is extended. Never shrinks a file.
 */
export async function ensureTrunkFile(file: string, trunkFileSize: number): Promise<EnsureResult> {
  let fh: fs.FileHandle | null = null;
  try {
    fh = await fs.open(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw errnoError(err, file, 'create');
  }
  if (fh) {
    try {
      await fh.truncate(trunkFileSize);
    } catch (err) {
      await fh.close().catch(() => {});
      await fs.rm(file, { force: true });
      throw errnoError(err, file, 'size');
    }
    await fh.close();
    return 'created';
  }
  // Bounded: the creator finishes (size reached) or the file's mtime leaves the 10 s window.
  const deadline = Date.now() + CREATING_WINDOW_MS + 1000;
  for (;;) {
    let st;
    try {
      st = await fs.stat(file);
    } catch (err) {
      throw errnoError(err, file, 'stat');
    }
    if (st.size >= trunkFileSize) return 'exists';
    if (Date.now() - st.mtimeMs < CREATING_WINDOW_MS && Date.now() < deadline) {
      await sleep(POLL_MS);
      continue;
    }
    try {
      await fs.truncate(file, trunkFileSize);
    } catch (err) {
      throw errnoError(err, file, 'extend');
    }
    return 'extended';
  }
}

function errnoError(err: unknown, file: string, what: string): FdfsError {
  return new FdfsError(errnoOf(err), `cannot ${what} trunk file ${file}: ${(err as Error).message}`, { subject: file, cause: err });
}
