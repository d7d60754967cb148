import type { ReservedSpace } from '../../config/values.ts';
import { FdfsError } from '../../protocol/errno.ts';
import type { Logger } from '../../util/log.ts';
import type { StorePaths } from '../store-paths.ts';
import type { TrunkAllocator } from './allocator.ts';
import type { TrunkParameters } from './types.ts';

// Trunk file pre-creation (PROTOCOL.md §11.9, C trunk_create_trunk_file_advance): top the free
// trunk space up to trunk_create_file_space_threshold, if the disks keep their reserve.

const MB = 1024 * 1024;

export interface PrecreateOptions {
  allocator: TrunkAllocator;
  params: Pick<TrunkParameters, 'createFileSpaceThreshold' | 'trunkFileSize'>;
  storePaths: StorePaths;
  reserve: ReservedSpace;
  log: Logger;
}

/** Returns how many trunk files were created. ENOSPC when the reserve would be broken. */
export async function precreateTrunkFiles(o: PrecreateOptions): Promise<number> {
  const need = o.params.createFileSpaceThreshold - o.allocator.totalFreeBytes;
  if (need <= 0) return 0;
  const usage = await o.storePaths.diskUsage();
  const totalMb = usage.reduce((n, u) => n + u.totalMb, 0);
  const freeMb = usage.reduce((n, u) => n + u.freeMb, 0) - need / MB;
  const ok = o.reserve.kind === 'mb' ? freeMb > o.reserve.mb : totalMb > 0 && freeMb / totalMb > o.reserve.ratio;
  if (!ok) throw new FdfsError('ENOSPC', `pre-creating ${need} bytes of trunk files would break reserved_storage_space ${o.reserve.text}`);
  const count = Math.floor(need / o.params.trunkFileSize);
  for (let i = 0; i < count; i++) {
    // The store path an upload would get (§8.3); the size already passed the reserve check above.
    const p = await o.storePaths.choose(-1, 0, { kind: 'mb', mb: 0, text: '0MB' }, 0);
    await o.allocator.createFile(p);
  }
  if (count > 0) o.log('info', `pre-created ${count} trunk file(s)`);
  return count;
}
