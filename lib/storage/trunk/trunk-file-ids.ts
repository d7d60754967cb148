import { Buffer } from 'node:buffer';
import fs from 'node:fs/promises';
import { encodeB64 } from '../../protocol/base64.ts';
import { randomSubdir } from '../../protocol/filename.ts';
import type { FileNameGenerator } from '../file-names.ts';
import type { StorePaths } from '../store-paths.ts';
import { ensureTrunkFile, trunkFilePath, type TrunkFileRef } from './trunk-file.ts';

// New trunk files on the trunk server (PROTOCOL.md §11.3): the next id, its sub-directories, the
// sparse file of trunk_file_size. The id counter is `current_trunk_file_id` of .data_init_flag.

export interface TrunkIdCounter {
  /** current_trunk_file_id (0 before the first trunk file). */
  current(): number;
  /** Record a new current id durably (.data_init_flag, §7.5). */
  save(id: number): Promise<void>;
}

export interface TrunkFileCreatorOptions {
  storePaths: StorePaths;
  names: FileNameGenerator;
  /** file_distribute_path_mode: 0 round robin (shared upload counter), 1 random (§6.5). */
  pathMode: 0 | 1;
  trunkFileSize: number;
  ids: TrunkIdCounter;
}

/** §11.3: the 6-character unpadded B64 of the big-endian 4-byte id. */
export function trunkIdB64(id: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(id >>> 0, 0);
  return encodeB64(b);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Create the next trunk file on store path `p`: id = current + 1 (saved first, so a crash never
 * reuses an id), skipping ids whose file already exists.
 */
export async function createTrunkFile(o: TrunkFileCreatorOptions, p: number): Promise<TrunkFileRef> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const id = o.ids.current() + 1;
    await o.ids.save(id);
    const dir = o.pathMode === 1
      ? randomSubdir(trunkIdB64(id), o.storePaths.subdirCount)
      : o.names.pickSubdir(Math.floor(Date.now() / 1000));
    const ref: TrunkFileRef = { storePathIndex: p, subPathHigh: dir.high, subPathLow: dir.low, trunkId: id };
    const file = trunkFilePath(o.storePaths, ref);
    if (await exists(file)) continue;
    await ensureTrunkFile(file, o.trunkFileSize);
    return ref;
  }
  throw new Error('no unused trunk file id found in 1000 attempts');
}
