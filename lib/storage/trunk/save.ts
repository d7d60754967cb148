import fs from 'node:fs/promises';
import type { Logger } from '../../util/log.ts';
import type { StorePaths } from '../store-paths.ts';
import { describe, type TrunkAllocator } from './allocator.ts';
import type { TrunkBinlog } from './binlog-writer.ts';
import { writeSnapshot } from './snapshot.ts';
import { trunkFilePath } from './trunk-file.ts';
import type { TrunkParameters, TrunkSlot } from './types.ts';

// Writing storage_trunk.dat from the allocator (PROTOCOL.md §11.7, §11.8, §11.10): the blocks and
// the binlog size taken in the same instant, merged first with trunk_free_space_merge, and wholly
// free trunk files deleted with delete_unused_trunk_files.

export interface SaveOptions {
  allocator: TrunkAllocator;
  params: Pick<TrunkParameters, 'freeSpaceMerge' | 'deleteUnusedTrunkFiles' | 'trunkFileSize'>;
  binlog: TrunkBinlog;
  snapshotFile: string;
  storePaths: StorePaths;
  log: Logger;
}

function plain(b: TrunkSlot): TrunkSlot {
  return { storePathIndex: b.storePathIndex, subPathHigh: b.subPathHigh, subPathLow: b.subPathLow, trunkId: b.trunkId, offset: b.offset, size: b.size };
}

export async function saveTrunkSnapshot(o: SaveOptions): Promise<void> {
  const a = o.allocator;
  // Same tick: the snapshot holds exactly the binlog records before `offset`.
  const offset = o.binlog.size;
  let blocks = o.params.freeSpaceMerge ? a.merge() : a.blocks().map(plain);
  if (o.params.freeSpaceMerge && o.params.deleteUnusedTrunkFiles) {
    const gone = new Set<TrunkSlot>();
    for (const b of blocks) {
      if (b.offset !== 0 || b.size < o.params.trunkFileSize) continue;
      const file = trunkFilePath(o.storePaths, b);
      let size: number;
      try { size = (await fs.stat(file)).size; } catch { continue; }
      // Only if still wholly free now (an allocation may have taken part of it meanwhile).
      if (size !== b.size || !a.remove(b)) continue;
      await fs.rm(file, { force: true });
      gone.add(b);
      o.log('info', `deleted unused trunk file ${file} (${describe(b)})`);
    }
    if (gone.size > 0) blocks = blocks.filter((b) => !gone.has(b));
  }
  await writeSnapshot(o.snapshotFile, offset, blocks);
}
